/**
 * One fault matrix against all three faces: the Executor in-process, routedModel through the real
 * `ai` package (over @ai-sdk/openai-compatible provider models), and the gateway through the real
 * `openai` SDK. Every face carries out decisions with the one attempt runner, so the same fault on the
 * first choice must give the same attempts, the same outcome and the same routecore error code.
 * The upstreams are the project's mocks (test/helpers/mock-upstream.ts).
 */
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { generateText, streamText } from 'ai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { routedModel, type RoutedLanguageModel } from '../src/adapters/ai-sdk.js';
import type { Outcome } from '../src/app/hub.js';
import { Executor } from '../src/execution/executor.js';
import { Registry } from '../src/routing/registry.js';
import { Router } from '../src/app/router.js';
import type { Gateway } from '../src/serve/gateway.js';
import { UPSTREAM_KEYS, startFixture, until, type Fixture } from './helpers/gateway-fixture.js';
import type { Fault } from './helpers/mock-upstream.js';

/** The runner's knobs, the same on every face. */
const SETTINGS = { retries: 1, backoffMs: 1, timeoutMs: 400, maxRetryAfterMs: 2000, cooldownMs: 1 };
const QUESTION = 'Prove that there are infinitely many primes.';
/** τ = 0: every prompt goes to the strong model (`big`) first, the weak one (`small`) is the fallback. */
const ROUTE = { policy: 'threshold' as const, threshold: 0 };

type Row = [model: string, status: number | string];

/** One fault on the first choice (`big`), and what every face must report. */
interface Case {
  name: string;
  /** Faults for `big` (one per request, then it answers) or a persistent fault. */
  big: Fault[] | Fault;
  small?: Fault;
  attempts: Row[];
  outcome: Outcome['status'];
  /** routecore's error code, when the request fails. */
  code?: string;
  /** Run streaming, non-streaming, or both. */
  modes: ('complete' | 'stream')[];
}

const BOTH = ['complete', 'stream'] as ('complete' | 'stream')[];

const CASES: Case[] = [
  { name: 'timeout', big: { kind: 'timeout' }, attempts: [['big', 'timeout'], ['small', 200]], outcome: 'ok', modes: BOTH },
  { name: '5xx', big: { kind: 'status', status: 503 }, attempts: [['big', 503], ['big', 503], ['small', 200]], outcome: 'ok', modes: BOTH },
  { name: '429 with Retry-After', big: [{ kind: 'status', status: 429, retryAfter: '0.05' }], attempts: [['big', 429], ['big', 200]], outcome: 'ok', modes: BOTH },
  { name: 'connection reset', big: { kind: 'reset' }, attempts: [['big', 'reset'], ['big', 'reset'], ['small', 200]], outcome: 'ok', modes: BOTH },
  { name: '409 (transient: retried, then the fallback)', big: { kind: 'status', status: 409 }, attempts: [['big', 409], ['big', 409], ['small', 200]], outcome: 'ok', modes: BOTH },
  { name: 'stream broken before the first token', big: { kind: 'cut', after: 0 }, attempts: [['big', 'reset'], ['big', 'reset'], ['small', 200]], outcome: 'ok', modes: ['stream'] },
  { name: 'stream broken after the first token', big: { kind: 'cut', after: 2 }, attempts: [['big', 'interrupted']], outcome: 'interrupted', code: 'ERR_ROUTECORE_STREAM_INTERRUPTED', modes: ['stream'] },
  { name: '400 (the request is at fault: no fallback)', big: { kind: 'status', status: 400 }, attempts: [['big', 400]], outcome: 'rejected', code: 'ERR_ROUTECORE_UPSTREAM_REJECTED', modes: BOTH },
  {
    name: 'every upstream failing',
    big: { kind: 'status', status: 500 },
    small: { kind: 'status', status: 500 },
    attempts: [['big', 500], ['big', 500], ['small', 500], ['small', 500]],
    outcome: 'error',
    code: 'ERR_ROUTECORE_UPSTREAM',
    modes: BOTH,
  },
];

/** What a face reported for one request. */
interface Seen {
  attempts: Row[];
  outcome: Outcome['status'];
  code: string | undefined;
  /** The answer's text when it was answered. */
  text: string | undefined;
}

let fx: Fixture;
let router: Router;
let gw: Gateway;
let executor: Executor;
let aiModel: RoutedLanguageModel;
let openai: OpenAI;
const outcomes: Outcome[] = [];
const gatewayOutcomes: Outcome[] = [];

beforeAll(async () => {
  fx = await startFixture({ chunks: 4 });
  const registry = Registry.fromFile(fx.registryPath);
  router = await Router.load('default', { registry, aliases: { strong: 'big', weak: 'small' } });
  router.onOutcome((o) => outcomes.push(o));
  executor = new Executor({ router, env: UPSTREAM_KEYS, ...SETTINGS });
  const big = createOpenAICompatible({ name: 'big', baseURL: fx.big.baseUrl, apiKey: UPSTREAM_KEYS.BIG_KEY, includeUsage: true });
  const small = createOpenAICompatible({ name: 'small', baseURL: fx.small.baseUrl, apiKey: UPSTREAM_KEYS.SMALL_KEY, includeUsage: true });
  aiModel = routedModel({ router, models: { big: big.chatModel('big'), small: small.chatModel('small') }, route: ROUTE, ...SETTINGS });
  const { timeoutMs, ...upstream } = SETTINGS;
  gw = await fx.gateway({ flags: { timeoutMs: String(timeoutMs) }, file: `upstream: ${JSON.stringify(upstream)}\n` });
  gw.router.onOutcome((o) => gatewayOutcomes.push(o));
  openai = new OpenAI({ apiKey: 'sk-client', baseURL: `${gw.url}/v1`, maxRetries: 0 });
  // The matrix relies on the first choice being `big` with `small` as the fallback.
  const d = router.routeChatSync({ messages: [{ role: 'user', content: QUESTION }] }, ROUTE);
  expect([d.model, ...d.fallbacks]).toEqual(['big', 'small']);
}, 60_000);

afterAll(async () => {
  await executor?.close();
  router?.dispose();
  await fx?.close();
});

function arm(c: Case): void {
  fx.reset(gw);
  for (const id of ['big', 'small']) router.markUnavailable(id, 0);
  if (Array.isArray(c.big)) fx.big.queue(...c.big);
  else fx.big.fault = c.big;
  if (c.small) fx.small.fault = c.small;
}

const rows = (o: Outcome): Row[] => o.attempts.map((a) => [a.model, a.status]);

/** The outcome this request recorded (the first one after `before`). */
async function outcomeAfter(list: Outcome[], before: number): Promise<Outcome> {
  await until(() => list.length > before, 'the outcome record');
  expect(list).toHaveLength(before + 1);
  return list[before]!;
}

async function viaExecutor(mode: 'complete' | 'stream'): Promise<Seen> {
  const before = outcomes.length;
  let code: string | undefined;
  let text: string | undefined;
  try {
    if (mode === 'complete') {
      const r = await executor.complete({ messages: [{ role: 'user', content: QUESTION }] }, { route: ROUTE });
      text = (r.response.choices[0] as { message: { content: string } }).message.content;
    } else {
      const s = await executor.stream({ messages: [{ role: 'user', content: QUESTION }], stream: true }, { route: ROUTE });
      let t = '';
      for await (const c of s) if (c.data !== '[DONE]') t += (JSON.parse(c.data) as { choices: { delta?: { content?: string } }[] }).choices[0]?.delta?.content ?? '';
      text = t;
    }
  } catch (err) {
    code = (err as { code?: string }).code;
  }
  const o = await outcomeAfter(outcomes, before);
  return { attempts: rows(o), outcome: o.status, code, text: code === undefined ? text : undefined };
}

async function viaAiSdk(mode: 'complete' | 'stream'): Promise<Seen> {
  const before = outcomes.length;
  let code: string | undefined;
  let text: string | undefined;
  if (mode === 'complete') {
    try {
      text = (await generateText({ model: aiModel, prompt: QUESTION, maxRetries: 0 })).text;
    } catch (err) {
      code = (err as { code?: string }).code;
    }
  } else {
    const r = streamText({ model: aiModel, prompt: QUESTION, maxRetries: 0, onError: () => undefined });
    let t = '';
    for await (const p of r.fullStream) {
      if (p.type === 'text-delta') t += p.text;
      if (p.type === 'error') code = (p.error as { code?: string }).code;
    }
    if (code === undefined) text = t;
  }
  const o = await outcomeAfter(outcomes, before);
  return { attempts: rows(o), outcome: o.status, code, text };
}

async function viaGateway(mode: 'complete' | 'stream'): Promise<Seen> {
  const before = gatewayOutcomes.length;
  let code: string | undefined;
  let text: string | undefined;
  try {
    if (mode === 'complete') {
      const r = await openai.chat.completions.create({ model: 'routecore:threshold:0', messages: [{ role: 'user', content: QUESTION }] });
      text = r.choices[0]!.message.content ?? '';
    } else {
      const s = await openai.chat.completions.create({ model: 'routecore:threshold:0', stream: true, messages: [{ role: 'user', content: QUESTION }] });
      let t = '';
      for await (const c of s) t += c.choices[0]?.delta?.content ?? '';
      text = t;
    }
  } catch (err) {
    expect(err).toBeInstanceOf(OpenAI.APIError);
    code = ((err as InstanceType<typeof OpenAI.APIError>).error as { routecore_code?: string } | undefined)?.routecore_code;
  }
  const o = await outcomeAfter(gatewayOutcomes, before);
  return { attempts: rows(o), outcome: o.status, code, text: code === undefined ? text : undefined };
}

const FACES = { executor: viaExecutor, 'ai-sdk': viaAiSdk, gateway: viaGateway } as const;

describe.each(CASES)('fault: $name', (c) => {
  for (const mode of c.modes) {
    it(`${mode}: every face reports the same attempts, outcome and error code`, async () => {
      const seen: Record<string, Seen> = {};
      for (const [face, run] of Object.entries(FACES)) {
        arm(c);
        seen[face] = await run(mode);
      }
      for (const [face, s] of Object.entries(seen)) {
        expect({ face, attempts: s.attempts, outcome: s.outcome, code: s.code }).toEqual({ face, attempts: c.attempts, outcome: c.outcome, code: c.code });
        const answeredBy = c.attempts.at(-1)![0] === 'big' ? 'big' : 'small';
        if (c.outcome === 'ok') expect({ face, text: s.text }).toEqual({ face, text: `Answer from ${answeredBy}.` });
      }
    });
  }
});
