/**
 * The one attempt runner: every face (the executor and so routecore/openai and the gateway, and the
 * AI SDK adapter) carries out a decision through it. It owns the rules below; a face only says how
 * to make one attempt (./attempt.ts) and reads the answer in its own format.
 *
 * | what one attempt came to | what the runner does |
 * | --- | --- |
 * | 5xx, 408, 409, connection reset/refused, a stream cut before its first token | the same model again after backoff (`backoffMs` × 2ⁿ, ±50% jitter), `retries` times; then the next model, with a cool-down |
 * | 429 with `Retry-After` ≤ `maxRetryAfterMs` | wait that long and call the same model again (within `retries`) |
 * | 429 with a longer or no `Retry-After` | the next model; cool-down for the `Retry-After` time (else `cooldownMs`) |
 * | timeout | the next model, with a cool-down |
 * | a 2xx that is not an answer; a stream of garbage or one that ends cleanly before its first token | the next model, with a cool-down |
 * | 401, 403, 404 (a misconfigured model) | the next model, with a cool-down |
 * | other 4xx (the request is at fault) | stop: `ERR_ROUTECORE_UPSTREAM_REJECTED` with the upstream's status |
 * | the model cannot be called (`config`) | the next model, no cool-down (no call was made) |
 * | the caller's AbortSignal | stop: `ERR_ROUTECORE_ABORTED` (499) |
 * | every model failed, or `maxAttempts` calls made | `ERR_ROUTECORE_UPSTREAM`: 504 when all timed out, 503 when all were 429/503, else 502 |
 *
 * 409 (Conflict) counts as transient, like 408: OpenAI answers it for a lock that timed out, and both
 * the openai and the ai packages retry it. Before this runner the AI SDK adapter fell back on it and
 * the executor refused it; both now retry, then fall back.
 * @module
 */
import { RoutecoreError, invalidArgument } from '../errors.js';
import type { Attempt, Outcome, OutcomeStatus, Usage } from '../app/hub.js';
import type { Decision } from '../routing/router.js';
import type { Router } from '../app/router.js';
import type { Registry } from '../routing/registry.js';
import type { SharedState } from '../state/shared-state.js';
import { attemptStatus, type AttemptFn, type AttemptOutcome, type AttemptTarget, type Failure } from './attempt.js';
import { Canceller, signalCancellation, type Cancellation } from './cancellation.js';

/** The error an executed request ends in: every attempt, why it failed, and an HTTP status a gateway can answer with. */
export class UpstreamError extends RoutecoreError {
  /** Every upstream call made, in order. */
  readonly attempts: Attempt[];
  /** 502 (bad gateway), 503 (all unavailable/rate-limited), 504 (all timed out), 499 (aborted), or the upstream's 4xx for a rejected request. */
  readonly status: number;
  /** The request id. */
  readonly id: string;
  /** When every model was rate-limited or overloaded: the shortest `Retry-After` an upstream gave (ms), for the client's own. */
  retryAfterMs: number | undefined;
  /** USD an answer that began and did not finish used all the same (a stream cut, or left by the client); null when unknown or none. */
  costUsd: number | null = null;

  constructor(code: ConstructorParameters<typeof RoutecoreError>[0], message: string, attempts: Attempt[], status: number, id: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'RoutecoreError';
    this.attempts = attempts;
    this.status = status;
    this.id = id;
  }
}

/** The knobs of the runner's rules; every face takes these under the same names and defaults. */
export interface RunnerSettings {
  /** Per attempt: most ms to wait for a response (or the first token), and between body bytes / stream parts. Default 60,000. */
  timeoutMs?: number;
  /** Retries on the same model after a 5xx, 408, 409, reset or short 429, before moving on. Default 1. */
  retries?: number;
  /** Backoff before the first retry, doubled each time, ±50% jitter. Default 100 ms. */
  backoffMs?: number;
  /** Longest `Retry-After` waited for on the same model; longer ones move on at once. Default 2,000 ms. */
  maxRetryAfterMs?: number;
  /** How long a failing model is taken out of decisions. Default 30,000 ms. */
  cooldownMs?: number;
  /** Most upstream calls per request, retries included. Default 6. */
  maxAttempts?: number;
}

/** Options of {@link AttemptRunner}. */
export interface RunnerOptions extends RunnerSettings {
  /** Decisions' router: its hub receives metrics and outcomes; it is marked when a model cools down. */
  router: Router;
  /** Where entries (prices, baseUrl, wire) are read; default the router's. */
  registry?: Registry | undefined;
  /** Cool-downs are also written here, so other replicas (and executors on it) hear of them. */
  state?: SharedState | undefined;
  /** Called with each request's outcome (after the router's listeners). */
  onOutcome?: ((outcome: Outcome) => void) | undefined;
  /** Removes secrets (upstream keys) from failure texts before they are recorded. */
  redact?: ((text: string) => string) | undefined;
}

/** How a run starts: one request's decision, carried out in `order`. */
export interface RunStart {
  /** The request id. */
  id: string;
  decision: Decision;
  /** Models to try, first choice first (the decision's order, or a session's or explicit model first). */
  order: string[];
  /** The routed text, for the outcome record. */
  prompt: string;
  stream: boolean;
  session?: string | undefined;
  /** The caller's cancellation, as an AbortSignal ... */
  signal?: AbortSignal | undefined;
  /** ... or as a {@link Cancellation} (cheaper: no EventTarget; the gateway's). Given both, this one is used. */
  cancellation?: Cancellation | undefined;
}

/** The model that answered an attempt and its answer. */
export interface Answered<T> {
  model: string;
  value: T;
}

/** How long one upstream attempt may take when no `timeoutMs` is given (ms); the gateway's routes share it. */
export const DEFAULT_ATTEMPT_TIMEOUT_MS = 60_000;

/**
 * Carries out decisions with one rule set. One per face instance (an Executor, a routed AI SDK
 * model); cheap to create. Validates its settings with errors naming `<prefix>.<field>`.
 */
export class AttemptRunner {
  readonly router: Router;
  readonly registry: Registry | undefined;
  readonly state: SharedState | undefined;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly backoffMs: number;
  readonly maxRetryAfterMs: number;
  readonly cooldownMs: number;
  readonly maxAttempts: number;
  readonly onOutcome: ((o: Outcome) => void) | undefined;
  readonly redact: (text: string) => string;

  constructor(options: RunnerOptions, prefix = 'options') {
    this.router = options.router;
    this.registry = options.registry ?? options.router.registry;
    this.state = options.state;
    this.timeoutMs = num(options.timeoutMs, `${prefix}.timeoutMs`, 1, 3_600_000, DEFAULT_ATTEMPT_TIMEOUT_MS);
    this.retries = num(options.retries, `${prefix}.retries`, 0, 10, 1, true);
    this.backoffMs = num(options.backoffMs, `${prefix}.backoffMs`, 0, 60_000, 100);
    this.maxRetryAfterMs = num(options.maxRetryAfterMs, `${prefix}.maxRetryAfterMs`, 0, 600_000, 2_000);
    this.cooldownMs = num(options.cooldownMs, `${prefix}.cooldownMs`, 0, 86_400_000, 30_000);
    this.maxAttempts = num(options.maxAttempts, `${prefix}.maxAttempts`, 1, 100, 6, true);
    if (options.onOutcome !== undefined && typeof options.onOutcome !== 'function') throw invalidArgument(`${prefix}.onOutcome`, 'a function', options.onOutcome);
    this.onOutcome = options.onOutcome;
    this.redact = options.redact ?? ((t) => t);
  }

  /** Starts one request's run (counts the decision). */
  start(start: RunStart): Run {
    this.router.hub.metrics.decision(start.order[0]!);
    return new Run(this, start);
  }

  /** USD for `usage` at the registry's prices (cached prompt tokens at the cache prices); null when the model has no prices. */
  cost(model: string, usage: Usage): number | null {
    const e = this.registry?.get(model);
    if (!e || e.inputCostPer1M === undefined || e.outputCostPer1M === undefined) return null;
    const read = usage.cache_read_tokens ?? 0;
    const write = usage.cache_write_tokens ?? 0;
    if (read === 0 && write === 0) return (usage.prompt_tokens * e.inputCostPer1M + usage.completion_tokens * e.outputCostPer1M) / 1e6;
    // Anthropic's published rates by default (reads 0.1x, writes 1.25x the input price); other wires
    // count cached tokens at the input price unless the registry says otherwise (see ModelEntry).
    const anthropic = e.wire === 'anthropic-messages';
    const readPrice = e.cacheReadCostPer1M ?? (anthropic ? e.inputCostPer1M * 0.1 : e.inputCostPer1M);
    const writePrice = e.cacheWriteCostPer1M ?? (anthropic ? e.inputCostPer1M * 1.25 : e.inputCostPer1M);
    const plain = Math.max(0, usage.prompt_tokens - read - write);
    return (plain * e.inputCostPer1M + read * readPrice + write * writePrice + usage.completion_tokens * e.outputCostPer1M) / 1e6;
  }

  /** Takes a model out of decisions for `ms`: this router at once, other replicas through the state. */
  async cool(model: string, ms: number, reason: string): Promise<void> {
    if (!(ms > 0)) return;
    try {
      if (this.router.models.includes(model)) this.router.markUnavailable(model, ms);
    } catch {
      // a disposed router takes no marks
    }
    if (!this.state) return;
    try {
      await this.state.setCooldown(model, ms, reason);
    } catch {
      // A state that cannot be reached must not fail a request that may still be answered.
    }
  }
}

/**
 * One attempt's target; its AbortSignal is made only if the attempt reads it (transports that take
 * one). A class with the getter on its prototype, not an object literal with `get signal()`: V8 keeps
 * a literal's accessor in the object's hidden class, in the old generation, so the getter's closure
 * and all it captured (the run, its attempts, the request) stayed reachable from there and outlived
 * the request: every scavenge copied and promoted them until the next full GC. Measured on the gateway
 * at 32 connections (`node --trace-gc-nvp`): about 1.9 MB promoted per scavenge with the literals
 * (this one and the executor's upstream call), see docs/PERFORMANCE.md.
 */
export class Target implements AttemptTarget {
  constructor(
    readonly model: string,
    readonly entry: AttemptTarget['entry'],
    readonly cancellation: Cancellation,
    readonly timeoutMs: number,
  ) {}

  get signal(): AbortSignal {
    return this.cancellation.signal;
  }
}

/** What to do after a failed attempt. */
type Action = { next: 'same'; waitMs: number } | { next: 'other'; cooldownMs: number } | { next: 'stop'; error: UpstreamError };

/**
 * One request being carried out: the attempt list, cancellation, and the single outcome record.
 * A face calls {@link first} to get an answer (fallbacks happen inside), then exactly one of
 * {@link answered}, {@link interrupted}, {@link aborted} or {@link failed} (streams), or nothing
 * more (completions: {@link first} already failed or the face calls {@link answered}).
 */
export class Run {
  readonly id: string;
  readonly decision: Decision;
  readonly order: readonly string[];
  readonly stream: boolean;
  /** Every upstream call made, in order; the face may show it (it is the same array the errors carry). */
  readonly attempts: Attempt[] = [];
  /** performance.now() at the start. */
  readonly started = performance.now();
  /**
   * Milliseconds (fractional) spent inside attempts so far: upstream calls made and their answers read
   * (a stream: up to its first token). A face subtracts it from its own time to report what the
   * gateway itself costs per request (its overhead), upstream wait excluded.
   */
  upstreamMs = 0;
  readonly #runner: AttemptRunner;
  readonly #prompt: string;
  readonly #session: string | undefined;
  /**
   * The run's own cancellation, linked to the caller's: streams only (their iterator and `cancel()`
   * stop a call the caller cannot see), or a run the caller gave none. A completion's attempts get the
   * caller's cancellation as is (no second one, no listener linking them); it is made here too if
   * {@link cancel} is called.
   */
  #own: Canceller | undefined;
  /** The caller's: `cancellation`, or its `signal` read as one. */
  readonly #caller: Cancellation | undefined;
  #unlink: (() => void) | undefined;
  #answerStarted = 0;
  #ended = false;
  /** The first request field a model could not honour (a `config` failure with `param`), for the 400 when no model could. */
  #unhonoured: string | undefined;
  /** The shortest `Retry-After` (ms) of the 429s seen, for the client's when every model was unavailable. */
  #retryAfterMs: number | undefined;

  constructor(runner: AttemptRunner, start: RunStart) {
    this.#runner = runner;
    this.id = start.id;
    this.decision = start.decision;
    this.order = start.order;
    this.stream = start.stream;
    this.#prompt = start.prompt;
    this.#session = start.session;
    this.#caller = start.cancellation ?? (start.signal !== undefined ? signalCancellation(start.signal) : undefined);
    if (start.stream || this.#caller === undefined) this.#makeOwn();
  }

  /** Makes the run's own cancellation, cancelled when the caller's is. */
  #makeOwn(): Canceller {
    const own = new Canceller();
    this.#own = own;
    const caller = this.#caller;
    if (caller) {
      if (caller.aborted) own.abort(caller.reason);
      else this.#unlink = caller.onAbort(() => own.abort(caller.reason));
    }
    return own;
  }

  /** What attempts and waits are cancelled by: the run's own, else the caller's. */
  get cancellation(): Cancellation {
    return this.#own ?? this.#caller!;
  }

  /** Fires when the caller cancels or {@link cancel} is called (an AbortSignal, made when first read). */
  get signal(): AbortSignal {
    return this.cancellation.signal;
  }

  /**
   * Cancels the run (the attempt in flight, any wait, the stream being read). A completion run given
   * the caller's cancellation cancels what follows (waits, later attempts); its attempt in flight
   * stops with the caller's.
   */
  cancel(reason?: unknown): void {
    (this.#own ?? this.#makeOwn()).abort(reason);
  }

  /** Whether the outcome has been recorded. */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Tries the models in order under the rules until one answers; resolves with it. Rejects with an
   * {@link UpstreamError} (the outcome already recorded) when none does.
   */
  async first<T>(attempt: AttemptFn<T>): Promise<Answered<T>> {
    const runner = this.#runner;
    const metrics = runner.router.hub.metrics;
    try {
      for (let i = 0; i < this.order.length && this.attempts.length < runner.maxAttempts; ) {
        const model = this.order[i]!;
        const t0 = performance.now();
        const cancellation = this.cancellation;
        if (cancellation.aborted) throw this.#abortedError();
        let out: AttemptOutcome<T>;
        try {
          out = await attempt(new Target(model, runner.registry?.get(model), cancellation, runner.timeoutMs));
        } catch (err) {
          // An attempt must classify; a throw is a bug in it, unless the caller cancelled meanwhile.
          if (!cancellation.aborted) throw err;
          out = { ok: false, failure: { kind: 'aborted', message: 'the caller cancelled the request' } };
        }
        const elapsed = performance.now() - t0;
        this.upstreamMs += elapsed;
        const ms = Math.round(elapsed);
        if (out.ok) {
          metrics.call(model);
          this.attempts.push({ model, status: out.status ?? 200, ms });
          this.#answerStarted = t0;
          return { model, value: out.value };
        }
        const failure = out.failure;
        if (failure.kind !== 'config') metrics.call(model);
        if (this.cancellation.aborted && failure.kind !== 'config') {
          this.#record(model, { kind: 'aborted', message: 'the caller cancelled the request' }, ms);
          throw this.#abortedError();
        }
        this.#record(model, failure, ms);
        const action = this.#decide(model, failure);
        if (action.next === 'stop') throw action.error;
        if (action.next === 'same') {
          await sleep(action.waitMs, this.cancellation, () => this.#abortedError());
          continue;
        }
        await runner.cool(model, action.cooldownMs, reasonOf(failure));
        i++;
      }
      throw this.#exhausted();
    } catch (err) {
      throw this.failed(err);
    }
  }

  /**
   * The answer was delivered: records the outcome `ok` with its usage and cost. For a stream, the
   * answering attempt's `ms` becomes the whole stream's duration.
   */
  answered(model: string, usage: Usage | null): { costUsd: number | null; latencyMs: number } {
    const runner = this.#runner;
    const costUsd = usage ? runner.cost(model, usage) : null;
    const latencyMs = performance.now() - this.started;
    if (this.stream && this.attempts.length > 0) {
      const last = this.attempts.length - 1;
      this.attempts[last] = { ...this.attempts[last]!, ms: Math.round(performance.now() - this.#answerStarted) };
    }
    runner.router.hub.metrics.answer(model, model !== this.decision.model, latencyMs, usage?.prompt_tokens ?? 0, usage?.completion_tokens ?? 0, costUsd);
    this.#emit('ok', model, usage, costUsd);
    return { costUsd, latencyMs };
  }

  /**
   * A stream broke after tokens reached the caller: never retried (a retry would repeat output).
   * Records the outcome and returns the error to surface (`ERR_ROUTECORE_STREAM_INTERRUPTED`).
   */
  interrupted(model: string, why: string, usage: Usage | null, cause?: unknown): UpstreamError {
    if (this.cancellation.aborted) return this.aborted(model, usage);
    const text = this.#runner.redact(why);
    const last = this.attempts.length - 1;
    if (last >= 0) this.attempts[last] = { ...this.attempts[last]!, status: 'interrupted', error: text };
    this.#runner.router.hub.metrics.error(model, 'interrupted');
    const e = new UpstreamError(
      'ERR_ROUTECORE_STREAM_INTERRUPTED',
      `${model}'s stream broke after tokens were sent (${text}); not retried, since a retry would repeat output`,
      this.attempts,
      502,
      this.id,
      cause === undefined ? undefined : { cause },
    );
    e.costUsd = this.#spent(model, usage);
    this.#emit('interrupted', model, usage, e.costUsd, e.message);
    return e;
  }

  /**
   * The caller cancelled or stopped reading an opened stream: records the outcome `aborted`. With the
   * model that was answering and what it used, that is priced as spent (the upstream bills it).
   */
  aborted(model: string | null, usage: Usage | null = null): UpstreamError {
    const e = this.#abortedError();
    e.costUsd = model === null ? null : this.#spent(model, usage);
    this.#emit('aborted', model, usage, e.costUsd, e.message);
    return e;
  }

  /** Prices the usage of an answer that began and did not finish, and counts it in the metrics. */
  #spent(model: string, usage: Usage | null): number | null {
    if (usage === null) return null;
    const costUsd = this.#runner.cost(model, usage);
    this.#runner.router.hub.metrics.spent(model, usage.prompt_tokens, usage.completion_tokens, costUsd);
    return costUsd;
  }

  /** Turns anything thrown into the run's {@link UpstreamError} and records the outcome (once). */
  failed(err: unknown): UpstreamError {
    const e = this.#asUpstreamError(err);
    this.#emit(statusOf(e), null, null, null, e.message);
    return e;
  }

  #asUpstreamError(err: unknown): UpstreamError {
    if (err instanceof UpstreamError) return err.id === this.id ? err : new UpstreamError(err.code, err.message, this.attempts, err.status, this.id, { cause: err.cause });
    if (err instanceof RoutecoreError) {
      const status = err.code === 'ERR_ROUTECORE_ABORTED' ? 499 : 502;
      return new UpstreamError(err.code, err.message, this.attempts, status, this.id);
    }
    return new UpstreamError('ERR_ROUTECORE_INTERNAL', this.#runner.redact(describeError(err)), this.attempts, 500, this.id, { cause: err });
  }

  /** Records a failed attempt. */
  #record(model: string, f: Failure, ms: number): void {
    const status = attemptStatus(f);
    this.attempts.push({ model, status, ms, error: this.#runner.redact(f.message) });
    this.#runner.router.hub.metrics.error(model, typeof status === 'number' ? `status ${status}` : status);
  }

  /** The rules (see the module comment). */
  #decide(model: string, f: Failure): Action {
    const r = this.#runner;
    switch (f.kind) {
      case 'config':
        if (f.param !== undefined) this.#unhonoured ??= f.param;
        return { next: 'other', cooldownMs: 0 };
      case 'timeout':
      case 'malformed':
        return { next: 'other', cooldownMs: r.cooldownMs };
      case 'aborted':
        return { next: 'stop', error: this.#abortedError() };
      case 'reset':
        return this.#again(model, -1);
      case 'status': {
        const s = f.status;
        if (s === 429 && f.retryAfterMs !== undefined) this.#retryAfterMs = Math.min(this.#retryAfterMs ?? Infinity, f.retryAfterMs);
        // A 429 that says no wait tells nothing of when the limit lifts: the next model, not a retry (docs/CHAT.md).
        if (s === 429) return f.retryAfterMs === undefined ? { next: 'other', cooldownMs: r.cooldownMs } : this.#again(model, f.retryAfterMs);
        if (s >= 500 || s === 408 || s === 409) return this.#again(model, -1);
        if (s === 401 || s === 403 || s === 404) return { next: 'other', cooldownMs: r.cooldownMs };
        const message = r.redact(f.message);
        return {
          next: 'stop',
          error: new UpstreamError('ERR_ROUTECORE_UPSTREAM_REJECTED', `${model} rejected the request with ${message}; not retried on another model, since the request itself is at fault`, this.attempts, s >= 400 && s < 500 ? s : 400, this.id, {
            // What the upstream's error said a client acts on (code such as context_length_exceeded, param), for the face's error body.
            cause: { status: s, ...(f.upstream ? { upstream: f.upstream } : {}) },
          }),
        };
      }
    }
  }

  /** Same model again (within `retries`, and a `Retry-After` the runner may wait for), else the next with a cool-down. */
  #again(model: string, retryAfterMs: number): Action {
    const r = this.#runner;
    const tries = this.attempts.filter((a) => a.model === model).length;
    if (tries <= r.retries && retryAfterMs <= r.maxRetryAfterMs) {
      const waitMs = retryAfterMs >= 0 ? retryAfterMs : r.backoffMs * 2 ** (tries - 1) * (0.5 + Math.random());
      return { next: 'same', waitMs };
    }
    return { next: 'other', cooldownMs: retryAfterMs > 0 ? Math.max(retryAfterMs, 1) : r.cooldownMs };
  }

  #exhausted(): UpstreamError {
    const attempts = this.attempts;
    if (this.#unhonoured !== undefined && attempts.length > 0 && attempts.every((a) => a.status === 'config')) {
      // No model in the decision could take the request as asked (a field one wire cannot carry):
      // the client's to change, so a 400 naming the field, not a 502.
      const list = attempts.map((a) => `${a.model}: ${a.error ?? a.status}`).join('; ');
      return new UpstreamError('ERR_ROUTECORE_UPSTREAM_REJECTED', `no model in the decision can honour body.${this.#unhonoured} (${list})`, attempts, 400, this.id, { cause: { param: this.#unhonoured } });
    }
    const allTimeouts = attempts.length > 0 && attempts.every((a) => a.status === 'timeout');
    // Rate-limited or overloaded everywhere (Anthropic's 529 is its "overloaded"): 503, with the
    // shortest Retry-After an upstream gave, so the client waits as long as the soonest model asks.
    const unavailable = attempts.length > 0 && attempts.every((a) => a.status === 429 || a.status === 503 || a.status === 529);
    const list = attempts.map((a) => `${a.model}: ${a.error ?? a.status} (${a.ms} ms)`).join('; ');
    const err = new UpstreamError(
      'ERR_ROUTECORE_UPSTREAM',
      attempts.length === 0 ? 'no model could be called' : `every upstream attempt failed (${attempts.length}): ${list}`,
      attempts,
      allTimeouts ? 504 : unavailable ? 503 : 502,
      this.id,
    );
    if (unavailable && this.#retryAfterMs !== undefined) err.retryAfterMs = this.#retryAfterMs;
    return err;
  }

  #abortedError(): UpstreamError {
    return new UpstreamError('ERR_ROUTECORE_ABORTED', 'the request was cancelled by its caller (AbortSignal)', this.attempts, 499, this.id);
  }

  /** Records the one outcome of this request (later calls are ignored). */
  #emit(status: OutcomeStatus, model: string | null, usage: Usage | null, costUsd: number | null, error?: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#unlink?.();
    const runner = this.#runner;
    const outcome: Outcome = {
      id: this.id,
      ts: new Date(Date.now() - (performance.now() - this.started)).toISOString(),
      prompt: this.#prompt,
      routed: this.decision.model,
      model,
      attempts: this.attempts.slice(),
      usage,
      costUsd,
      latencyMs: Math.round((performance.now() - this.started) * 1000) / 1000,
      status,
      policy: this.decision.policy,
      stream: this.stream,
    };
    if (error !== undefined) outcome.error = error;
    if (this.#session !== undefined) outcome.session = this.#session;
    runner.router.hub.emitOutcome(outcome);
    if (runner.onOutcome) {
      try {
        runner.onOutcome(outcome);
      } catch {
        // see Hub.emitOutcome
      }
    }
  }
}

function reasonOf(f: Failure): string {
  return f.kind === 'status' ? `status ${f.status}` : f.kind;
}

/** The outcome status an error ends a request with. */
export function statusOf(e: RoutecoreError): OutcomeStatus {
  switch (e.code) {
    case 'ERR_ROUTECORE_ABORTED':
      return 'aborted';
    case 'ERR_ROUTECORE_UPSTREAM_REJECTED':
      return 'rejected';
    case 'ERR_ROUTECORE_STREAM_INTERRUPTED':
      return 'interrupted';
    default:
      return 'error';
  }
}

/** An error's message with its `code` (undici and Node network errors carry one). */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: string }).code;
    return code ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

function sleep(ms: number, cancellation: Cancellation, aborted: () => Error): Promise<void> {
  return new Promise((resolve, reject) => {
    if (cancellation.aborted) return reject(aborted());
    const t = setTimeout(() => {
      off();
      resolve();
    }, ms);
    const off = cancellation.onAbort(() => {
      clearTimeout(t);
      reject(aborted());
    });
  });
}

function num(v: unknown, name: string, lo: number, hi: number, fallback: number, integer = false): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi || (integer && !Number.isInteger(v))) {
    throw invalidArgument(name, `${integer ? 'an integer' : 'a number'} from ${lo} to ${hi}`, v);
  }
  return v;
}
