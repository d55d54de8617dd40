/**
 * The executor against the project's mock upstreams: fallbacks for each fault, retries, Retry-After,
 * cool-downs, streaming, cancellation, keys (each upstream its own, never the client's, never in
 * errors), outcome records and metrics.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { OutcomeFile } from '../src/execution/outcome-log.js';
import { readOutcomes } from '../src/training/data.js';
import { train } from '../src/training/train.js';

import { RoutecoreError } from '../src/errors.js';
import { Canceller, Executor, UpstreamError, type Outcome, type StreamChunk } from '../src/execution/executor.js';
import type { Registry } from '../src/routing/registry.js';
import { Router } from '../src/app/router.js';
import { MemoryState } from '../src/state/memory.js';
import type { MockUpstream } from './helpers/mock-upstream.js';
import { PAIR_ALIASES, PAIR_KEYS as KEYS, startUpstreamPair, type UpstreamPair } from './helpers/upstream-pair.js';

const MESSAGES = [
  { role: 'system' as const, content: 'You are terse.' },
  { role: 'user' as const, content: 'Prove that there are infinitely many primes.' },
];

let pair: UpstreamPair;
let a: MockUpstream;
let b: MockUpstream;
let registry: Registry;

beforeAll(async () => {
  pair = await startUpstreamPair();
  ({ a, b, registry } = pair);
});

afterAll(async () => {
  await pair.close();
});

const open: Executor[] = [];
afterEach(async () => {
  pair.reset();
  for (const e of open.splice(0)) await e.close();
});

/** A fresh router and executor whose first choice is model-a (by explicit model, so the test does not depend on the router's scores). */
async function setup(options: Partial<ConstructorParameters<typeof Executor>[0]> = {}) {
  const router = await Router.load('default', { registry, aliases: PAIR_ALIASES, policy: 'best' });
  const executor = new Executor({ router, env: KEYS, backoffMs: 1, timeoutMs: 2000, ...options });
  open.push(executor);
  return { router, executor };
}

function mockOf(model: string): MockUpstream {
  return pair.mockOf(model);
}

describe('routing inside the executor', () => {
  it('routes a request at once where the router can score its text on the calling thread, and through the micro-batch otherwise', async () => {
    const { router, executor } = await setup();
    // Short text: routeSync at once, so the micro-batcher (route()) never sees it.
    const short = await executor.complete({ model: 'routecore', messages: MESSAGES });
    expect(router.stats().routed).toBe(0);
    // Over the calling-thread bound (16 Ki characters; the text rule cuts at 8,000 by default, so the
    // bound is raised here): batched, scored on the addon's thread.
    const content = 'Prove the theorem again, step by step. '.repeat(500);
    const long = await executor.complete({ model: 'routecore', messages: [{ role: 'user', content }] }, { route: { maxChars: 20_000 } as never });
    expect(router.stats().routed).toBe(1);
    // Both decisions are the router's: the same text scores the same either way.
    expect(short.decision.scores).toEqual(router.routeChatSync({ messages: MESSAGES }).scores);
    expect(long.model).toBe(long.routed);
  });

  it('says which texts the router scores inline (RouterCore.scoresInline)', async () => {
    const { router } = await setup();
    expect(router.scoresInline('short prompt')).toBe(true);
    expect(router.scoresInline('x'.repeat(16 * 1024))).toBe(true);
    expect(router.scoresInline('x'.repeat(16 * 1024 + 1))).toBe(false);
    router.dispose();
    expect(router.scoresInline('short prompt')).toBe(false);
  });
});

describe('Executor.complete', () => {
  it('answers from the first choice, sends its own key, rewrites model, prices usage', async () => {
    const { router, executor } = await setup();
    const r = await executor.complete({ model: 'routecore', messages: MESSAGES, temperature: 0.2 });
    const first = mockOf(r.routed);
    expect(r.model).toBe(r.routed);
    expect(r.response.model).toBe(r.model);
    expect(r.attempts).toEqual([{ model: r.model, status: 200, ms: expect.any(Number) }]);
    expect(first.requests).toHaveLength(1);
    const seen = first.requests[0]!;
    expect(seen.authorization).toBe(`Bearer ${r.model === 'model-a' ? KEYS.A_KEY : KEYS.B_KEY}`);
    expect(seen.body?.['model']).toBe(r.model);
    expect(seen.body?.['temperature']).toBe(0.2);
    expect(seen.body?.['messages']).toEqual(MESSAGES);
    expect(r.usage).toEqual({ prompt_tokens: 12, completion_tokens: 3 });
    const prices = registry.get(r.model)!;
    expect(r.costUsd).toBeCloseTo((12 * prices.inputCostPer1M! + 3 * prices.outputCostPer1M!) / 1e6, 12);
    const m = router.metrics().models[r.model]!;
    expect(m.calls).toBe(1);
    expect(m.answers).toBe(1);
    expect(m.decisions).toBe(1);
    // The same counters in the Prometheus text format, rendered by prom-client.
    const text = await router.prometheus();
    expect(text).toContain(`routecore_upstream_calls_total{model="${r.model}"} 1`);
    expect(text).toContain(`routecore_upstream_latency_seconds_count{model="${r.model}"} 1`);
    expect(text).toContain(`routecore_tokens_total{model="${r.model}",kind="completion"} 3`);
    expect(text).toContain('routecore_requests_total{outcome="ok"} 1');
  });

  it.each([
    ['5xx', { kind: 'status', status: 503 } as const, 503],
    ['timeout', { kind: 'timeout' } as const, 'timeout'],
    ['reset', { kind: 'reset' } as const, 'reset'],
    ['malformed body', { kind: 'malformed' } as const, 'malformed'],
    ['429 without Retry-After', { kind: 'status', status: 429 } as const, 429],
  ])('falls back to the next model on %s and cools the first down', async (_name, fault, status) => {
    const { router, executor } = await setup({ timeoutMs: 1000, retries: 0 });
    a.fault = fault;
    const r = await executor.complete({ messages: MESSAGES }, { model: 'model-a' });
    expect(r.model).toBe('model-b');
    expect(r.attempts.map((x) => [x.model, x.status])).toEqual([
      ['model-a', status],
      ['model-b', 200],
    ]);
    expect(r.attempts[0]!.error).toEqual(expect.any(String));
    // model-a is cooling down: the router no longer picks it.
    const d = router.routeChatSync({ messages: MESSAGES });
    expect(d.model).toBe('model-b');
    expect(d.fallbacks).not.toContain('model-a');
    expect(router.metrics().models['model-b']!.fallbacks).toBe(1);
  });

  it('retries the same model after a 5xx with backoff before falling back', async () => {
    const { executor } = await setup({ retries: 1 });
    a.queue({ kind: 'status', status: 500 });
    const r = await executor.complete({ messages: MESSAGES }, { model: 'model-a' });
    expect(r.model).toBe('model-a');
    expect(r.attempts.map((x) => x.status)).toEqual([500, 200]);
  });

  it('waits a short Retry-After on 429 and retries the same model', async () => {
    const { executor } = await setup({ retries: 1, maxRetryAfterMs: 2000 });
    a.queue({ kind: 'status', status: 429, retryAfter: '0.05' });
    const r = await executor.complete({ messages: MESSAGES }, { model: 'model-a' });
    expect(r.model).toBe('model-a');
    expect(r.attempts.map((x) => x.status)).toEqual([429, 200]);
    expect(r.attempts[0]!.error).toMatch(/Retry-After 50 ms/);
  });

  it('moves on at once on a 429 without Retry-After even with retries left (docs/CHAT.md), cooling the model down', async () => {
    const { router, executor } = await setup({ retries: 3 });
    a.queue({ kind: 'status', status: 429 });
    const r = await executor.complete({ messages: MESSAGES }, { model: 'model-a' });
    expect(r.model).toBe('model-b');
    expect(a.requests).toHaveLength(1);
    expect(r.attempts.map((x) => [x.model, x.status])).toEqual([['model-a', 429], ['model-b', 200]]);
    expect(router.routeChatSync({ messages: MESSAGES }).fallbacks).not.toContain('model-a');
  });

  it('moves on at once when Retry-After is longer than maxRetryAfterMs, and cools down for that long', async () => {
    const state = new MemoryState();
    const { executor } = await setup({ retries: 3, maxRetryAfterMs: 1000, state });
    a.queue({ kind: 'status', status: 429, retryAfter: 120 });
    const r = await executor.complete({ messages: MESSAGES }, { model: 'model-a' });
    expect(r.model).toBe('model-b');
    expect(a.requests).toHaveLength(1);
    const marks = await state.cooldowns();
    expect(marks).toHaveLength(1);
    expect(marks[0]!.model).toBe('model-a');
    expect(marks[0]!.until - Date.now()).toBeGreaterThan(100_000);
    await state.close();
  });

  it('ends in ERR_ROUTECORE_UPSTREAM listing every attempt when all fail, with no key in the message or the outcome log', async () => {
    const logged: Outcome[] = [];
    const { executor } = await setup({ retries: 0, timeoutMs: 1000, onOutcome: (o) => logged.push(o) });
    a.fault = { kind: 'status', status: 500, message: `upstream echoed ${KEYS.A_KEY} back` };
    b.fault = { kind: 'timeout' };
    const err = (await executor.complete({ messages: MESSAGES }, { model: 'model-a' }).catch((e) => e)) as UpstreamError;
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err.code).toBe('ERR_ROUTECORE_UPSTREAM');
    expect(err.status).toBe(502);
    expect(err.message).toMatch(/^every upstream attempt failed \(2\): model-a: status 500: upstream echoed \[redacted\] back \(\d+ ms\); model-b: no response within 1000 ms \(\d+ ms\)$/);
    expect(err.attempts.map((x) => x.status)).toEqual([500, 'timeout']);
    expect(JSON.stringify(err.attempts) + err.message + String(err.stack)).not.toContain(KEYS.A_KEY);
    expect(logged).toHaveLength(1);
    expect(logged[0]!.error).toBe(err.message);
    expect(JSON.stringify(logged)).not.toContain(KEYS.A_KEY);
  });

  it('redacts a key an upstream echoes in a 400', async () => {
    const { executor } = await setup();
    a.fault = { kind: 'status', status: 400, message: `bad key ${KEYS.A_KEY}` };
    const err = (await executor.complete({ messages: MESSAGES }, { model: 'model-a' }).catch((e) => e)) as UpstreamError;
    expect(err.message).toBe('model-a rejected the request with status 400: bad key [redacted]; not retried on another model, since the request itself is at fault');
  });

  it('answers 503 naming the cause when every model is cooling down', async () => {
    const { router, executor } = await setup();
    router.markUnavailable('model-a', 60_000);
    router.markUnavailable('model-b', 60_000);
    const err = (await executor.complete({ messages: MESSAGES }).catch((e) => e)) as UpstreamError;
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err.code).toBe('ERR_ROUTECORE_NO_ELIGIBLE_MODEL');
    expect(err.status).toBe(503);
    expect(err.message).toBe("no model passes the best policy's filters for this prompt (every model may be cooling down after failures)");
  });

  it('carries out a decision made elsewhere', async () => {
    const { router, executor } = await setup();
    const decision = { ...router.routeChatSync({ messages: MESSAGES }), model: 'model-b', fallbacks: ['model-a'] };
    const r = await executor.complete({ messages: MESSAGES }, { decision });
    expect(r.model).toBe('model-b');
    expect(r.routed).toBe('model-b');
  });

  it('cool-downs set in the shared state (another replica) reach this router', async () => {
    const state = new MemoryState();
    const { router } = await setup({ state });
    await state.setCooldown('model-a', 60_000, 'status 503 (replica 2)');
    const d = router.routeChatSync({ messages: MESSAGES });
    expect([d.model, ...d.fallbacks]).toEqual(['model-b']);
    await state.close();
  });

  it('answers 504 when every attempt timed out', async () => {
    const { executor } = await setup({ retries: 0, timeoutMs: 200 });
    a.fault = { kind: 'timeout' };
    b.fault = { kind: 'timeout' };
    const err = (await executor.complete({ messages: MESSAGES }).catch((e) => e)) as UpstreamError;
    expect(err.code).toBe('ERR_ROUTECORE_UPSTREAM');
    expect(err.status).toBe(504);
  });

  it('does not fall back on a 400: the request is at fault', async () => {
    const { executor } = await setup();
    a.fault = { kind: 'status', status: 400, message: 'max_tokens is too large' };
    const err = (await executor.complete({ messages: MESSAGES }, { model: 'model-a' }).catch((e) => e)) as UpstreamError;
    expect(err.code).toBe('ERR_ROUTECORE_UPSTREAM_REJECTED');
    expect(err.status).toBe(400);
    expect(err.message).toBe('model-a rejected the request with status 400: max_tokens is too large; not retried on another model, since the request itself is at fault');
    expect(b.requests).toHaveLength(0);
  });

  it('skips a model whose key variable is unset, naming the variable but no value', async () => {
    const { executor } = await setup({ env: { B_KEY: KEYS.B_KEY } });
    const r = await executor.complete({ messages: MESSAGES }, { model: 'model-a' });
    expect(r.model).toBe('model-b');
    expect(r.attempts[0]).toEqual({ model: 'model-a', status: 'config', ms: expect.any(Number), error: "environment variable A_KEY (model-a's apiKeyEnv) is not set" });
    expect(a.requests).toHaveLength(0);
  });

  it('cancels the upstream call when the AbortSignal fires', async () => {
    const { executor } = await setup({ timeoutMs: 10_000 });
    a.fault = { kind: 'timeout' };
    const ac = new AbortController();
    const p = executor.complete({ messages: MESSAGES }, { model: 'model-a', signal: ac.signal });
    while (a.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    ac.abort();
    const err = (await p.catch((e) => e)) as UpstreamError;
    expect(err.code).toBe('ERR_ROUTECORE_ABORTED');
    expect(err.status).toBe(499);
    expect(b.requests).toHaveLength(0);
  });

  it('cancels the upstream call when a Canceller (the gateway\'s cancellation) aborts; refuses another object', async () => {
    const { executor } = await setup({ timeoutMs: 10_000 });
    a.fault = { kind: 'timeout' };
    const c = new Canceller();
    const p = executor.complete({ messages: MESSAGES }, { model: 'model-a', cancellation: c });
    while (a.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    c.abort();
    const err = (await p.catch((e) => e)) as UpstreamError;
    expect(err.code).toBe('ERR_ROUTECORE_ABORTED');
    expect(err.status).toBe(499);
    expect(b.requests).toHaveLength(0);
    // The mock sees the cancelled call's connection close (a loaded machine may take a while).
    for (const deadline = Date.now() + 5000; a.openConnections() > 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 10));
    expect(a.openConnections()).toBe(0);
    // (A stream given one: the gateway's mid-stream disconnect test, test/serve-gateway.test.ts.)
    const { executor: e3 } = await setup({});
    await expect(e3.complete({ messages: MESSAGES }, { cancellation: { aborted: false } as never })).rejects.toThrow(
      'Expected a Canceller (or an object with aborted, onAbort and signal) for options.cancellation but received object',
    );
  });

  it('Canceller: callbacks run once, removed ones not at all; its signal, made before or after, is aborted with its reason', () => {
    const c = new Canceller();
    const before = c.signal;
    const calls: string[] = [];
    c.onAbort(() => calls.push('one'));
    const off = c.onAbort(() => calls.push('removed'));
    c.onAbort(() => {
      throw new Error('a failing callback does not stop the others');
    });
    c.onAbort(() => calls.push('after a throw'));
    off();
    expect(c.aborted).toBe(false);
    c.abort('why');
    c.abort('again');
    expect(calls).toEqual(['one', 'after a throw']);
    expect(c.aborted).toBe(true);
    expect(c.reason).toBe('why');
    expect(before.aborted).toBe(true);
    expect(before.reason).toBe('why');
    const late = new Canceller();
    late.abort();
    expect(late.signal.aborted).toBe(true);
    expect((late.reason as Error).name).toBe('AbortError');
  });

  it('emits one outcome record per request, in the outcome-log format', async () => {
    const seen: Outcome[] = [];
    const { router, executor } = await setup({ onOutcome: (o) => seen.push(o) });
    const viaRouter: Outcome[] = [];
    router.onOutcome((o) => viaRouter.push(o));
    a.queue({ kind: 'status', status: 502 }, { kind: 'status', status: 502 });
    const r = await executor.complete({ messages: MESSAGES }, { model: 'model-a', id: 'req-1' });
    expect(seen).toHaveLength(1);
    expect(viaRouter).toEqual(seen);
    const o = seen[0]!;
    expect(o).toEqual({
      id: 'req-1',
      ts: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      prompt: 'Prove that there are infinitely many primes.',
      routed: r.routed,
      model: 'model-b',
      attempts: r.attempts,
      usage: { prompt_tokens: 12, completion_tokens: 3 },
      costUsd: expect.any(Number),
      latencyMs: expect.any(Number),
      status: 'ok',
      policy: 'best',
      stream: false,
    });
  });
});

async function collect(stream: AsyncIterable<StreamChunk>): Promise<{ text: string; chunks: Record<string, unknown>[]; done: boolean }> {
  const chunks: Record<string, unknown>[] = [];
  let done = false;
  let text = '';
  for await (const c of stream) {
    if (c.data === '[DONE]') {
      done = true;
      continue;
    }
    const j = JSON.parse(c.data) as { choices: { delta?: { content?: string } }[] };
    chunks.push(j);
    text += j.choices[0]?.delta?.content ?? '';
  }
  return { text, chunks, done };
}

describe('Executor.complete: an answer without choices', () => {
  it('reads a 200 with choices: [] as malformed and falls back, instead of answering nothing', async () => {
    const { executor } = await setup();
    a.fault = { kind: 'ok', noChoices: true };
    const r = await executor.complete({ messages: MESSAGES }, { model: 'model-a' });
    expect(r.model).toBe('model-b');
    expect(r.attempts[0]).toMatchObject({ model: 'model-a', status: 'malformed', error: expect.stringContaining('has no choices') });
  });
});

describe('the output-limit name an upstream refuses', () => {
  it('calls again with the other name (max_tokens / max_completion_tokens) when an upstream refuses the one sent, and sends that name from then on', async () => {
    const { startMockUpstream } = await import('./helpers/mock-upstream.js');
    const { Registry } = await import('../src/routing/registry.js');
    // Mistral's answer to max_completion_tokens, and OpenAI's to max_tokens on a reasoning model.
    const mistral = await startMockUpstream({ name: 'mistral', refuse: { field: 'max_completion_tokens', status: 422, message: 'body.max_completion_tokens: Extra inputs are not permitted' } });
    const reasoning = await startMockUpstream({ name: 'o-model', refuse: { field: 'max_tokens', status: 400, message: "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead." } });
    try {
      const reg = Registry.fromObject({ models: [{ id: 'mistral', baseUrl: mistral.baseUrl }, { id: 'o-model', baseUrl: reasoning.baseUrl }] });
      const router = await Router.load('default', { registry: reg, aliases: { strong: 'o-model', weak: 'mistral' } });
      const ex = new Executor({ router, backoffMs: 1 });
      open.push(ex);
      const first = await ex.complete({ messages: MESSAGES, max_completion_tokens: 50 } as never, { model: 'mistral' });
      expect([first.model, first.attempts.length]).toEqual(['mistral', 1]);
      expect(mistral.requests.map((r) => Object.keys(r.body ?? {}).filter((k) => k.startsWith('max')))).toEqual([['max_completion_tokens'], ['max_tokens']]);
      // Learned: the next request goes with max_tokens at once, streamed too.
      const stream = await ex.stream({ messages: MESSAGES, max_completion_tokens: 50, stream: true } as never, { model: 'mistral' });
      for await (const _ of stream) void _;
      expect(mistral.requests).toHaveLength(3);
      expect(mistral.requests[2]!.body).toMatchObject({ max_tokens: 50 });
      const o = await ex.complete({ messages: MESSAGES, max_tokens: 50 }, { model: 'o-model' });
      expect(o.model).toBe('o-model');
      expect(reasoning.requests.at(-1)!.body).toMatchObject({ max_completion_tokens: 50 });
      // Another refusal that names the field (a value out of range) is the request's fault, not retried.
      mistral.fault = { kind: 'status', status: 400, message: 'max_tokens: must be at most 4096' };
      await expect(ex.complete({ messages: MESSAGES, max_tokens: 99_999 }, { model: 'mistral' })).rejects.toMatchObject({ status: 400 });
      expect(mistral.requests).toHaveLength(4);
    } finally {
      await mistral.close();
      await reasoning.close();
    }
  });
});

describe('Executor.stream', () => {
  it('passes the SSE chunks through with model set to the answering id and ends in [DONE]', async () => {
    const { executor } = await setup();
    const s = await executor.stream({ messages: MESSAGES, stream: true }, { model: 'model-b' });
    expect(s.model).toBe('model-b');
    const { text, chunks, done } = await collect(s);
    expect(text).toBe('Answer from b.');
    expect(done).toBe(true);
    expect(chunks.every((c) => c['model'] === 'model-b')).toBe(true);
    // routecore asked for usage; the client did not, so the usage-only chunk is not passed on.
    expect(chunks.some((c) => (c['choices'] as unknown[]).length === 0)).toBe(false);
    expect(b.requests[0]!.body?.['stream_options']).toEqual({ include_usage: true });
    const sum = await s.result;
    expect(sum.usage).toEqual({ prompt_tokens: 12, completion_tokens: 3 });
  });

  it('passes the usage chunk on when the client asked for it', async () => {
    const { executor } = await setup();
    const s = await executor.stream({ messages: MESSAGES, stream: true, stream_options: { include_usage: true } }, { model: 'model-b' });
    const { chunks } = await collect(s);
    expect(chunks.at(-1)!['usage']).toEqual({ prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 });
  });

  it.each([
    ['5xx', { kind: 'status', status: 500 } as const],
    ['reset', { kind: 'reset' } as const],
    ['malformed stream', { kind: 'malformed' } as const],
    ['a stream that breaks before its first token', { kind: 'cut', after: 0 } as const],
    ['a stream that ends before its first token', { kind: 'truncated', after: 0 } as const],
  ])('falls back before the first token on %s', async (_n, fault) => {
    const { executor } = await setup({ retries: 0 });
    a.fault = fault;
    const s = await executor.stream({ messages: MESSAGES, stream: true }, { model: 'model-a' });
    expect(s.model).toBe('model-b');
    expect(s.attempts.map((x) => x.model)).toEqual(['model-a', 'model-b']);
    const { text, done } = await collect(s);
    expect(text).toBe('Answer from b.');
    expect(done).toBe(true);
  });

  it('a stream cut after tokens were sent is a clear error, not a silent retry', async () => {
    const { executor } = await setup();
    a.fault = { kind: 'cut', after: 2 };
    const s = await executor.stream({ messages: MESSAGES, stream: true }, { model: 'model-a' });
    let text = '';
    const err = await (async () => {
      try {
        for await (const c of s) if (c.data !== '[DONE]') text += (JSON.parse(c.data) as { choices: { delta: { content?: string } }[] }).choices[0]!.delta.content ?? '';
      } catch (e) {
        return e as UpstreamError;
      }
      return undefined;
    })();
    expect(text).toBe('Answer from ');
    expect(err).toBeInstanceOf(RoutecoreError);
    expect(err!.code).toBe('ERR_ROUTECORE_STREAM_INTERRUPTED');
    expect(err!.message).toMatch(/^model-a's stream broke after tokens were sent \(.+\); not retried, since a retry would repeat output$/);
    expect(b.requests).toHaveLength(0);
    await expect(s.result).rejects.toMatchObject({ code: 'ERR_ROUTECORE_STREAM_INTERRUPTED' });
  });

  it('breaking out of the iteration cancels the upstream call', async () => {
    const { executor } = await setup();
    const outcomes: Outcome[] = [];
    executor.router.onOutcome((o) => outcomes.push(o));
    const s = await executor.stream({ messages: MESSAGES, stream: true }, { model: 'model-a' });
    for await (const _ of s) break;
    await expect(s.result).rejects.toMatchObject({ code: 'ERR_ROUTECORE_ABORTED' });
    expect(outcomes.map((o) => o.status)).toEqual(['aborted']);
  });

  it('prices what a stream left early or cut used (the upstream bills it): on the error, the outcome and the metrics', async () => {
    const { executor } = await setup();
    const outcomes: Outcome[] = [];
    executor.router.onOutcome((o) => outcomes.push(o));
    const left = await executor.stream({ messages: MESSAGES, stream: true }, { model: 'model-a' });
    for await (const _ of left) break;
    const aborted = (await left.result.catch((e: unknown) => e)) as UpstreamError;
    a.fault = { kind: 'cut', after: 2 };
    const cut = await executor.stream({ messages: MESSAGES, stream: true }, { model: 'model-a' });
    await (async () => {
      for await (const _ of cut);
    })().catch(() => undefined);
    const interrupted = (await cut.result.catch((e: unknown) => e)) as UpstreamError;
    for (const [e, o] of [[aborted, outcomes[0]!], [interrupted, outcomes[1]!]] as const) {
      expect(e.costUsd).toBeGreaterThan(0);
      expect(o.costUsd).toBe(e.costUsd);
      expect(o.usage).toMatchObject({ estimated: true });
      expect(o.usage!.prompt_tokens).toBeGreaterThan(0);
    }
    expect(outcomes.map((o) => o.status)).toEqual(['aborted', 'interrupted']);
    expect(executor.router.metrics().models['model-a']!.costUsd).toBeCloseTo(aborted.costUsd! + interrupted.costUsd!, 12);
  });
});

describe('sessions', () => {
  const ask = { messages: MESSAGES };
  it('keep a conversation on the model that answered it, unless the policy escalates', async () => {
    const { router, executor } = await setup({ escalationMargin: 1 });
    const first = router.routeChatSync(ask).model;
    const other = first === 'model-a' ? 'model-b' : 'model-a';
    mockOf(first).queue({ kind: 'status', status: 503 }, { kind: 'status', status: 503 });
    const r1 = await executor.complete(ask, { session: 'conv-1' });
    expect(r1.model).toBe(other);
    router.markUnavailable(first, 0); // the outage is over: the router picks `first` again
    expect(router.routeChatSync(ask).model).toBe(first);
    const r2 = await executor.complete(ask, { session: 'conv-1' });
    expect(r2.model).toBe(other); // the conversation stays where it is
    const r3 = await executor.complete(ask, { session: 'conv-2' });
    expect(r3.model).toBe(first); // a new conversation is routed afresh
  });

  it('escalate when the new choice is predicted better by the margin', async () => {
    const { router, executor } = await setup({ escalationMargin: 0 });
    const first = router.routeChatSync(ask).model;
    const other = first === 'model-a' ? 'model-b' : 'model-a';
    await executor.complete(ask, { session: 's', model: other });
    const r = await executor.complete(ask, { session: 's' });
    expect(r.model).toBe(first);
  });

  it('under the threshold policy: weak to strong escalates, strong never drops to weak mid-conversation', async () => {
    const { executor } = await setup();
    const weak = await executor.complete(ask, { session: 't', route: { policy: 'threshold', threshold: 1 } });
    expect(weak.model).toBe('model-b');
    const up = await executor.complete(ask, { session: 't', route: { policy: 'threshold', threshold: 0 } });
    expect(up.model).toBe('model-a');
    const stays = await executor.complete(ask, { session: 't', route: { policy: 'threshold', threshold: 1 } });
    expect(stays.routed).toBe('model-b');
    expect(stays.model).toBe('model-a');
  });
});

describe('OutcomeFile', () => {
  it('writes DESIGN.md outcome lines and feedback lines that readOutcomes and train() read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'routecore-log-'));
    try {
      const { router, executor } = await setup();
      const path = join(dir, 'outcomes.jsonl');
      const log = new OutcomeFile(path, router);
      const ids: string[] = [];
      const prompts = ['Prove that there are infinitely many primes.', 'What is the capital of France?', 'Translate "good morning" into German.', 'Integrate x^2 from 0 to 3.'];
      for (let i = 0; i < 12; i++) {
        const r = await executor.complete({ messages: [{ role: 'user', content: `${prompts[i % 4]} (${i})` }] });
        ids.push(r.id);
      }
      a.fault = { kind: 'status', status: 500 };
      b.fault = { kind: 'status', status: 500 };
      await executor.complete({ messages: MESSAGES }).catch(() => undefined);
      for (let i = 0; i < 10; i++) router.feedback(ids[i]!, i % 2);
      await log.close();
      const lines = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines).toHaveLength(13 + 10);
      expect(Object.keys(lines[0]!).sort()).toEqual(['attempts', 'costUsd', 'id', 'latencyMs', 'model', 'policy', 'prompt', 'routed', 'status', 'stream', 'ts', 'usage']);
      expect(lines[12]).toMatchObject({ status: 'error', model: null, error: expect.stringMatching(/^every upstream attempt failed/) });
      expect(lines[13]).toEqual({ id: ids[0], ts: expect.any(String), score: 0 });
      const { records, report } = readOutcomes(path);
      expect(records).toHaveLength(10);
      expect(report.unscored).toBe(3);
      expect(report.orphanFeedback).toBe(0);
      expect(records[1]).toEqual({ id: ids[1], prompt: 'What is the capital of France? (1)', scores: { [lines[1]!['model'] as string]: 1 }, costs: { [lines[1]!['model'] as string]: lines[1]!['costUsd'] } });
      const trained = await train(path, { maxEpochs: 2, hidden: 8, encoder: { log2Buckets: 10 } });
      expect(trained.router.models.length).toBeGreaterThan(0);
      trained.router.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('feedback validates its arguments', async () => {
    const { router } = await setup();
    expect(() => router.feedback('', 1)).toThrow('Expected the non-empty id of a routed request for id but received string ""');
    expect(() => router.feedback('x', 1.5)).toThrow('Expected a number in [0, 1] for score but received number 1.5');
  });
});
