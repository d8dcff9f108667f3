// End-to-end: `llmux gateway` in front of two real `llmux serve` workers on
// stories260K and a misbehaving upstream (fault_upstream.mjs), started by
// tests/cli/gateway_e2e.sh, which passes:
//   GW           the gateway (admin key: admin-secret)
//   GW2, GW3     two more gateways sharing one redis-server and the store
//   W1_PID       worker 1's pid (this test kill -9's it), W1_RESTART a file
//                whose appearance asks the script to restart it
import assert from 'node:assert/strict';
import fs from 'node:fs';
import OpenAI from 'openai';
import { run, test } from './harness.mjs';

const { GW, GW2, GW3 } = process.env;
const ADMIN = { Authorization: 'Bearer admin-secret', 'Content-Type': 'application/json' };
const MODEL = 'stories260K';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function admin(path, init = {}, base = GW) {
  const r = await fetch(`${base}${path}`, { ...init, headers: ADMIN });
  return { status: r.status, body: await r.json() };
}

async function newKey(spec, base = GW) {
  const r = await admin('/admin/keys', { method: 'POST', body: JSON.stringify(spec) }, base);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.match(r.body.key, /^sk-lmx-[A-Za-z0-9]{40}$/);
  return r.body;
}

const client = (key, base = GW) => new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0 });
const ask = (c, extra = {}) => c.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, temperature: 0, ...extra });

async function backends() {
  return (await admin('/admin/backends')).body.data;
}

// ---- keys and the SDK ------------------------------------------------------------------------------------

test('the openai SDK through the gateway, streaming and not', async () => {
  const k = await newKey({ name: 'sdk' });
  const c = client(k.key);
  const r = await ask(c, { max_tokens: 12 });
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.usage.completion_tokens, 12);
  const s = await c.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 12, temperature: 0, stream: true });
  let text = '';
  for await (const chunk of s) text += chunk.choices[0]?.delta?.content ?? '';
  assert.equal(text, r.choices[0].message.content);
  const models = await c.models.list();
  assert.ok(models.data.some((m) => m.id === MODEL));
  const cmp = await c.completions.create({ model: 'story', prompt: 'Once upon a time', max_tokens: 5, temperature: 0 }); // an alias
  assert.equal(cmp.choices.length, 1);
  const usage = (await admin(`/admin/usage?key=${k.id}`)).body.data[0];
  assert.equal(usage.requests, 3);
  assert.ok(usage.completion_tokens >= 12 + 12 + 5, JSON.stringify(usage));
});

test('keys: missing, wrong, revoked, expired; allowed models; admin refuses ordinary keys', async () => {
  await assert.rejects(ask(client('sk-lmx-' + 'x'.repeat(40))), OpenAI.AuthenticationError);
  const r = await fetch(`${GW}/v1/chat/completions`, { method: 'POST', body: '{}' });
  assert.equal(r.status, 401);
  const k = await newKey({ name: 'to-revoke' });
  await ask(client(k.key));
  assert.equal((await admin(`/admin/keys/${k.id}`, { method: 'DELETE' })).body.status, 'revoked');
  await assert.rejects(ask(client(k.key)), (e) => e instanceof OpenAI.AuthenticationError && e.code === 'revoked_api_key');
  const soon = await newKey({ name: 'brief', expires: Math.floor(Date.now() / 1000) + 2 });
  await ask(client(soon.key));
  await sleep(2600);
  await assert.rejects(ask(client(soon.key)), (e) => e instanceof OpenAI.AuthenticationError && e.code === 'expired_api_key');
  const limited = await newKey({ name: 'faults only', models: ['fault-*'] });
  await assert.rejects(ask(client(limited.key)), OpenAI.PermissionDeniedError);
  const list = await client(limited.key).models.list();
  assert.ok(list.data.every((m) => m.id.startsWith('fault-')), JSON.stringify(list.data));
  const ordinary = await fetch(`${GW}/admin/keys`, { headers: { Authorization: `Bearer ${limited.key}` } });
  assert.equal(ordinary.status, 403);
  const keys = (await admin('/admin/keys')).body.data;
  assert.ok(keys.every((x) => !JSON.stringify(x).includes('sk-lmx-') || x.prefix), 'no secret in listings');
  assert.ok(!JSON.stringify(keys).includes(k.key));
});

test('rpm holds exactly, with Retry-After and x-ratelimit headers', async () => {
  const k = await newKey({ name: 'rpm', rpm: 5 });
  const c = client(k.key);
  for (let i = 0; i < 5; i++) await ask(c);
  const raw = await fetch(`${GW}/v1/chat/completions`, { method: 'POST', headers: { Authorization: `Bearer ${k.key}` }, body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'x' }], max_tokens: 1 }) });
  assert.equal(raw.status, 429);
  assert.ok(Number(raw.headers.get('retry-after')) >= 1);
  assert.equal(raw.headers.get('x-ratelimit-limit-requests'), '5');
  assert.equal(raw.headers.get('x-ratelimit-remaining-requests'), '0');
  assert.equal((await raw.json()).error.type, 'rate_limit_error');
});

test('tpm and budgets', async () => {
  const t = await newKey({ name: 'tpm', tpm: 60 });
  const c = client(t.key);
  let refused = false;
  for (let i = 0; i < 20 && !refused; i++) {
    try { await ask(c, { max_tokens: 10 }); } catch (e) { assert.ok(e instanceof OpenAI.RateLimitError); refused = true; }
  }
  assert.ok(refused, 'tpm never refused');
  const b = await newKey({ name: 'budget', budget_tokens: 40, budget_period: 'total' });
  const cb = client(b.key);
  let spent = 0, err = null;
  for (let i = 0; i < 20 && !err; i++) {
    let r = null;
    try { r = await ask(cb, { max_tokens: 8 }); } catch (e) { err = e; }
    if (r) {
      assert.ok(r.usage, `no usage in ${JSON.stringify(r)}`);
      spent += r.usage.total_tokens;
    }
  }
  assert.ok(err instanceof OpenAI.RateLimitError && err.code === 'insufficient_quota', String(err));
  assert.ok(spent >= 40, `spent ${spent}`);
});

// ---- routing, balancing, faults ------------------------------------------------------------------------------

test('load spreads across the two workers', async () => {
  const k = await newKey({ name: 'spread' });
  const c = client(k.key);
  const served = async (work) => {
    const before = Object.fromEntries((await backends()).map((b) => [b.name, b.requests]));
    await work();
    const after = await backends();
    return ['w1', 'w2'].map((w) => after.find((b) => b.name === w).requests - before[w]);
  };
  // One at a time the two are equally loaded at every pick, and they take turns.
  let n = await served(async () => { for (let i = 0; i < 20; i++) await ask(c, { max_tokens: 2 }); });
  assert.deepEqual(n, [10, 10], `one at a time: w1 ${n[0]}, w2 ${n[1]}`);
  // At once, the less busy one takes each: a worker slowed by this shared machine
  // rightly gets fewer, so only ask that neither is left out.
  n = await served(() => Promise.all(Array.from({ length: 60 }, () => ask(c, { max_tokens: 2 }))));
  assert.equal(n[0] + n[1], 60);
  assert.ok(Math.min(...n) >= 10, `at once: w1 ${n[0]}, w2 ${n[1]}`);
});

test('upstream faults become clean 502 / 504', async () => {
  const k = await newKey({ name: 'faults' });
  const c = client(k.key);
  const ready = async () => { // each fault counts against the backend; wait out its ejection between them
    for (let i = 0; i < 50; i++) {
      const f = (await backends()).find((b) => b.name === 'faults');
      if (f.healthy && !f.ejected) return;
      await sleep(100);
    }
  };
  const expect = async (model, status) => {
    await ready();
    const r = await fetch(`${GW}/v1/chat/completions`, { method: 'POST', headers: { Authorization: `Bearer ${k.key}` }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }] }) });
    const body = await r.json();
    assert.equal(r.status, status, `${model}: ${JSON.stringify(body)}`);
    assert.ok(body.error && body.error.message, `${model}: not an OpenAI error`);
  };
  await expect('fault-500', 502);
  await expect('fault-garbage', 502);
  await expect('fault-slow', 504);
  await expect('fault-drip', 504);
  await expect('fault-reset', 502);
  const okr = await ask(c, { model: 'fault-ok' });
  assert.equal(okr.choices?.[0]?.message?.content, 'ok', JSON.stringify(okr));
  const health = await fetch(`${GW}/health`);
  assert.equal(health.status, 200); // the gateway is still up
});

test('kill -9 a worker under load: nothing fails, it is ejected and comes back', async () => {
  const k = await newKey({ name: 'chaos' });
  const c = client(k.key);
  let killed = false;
  const jobs = Array.from({ length: 40 }, async (_, i) => {
    if (i === 10 && !killed) {
      killed = true;
      process.kill(Number(process.env.W1_PID), 'SIGKILL');
    }
    return ask(c, { max_tokens: 16 });
  });
  const results = await Promise.allSettled(jobs);
  const failed = results.filter((r) => r.status === 'rejected');
  assert.equal(failed.length, 0, failed.map((f) => String(f.reason)).join('; '));
  let w1 = (await backends()).find((b) => b.name === 'w1');
  assert.ok(w1.ejected || !w1.healthy, JSON.stringify(w1));
  fs.writeFileSync(process.env.W1_RESTART, 'go');
  for (let i = 0; i < 100; i++) {
    w1 = (await backends()).find((b) => b.name === 'w1');
    if (w1.healthy && !w1.ejected) break;
    await sleep(100);
  }
  assert.ok(w1.healthy && !w1.ejected, `w1 did not come back: ${JSON.stringify(w1)}`);
  const before = w1.requests;
  await Promise.all(Array.from({ length: 20 }, () => ask(c, { max_tokens: 2 })));
  w1 = (await backends()).find((b) => b.name === 'w1');
  assert.ok(w1.requests > before, 'w1 takes requests again');
});

test('two gateways sharing Redis enforce one limit', async () => {
  const k = await newKey({ name: 'shared', rpm: 6 }, GW2); // the store file is shared too
  const a = client(k.key, GW2), b = client(k.key, GW3);
  let ok = 0, limited = 0;
  for (let i = 0; i < 10; i++) {
    try { await ask(i % 2 ? a : b, { max_tokens: 1 }); ok++; } catch (e) { assert.ok(e instanceof OpenAI.RateLimitError, String(e)); limited++; }
  }
  assert.equal(ok, 6);
  assert.equal(limited, 4);
});

test('a client that leaves a stream cancels the upstream request', async () => {
  const k = await newKey({ name: 'leaver' });
  const c = client(k.key);
  const cancelled = async () => {
    let n = 0;
    for (const w of [process.env.W2_URL, process.env.W1_URL]) {
      const text = await fetch(`${w}/metrics`).then((r) => r.text(), () => ''); // a worker may be down
      for (const line of text.split('\n'))
        if (line.startsWith('llmux_requests_finished_total{') && line.includes('reason="cancelled"')) n += Number(line.split(' ').pop());
    }
    return n;
  };
  // stories260K writes its 240 tokens in about 30 ms, so on a loaded
  // machine the worker may finish before the client's leaving reaches it:
  // the client leaves at its first chunk, and tries up to three streams.
  const before = await cancelled();
  for (let attempt = 0; attempt < 3 && await cancelled() === before; attempt++) {
    const s = await c.completions.create({ model: MODEL, prompt: 'Once', max_tokens: 240, temperature: 0, ignore_eos: true, stream: true });
    for await (const chunk of s) break; // closes the connection to the gateway
    for (let i = 0; i < 20 && await cancelled() === before; i++) await sleep(100);
  }
  assert.ok(await cancelled() > before, 'the worker never saw the request cancelled');
});

test('metrics', async () => {
  const text = await (await fetch(`${GW}/metrics`)).text();
  assert.match(text, /llmux_gateway_requests_total\{model="stories260K",backend="w[12]",status="200"\} \d+/);
  assert.match(text, /llmux_gateway_upstream_errors_total\{backend="faults"/);
  const store = text.match(/^llmux_gateway_store_memory_bytes (\d+)/m);
  assert.ok(store && Number(store[1]) > 0, 'the store memory gauge is missing or zero');
});

await run();
