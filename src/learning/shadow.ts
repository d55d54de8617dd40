/**
 * Shadow judging: for a sampled share of answered requests, after the client has its answer, the same
 * request goes to a comparison model (non-streaming, bounded output), and a judge model compares the
 * two answers in both orders (src/learning/judge.ts). The judged pair is handed to `onJudgment`, which
 * writes it into the outcome log joined to the request id. Nothing here can delay or fail a client
 * request: sampling is a few arithmetic operations, everything else runs on a later turn of the event
 * loop, every error is caught and counted, and a pair without a clean verdict writes no record.
 *
 * Caps (shared by every replica when the state is Redis): USD per UTC day, reserved before the calls
 * at an upper bound of their cost (input tokens ≤ UTF-8 bytes, output ≤ max_tokens) and settled to
 * the actual cost afterwards, so concurrent replicas cannot overshoot; and a number of concurrent
 * shadow requests (leases that expire if a replica dies holding one).
 *
 * Sampling (docs/LEARNING.md, "Sampling"): request i is sampled with probability
 * p_i = min(1, rate · (1 + focus · u_i)), where u_i ∈ [0,1] is the router's uncertainty on it
 * (1 − |2P(strong better) − 1| for a strong/weak pair; 1 − |s₁ − s₂| for its two best scores). One
 * uniform draw r decides: r < rate puts it in the *uniform* sample (used for every estimate, so they
 * stay unbiased), rate ≤ r < p_i in the *focus* sample (hard prompts, used for training only).
 *
 * Upstream calls go through the executor's public API: a private Executor whose decisions are made
 * here (the comparison or judge model, no fallback), with its own metrics and cool-downs, so shadow
 * traffic neither counts as client traffic nor cools down a model for clients.
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { Dispatcher } from 'undici';

import { RoutecoreError, invalidArgument } from '../errors.js';
import { Hub } from '../app/hub.js';
import { Executor, type ChatResult, type ChatStream, type ExecuteOptions } from '../execution/executor.js';
import type { ChatRequest } from '../chat/messages.js';
import type { Registry } from '../routing/registry.js';
import type { Decision } from '../routing/router.js';
import type { Router } from '../app/router.js';
import { strongWinProbability } from '../routing/selection.js';
import type { SharedState } from '../state/shared-state.js';
import type { Judgment } from '../training/judged-pairs.js';
import { DEFAULT_JUDGE_TEMPLATE, combineVerdicts, completionText, conversationText, judgeMessages, parseVerdict, type JudgeTemplate } from './judge.js';

/** Options of {@link Shadow}. */
export interface ShadowOptions {
  /** The serving router (or a function returning the one serving now, for a gateway that reloads): its registry prices the calls, its scores give the uncertainty. */
  router: Router | (() => Router);
  /** Overrides the router's registry (must list the comparison and judge models with a baseUrl). */
  registry?: Registry;
  /** The judge model, a registry id. */
  judge: string;
  /** Uniform share of answered requests to judge, 0–1. */
  rate: number;
  /** Extra sampling for the prompts the router was least sure about: up to `rate × focus` more. Default 0.5. */
  focus?: number;
  /** The comparison model, a registry id. Default: the registry's most expensive priced model (the "always call the strongest" baseline). */
  comparison?: string;
  /** USD per UTC day for comparison and judge calls, all replicas together. Default 1. */
  budgetUsdPerDay?: number;
  /** Shadow requests (comparison + two judge calls) running at once, all replicas together. Default 4. */
  maxConcurrent?: number;
  /** Most output tokens of the comparison answer. Default 1024. */
  maxTokens?: number;
  /** Most output tokens of each judge call. Default 512. */
  judgeMaxTokens?: number;
  /** Per shadow upstream call. Default 60,000 ms. */
  timeoutMs?: number;
  /** The judge template; default {@link DEFAULT_JUDGE_TEMPLATE}. */
  template?: JudgeTemplate;
  /** Where the caps are counted; default a per-process state. Pass the gateway's (Redis) state to share them. */
  state?: SharedState;
  /** Client key names whose requests are never shadowed (per-key opt-out). */
  optOutKeys?: readonly string[];
  /** Receives every judged pair (write it into the outcome log). */
  onJudgment?: (j: Judgment) => void;
  /** Upstream keys (`apiKeyEnv`); default process.env. */
  env?: Record<string, string | undefined>;
  /** undici dispatcher for shadow calls; default the private executor's own. */
  dispatcher?: Dispatcher;
  /** The random source of sampling (tests); default Math.random. */
  random?: () => number;
}

/** A request chosen for judging: what {@link Shadow.sample} returns and {@link Shadow.submit} takes. */
export interface ShadowTicket {
  id: string;
  decision: Decision;
  sample: 'uniform' | 'focus';
  probability: number;
}

/** What the client got, handed to {@link Shadow.submit} once its answer is complete. */
export interface AnsweredRequest {
  /** The chat request as the client sent it (messages and parameters). */
  request: Record<string, unknown>;
  /** The text of the answer the client got. */
  answer: string;
  /** The model that answered (registry id). */
  model: string;
  /** USD of that answer; null when unpriced. */
  costUsd: number | null;
}

/** Counters of shadow judging, for `/v1/stats` and metrics. */
export interface ShadowCounters {
  sampled: number;
  judged: number;
  /** Pairs dropped before a record, by reason. */
  skipped: Record<string, number>;
  running: number;
  /** USD spent on shadow calls by this process. */
  spentUsd: number;
}

const DAY_MS = 86_400_000;
/** Inverse of the lower bound on bytes per token used for the reservation (a token is at least one byte). */
const TOKENS_PER_BYTE_BOUND = 1;

/** Shadow judging for one router; see the module notes. */
export class Shadow {
  readonly judge: string;
  readonly comparison: string;
  readonly rate: number;
  readonly focus: number;
  readonly budgetUsdPerDay: number;
  readonly maxConcurrent: number;
  readonly template: JudgeTemplate;
  readonly #router: () => Router;
  readonly #registry: Registry;
  readonly #state: SharedState;
  readonly #executor: Executor;
  readonly #maxTokens: number;
  readonly #judgeMaxTokens: number;
  readonly #timeoutMs: number;
  readonly #optOut: ReadonlySet<string>;
  readonly #onJudgment: ((j: Judgment) => void) | undefined;
  readonly #random: () => number;
  readonly #running = new Set<Promise<void>>();
  readonly counters: ShadowCounters = { sampled: 0, judged: 0, skipped: {}, running: 0, spentUsd: 0 };
  #closed = false;

  constructor(options: ShadowOptions) {
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object with router, judge and rate', options);
    const { router } = options;
    if (typeof router === 'function') this.#router = router as () => Router;
    else if (typeof router === 'object' && router !== null && typeof (router as Router).routeChat === 'function') this.#router = () => router;
    else throw invalidArgument('options.router', 'a Router, or a function returning one', router);
    const registry = options.registry ?? this.#router().registry;
    if (!registry) throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', 'shadow judging needs a registry with the judge and comparison models: pass options.registry');
    this.#registry = registry;
    this.rate = share(options.rate, 'options.rate');
    this.focus = options.focus === undefined ? 0.5 : number(options.focus, 'options.focus', 0, 100);
    if (typeof options.judge !== 'string' || !registry.has(options.judge)) throw invalidArgument('options.judge', `a registry id (${registry.ids().join(', ')})`, options.judge);
    this.judge = options.judge;
    const comparison = options.comparison ?? strongestModel(registry);
    if (comparison === null) throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', 'options.comparison: no model of the registry has prices, so the strongest one cannot be chosen; name the comparison model');
    if (!registry.has(comparison)) throw invalidArgument('options.comparison', `a registry id (${registry.ids().join(', ')})`, comparison);
    this.comparison = comparison;
    this.budgetUsdPerDay = options.budgetUsdPerDay === undefined ? 1 : number(options.budgetUsdPerDay, 'options.budgetUsdPerDay', 0, 1e9);
    for (const m of new Set([this.judge, this.comparison])) {
      if (!registry.prices(m)) throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', `shadow judging keeps to a USD budget, so ${m} needs inputCostPer1M and outputCostPer1M in the registry (${registry.source})`);
    }
    this.maxConcurrent = options.maxConcurrent === undefined ? 4 : integer(options.maxConcurrent, 'options.maxConcurrent', 1, 10_000);
    this.#maxTokens = options.maxTokens === undefined ? 1024 : integer(options.maxTokens, 'options.maxTokens', 1, 1_000_000);
    this.#judgeMaxTokens = options.judgeMaxTokens === undefined ? 512 : integer(options.judgeMaxTokens, 'options.judgeMaxTokens', 16, 1_000_000);
    this.#timeoutMs = options.timeoutMs === undefined ? 60_000 : integer(options.timeoutMs, 'options.timeoutMs', 1, 3_600_000);
    this.template = options.template ?? DEFAULT_JUDGE_TEMPLATE;
    if (options.optOutKeys !== undefined && !Array.isArray(options.optOutKeys)) throw invalidArgument('options.optOutKeys', 'a list of client key names', options.optOutKeys);
    this.#optOut = new Set(options.optOutKeys ?? []);
    if (options.onJudgment !== undefined && typeof options.onJudgment !== 'function') throw invalidArgument('options.onJudgment', 'a function', options.onJudgment);
    this.#onJudgment = options.onJudgment;
    this.#random = options.random ?? Math.random;
    const hub = new Hub();
    // The private executor's "router": decisions always come from here, so it is never asked to route.
    const caller = {
      models: [] as string[],
      registry,
      hub,
      routeChat: () => Promise.reject(new RoutecoreError('ERR_ROUTECORE_INTERNAL', 'shadow calls carry their own decision')),
      markUnavailable: () => undefined,
    };
    this.#executor = new Executor({
      router: caller as unknown as Router,
      registry,
      env: options.env,
      dispatcher: options.dispatcher,
      timeoutMs: this.#timeoutMs,
      retries: 0,
      maxAttempts: 1,
      cooldownMs: 0,
    });
    // Without a shared state the caps are counted in the private executor's own (per-process) one.
    this.#state = options.state ?? this.#executor.state;
  }

  /** One line for the operator: what is sampled, where it goes, the caps (privacy and cost, plainly). */
  describe(): string {
    if (this.rate === 0 && this.focus === 0) return 'shadow judging off';
    return (
      `shadow judging ON: ${(this.rate * 100).toFixed(1)}% of answered requests` +
      (this.focus > 0 ? ` (up to ${(Math.min(1, this.rate * (1 + this.focus)) * 100).toFixed(1)}% of those the router is least sure about)` : '') +
      ` are sent again to ${this.comparison}, and the prompt with both answers to the judge ${this.judge}` +
      ` (${this.#registry.get(this.judge)?.baseUrl ?? 'its baseUrl'}); at most $${this.budgetUsdPerDay}/day and ${this.maxConcurrent} at once` +
      (this.#optOut.size > 0 ? `; never for keys ${[...this.#optOut].join(', ')}` : '') +
      '; verdicts go to the outcome log'
    );
  }

  /** Shadow calls by model: the private executor's metrics (they are not client traffic). */
  metrics(): ReturnType<Router['metrics']> {
    return this.#executor.router.hub.metrics.snapshot();
  }

  /**
   * Decides whether this answered request is judged (cheap; call it on the request path). Returns a
   * ticket to {@link submit} once the answer is complete, or undefined.
   * @param key the client key's name (opt-out), or null
   */
  sample(id: string, decision: Decision, key: string | null = null): ShadowTicket | undefined {
    if (this.#closed || this.rate === 0) return undefined;
    if (key !== null && this.#optOut.has(key)) return undefined;
    const u = uncertainty(decision);
    const p = Math.min(1, this.rate * (1 + this.focus * u));
    const r = this.#random();
    if (r >= p) return undefined;
    this.counters.sampled++;
    return { id, decision, sample: r < this.rate ? 'uniform' : 'focus', probability: p };
  }

  /** Judges a sampled request later (never throws, never waits for the judging). */
  submit(ticket: ShadowTicket, answered: AnsweredRequest): void {
    if (this.#closed) return;
    const run = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.#judgePair(ticket, answered))
      .catch((err: unknown) => this.#skip(`internal: ${(err as Error).message}`))
      .finally(() => this.#running.delete(run));
    this.#running.add(run);
  }

  /**
   * Wraps an executor so that every answer it gives (non-streaming or streamed) is offered for
   * judging: the in-process face of shadow judging (`routedFetch({ executor: shadow.observe(ex) })`).
   * The wrapper behaves as the executor in every other respect.
   */
  observe(executor: Executor): Executor {
    const shadow = this;
    return new Proxy(executor, {
      get(target, prop) {
        if (prop === 'complete') {
          return async (request: ChatRequest, options: ExecuteOptions = {}): Promise<ChatResult> => {
            const result = await target.complete(request, options);
            const ticket = shadow.sample(result.id, result.decision);
            const text = ticket && completionText(result.response);
            if (ticket && text !== undefined) shadow.submit(ticket, { request: request as Record<string, unknown>, answer: text, model: result.model, costUsd: result.costUsd });
            return result;
          };
        }
        if (prop === 'stream') {
          return async (request: ChatRequest, options: ExecuteOptions = {}): Promise<ChatStream> => {
            const stream = await target.stream(request, options);
            const ticket = shadow.sample(stream.id, stream.decision);
            return ticket ? shadow.#collecting(stream, ticket, request as Record<string, unknown>) : stream;
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  /** Waits for the shadow requests running now (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  /** Stops sampling, waits for running judgments (up to `waitMs`), closes the private executor. */
  async close(waitMs = 5000): Promise<void> {
    this.#closed = true;
    await Promise.race([this.idle(), new Promise((r) => setTimeout(r, waitMs).unref())]);
    await this.#executor.close().catch(() => undefined);
  }

  /** A stream whose content deltas are collected while the caller reads them; submitted when it ends cleanly. */
  #collecting(stream: ChatStream, ticket: ShadowTicket, request: Record<string, unknown>): ChatStream {
    const shadow = this;
    let text = '';
    const inner = stream[Symbol.asyncIterator].bind(stream);
    const wrapped: ChatStream = Object.assign(Object.create(null) as object, stream, {
      [Symbol.asyncIterator]: async function* () {
        for await (const chunk of { [Symbol.asyncIterator]: inner }) {
          text += deltaText(chunk.data);
          yield chunk;
        }
        const summary = await stream.result.catch(() => undefined);
        if (summary) shadow.submit(ticket, { request, answer: text, model: summary.model, costUsd: summary.costUsd });
      },
    }) as ChatStream;
    return wrapped;
  }

  #skip(reason: string): void {
    this.counters.skipped[reason] = (this.counters.skipped[reason] ?? 0) + 1;
  }

  async #judgePair(ticket: ShadowTicket, answered: AnsweredRequest): Promise<void> {
    const { decision } = ticket;
    const served = answered.model;
    // When the client got the comparison model's answer, the counterpart is the router's next choice
    // (or, when a cool-down took every other model out of the decision, another model it routes to).
    const counterpart = served !== this.comparison ? this.comparison : [decision.model, ...decision.fallbacks, ...this.#router().models].find((m) => m !== served && m !== this.judge && this.#registry.has(m));
    if (counterpart === undefined) return this.#skip('no counterpart');
    if (answered.answer.trim() === '') return this.#skip('no answer text');
    const state = this.#state;
    let lease: string | null;
    try {
      lease = await state.acquireLease('shadow:running', this.maxConcurrent, 3 * this.#timeoutMs + 10_000);
    } catch {
      return this.#skip('state unavailable');
    }
    if (lease === null) return this.#skip('concurrency cap');
    this.counters.running++;
    try {
      await this.#withLease(ticket, answered, served, counterpart, state);
    } finally {
      this.counters.running--;
      await state.releaseLease('shadow:running', lease).catch(() => undefined);
    }
  }

  async #withLease(ticket: ShadowTicket, answered: AnsweredRequest, served: string, counterpart: string, state: SharedState): Promise<void> {
    const question = conversationText(answered.request['messages']);
    const day = new Date().toISOString().slice(0, 10);
    const budgetKey = `shadow:usd:${day}`;
    // Upper bound of what the three calls can cost (see the module notes).
    const requestBytes = Buffer.byteLength(JSON.stringify(answered.request['messages'] ?? ''));
    const judgeInBytes = Buffer.byteLength(this.template.system_prompt + this.template.prompt_template + question + answered.answer);
    const bound =
      this.#price(counterpart, requestBytes * TOKENS_PER_BYTE_BOUND, this.#maxTokens) +
      2 * this.#price(this.judge, judgeInBytes * TOKENS_PER_BYTE_BOUND + this.#maxTokens, this.#judgeMaxTokens);
    let reserved: number | null;
    try {
      reserved = await state.reserve(budgetKey, bound, this.budgetUsdPerDay, 2 * DAY_MS);
    } catch {
      return this.#skip('state unavailable');
    }
    if (reserved === null) return this.#skip('daily budget');
    let spent = 0;
    try {
      const comparisonRequest = boundedRequest(answered.request, this.#maxTokens);
      let other: ChatResult;
      try {
        other = await this.#executor.complete(comparisonRequest as ChatRequest, { decision: fixedDecision(counterpart), id: `${ticket.id}:shadow` });
      } catch {
        return this.#skip('comparison failed');
      }
      spent += other.costUsd ?? 0;
      const otherText = completionText(other.response);
      if (otherText === undefined || otherText.trim() === '') return this.#skip('comparison gave no text');
      const ask = (a: string, b: string) =>
        this.#executor.complete({ messages: judgeMessages(this.template, question, a, b), temperature: 0, max_tokens: this.#judgeMaxTokens } as ChatRequest, { decision: fixedDecision(this.judge), id: `${ticket.id}:judge:${randomUUID().slice(0, 8)}` });
      const settled = await Promise.allSettled([ask(answered.answer, otherText), ask(otherText, answered.answer)]);
      for (const s of settled) if (s.status === 'fulfilled') spent += s.value.costUsd ?? 0;
      if (settled.some((s) => s.status === 'rejected')) return this.#skip('judge failed');
      const texts = settled.map((s) => completionText((s as PromiseFulfilledResult<ChatResult>).value.response));
      const first = parseVerdict(texts[0]);
      const second = parseVerdict(texts[1]);
      const verdict = combineVerdicts(first, second);
      if (verdict === 'invalid') return this.#skip('invalid verdict');
      const { strong, cheaper } = this.#pricier(served, counterpart);
      const judgment: Judgment = {
        type: 'judgment',
        id: ticket.id,
        ts: new Date().toISOString(),
        served,
        comparison: counterpart,
        judge: this.judge,
        template: this.template.name,
        verdict,
        raw: [first, second],
        sample: ticket.sample,
        probability: Math.round(ticket.probability * 1e6) / 1e6,
        strong,
        cheaper,
        routeScore: strong === null ? null : this.#routeScore(ticket.decision, strong, strong === served ? counterpart : served),
        servedCostUsd: answered.costUsd,
        comparisonCostUsd: other.costUsd,
        judgeCostUsd: spent - (other.costUsd ?? 0),
      };
      this.counters.judged++;
      if (this.#onJudgment) {
        try {
          this.#onJudgment(judgment);
        } catch {
          this.#skip('log write failed');
        }
      }
    } finally {
      this.counters.spentUsd += spent;
      // Settle the reservation to what was actually spent (never more than reserved: the bound holds).
      if (spent !== bound) await state.increment(budgetKey, spent - bound, 2 * DAY_MS).catch(() => undefined);
    }
  }

  #price(model: string, inTokens: number, outTokens: number): number {
    const e = this.#registry.get(model);
    return ((e?.inputCostPer1M ?? 0) * inTokens + (e?.outputCostPer1M ?? 0) * outTokens) / 1e6;
  }

  #pricier(a: string, b: string): { strong: string | null; cheaper: string | null } {
    const pa = unitPrice(this.#registry, a);
    const pb = unitPrice(this.#registry, b);
    if (pa === null || pb === null || pa === pb) return { strong: null, cheaper: null };
    return pa > pb ? { strong: a, cheaper: b } : { strong: b, cheaper: a };
  }

  /** The router's P(strong better) on this prompt, from the decision's scores (the threshold policy's own figure when it decided). */
  #routeScore(decision: Decision, strong: string, weak: string): number | null {
    const qs = decision.scores[strong];
    const qw = decision.scores[weak];
    if (qs === undefined || qw === undefined || !Number.isFinite(qs) || !Number.isFinite(qw)) return null;
    return Math.round(strongWinProbability(qs, qw, this.#router().objective) * 1e6) / 1e6;
  }
}

/** The registry's most expensive priced model (by input + output price per million tokens), or null. */
export function strongestModel(registry: Registry): string | null {
  let best: string | null = null;
  let price = -1;
  for (const id of registry.ids()) {
    const p = unitPrice(registry, id);
    if (p !== null && p > price) {
      price = p;
      best = id;
    }
  }
  return best;
}

function unitPrice(registry: Registry, id: string): number | null {
  const e = registry.get(id);
  if (!e || e.inputCostPer1M === undefined || e.outputCostPer1M === undefined) return null;
  return e.inputCostPer1M + e.outputCostPer1M;
}

/** The router's uncertainty on a decision, in [0,1] (see the module notes). */
export function uncertainty(decision: Decision): number {
  if (typeof decision.winProbability === 'number' && Number.isFinite(decision.winProbability)) return clamp01(1 - Math.abs(2 * decision.winProbability - 1));
  const second = decision.fallbacks[0];
  const s1 = decision.scores[decision.model];
  const s2 = second === undefined ? undefined : decision.scores[second];
  if (s1 === undefined || s2 === undefined) return 0;
  return clamp01(1 - Math.abs(s1 - s2));
}

function clamp01(x: number): number {
  return Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0;
}

/** A decision naming one model and no fallback (a shadow call must be answered by that model or not at all). */
function fixedDecision(model: string): Decision {
  return { model, fallbacks: [], scores: {}, expectedCost: null, policy: 'best', micros: 0 };
}

/** The client's request for the comparison model: non-streaming, one choice, output bounded by `maxTokens`. */
function boundedRequest(request: Record<string, unknown>, maxTokens: number): Record<string, unknown> {
  const { stream: _s, stream_options: _so, n: _n, model: _m, ...rest } = request;
  const out: Record<string, unknown> = { ...rest };
  const cap = (v: unknown) => (typeof v === 'number' && v > 0 ? Math.min(v, maxTokens) : maxTokens);
  if (out['max_completion_tokens'] !== undefined) out['max_completion_tokens'] = cap(out['max_completion_tokens']);
  else out['max_tokens'] = cap(out['max_tokens']);
  return out;
}

/** The content text of one streamed chunk's JSON (empty when none). */
export function deltaText(data: string): string {
  if (data === '[DONE]') return '';
  try {
    const chunk = JSON.parse(data) as { choices?: { delta?: { content?: unknown } }[] };
    const c = chunk.choices?.[0]?.delta?.content;
    return typeof c === 'string' ? c : '';
  } catch {
    return '';
  }
}

function share(v: unknown, name: string): number {
  return number(v, name, 0, 1);
}

function number(v: unknown, name: string, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) throw invalidArgument(name, `a number from ${lo} to ${hi}`, v);
  return v;
}

function integer(v: unknown, name: string, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw invalidArgument(name, `an integer from ${lo} to ${hi}`, v);
  return v;
}
