// openai_responses.mjs PORT MODEL MODE — the official openai client's Responses API against
// `hearth serve`. MODE "text": responses.create on a string input, not streamed and through
// the client's stream helper (which rebuilds the response from the events). MODE "tools"
// (a model whose template supports tools): a required function call, streamed and not,
// then the final answer after the call and its output are sent back as input items.
// Prints one JSON object; tests/unit/test_npm_clients.c checks it.
import OpenAI from 'openai';

const [port, model, mode] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'unused',
                            maxRetries: 0, timeout: 60000 });
const fail = (msg) => { console.log(`FAIL: ${msg}`); process.exit(1); };
const out = {};

async function streamed(params) {
    const events = {};
    const stream = client.responses.stream(params);
    stream.on('event', (e) => { events[e.type] = (events[e.type] ?? 0) + 1; });
    const r = await stream.finalResponse();
    return [r, events];
}

if (mode === 'text') {
    const params = { model, input: 'Hello', temperature: 0, max_output_tokens: 12 };
    const r = await client.responses.create(params);
    out.text = r.output_text;
    out.status = r.status;
    out.output_tokens = r.usage.output_tokens;
    const [s, events] = await streamed(params);
    out.stream_text = s.output_text;
    out.deltas = events['response.output_text.delta'] ?? 0;
} else {
    const tools = [
        { type: 'function', name: 'get_weather', description: 'Get the weather',
          parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 },
              unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
              required: ['city', 'unit'], additionalProperties: false } },
        { type: 'function', name: 'get_time', description: 'Get the time',
          parameters: { type: 'object', properties: { zone: { type: 'integer' } },
              required: ['zone'], additionalProperties: false } },
    ];
    const input = [{ role: 'user', content: 'What is the weather in Paris?' }];
    const params = { model, input, tools, tool_choice: { type: 'function', name: 'get_time' },
                     temperature: 0, max_output_tokens: 200 };
    const r = await client.responses.create(params);
    const call = r.output.find((o) => o.type === 'function_call');
    if (!call || call.name !== 'get_time') fail(`no get_time call: ${JSON.stringify(r.output)}`);
    if (!Number.isInteger(JSON.parse(call.arguments).zone)) fail(`bad arguments ${call.arguments}`);
    out.call = call;
    const [s, events] = await streamed(params);
    out.stream_call = s.output.find((o) => o.type === 'function_call') ?? null;
    out.argument_events = events['response.function_call_arguments.done'] ?? 0;
    const back = [...input,
        { type: 'function_call', call_id: 'call_1', name: 'get_weather',
          arguments: '{"city": "Paris"}' },
        { type: 'function_call_output', call_id: 'call_1', output: '{"temperature": 21}' }];
    const f = await client.responses.create({ model, input: back, tools, tool_choice: 'none',
                                              temperature: 0, max_output_tokens: 12 });
    out.final = f.output_text;
}
console.log(JSON.stringify(out));
