// openai_tools.mjs PORT MODEL — tool calling through the official openai client against
// `hearth serve` with a model whose chat template supports tools (a Qwen2.5 template):
// a forced call (tool_choice "required"), a named call streamed through the client's own
// accumulating stream helper, and a final answer after the tool result is sent back
// (tool_choice "auto" and "none"). Prints one JSON object; the checks that need nothing
// but the client's output are made here (exit 1 with a message on failure), the rest in
// tests/unit/test_npm_clients.c.
import OpenAI from 'openai';

const [port, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'unused',
                            maxRetries: 0, timeout: 60000 });
const fail = (msg) => { console.log(`FAIL: ${msg}`); process.exit(1); };

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
const out = {};

function checkCall(call, name) {
    if (call.type !== 'function' || typeof call.id !== 'string' || !call.id)
        fail(`bad call ${JSON.stringify(call)}`);
    if (call.function.name !== name) fail(`called ${call.function.name}, wanted ${name}`);
    const args = JSON.parse(call.function.arguments); // throws (exit 1) if not JSON
    const keys = Object.keys(args).sort().join(',');
    if (name === 'get_weather' && (keys !== 'city,unit' || typeof args.city !== 'string' ||
        [...args.city].length > 12 || !['celsius', 'fahrenheit'].includes(args.unit)))
        fail(`arguments do not fit get_weather's schema: ${call.function.arguments}`);
    if (name === 'get_time' && (keys !== 'zone' || !Number.isInteger(args.zone)))
        fail(`arguments do not fit get_time's schema: ${call.function.arguments}`);
}

// 1. a forced call, not streamed: greedy, and sampled (a random model's sampled tokens are
// mostly refused by the grammar, so this is slow: one seed)
for (const temperature of [0, 1]) {
    const r = await client.chat.completions.create({ model, messages: [user], tools,
        tool_choice: 'required', temperature, seed: 2, max_tokens: 200 });
    const c = r.choices[0];
    if (c.finish_reason !== 'tool_calls') fail(`finish_reason ${c.finish_reason}`);
    if (!c.message.tool_calls || c.message.tool_calls.length !== 1) fail('no tool_calls');
    const call = c.message.tool_calls[0];
    checkCall(call, call.function.name === 'get_time' ? 'get_time' : 'get_weather');
    out.required = out.required ?? c.message;
}

// 2. a named call, streamed, accumulated by the client's stream helper
const stream = client.chat.completions.stream({ model, messages: [user], tools,
    tool_choice: { type: 'function', function: { name: 'get_time' } }, temperature: 0,
    max_tokens: 200 });
let deltas = 0;
stream.on('chunk', (chunk) => { if (chunk.choices[0]?.delta?.tool_calls) deltas++; });
const final = await stream.finalChatCompletion();
const fc = final.choices[0];
if (fc.finish_reason !== 'tool_calls') fail(`streamed finish_reason ${fc.finish_reason}`);
if (fc.message.tool_calls?.length !== 1) fail('streamed: no tool_calls');
checkCall(fc.message.tool_calls[0], 'get_time');
out.streamed = fc.message;
out.streamed_deltas = deltas;

// the same request not streamed gives the same call
const same = await client.chat.completions.create({ model, messages: [user], tools,
    tool_choice: { type: 'function', function: { name: 'get_time' } }, temperature: 0,
    max_tokens: 200 });
out.named = same.choices[0].message;

// 3. send a result back and get an answer
const messages = [user,
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function',
        function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: '{"temperature": 21}' }];
for (const choice of ['auto', 'none']) {
    const r = await client.chat.completions.create({ model, messages, tools,
        tool_choice: choice, temperature: 0, max_tokens: 12 });
    const c = r.choices[0];
    out[`final_${choice}`] = c.message.content;
    out[`final_${choice}_finish`] = c.finish_reason;
    out[`final_${choice}_calls`] = c.message.tool_calls ?? null;
}
// the auto answer streamed: text that might start a call is held back, then released
const fstream = await client.chat.completions.create({ model, messages, tools,
    tool_choice: 'auto', temperature: 0, max_tokens: 12, stream: true });
let text = '';
for await (const chunk of fstream) {
    if (chunk.choices[0]?.delta?.tool_calls) fail('streamed auto answer has tool_calls');
    text += chunk.choices[0]?.delta?.content ?? '';
}
out.final_auto_stream = text;
console.log(JSON.stringify(out));
