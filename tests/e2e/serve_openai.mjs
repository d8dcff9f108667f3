// End-to-end: the official `openai` npm SDK against a real `llmux serve` on
// stories260K (started by tests/cli/serve_e2e.sh, which passes its URLs).
// Every check talks to the server over HTTP; nothing is mocked.
//   LLMUX_URL       the main server (keys: test-key), 16 slots
//   LLMUX_URL_TINY  a server with 1 slot and a queue of 1 (for 429)
//   LLMUX_URL_QWEN  a server using Qwen 3's real chat template (tools in Hermes syntax)
//   LLMUX_SHARED    the shared assets (reference outputs)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import OpenAI from 'openai';
import Ajv from 'ajv';
import { run, test } from './harness.mjs';

const BASE = process.env.LLMUX_URL;
const TINY = process.env.LLMUX_URL_TINY;
const QWEN = process.env.LLMUX_URL_QWEN;
const SHARED = process.env.LLMUX_SHARED || '../shared';
const MODEL = 'stories260K';
const client = new OpenAI({ baseURL: `${BASE}/v1`, apiKey: 'test-key', maxRetries: 0 });
const reference = JSON.parse(fs.readFileSync(`${SHARED}/reference/stories260K.expected.json`, 'utf8'));
const onceUpon = reference.cases.find((c) => c.name === 'once_upon_a_time_64_positions');
const zoo = reference.cases.find((c) => c.name === 'zoo_60_positions');


async function metric(name, labels, base = BASE) {
  const text = await (await fetch(`${base}/metrics`, { headers: { Authorization: 'Bearer test-key' } })).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.split(' ').pop());
  }
  return total;
}

// ---- models ----------------------------------------------------------------------------------------------

test('models list and retrieve', async () => {
  const list = await client.models.list();
  const ids = list.data.map((m) => m.id);
  assert.ok(ids.includes(MODEL), `models: ${ids}`);
  const m = await client.models.retrieve(MODEL);
  assert.equal(m.id, MODEL);
  assert.equal(m.object, 'model');
  assert.equal(m.max_model_len, 256); // the context per slot is stated, not silently divided
});

// ---- completions ------------------------------------------------------------------------------------------

test('completion: greedy text equals the reference', async () => {
  const r = await client.completions.create({
    model: MODEL, prompt: onceUpon.prompt_text, max_tokens: onceUpon.n_generated, temperature: 0,
  });
  assert.equal(r.object, 'text_completion');
  assert.equal(onceUpon.prompt_text + r.choices[0].text, onceUpon.expected_text_including_prompt);
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, onceUpon.n_generated);
  assert.equal(r.usage.prompt_tokens, onceUpon.prompt_ids.length);
});

test('completion: token-id prompt, echo, several prompts', async () => {
  const r = await client.completions.create({
    model: MODEL, prompt: [onceUpon.prompt_ids, zoo.prompt_text], max_tokens: 8, temperature: 0, echo: true,
  });
  assert.equal(r.choices.length, 2);
  assert.ok(r.choices[0].text.startsWith(onceUpon.prompt_text), r.choices[0].text);
  assert.ok(onceUpon.expected_text_including_prompt.startsWith(r.choices[0].text));
  assert.ok(zoo.expected_text_including_prompt.startsWith(r.choices[1].text), r.choices[1].text);
});

test('completion: streaming gives the same text', async () => {
  const stream = await client.completions.create({
    model: MODEL, prompt: zoo.prompt_text, max_tokens: zoo.n_generated, temperature: 0, stream: true,
  });
  let text = '', finish = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.text ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(zoo.prompt_text + text, zoo.expected_text_including_prompt);
  assert.equal(finish, 'length');
});

test('completion: stop string and logprobs', async () => {
  const r = await client.completions.create({
    model: MODEL, prompt: onceUpon.prompt_text, max_tokens: 40, temperature: 0, stop: [' Lily'], logprobs: 2,
  });
  const c = r.choices[0];
  assert.equal(c.text, ', there was a little girl named');
  assert.equal(c.finish_reason, 'stop');
  assert.ok(c.logprobs.tokens.length >= 6);
  for (const lp of c.logprobs.token_logprobs) assert.ok(lp <= 0);
  assert.equal(Object.keys(c.logprobs.top_logprobs[0]).length, 2);
});

// ---- chat ---------------------------------------------------------------------------------------------------

const chatReq = { model: MODEL, messages: [{ role: 'system', content: 'You tell stories.' }, { role: 'user', content: 'Tell me about Lily.' }] };

test('chat: completion, streaming with usage, same greedy text', async () => {
  const r = await client.chat.completions.create({ ...chatReq, temperature: 0, max_tokens: 30 });
  const msg = r.choices[0].message;
  assert.equal(msg.role, 'assistant');
  assert.ok(msg.content.length > 10, msg.content);
  assert.equal(r.usage.completion_tokens, 30);
  const stream = await client.chat.completions.create({
    ...chatReq, temperature: 0, max_tokens: 30, stream: true, stream_options: { include_usage: true },
  });
  let text = '', role = null, usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    const d = chunk.choices[0]?.delta;
    if (d?.role) role = d.role;
    text += d?.content ?? '';
  }
  assert.equal(role, 'assistant');
  assert.equal(text, msg.content);
  assert.deepEqual(usage.completion_tokens, 30);
});

test('chat: n > 1 and seed determinism', async () => {
  const req = { ...chatReq, temperature: 1, max_tokens: 20, n: 3, seed: 42 };
  const a = await client.chat.completions.create(req);
  const b = await client.chat.completions.create(req);
  assert.deepEqual(a.choices.map((c) => c.index), [0, 1, 2]);
  assert.deepEqual(a.choices.map((c) => c.message.content), b.choices.map((c) => c.message.content));
  assert.ok(new Set(a.choices.map((c) => c.message.content)).size > 1, 'the choices should differ');
});

test('chat: logprobs', async () => {
  const r = await client.chat.completions.create({ ...chatReq, temperature: 0, max_tokens: 5, logprobs: true, top_logprobs: 3 });
  const content = r.choices[0].logprobs.content;
  assert.equal(content.length, 5);
  for (const t of content) {
    assert.ok(t.logprob <= 0);
    assert.equal(t.top_logprobs.length, 3);
    assert.equal(t.top_logprobs[0].token, t.token); // greedy picks the most likely
    assert.ok(Array.isArray(t.bytes));
  }
});

test('chat: json_schema output parses and validates', async () => {
  const schema = {
    type: 'object',
    properties: { name: { type: 'string', maxLength: 12 }, age: { type: 'integer' }, pets: { type: 'array', items: { enum: ['cat', 'dog'] }, maxItems: 3 } },
    required: ['name', 'age', 'pets'], additionalProperties: false,
  };
  const validate = new Ajv().compile(schema);
  for (const seed of [1, 2, 3]) {
    const r = await client.chat.completions.create({
      ...chatReq, temperature: 1, seed, max_tokens: 120,
      response_format: { type: 'json_schema', json_schema: { name: 'person', schema, strict: true } },
    });
    const content = r.choices[0].message.content;
    const value = JSON.parse(content);
    assert.ok(validate(value), `${content}: ${JSON.stringify(validate.errors)}`);
    assert.equal(r.choices[0].finish_reason, 'stop');
  }
});

test('chat: a tool-call round trip', async () => {
  const tools = [{
    type: 'function',
    function: { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 16 } }, required: ['city'] } },
  }];
  const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
  const r = await client.chat.completions.create({
    model: MODEL, messages, tools, tool_choice: { type: 'function', function: { name: 'get_weather' } }, temperature: 0.7, seed: 7, max_tokens: 180,
  });
  const choice = r.choices[0];
  assert.equal(choice.finish_reason, 'tool_calls');
  const call = choice.message.tool_calls[0];
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'get_weather');
  assert.equal(typeof JSON.parse(call.function.arguments).city, 'string');
  assert.match(call.id, /^call_/);
  const back = await client.chat.completions.create({
    model: MODEL, tools, max_tokens: 10, temperature: 0,
    messages: [...messages, choice.message, { role: 'tool', tool_call_id: call.id, content: '{"temperature": 21}' }],
  });
  assert.equal(back.choices[0].message.role, 'assistant');
  assert.equal(typeof back.choices[0].message.content, 'string');
});

test('chat: tools through a real template (Qwen 3, Hermes calls)', async () => {
  assert.ok(QWEN, 'LLMUX_URL_QWEN is not set');
  const qwen = new OpenAI({ baseURL: `${QWEN}/v1`, apiKey: 'x', maxRetries: 0 });
  const tools = [
    { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 8 } }, required: ['city'] } } },
    { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { zone: { enum: ['utc', 'cet'] } }, required: ['zone'] } } },
  ];
  const m = (await qwen.models.retrieve(MODEL));
  assert.equal(m.meta.tool_call_format, 'hermes');
  // The template renders the tools into the system turn.
  const tok = await (await fetch(`${QWEN}/tokenize`, { method: 'POST', body: JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }], tools, with_pieces: false }) })).json();
  assert.ok(tok.count > 60, `rendered prompt of ${tok.count} tokens`);
  const r = await qwen.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Time?' }], tools, tool_choice: 'required', parallel_tool_calls: false, temperature: 0.8, seed: 3, max_tokens: 200 });
  const call = r.choices[0].message.tool_calls?.[0];
  assert.ok(call, JSON.stringify(r.choices[0]));
  assert.ok(['get_weather', 'get_time'].includes(call.function.name));
  JSON.parse(call.function.arguments);
  const back = await qwen.chat.completions.create({
    model: MODEL, tools, max_tokens: 5, temperature: 0,
    messages: [{ role: 'user', content: 'Time?' }, r.choices[0].message, { role: 'tool', tool_call_id: call.id, content: '12:00' }],
  });
  assert.equal(typeof back.choices[0].message.content, 'string');
  // Streaming a forced call: the call arrives whole in the last chunk.
  const stream = await qwen.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Weather?' }], tools, tool_choice: { type: 'function', function: { name: 'get_weather' } }, temperature: 0.8, seed: 4, max_tokens: 200, stream: true });
  let calls = [], finish = null, content = '';
  for await (const chunk of stream) {
    const d = chunk.choices[0]?.delta;
    if (d?.tool_calls) calls.push(...d.tool_calls);
    content += d?.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(finish, 'tool_calls');
  assert.equal(content, '');
  assert.equal(calls[0].function.name, 'get_weather');
  assert.equal(typeof JSON.parse(calls[0].function.arguments).city, 'string');
});

// ---- embeddings --------------------------------------------------------------------------------------------

test('embeddings: floats and base64', async () => {
  const r = await client.embeddings.create({ model: MODEL, input: ['Lily saw a ball.', 'The zoo was big.'], encoding_format: 'float' });
  assert.equal(r.data.length, 2);
  const v = r.data[0].embedding;
  assert.equal(v.length, 64);
  assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-4);
  assert.notDeepEqual(r.data[0].embedding, r.data[1].embedding);
  const b = await client.embeddings.create({ model: MODEL, input: 'Lily saw a ball.' }); // the SDK asks for base64 and decodes it
  b.data[0].embedding.forEach((x, i) => assert.ok(Math.abs(x - v[i]) < 1e-6));
  assert.equal(r.usage.prompt_tokens > 4, true);
});

// ---- errors as the SDK's typed errors -----------------------------------------------------------------------

test('errors: 401, 404, 400 typed', async () => {
  const bad = new OpenAI({ baseURL: `${BASE}/v1`, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(bad.models.list(), OpenAI.AuthenticationError);
  await assert.rejects(client.chat.completions.create({ ...chatReq, model: 'nope' }), OpenAI.NotFoundError);
  await assert.rejects(client.chat.completions.create({ ...chatReq, temperature: 5 }), (e) => e instanceof OpenAI.BadRequestError && e.param === 'temperature');
  await assert.rejects(client.chat.completions.create({ ...chatReq, frobnicate: 1 }), (e) => e instanceof OpenAI.BadRequestError && /frobnicate/.test(e.message));
  await assert.rejects(client.completions.create({ model: MODEL, prompt: 'x'.repeat(4000) }), (e) => e instanceof OpenAI.BadRequestError && e.code === 'context_length_exceeded');
  await assert.rejects(client.chat.completions.create({ ...chatReq, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }), OpenAI.BadRequestError);
});

test('errors: 429 with Retry-After when the queue is full', async () => {
  const tiny = new OpenAI({ baseURL: `${TINY}/v1`, apiKey: 'x', maxRetries: 0 });
  const long = { model: MODEL, prompt: 'Once', max_tokens: 2000, temperature: 0, ignore_eos: true };
  const a = await tiny.completions.create({ ...long, stream: true });
  const it = a[Symbol.asyncIterator]();
  await it.next(); // A holds the only slot
  const b = tiny.completions.create({ ...long, max_tokens: 5 }); // B waits in the queue
  for (let i = 0; i < 100 && await metric('llmux_queue_depth', {}, TINY) < 1; i++) await new Promise((r) => setTimeout(r, 10));
  await assert.rejects(tiny.completions.create(long), (e) => e instanceof OpenAI.RateLimitError && e.headers.get('retry-after') === '1');
  a.controller.abort();
  await b;
});

// ---- concurrency and disconnects -----------------------------------------------------------------------------

test('16 concurrent streams all give the reference text', async () => {
  const cases = [onceUpon, zoo];
  const runs = Array.from({ length: 16 }, async (_, i) => {
    const c = cases[i % 2];
    const stream = await client.completions.create({ model: MODEL, prompt: c.prompt_text, max_tokens: c.n_generated, temperature: 0, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    assert.equal(c.prompt_text + text, c.expected_text_including_prompt, `stream ${i}`);
  });
  await Promise.all(runs);
});

test('a client that disconnects mid-stream frees its slot', async () => {
  const before = await metric('llmux_requests_finished_total', { reason: 'cancelled' });
  const stream = await client.completions.create({ model: MODEL, prompt: 'Once', max_tokens: 250, temperature: 0, ignore_eos: true, stream: true });
  let n = 0;
  for await (const chunk of stream) if (++n === 3) break; // break closes the connection
  for (let i = 0; i < 50; i++) {
    if (await metric('llmux_requests_finished_total', { reason: 'cancelled' }) > before && await metric('llmux_slots_busy', {}) === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail('the slot was not freed');
});

// ---- run -------------------------------------------------------------------------------------------------------

await run();
