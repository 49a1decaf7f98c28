// ollama_basic.mjs PORT MODEL — the official ollama client against `hearth serve`:
// chat and generate (raw prompt), each streamed and not, greedy. Prints one JSON object
// with the four texts; any client error exits non-zero. tests/unit/test_npm_clients.c
// checks the texts.
import { Ollama } from 'ollama';

const [port, model] = process.argv.slice(2);
const ollama = new Ollama({ host: `http://127.0.0.1:${port}` });
const messages = [{ role: 'user', content: 'Hello' }];
const options = { temperature: 0, num_predict: 12 };
const out = {};

const chat = await ollama.chat({ model, messages, options, stream: false });
out.chat = chat.message.content;
out.chat_done_reason = chat.done_reason;
out.chat_eval_count = chat.eval_count;

let text = '';
let done = false;
for await (const part of await ollama.chat({ model, messages, options, stream: true })) {
    text += part.message.content;
    done = done || part.done;
}
out.chat_stream = text;
out.chat_stream_done = done;

const prompt = 'Once upon a time';
const gen = await ollama.generate({ model, prompt, raw: true, options, stream: false });
out.generate = gen.response;

text = '';
for await (const part of await ollama.generate({ model, prompt, raw: true, options,
                                                 stream: true }))
    text += part.response;
out.generate_stream = text;

const tags = await ollama.list();
out.models = tags.models.map((m) => m.name);
console.log(JSON.stringify(out));
