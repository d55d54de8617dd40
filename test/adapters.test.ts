/**
 * The adapters driven by the real SDKs: the openai package through routedFetch, the ai package
 * (generateText/streamText) through routedModel over @ai-sdk/openai-compatible provider models,
 * all against the project's mock upstreams.
 */
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { generateText, streamText } from 'ai';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { routedModel } from '../src/adapters/ai-sdk.js';
import { routedFetch } from '../src/adapters/openai.js';
import { Router } from '../src/app/router.js';
import type { MockUpstream } from './helpers/mock-upstream.js';
import { PAIR_ALIASES, PAIR_KEYS as KEYS, startUpstreamPair, type UpstreamPair } from './helpers/upstream-pair.js';

const CLIENT_KEY = 'sk-client-must-not-leak';
const QUESTION = 'Prove that there are infinitely many primes.';

let pair: UpstreamPair;
let a: MockUpstream;
let b: MockUpstream;
let router: Router;
let first: string;
let second: string;

beforeAll(async () => {
  pair = await startUpstreamPair();
  ({ a, b } = pair);
  router = await Router.load('default', { registry: pair.registry, aliases: PAIR_ALIASES });
  const d = router.routeChatSync({ messages: [{ role: 'user', content: QUESTION }] });
  first = d.model;
  second = d.fallbacks[0]!;
});

afterAll(async () => {
  await pair.close();
});

const mockOf = (id: string) => pair.mockOf(id);
const keyOf = (id: string) => pair.keyOf(id);

afterEach(() => {
  pair.reset();
  // Each test starts with both models available.
  router.markUnavailable('model-a', 0);
  router.markUnavailable('model-b', 0);
});

function client(): { openai: OpenAI; close: () => Promise<void> } {
  const fetch = routedFetch({ router, env: KEYS, backoffMs: 1, retries: 0 });
  const openai = new OpenAI({ apiKey: CLIENT_KEY, baseURL: 'http://routecore.invalid/v1', fetch, maxRetries: 0 });
  return { openai, close: () => fetch.executor.close() };
}

describe('routecore/openai routedFetch with the real openai SDK', () => {
  it('a request for routecore is answered by the fallback when the first choice fails; each upstream gets its own key', async () => {
    const { openai, close } = client();
    mockOf(first).fault = { kind: 'status', status: 503 };
    const { data, response } = await openai.chat.completions.create({ model: 'routecore', messages: [{ role: 'user', content: QUESTION }] }).withResponse();
    expect(data.model).toBe(second);
    expect(data.choices[0]!.message.content).toBe(`Answer from ${second === 'model-a' ? 'a' : 'b'}.`);
    expect(response.headers.get('x-routecore-model')).toBe(second);
    expect(response.headers.get('x-routecore-routed')).toBe(first);
    expect(response.headers.get('x-routecore-attempts')).toBe('2');
    expect(mockOf(first).requests[0]!.authorization).toBe(`Bearer ${keyOf(first)}`);
    expect(mockOf(second).requests[0]!.authorization).toBe(`Bearer ${keyOf(second)}`);
    for (const m of [a, b]) for (const r of m.requests) expect(JSON.stringify(r.headers)).not.toContain(CLIENT_KEY);
    await close();
  });

  it('streams through the SDK unchanged, from the fallback when the first stream breaks before its first token', async () => {
    const { openai, close } = client();
    mockOf(first).fault = { kind: 'cut', after: 0 };
    const stream = await openai.chat.completions.create({ model: 'routecore', stream: true, messages: [{ role: 'user', content: QUESTION }] });
    let text = '';
    const models = new Set<string>();
    for await (const chunk of stream) {
      models.add(chunk.model);
      text += chunk.choices[0]?.delta?.content ?? '';
    }
    expect(text).toBe(`Answer from ${second === 'model-a' ? 'a' : 'b'}.`);
    expect([...models]).toEqual([second]);
    expect(mockOf(second).requests[0]!.authorization).toBe(`Bearer ${keyOf(second)}`);
    await close();
  });

  it('a registry id goes to that model first', async () => {
    const { openai, close } = client();
    const r = await openai.chat.completions.create({ model: second, messages: [{ role: 'user', content: QUESTION }] });
    expect(r.model).toBe(second);
    expect(mockOf(first).requests).toHaveLength(0);
    await close();
  });

  it('routecore:<policy>:<knob> is routed with that policy', async () => {
    const { openai, close } = client();
    const { response } = await openai.chat.completions.create({ model: 'routecore:threshold:0', messages: [{ role: 'user', content: QUESTION }] }).withResponse();
    expect(response.headers.get('x-routecore-policy')).toBe('threshold');
    // τ = 0: every prompt goes to the strong model.
    expect(response.headers.get('x-routecore-model')).toBe('model-a');
    await close();
  });

  it('an unknown model is a 404 NotFoundError, an empty conversation a 400 naming the field', async () => {
    const { openai, close } = client();
    const e1 = await openai.chat.completions.create({ model: 'gpt-5', messages: [{ role: 'user', content: 'hi' }] }).catch((e) => e);
    expect(e1).toBeInstanceOf(OpenAI.NotFoundError);
    expect(e1.message).toMatch(/model "gpt-5" is not routecore, routecore:<policy>\[:<knob>\] or a registry id \(model-a, model-b\)/);
    const e2 = await openai.chat.completions.create({ model: 'routecore', messages: [{ role: 'system', content: 'x' }, { role: 'user', content: '  \n ' }] }).catch((e) => e);
    expect(e2).toBeInstanceOf(OpenAI.BadRequestError);
    expect(e2.message).toMatch(/messages\[1\]\.content is empty or whitespace only/);
    await close();
  });

  it('every upstream failing is an APIError with status 502 that lists the attempts', async () => {
    const { openai, close } = client();
    a.fault = { kind: 'status', status: 500 };
    b.fault = { kind: 'status', status: 500 };
    const e = await openai.chat.completions.create({ model: 'routecore', messages: [{ role: 'user', content: QUESTION }] }).catch((x) => x);
    expect(e).toBeInstanceOf(OpenAI.InternalServerError);
    expect(e.status).toBe(502);
    expect(e.message).toMatch(/every upstream attempt failed \(2\): model-.: status 500: injected status 500 from .* \(\d+ ms\); model-.: status 500/);
    await close();
  });

  it('answers the gateway\'s error bodies (src/wire/openai.ts): every attempt timing out is 504 upstream_timeout', async () => {
    const fetch = routedFetch({ router, env: KEYS, backoffMs: 1, retries: 0, timeoutMs: 200 });
    const openai = new OpenAI({ apiKey: CLIENT_KEY, baseURL: 'http://routecore.invalid/v1', fetch, maxRetries: 0 });
    a.fault = { kind: 'timeout' };
    b.fault = { kind: 'timeout' };
    const e = await openai.chat.completions.create({ model: 'routecore', messages: [{ role: 'user', content: QUESTION }] }).catch((x) => x);
    expect(e).toBeInstanceOf(OpenAI.APIError);
    expect(e.status).toBe(504);
    expect(e.error).toMatchObject({ type: 'upstream_error', code: 'upstream_timeout', routecore_code: 'ERR_ROUTECORE_UPSTREAM', param: null });
    expect(e.error.attempts.map((x: { status: unknown }) => x.status)).toEqual(['timeout', 'timeout']);
    await fetch.executor.close();
  });

  it('lists the same models as the gateway', async () => {
    const { openai, close } = client();
    const list = await openai.models.list();
    expect(list.data.map((m) => [m.id, m.owned_by])).toEqual([
      ['routecore', 'routecore'],
      ['routecore:best', 'routecore'],
      ['routecore:cost', 'routecore'],
      ['routecore:threshold', 'routecore'],
      ['routecore:subset', 'routecore'],
      ['model-a', 'routecore'],
      ['model-b', 'routecore'],
    ]);
    await close();
  });
});

function providerModels() {
  const pa = createOpenAICompatible({ name: 'mock-a', baseURL: a.baseUrl, apiKey: KEYS.A_KEY, includeUsage: true });
  const pb = createOpenAICompatible({ name: 'mock-b', baseURL: b.baseUrl, apiKey: KEYS.B_KEY, includeUsage: true });
  return { 'model-a': pa.chatModel('model-a'), 'model-b': pb.chatModel('model-b') };
}

describe('routecore/ai-sdk routedModel with the real ai package', () => {
  it('generateText is answered by the fallback when the first choice fails, with the chosen id in the response metadata', async () => {
    const model = routedModel({ router, models: providerModels() });
    mockOf(first).fault = { kind: 'status', status: 500 };
    const r = await generateText({ model, prompt: QUESTION, maxRetries: 0 });
    expect(r.text).toBe(`Answer from ${second === 'model-a' ? 'a' : 'b'}.`);
    expect(r.response.modelId).toBe(second);
    const meta = r.providerMetadata?.['routecore'] as { model: string; routed: string; attempts: { model: string; status: unknown }[] };
    expect(meta.model).toBe(second);
    expect(meta.routed).toBe(first);
    // The runner's rules (as the executor's): one retry of the same model after a 5xx, then the fallback.
    expect(meta.attempts.map((x) => [x.model, x.status])).toEqual([
      [first, 500],
      [first, 500],
      [second, 200],
    ]);
    expect(mockOf(first).requests[0]!.authorization).toBe(`Bearer ${keyOf(first)}`);
    expect(mockOf(second).requests[0]!.authorization).toBe(`Bearer ${keyOf(second)}`);
  });

  it('streamText streams from the fallback when the first stream fails before its first token', async () => {
    const model = routedModel({ router, models: providerModels() });
    mockOf(first).fault = { kind: 'status', status: 503 };
    const r = streamText({ model, prompt: QUESTION, maxRetries: 0 });
    const pieces: string[] = [];
    for await (const t of r.textStream) pieces.push(t);
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.join('')).toBe(`Answer from ${second === 'model-a' ? 'a' : 'b'}.`);
    expect((await r.response).modelId).toBe(second);
    expect(mockOf(second).requests[0]!.authorization).toBe(`Bearer ${keyOf(second)}`);
    const usage = await r.usage;
    expect(usage.outputTokens).toBe(3);
  });

  it('a stream cut after tokens is an error, not a second answer', async () => {
    const model = routedModel({ router, models: providerModels() });
    mockOf(first).fault = { kind: 'cut', after: 2 };
    const r = streamText({ model, prompt: QUESTION, maxRetries: 0, onError: () => undefined });
    const parts: string[] = [];
    let error: unknown;
    for await (const p of r.fullStream) {
      if (p.type === 'text-delta') parts.push(p.text);
      if (p.type === 'error') error = p.error;
    }
    expect(parts.join('')).toBe('Answer from ');
    expect(error).toMatchObject({ code: 'ERR_ROUTECORE_STREAM_INTERRUPTED' });
    expect(mockOf(second).requests).toHaveLength(0);
  });

  it('refuses models that are not the router\'s', () => {
    expect(() => routedModel({ router, models: { 'gpt-9': providerModels()['model-a'] } })).toThrow(
      /Expected a key naming one of the router's models \(model-a, model-b\) for options.models\["gpt-9"\] but received string "gpt-9"/,
    );
  });
});
