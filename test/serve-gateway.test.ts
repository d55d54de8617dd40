/**
 * The gateway over two mock upstreams on 127.0.0.1: endpoints, model names, headers, every error
 * status, fallbacks and streaming through the executor, client disconnects, reload and drain, client
 * keys with limits and budgets, the outcome log and its export into `routecore train`.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { defaultRouterPath } from '../src/routing/router.js';
import { Router } from '../src/app/router.js';
import { hashKey } from '../src/serve/config.js';
import type { Gateway } from '../src/serve/gateway.js';
import { exportRecords, writeExport } from '../src/serve/log-export.js';
import { openLogDatabase } from '../src/serve/outcome-log.js';
import { train } from '../src/training/train.js';
import { UPSTREAM_KEYS, chat, post, startFixture, until, type Fixture } from './helpers/gateway-fixture.js';

let fx: Fixture;
let gw: Gateway;
let url: string;
let first: string;
let second: string;
/** The embedded router's default policy (whatever it ships with). */
let defaultPolicy: string;

beforeAll(async () => {
  fx = await startFixture();
  gw = await fx.gateway({ file: 'bodyLimitBytes: 4096\nupstream: {retries: 0, backoffMs: 1, cooldownMs: 1}\n' });
  url = gw.url;
  const d = gw.router.routeChatSync(chat());
  first = d.model;
  second = d.fallbacks[0]!;
  defaultPolicy = d.policy;
}, 60_000);

afterAll(async () => {
  await fx?.close();
});

afterEach(() => fx.reset(gw));

function rows(g: Gateway): Record<string, unknown>[] {
  g.log.flush();
  const db = openLogDatabase(g.config.log.path, { readonly: true });
  try {
    return db.prepare('SELECT * FROM outcomes ORDER BY seq').all() as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

describe('routing and answers', () => {
  it('lists routecore, each routecore:<policy> and every registry id', async () => {
    const res = await fetch(`${url}/v1/models`);
    const body = (await res.json()) as { object: string; data: { id: string; owned_by: string }[] };
    expect(body.object).toBe('list');
    expect(body.data.map((m) => m.id)).toEqual(['routecore', 'routecore:best', 'routecore:cost', 'routecore:threshold', 'routecore:subset', 'big', 'small']);
    expect(body.data.find((m) => m.id === 'big')!.owned_by).toBe('mock');
  });

  it('routes "routecore", answers with the model that answered, and sets the four headers', async () => {
    const r = await post(`${url}/v1/chat/completions`, chat());
    expect(r.status).toBe(200);
    expect(r.body.model).toBe(first);
    expect(r.body.choices[0].message.content).toBe(`Answer from ${first}.`);
    expect(r.headers.get('x-routecore-model')).toBe(first);
    expect(r.headers.get('x-routecore-routed')).toBe(first);
    expect(r.headers.get('x-routecore-policy')).toBe(defaultPolicy);
    expect(r.headers.get('x-routecore-attempts')).toBe('1');
    expect(r.headers.get('x-request-id')).toMatch(/^rc-/);
    // Each upstream gets its own key; the client's never travels.
    const seen = fx.mock(first).requests[0]!;
    expect(seen.authorization).toBe(`Bearer ${first === 'big' ? UPSTREAM_KEYS.BIG_KEY : UPSTREAM_KEYS.SMALL_KEY}`);
  });

  it('routes routecore:<policy>:<knob> with that policy', async () => {
    const r = await post(`${url}/v1/chat/completions`, chat(undefined, { model: 'routecore:threshold:0' }));
    expect(r.status).toBe(200);
    expect(r.headers.get('x-routecore-policy')).toBe('threshold');
    // tau 0: the strong model always wins.
    expect(r.headers.get('x-routecore-routed')).toBe('big');
  });

  it('passes a registry id through, with the other models as fallbacks', async () => {
    fx.small.queue({ kind: 'status', status: 500 });
    const r = await post(`${url}/v1/chat/completions`, chat(undefined, { model: 'small' }));
    expect(r.status).toBe(200);
    expect(r.body.model).toBe('big');
    expect(r.headers.get('x-routecore-routed')).toBe(first);
    expect(r.headers.get('x-routecore-attempts')).toBe('2');
  });

  it('falls back when the first choice fails, and says so in the headers', async () => {
    fx.mock(first).queue({ kind: 'status', status: 503 });
    const r = await post(`${url}/v1/chat/completions`, chat());
    expect(r.status).toBe(200);
    expect(r.body.model).toBe(second);
    expect(r.headers.get('x-routecore-model')).toBe(second);
    expect(r.headers.get('x-routecore-routed')).toBe(first);
    expect(r.headers.get('x-routecore-attempts')).toBe('2');
  });

  it('decides without calling an upstream on /v1/route', async () => {
    const r = await post(`${url}/v1/route`, chat());
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ object: 'routecore.decision', model: first, fallbacks: [second], policy: defaultPolicy, routed: first });
    expect(r.headers.get('x-routecore-attempts')).toBe('0');
    expect(fx.big.requests.length + fx.small.requests.length).toBe(0);
  });
});

describe('errors are OpenAI-shaped with the right status', () => {
  const shape = (r: { body: { error: { message: unknown; type: unknown; code: unknown } } }, code: string) => {
    expect(Object.keys(r.body)).toEqual(['error']);
    expect(typeof r.body.error.message).toBe('string');
    expect(typeof r.body.error.type).toBe('string');
    expect(r.body.error.code).toBe(code);
  };

  it('400 for malformed JSON', async () => {
    const r = await post(`${url}/v1/chat/completions`, '{"messages": [');
    expect(r.status).toBe(400);
    shape(r, 'invalid_json');
    expect(r.headers.get('x-routecore-model')).toBe('none');
  });

  it('400 for missing or empty messages, naming the field', async () => {
    const a = await post(`${url}/v1/chat/completions`, { model: 'routecore' });
    expect(a.status).toBe(400);
    shape(a, 'missing_messages');
    expect(a.body.error.param).toBe('messages');
    expect(a.body.error.message).toBe('Expected an array of chat messages for body.messages but received undefined');
    const b = await post(`${url}/v1/chat/completions`, { messages: [] });
    expect(b.status).toBe(400);
    expect(b.body.error.message).toBe('body.messages is empty: a conversation needs at least one user turn');
    const c = await post(`${url}/v1/chat/completions`, { messages: [{ role: 'user', content: '   ' }] });
    expect(c.status).toBe(400);
    expect(c.body.error.routecore_code).toBe('ERR_ROUTECORE_INVALID_ARGUMENT');
    const d = await post(`${url}/v1/chat/completions`, '[1,2]');
    expect(d.status).toBe(400);
    shape(d, 'invalid_body');
  });

  it('bodies the route schemas refuse get the same precise answers (field, message, code)', async () => {
    const s = await post(`${url}/v1/chat/completions`, chat(undefined, { stream: 'true' }));
    expect(s.status).toBe(400);
    expect(s.body.error).toMatchObject({ code: 'invalid_stream', param: 'stream', message: 'body.stream must be true or false' });
    const m = await post(`${url}/v1/chat/completions`, chat(undefined, { model: 5 }));
    expect(m.body.error).toMatchObject({ code: 'invalid_model', param: 'model', message: 'Expected "routecore", "routecore:<policy>[:<knob>]" or a registry id for model but received number 5' });
    const r = await post(`${url}/v1/chat/completions`, { messages: [{ role: 7, content: 'hi' }] });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'invalid_request', routecore_code: 'ERR_ROUTECORE_INVALID_ARGUMENT' });
    expect(r.body.error.message).toMatch(/messages\[0\]\.role/);
    const f = await post(`${url}/v1/feedback`, { id: 'rc-1', score: '0.5' });
    expect(f.status).toBe(400);
    expect(f.body.error).toMatchObject({ code: 'invalid_score', param: 'score', message: 'body.score must be a number in [0, 1], got "0.5"' });
    const i = await post(`${url}/v1/feedback`, { id: '', score: 1 });
    expect(i.body.error).toMatchObject({ code: 'invalid_id', param: 'id', message: 'body.id must be the x-request-id of an answered request, got ""' });
    const p = await post(`${url}/v1/route`, { prompt: 42 });
    expect(p.status).toBe(400);
    expect(p.body.error).toMatchObject({ code: 'invalid_prompt', param: 'prompt', message: 'body.prompt must be a string, got number 42' });
    expect(fx.big.requests.length + fx.small.requests.length).toBe(0);
  });

  it('404 for an unknown model and an unknown URL', async () => {
    const r = await post(`${url}/v1/chat/completions`, chat(undefined, { model: 'gpt-5' }));
    expect(r.status).toBe(404);
    shape(r, 'model_not_found');
    expect(r.body.error.message).toBe('model "gpt-5" is not routecore, routecore:<policy>[:<knob>] or a registry id (big, small)');
    const u = await post(`${url}/v1/embeddings`, { input: 'x' });
    expect(u.status).toBe(404);
    shape(u, 'unknown_url');
    const bad = await post(`${url}/v1/chat/completions`, chat(undefined, { model: 'routecore:fastest' }));
    expect(bad.status).toBe(400);
    shape(bad, 'invalid_model');
  });

  it('413 for a body over the limit', async () => {
    const r = await post(`${url}/v1/chat/completions`, chat('x'.repeat(5000)));
    expect(r.status).toBe(413);
    shape(r, 'body_too_large');
    expect(r.body.error.message).toBe("the request body is over this gateway's limit of 4096 bytes");
  });

  it('503 when every upstream is unavailable, naming each attempt', async () => {
    fx.big.fault = { kind: 'status', status: 503 };
    fx.small.fault = { kind: 'status', status: 503 };
    const r = await post(`${url}/v1/chat/completions`, chat());
    expect(r.status).toBe(503);
    shape(r, 'upstream_unavailable');
    expect(r.body.error.attempts.map((a: { model: string }) => a.model)).toEqual([first, second]);
    expect(r.body.error.message).toContain(`${first}: `);
    expect(r.body.error.message).toContain(`${second}: `);
    expect(r.headers.get('x-routecore-attempts')).toBe('2');
    expect(r.headers.get('x-routecore-model')).toBe('none');
    expect(r.headers.get('x-routecore-routed')).toBe(first);
  });

  it('502 on resets and malformed answers, 504 when every attempt timed out', async () => {
    fx.big.fault = { kind: 'reset' };
    fx.small.fault = { kind: 'malformed' };
    const r = await post(`${url}/v1/chat/completions`, chat());
    expect(r.status).toBe(502);
    shape(r, 'upstream_error');
    const g = await fx.gateway({ flags: { timeoutMs: '200' }, file: 'upstream: {retries: 0, cooldownMs: 1}\n' });
    fx.big.fault = { kind: 'timeout' };
    fx.small.fault = { kind: 'timeout' };
    const t = await post(`${g.url}/v1/chat/completions`, chat());
    expect(t.status).toBe(504);
    shape(t, 'upstream_timeout');
    expect(t.body.error.attempts.every((a: { status: string }) => a.status === 'timeout')).toBe(true);
    await g.close();
  });

  it('never echoes an upstream key', async () => {
    fx.big.fault = { kind: 'status', status: 401, message: `bad key ${UPSTREAM_KEYS.BIG_KEY}` };
    fx.small.fault = { kind: 'status', status: 401, message: `bad key ${UPSTREAM_KEYS.SMALL_KEY}` };
    const r = await post(`${url}/v1/chat/completions`, chat());
    expect(r.status).toBeGreaterThanOrEqual(500);
    expect(r.text).not.toContain(UPSTREAM_KEYS.BIG_KEY);
    expect(r.text).not.toContain(UPSTREAM_KEYS.SMALL_KEY);
  });
});

/** Reads an SSE response into its data payloads. */
async function sse(res: Response): Promise<string[]> {
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice(6));
}

describe('streaming', () => {
  it('passes the stream through chunk by chunk with the answering model', async () => {
    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat(undefined, { stream: true })) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    expect(res.headers.get('x-routecore-model')).toBe(first);
    expect(res.headers.get('x-routecore-attempts')).toBe('1');
    const events = await sse(res);
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as { model: string; choices: { delta: { content?: string } }[] });
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks.every((c) => c.model === first)).toBe(true);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(`Answer from ${first}.`);
  });

  it('falls back when the stream breaks before its first token', async () => {
    fx.mock(first).queue({ kind: 'truncated', after: 0 });
    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(chat(undefined, { stream: true })) });
    expect(res.headers.get('x-routecore-model')).toBe(second);
    expect(res.headers.get('x-routecore-attempts')).toBe('2');
    const events = await sse(res);
    expect(events.at(-1)).toBe('[DONE]');
  });

  it('ends a stream cut after tokens with an error event, not a silent retry', async () => {
    fx.mock(first).queue({ kind: 'cut', after: 2 });
    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(chat(undefined, { stream: true })) });
    expect(res.status).toBe(200);
    const events = await sse(res);
    const last = JSON.parse(events.at(-1)!) as { error: { code: string; routecore_code: string } };
    expect(last.error.routecore_code).toBe('ERR_ROUTECORE_STREAM_INTERRUPTED');
    expect(fx.mock(second).requests).toHaveLength(0);
  });

  it('gives a JSON error with the status when no stream could be opened', async () => {
    fx.big.fault = { kind: 'status', status: 503 };
    fx.small.fault = { kind: 'status', status: 503 };
    const r = await post(`${url}/v1/chat/completions`, chat(undefined, { stream: true }));
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('upstream_unavailable');
  });

  it('cancels the upstream call when the client disconnects mid-stream', async () => {
    const { startMockUpstream } = await import('./helpers/mock-upstream.js');
    const slow = await startMockUpstream({ name: 'slow', chunks: 100_000 });
    const reg = join(fx.dir, 'slow.json');
    writeFileSync(reg, JSON.stringify({ models: [{ id: 'slow', baseUrl: slow.baseUrl }] }));
    const g = await fx.gateway({ flags: { registry: reg, aliases: { strong: 'slow' } } });
    slow.fault = { kind: 'ok', text: 'word '.repeat(100_000) };
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        res.once('data', () => {
          // One chunk read, then the client goes away.
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => undefined);
      req.once('error', reject);
      req.end(JSON.stringify({ model: 'slow', stream: true, messages: [{ role: 'user', content: 'hi' }] }));
    });
    await until(() => slow.openConnections() === 0, 'the upstream connection to close');
    await until(() => rows(g).length === 1, 'the log row');
    const [row] = rows(g);
    expect(row!['status']).toBe('aborted');
    expect(row!['http_status']).toBe(499);
    await g.close();
    await slow.close();
  });

  it('cancels a non-streaming upstream call when the client disconnects', async () => {
    fx.big.fault = { kind: 'timeout' };
    fx.small.fault = { kind: 'timeout' };
    const before = fx.big.openConnections() + fx.small.openConnections();
    const ac = new AbortController();
    const pending = fetch(`${url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(chat()), signal: ac.signal }).catch(() => 'aborted');
    await until(() => fx.mock(first).requests.length === 1, 'the upstream call');
    ac.abort();
    expect(await pending).toBe('aborted');
    // The held upstream request's connection is closed by the gateway, not left to time out.
    await until(() => fx.big.openConnections() + fx.small.openConnections() < before + 1 || fx.mock(first).openConnections() === 0, 'the upstream connection to close');
    expect(fx.mock(second).requests).toHaveLength(0);
  });
});

describe('the OpenAI SDK against the gateway', () => {
  it('routes, falls back, streams and exposes the headers', async () => {
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'sk-client-unused', maxRetries: 0 });
    const { data, response } = await client.chat.completions.create({ model: 'routecore', messages: [{ role: 'user', content: 'Prove that there are infinitely many primes.' }] }).withResponse();
    expect(data.model).toBe(first);
    expect(response.headers.get('x-routecore-routed')).toBe(first);
    expect(fx.mock(first).requests.at(-1)!.authorization).not.toContain('sk-client-unused');

    fx.mock(first).queue({ kind: 'status', status: 500 });
    const fb = await client.chat.completions.create({ model: 'routecore', messages: [{ role: 'user', content: 'Prove that there are infinitely many primes.' }] }).withResponse();
    expect(fb.data.model).toBe(second);
    expect(fb.response.headers.get('x-routecore-attempts')).toBe('2');

    const stream = await client.chat.completions.create({ model: 'small', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    let text = '';
    for await (const c of stream) {
      expect(c.model).toBe('small');
      text += c.choices[0]?.delta?.content ?? '';
    }
    expect(text).toBe('Answer from small.');

    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain('routecore:cost');

    await expect(client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
  });
});

describe('request log (fastify\'s pino logger)', () => {
  it('is quiet by default: no line for an answered request, a warning with the request id for an upstream failure', async () => {
    fx.logs.length = 0;
    const ok = await post(`${url}/v1/chat/completions`, chat());
    expect(ok.status).toBe(200);
    expect(fx.logs).toEqual([]);
    fx.big.fault = { kind: 'status', status: 500 };
    fx.small.fault = { kind: 'status', status: 500 };
    const failed = await post(`${url}/v1/chat/completions`, chat());
    expect(failed.status).toBe(502);
    const lines = fx.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, reqId: failed.headers.get('x-request-id'), code: 'upstream_error', routecoreCode: 'ERR_ROUTECORE_UPSTREAM', attempts: 2 });
  });

  it('at logLevel info logs each request with its id, and never a key', async () => {
    const lines: string[] = [];
    const g = await fx.gateway({ file: 'logLevel: info\n', gateway: { logStream: { write: (l) => void lines.push(l) } } });
    const r = await post(`${g.url}/v1/chat/completions`, chat(), { authorization: 'Bearer sk-client-secret-in-header' });
    expect(r.status).toBe(200);
    await g.close();
    const mine = lines.map((l) => JSON.parse(l) as { reqId?: string; msg: string }).filter((l) => l.reqId === r.headers.get('x-request-id'));
    expect(mine.map((l) => l.msg)).toEqual(['incoming request', 'request completed']);
    const all = lines.join('');
    expect(all).not.toContain('sk-client-secret-in-header');
    for (const key of Object.values(UPSTREAM_KEYS)) expect(all).not.toContain(key);
  });
});

describe('health, readiness and metrics', () => {
  it('answers /healthz, /readyz and /metrics with routecore_* names', async () => {
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { status: string }).status).toBe('ready');
    await post(`${url}/v1/chat/completions`, chat());
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toMatch(/^routecore_http_requests_total\{route="\/v1\/chat\/completions",status="200"\} \d+$/m);
    expect(text).toMatch(/^routecore_decisions_total\{model="(big|small)"\} \d+$/m);
    expect(text).toMatch(/^routecore_http_request_duration_seconds_bucket/m);
    // One prom-client registry: the router's families, the process's default metrics, the gateway's gauges.
    expect(text).toMatch(/^routecore_upstream_latency_seconds_count\{model="(big|small)"\} [1-9]\d*$/m);
    expect(text).toMatch(/^routecore_process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^routecore_nodejs_heap_size_used_bytes \d/m);
    expect(text).toMatch(/^routecore_http_inflight_requests 1$/m); // the scrape itself
    expect(text).toMatch(/^routecore_draining 0$/m);
    expect(text.match(/^# TYPE routecore_decisions_total counter$/gm)).toHaveLength(1);
    for (const line of text.split('\n')) if (line && !line.startsWith('#')) expect(line.startsWith('routecore_')).toBe(true);
  });

  it('sends no CORS headers by default', async () => {
    const res = await fetch(`${url}/v1/models`, { headers: { origin: 'https://evil.example' } });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('client keys, limits and budgets', () => {
  const KEY_A = 'sk-client-a-000000000001';
  const KEY_B = 'sk-client-b-000000000002';
  const KEY_C = 'sk-client-c-000000000003';
  let g: Gateway;
  beforeAll(async () => {
    g = await fx.gateway({
      file: [
        'keys:',
        `  - {name: team-a, sha256: ${hashKey(KEY_A)}, models: ["routecore*", small], requestsPerMinute: 3}`,
        `  - {name: team-b, sha256: ${hashKey(KEY_B)}, budgetUsd: 0.00001}`,
        `  - {name: team-c, sha256: ${hashKey(KEY_C)}, budgetUsd: 0.000001}`,
        'cors: {origins: ["https://app.example.com"]}',
      ].join('\n'),
      flags: { host: '127.0.0.1' },
    });
  });
  afterAll(() => g.close());

  it('401 without a key or with a wrong one (never echoing it)', async () => {
    const none = await post(`${g.url}/v1/chat/completions`, chat());
    expect(none.status).toBe(401);
    expect(none.body.error).toMatchObject({ type: 'authentication_error', code: 'missing_api_key' });
    const wrong = await post(`${g.url}/v1/chat/completions`, chat(), { authorization: 'Bearer sk-wrong-key-123456' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('invalid_api_key');
    expect(wrong.text).not.toContain('sk-wrong-key-123456');
    expect((await fetch(`${g.url}/v1/models`)).status).toBe(401);
    expect((await fetch(`${g.url}/healthz`)).status).toBe(200);
  });

  it('403 for a model the key may not use; /v1/models lists only the allowed ones', async () => {
    const r = await post(`${g.url}/v1/chat/completions`, chat(undefined, { model: 'big' }), { authorization: `Bearer ${KEY_A}` });
    expect(r.status).toBe(403);
    expect(r.body.error).toMatchObject({ type: 'permission_error', code: 'model_not_allowed' });
    const list = (await (await fetch(`${g.url}/v1/models`, { headers: { authorization: `Bearer ${KEY_A}` } })).json()) as { data: { id: string }[] };
    expect(list.data.map((m) => m.id)).toEqual(['routecore', 'routecore:best', 'routecore:cost', 'routecore:threshold', 'routecore:subset', 'small']);
  });

  it('429 with retry-after past the key\'s requests per minute', async () => {
    const statuses: number[] = [];
    let last: Awaited<ReturnType<typeof post>> | undefined;
    for (let i = 0; i < 5; i++) {
      last = await post(`${g.url}/v1/chat/completions`, chat(), { authorization: `Bearer ${KEY_A}` });
      statuses.push(last.status);
    }
    // The 403 above counted nothing; the window may roll over mid-test, so at least one 429 after 3 answers.
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(1);
    const refused = statuses.indexOf(429);
    expect(refused).toBeGreaterThanOrEqual(3);
    if (last!.status === 429) {
      expect(last!.body.error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limit_exceeded' });
      expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
    }
  });

  it('charges a stream the client left after its first tokens (the upstream bills it) to the key\'s budget', async () => {
    const day = 86_400_000;
    const spent = () => g.state.counter(`budget:team-c:${Math.floor(Date.now() / day) * day}`);
    const before = await spent();
    fx.small.queue({ kind: 'ok', stallAfter: 1 });
    const left = new AbortController();
    const res = await fetch(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY_C}` }, body: JSON.stringify(chat('hello there', { model: 'small', stream: true })), signal: left.signal });
    expect(res.status).toBe(200);
    await res.body!.getReader().read(); // the first tokens
    left.abort();
    await until(async () => (await spent()) > before, 'the left stream to be charged');
    // Over the budget ($0.000001) by that alone: the next request is refused.
    const r = await post(`${g.url}/v1/chat/completions`, chat(undefined, { model: 'small' }), { authorization: `Bearer ${KEY_C}` });
    expect(r.status).toBe(429);
    expect(r.body.error.code).toBe('budget_exceeded');
  });

  it('429 budget_exceeded once a key has spent its USD budget', async () => {
    const first = await post(`${g.url}/v1/chat/completions`, chat(), { authorization: `Bearer ${KEY_B}` });
    expect(first.status).toBe(200);
    await until(async () => (await post(`${g.url}/v1/route`, chat(), { authorization: `Bearer ${KEY_B}` })).status === 200, 'route');
    let r = await post(`${g.url}/v1/chat/completions`, chat(), { authorization: `Bearer ${KEY_B}` });
    // The charge is recorded after the answer; the next request sees it.
    for (let i = 0; i < 20 && r.status === 200; i++) r = await post(`${g.url}/v1/chat/completions`, chat(), { authorization: `Bearer ${KEY_B}` });
    expect(r.status).toBe(429);
    expect(r.body.error.code).toBe('budget_exceeded');
    expect(r.body.error.message).toContain('key "team-b" has spent its budget of $0.00001');
  });

  it('CORS answers only configured origins', async () => {
    const ok = await fetch(`${g.url}/healthz`, { headers: { origin: 'https://app.example.com' } });
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    const no = await fetch(`${g.url}/healthz`, { headers: { origin: 'https://evil.example' } });
    expect(no.headers.get('access-control-allow-origin')).toBeNull();
    // A browser's preflight for the Anthropic SDK: its version headers are allowed, routecore's answer headers readable.
    const pre = await fetch(`${g.url}/v1/messages/count_tokens`, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-api-key, anthropic-version, content-type' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-headers')!.split(', ')).toEqual(expect.arrayContaining(['x-api-key', 'anthropic-version', 'anthropic-beta', 'content-type']));
    expect(pre.headers.get('access-control-expose-headers')!.split(', ')).toEqual(expect.arrayContaining(['x-request-id', 'x-routecore-model', 'x-routecore-token-count']));
  });
});

describe('feedback, the log and export into routecore train', () => {
  it('logs one row per request, takes feedback by id, and exports records train reads', async () => {
    const g = await fx.gateway({ file: 'upstream: {retries: 0, cooldownMs: 1}\n' });
    const prompts = Array.from({ length: 24 }, (_, i) => `Question number ${i}: explain topic ${i * 7} in detail.`);
    const ids: string[] = [];
    for (const p of prompts) {
      for (const model of ['big', 'small']) {
        const r = await post(`${g.url}/v1/chat/completions`, chat(p, { model }));
        expect(r.status).toBe(200);
        ids.push(r.headers.get('x-request-id')!);
        const fb = await post(`${g.url}/v1/feedback`, { id: r.headers.get('x-request-id'), score: model === 'big' ? 1 : (p.length % 2) * 0.5 });
        expect(fb.status).toBe(200);
      }
    }
    const refused = await post(`${g.url}/v1/chat/completions`, '{bad');
    expect(refused.status).toBe(400);
    expect((await post(`${g.url}/v1/feedback`, { id: 'rc-unknown', score: 1 })).status).toBe(404);
    const badScore = await post(`${g.url}/v1/feedback`, { id: ids[0], score: 2 });
    expect(badScore.status).toBe(400);
    expect(badScore.body.error.message).toBe('body.score must be a number in [0, 1], got 2');
    await until(() => rows(g).length === prompts.length * 2 + 1, 'every row');
    const all = rows(g);
    expect(all.filter((r) => r['status'] === 'ok')).toHaveLength(prompts.length * 2);
    expect(all.at(-1)).toMatchObject({ status: 'refused', http_status: 400 });
    expect(JSON.stringify(all)).not.toContain(UPSTREAM_KEYS.BIG_KEY);
    const logPath = g.config.log.path;
    await g.close();

    const outcomes = exportRecords([logPath], 'outcomes');
    expect(outcomes.summary).toMatchObject({ rows: prompts.length * 2 + 1, scored: prompts.length * 2, unanswered: 1, records: prompts.length });
    const rec = JSON.parse(outcomes.lines[0]!) as { prompt: string; scores: Record<string, number>; costs: Record<string, number> };
    expect(rec.prompt).toBe(prompts[0]);
    expect(Object.keys(rec.scores).sort()).toEqual(['big', 'small']);
    expect(rec.costs['big']).toBeGreaterThan(rec.costs['small']!);
    const pairwise = exportRecords([logPath], 'pairwise');
    expect(pairwise.lines).toHaveLength(prompts.length);
    expect(JSON.parse(pairwise.lines[0]!)).toMatchObject({ model_a: 'big', model_b: 'small', winner: 'model_a' });

    const out = join(fx.dir, 'export.jsonl');
    writeExport([logPath], 'outcomes', out);
    const result = await train(out, { predictor: 'linear', maxEpochs: 3, encoder: { log2Buckets: 12 } });
    expect(result.router.models.slice().sort()).toEqual(['big', 'small']);
    expect(result.summary.rows).toBe(prompts.length);
    result.router.dispose();
    const pout = join(fx.dir, 'pairwise.jsonl');
    writeExport([logPath], 'pairwise', pout);
    const presult = await train(pout, { predictor: 'mf', maxEpochs: 3, dim: 8, encoder: { log2Buckets: 12 } });
    expect(presult.summary['objective']).toBe('pairwise');
    presult.router.dispose();
    expect(readFileSync(out, 'utf8').split('\n').filter(Boolean)).toHaveLength(prompts.length);
  }, 120_000);
});

describe('reload and drain', () => {
  it('reloads the router on request (SIGHUP) and when its file changes, without dropping a request', async () => {
    const routerPath = join(fx.dir, 'live.router');
    copyFileSync(defaultRouterPath(), routerPath);
    const g = await fx.gateway({ flags: { router: routerPath } });
    fx.big.fault = { kind: 'ok', delayMs: 300 };
    fx.small.fault = { kind: 'ok', delayMs: 300 };
    const oldRouter = g.router;
    const inflight = post(`${g.url}/v1/chat/completions`, chat());
    await until(() => fx.big.requests.length + fx.small.requests.length === 1, 'the upstream call');
    expect(await g.reload('SIGHUP')).toBe(true);
    expect(g.router).not.toBe(oldRouter);
    const during = post(`${g.url}/v1/chat/completions`, chat());
    expect((await inflight).status).toBe(200);
    expect((await during).status).toBe(200);
    // A half-written file leaves the current router in place.
    const current = g.router;
    writeFileSync(routerPath, readFileSync(defaultRouterPath()).subarray(0, 100));
    await until(async () => /routecore_router_reloads_total\{result="failed"\} 1/.test(await (await fetch(`${g.url}/metrics`)).text()), 'the failed reload');
    expect(g.router).toBe(current);
    expect((await post(`${g.url}/v1/chat/completions`, chat())).status).toBe(200);
    // A good file is picked up.
    const r = Router.loadSync('default');
    await r.calibrate(['a', 'b c', 'd e f', 'hello there'], { strongShare: 0.5 });
    await r.save(routerPath);
    r.dispose();
    await until(() => g.router !== current, 'the reload after the file changed');
    expect((await post(`${g.url}/v1/chat/completions`, chat())).status).toBe(200);
    // /metrics now shows the new router's per-model families (one request so far), once each.
    const text = await (await fetch(`${g.url}/metrics`)).text();
    expect(text.match(/^routecore_decisions_total\{model="[^"]+"\} (\d+)$/gm)!.map((l) => Number(l.split(' ')[1])).reduce((a, b) => a + b, 0)).toBe(1);
    expect(text.match(/^# TYPE routecore_decisions_total counter$/gm)).toHaveLength(1);
    expect(text).toMatch(/^routecore_router_reloads_total\{result="ok"\} 2$/m);
    await g.close();
  }, 60_000);

  it('drains in-flight requests on close (SIGTERM) and refuses new ones', async () => {
    const g = await fx.gateway();
    fx.big.fault = { kind: 'ok', delayMs: 400 };
    fx.small.fault = { kind: 'ok', delayMs: 400 };
    const slow = post(`${g.url}/v1/chat/completions`, chat());
    await until(() => fx.big.requests.length + fx.small.requests.length === 1, 'the upstream call');
    const closing = g.close();
    expect(g.draining).toBe(true);
    const r = await slow;
    expect(r.status).toBe(200);
    await closing;
    await expect(fetch(`${g.url}/healthz`)).rejects.toThrow();
    expect(rows(g)).toHaveLength(1);
    expect(rows(g)[0]).toMatchObject({ status: "ok", http_status: 200 });
  }, 30_000);

  it('tells the requests it cuts at the drain deadline why: a 503 shutting_down, or that error as a stream\'s last event', async () => {
    const g = await fx.gateway({ file: 'drainMs: 300\n' });
    fx.big.fault = { kind: 'timeout' };
    fx.small.fault = { kind: 'timeout' };
    const waiting = post(`${g.url}/v1/chat/completions`, chat('Hi', { model: 'big' }));
    await until(() => fx.big.requests.length === 1, 'the upstream call');
    fx.big.fault = { kind: 'ok', stallAfter: 1 };
    let streamed = '';
    const streaming = new Promise<void>((resolve) => {
      const req = httpRequest(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        res.on('data', (d: Buffer) => (streamed += d.toString()));
        res.on('end', () => resolve());
        res.on('error', () => resolve());
      });
      req.on('error', () => resolve());
      req.end(JSON.stringify(chat('Hi', { model: 'big', stream: true })));
    });
    await until(() => streamed.includes('"content"'), 'the first token');
    await g.close();
    const r = await waiting;
    expect(r.status).toBe(503);
    expect(r.body.error).toMatchObject({ code: 'shutting_down', message: expect.stringContaining('cut this request at its drain deadline (300 ms)') });
    await streaming;
    expect(streamed).toMatch(/data: \{"error":\{[^\n]*"code":"shutting_down"/);
  }, 30_000);

  it('listens on 127.0.0.1 when no client keys are configured', () => {
    expect(new URL(url).hostname).toBe('127.0.0.1');
    expect(gw.config.keys).toHaveLength(0);
  });
});
