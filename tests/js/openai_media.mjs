// openai_media.mjs PORT WAV — the official openai client's embeddings.create (its default
// base64 encoding and float) and audio.transcriptions.create (multipart upload, json
// and text) against `hearth serve --embed ... --whisper ...`. beam_size and
// temperature_inc (whisper.cpp server fields hearth also reads) keep decoding greedy and
// quick. Prints one JSON object; tests/unit/test_server_media.c checks it.
import fs from 'node:fs';
import OpenAI from 'openai';

const [port, wav] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'unused',
                            maxRetries: 0, timeout: 120000 });
const out = {};
const input = ['The cat sat on the mat.', 'hello'];
const e64 = await client.embeddings.create({ model: 'tiny-bert-q8_0', input });
out.embedding_b64 = e64.data.map((d) => Array.from(d.embedding));
const ef = await client.embeddings.create({ model: 'tiny-bert-q8_0', input,
                                            encoding_format: 'float' });
out.embedding_float = ef.data.map((d) => d.embedding);
out.embedding_tokens = ef.usage.prompt_tokens;

const greedy = { beam_size: 1, temperature_inc: 0 };
const tj = await client.audio.transcriptions.create({ file: fs.createReadStream(wav),
    model: 'whisper-1', language: 'en', ...greedy });
out.transcript = tj.text;
const tt = await client.audio.transcriptions.create({ file: fs.createReadStream(wav),
    model: 'whisper-1', response_format: 'text', ...greedy });
out.transcript_text = tt;
console.log(JSON.stringify(out));
