/**
 * The gateway details a newcomer meets first (issue 22, point 8): the startup warning for an unset
 * upstream key, `/v1/route` with `{"prompt"}`, the error for `messages: "hi"`, 405 for a known URL
 * asked with the wrong method, and what a model asked for by name does while it cools down.
 */
import { connect } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Gateway } from '../src/serve/gateway.js';
import { chat, post, startFixture, type Fixture } from './helpers/gateway-fixture.js';

let fx: Fixture;
let gw: Gateway;
const logged: string[] = [];

beforeAll(async () => {
  fx = await startFixture();
  // SMALL_KEY unset: the fixture passes both keys, so take one away.
  gw = await fx.gateway({
    file: 'log: none\nupstream: {retries: 0, backoffMs: 1, cooldownMs: 60000}\n',
    env: { SMALL_KEY: '' },
    gateway: { logStream: { write: (line) => void logged.push(line) } },
  });
}, 60_000);

afterAll(async () => {
  await fx?.close();
});

describe('gateway details (issue 22 point 8)', () => {
  it('warns at start, once per model, when a model\'s apiKeyEnv is unset', () => {
    // Through the gateway's pino logger, at warn (level 40), seen at the default level.
    const events = logged.map((l) => JSON.parse(l) as { level: number; event?: string; model?: string; apiKeyEnv?: string; msg: string }).filter((e) => e.event === 'upstream_key_missing');
    expect(events).toEqual([
      expect.objectContaining({
        level: 40,
        model: 'small',
        apiKeyEnv: 'SMALL_KEY',
        msg: 'SMALL_KEY (apiKeyEnv of small) is not set: every call to small counts as a failed attempt (the next model is tried) until it is',
      }),
    ]);
  });

  it('/v1/route takes {"prompt": ...} as one user turn, and says what is wrong with a bad prompt', async () => {
    const byPrompt = await post(`${gw.url}/v1/route`, { prompt: 'Prove that there are infinitely many primes.' });
    const byMessages = await post(`${gw.url}/v1/route`, chat('Prove that there are infinitely many primes.'));
    expect(byPrompt.status).toBe(200);
    expect(byPrompt.body.object).toBe('routecore.decision');
    expect(byPrompt.body.model).toBe(byMessages.body.model);
    expect(byPrompt.body.scores).toEqual(byMessages.body.scores);
    const both = await post(`${gw.url}/v1/route`, { prompt: 'a', messages: [{ role: 'user', content: 'b' }] });
    expect(both.status).toBe(400);
    expect(both.body.error).toMatchObject({ code: 'invalid_body', param: 'prompt', message: 'give "prompt" or "messages", not both' });
    const notText = await post(`${gw.url}/v1/route`, { prompt: 42 });
    expect(notText.status).toBe(400);
    expect(notText.body.error).toMatchObject({ code: 'invalid_prompt', param: 'prompt', message: 'body.prompt must be a string, got number 42' });
  });

  it('messages: "hi" is invalid_messages with the shape it must have', async () => {
    for (const path of ['/v1/chat/completions', '/v1/route']) {
      const r = await post(`${gw.url}${path}`, { model: 'routecore', messages: 'hi' });
      expect(r.status).toBe(400);
      expect(r.body.error).toMatchObject({
        type: 'invalid_request_error',
        code: 'invalid_messages',
        param: 'messages',
        message: 'body.messages must be an array of {"role", "content"} messages, not a string: [{"role":"user","content":"hi"}]',
      });
    }
    const missing = await post(`${gw.url}/v1/chat/completions`, { model: 'routecore' });
    expect(missing.body.error.code).toBe('missing_messages');
    const notArray = await post(`${gw.url}/v1/chat/completions`, { model: 'routecore', messages: { role: 'user', content: 'hi' } });
    expect(notArray.body.error.code).toBe('invalid_messages');
  });

  it('a known URL with the wrong method is 405 with Allow; an unknown URL stays 404', async () => {
    const get = await fetch(`${gw.url}/v1/chat/completions`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect(await get.json()).toMatchObject({ error: { type: 'invalid_request_error', code: 'method_not_allowed', message: 'GET /v1/chat/completions is not supported; use POST' } });
    const postModels = await post(`${gw.url}/v1/models`, {});
    expect(postModels.status).toBe(405);
    expect(postModels.headers.get('allow')).toBe('GET');
    const unknown = await fetch(`${gw.url}/v1/nothing-here`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('unknown_url');
  });

  it('answers what Node cannot read as HTTP, and an Anthropic client\'s mistyped URL, in the shape the client reads', async () => {
    const raw = (request: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(new URL(gw.url).port), '127.0.0.1', () => socket.end(request));
        let text = '';
        socket.on('data', (d) => (text += d.toString()));
        socket.on('close', () => resolve(text));
        socket.on('error', reject);
      });
    const badChunk = await raw('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n');
    expect(badChunk).toMatch(/^HTTP\/1.1 400 Bad Request\r\n/);
    expect(JSON.parse(badChunk.slice(badChunk.indexOf('\r\n\r\n') + 4))).toEqual({ error: { message: expect.stringContaining('the request could not be read as HTTP'), type: 'invalid_request_error', code: 'bad_http_request', param: null } });
    const bigHeaders = await raw(`GET /v1/models?${'x'.repeat(70_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(bigHeaders).toMatch(/^HTTP\/1.1 431 /);
    expect(bigHeaders).toContain('"code":"request_headers_too_large"');
    const slash = await post(`${gw.url}/v1/messages/`, { model: 'routecore', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    expect(slash.status).toBe(404);
    expect(slash.body).toEqual({ type: 'error', error: { type: 'not_found_error', message: 'unknown request URL: POST /v1/messages/' } });
  });

  it('a model asked for by name is called even while it cools down (documented in docs/DEPLOY.md)', async () => {
    gw.router.markUnavailable('big', 60_000);
    const routed = gw.router.routeChatSync(chat());
    expect(routed.model).not.toBe('big'); // routing avoids it ...
    const r = await post(`${gw.url}/v1/chat/completions`, chat('hello', { model: 'big' }));
    expect(r.status).toBe(200); // ... but the client's explicit choice is honoured
    expect(r.headers.get('x-routecore-model')).toBe('big');
    expect(fx.big.requests.length).toBe(1);
    gw.router.markUnavailable('big', 0);
  });

  it('with every model cooling down, a name is still called, and a routed request gets 503 with the first cool-down end as Retry-After', async () => {
    gw.router.markUnavailable('big', 60_000);
    gw.router.markUnavailable('small', 20_000);
    try {
      const before = fx.big.requests.length;
      const named = await post(`${gw.url}/v1/chat/completions`, chat('hello', { model: 'big' }));
      expect(named.status).toBe(200);
      expect(named.headers.get('x-routecore-model')).toBe('big');
      expect(fx.big.requests.length).toBe(before + 1);
      const routed = await post(`${gw.url}/v1/chat/completions`, chat('hello'));
      expect(routed.status).toBe(503);
      expect(routed.body.error.code).toBe('no_eligible_model');
      const retry = Number(routed.headers.get('retry-after'));
      expect(retry).toBeGreaterThanOrEqual(1);
      expect(retry).toBeLessThanOrEqual(20);
    } finally {
      gw.router.markUnavailable('big', 0);
      gw.router.markUnavailable('small', 0);
    }
  });
});
