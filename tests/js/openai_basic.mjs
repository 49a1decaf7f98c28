// openai_basic.mjs PORT MODEL — the official openai client against `hearth serve`:
// chat.completions.create and completions.create, each streamed and not, greedy; and
// the 400 for tools sent to a model whose template has no tool support.
// Prints one JSON object with the four texts and finish reasons; any client error
// (a rejected promise) exits non-zero. tests/unit/test_npm_clients.c checks the texts.
import OpenAI from 'openai';

const [port, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'unused',
                            maxRetries: 0, timeout: 60000 });
const messages = [{ role: 'user', content: 'Hello' }];
const out = {};

const chat = await client.chat.completions.create({ model, messages, temperature: 0,
                                                     max_tokens: 12 });
out.chat = chat.choices[0].message.content;
out.chat_finish = chat.choices[0].finish_reason;
out.chat_usage = chat.usage.completion_tokens;

let text = '';
let finish = null;
let usage = null;
const stream = await client.chat.completions.create({ model, messages, temperature: 0,
    max_tokens: 12, stream: true, stream_options: { include_usage: true } });
for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage.completion_tokens;
    const c = chunk.choices[0];
    if (!c) continue;
    text += c.delta?.content ?? '';
    if (c.finish_reason) finish = c.finish_reason;
}
out.chat_stream = text;
out.chat_stream_finish = finish;
out.chat_stream_usage = usage;

const prompt = 'Once upon a time';
const cmpl = await client.completions.create({ model, prompt, temperature: 0, max_tokens: 12 });
out.completion = cmpl.choices[0].text;
out.completion_finish = cmpl.choices[0].finish_reason;

text = '';
finish = null;
const cstream = await client.completions.create({ model, prompt, temperature: 0,
                                                  max_tokens: 12, stream: true });
for await (const chunk of cstream) {
    text += chunk.choices[0]?.text ?? '';
    if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
}
out.completion_stream = text;
out.completion_stream_finish = finish;

// this model's template cannot show tools: a clear 400
try {
    await client.chat.completions.create({ model, messages, tools: [{ type: 'function',
        function: { name: 'f', parameters: { type: 'object' } } }] });
    out.tools_error = null;
} catch (e) {
    out.tools_status = e.status;
    out.tools_error = e.message;
}

const models = await client.models.list();
out.models = models.data.map((m) => m.id);
console.log(JSON.stringify(out));
