// ollama_tools.mjs PORT MODEL — tools through the official ollama client against
// `hearth serve` with a model whose chat template supports tools: a first turn with tools
// (streamed and not), and the answer after a tool call and its result are sent back.
// Ollama has no tool_choice (always "auto"), so a random model answers in text here.
// Prints one JSON object; tests/unit/test_npm_clients.c checks it.
import { Ollama } from 'ollama';

const [port, model] = process.argv.slice(2);
const ollama = new Ollama({ host: `http://127.0.0.1:${port}` });
const tools = [
    { type: 'function', function: { name: 'get_weather', description: 'Get the weather',
        parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 },
            unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
            required: ['city', 'unit'], additionalProperties: false } } },
    { type: 'function', function: { name: 'get_time', description: 'Get the time',
        parameters: { type: 'object', properties: { zone: { type: 'integer' } },
            required: ['zone'], additionalProperties: false } } },
];
const user = { role: 'user', content: 'What is the weather in Paris?' };
const options = { temperature: 0, num_predict: 12 };
const out = {};

const first = await ollama.chat({ model, messages: [user], tools, options, stream: false });
out.first = first.message.content;
out.first_calls = first.message.tool_calls ?? null;
let text = '';
for await (const part of await ollama.chat({ model, messages: [user], tools, options,
                                             stream: true }))
    text += part.message.content;
out.first_stream = text;

const messages = [user,
    { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather',
        arguments: { city: 'Paris' } } }] },
    { role: 'tool', content: '{"temperature": 21}', tool_name: 'get_weather' }];
const final = await ollama.chat({ model, messages, tools, options, stream: false });
out.final = final.message.content;
console.log(JSON.stringify(out));
