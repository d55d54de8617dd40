/**
 * The one executor: carries out a routing decision against the chosen model's OpenAI-compatible
 * endpoint, with timeouts, retries with backoff, `Retry-After`, fallback down the decision's list and
 * cool-downs, non-streaming or streaming. Every face (routecore/openai, routecore/ai-sdk, the
 * gateway) calls this; none re-implements retries or fallbacks.
 *
 * Failure handling, per attempt (see docs/CHAT.md):
 * - 5xx, connection reset/refused: retried on the same model after backoff (`retries` times), then the
 *   next model; the model cools down for `cooldownMs`.
 * - 429: waits `Retry-After` and retries the same model when the wait is at most `maxRetryAfterMs`;
 *   otherwise the next model, and the model cools down for the `Retry-After` time (or `cooldownMs`).
 * - timeout (no response headers, or no body bytes, within `timeoutMs`), an unreadable answer, a stream
 *   that ends or breaks before its first token, 401/403/404 (a misconfigured model): the next model,
 *   with a cool-down.
 * - any other 4xx: the request itself is at fault; no fallback (`ERR_ROUTECORE_UPSTREAM_REJECTED`).
 * - a stream cut after tokens reached the caller: `ERR_ROUTECORE_STREAM_INTERRUPTED`, never a silent
 *   retry (it would duplicate output).
 * - the caller's AbortSignal: the upstream call is cancelled, `ERR_ROUTECORE_ABORTED`.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { Agent, request as undiciRequest, type Dispatcher } from 'undici';

import { RoutecoreError, invalidArgument, isRoutecoreError } from '../errors.js';
import type { Attempt, Outcome, OutcomeStatus, Usage } from '../chat/hub.js';
import { chatTextAsync, type ChatRequest } from '../chat/messages.js';
import type { Decision, RouteOptions, Router } from '../routing/router.js';
import type { ModelEntry, Registry } from '../routing/registry.js';
import { MemoryState } from '../state/memory.js';
import type { SharedState } from '../state/shared-state.js';
import { sseData } from './sse.js';

export type { Attempt, Outcome, Usage } from '../chat/hub.js';

/** Options of {@link Executor}. */
export interface ExecutorOptions {
  /** The router whose decisions are carried out; its registry supplies `baseUrl`, `apiKeyEnv` and prices. */
  router: Router;
  /** Overrides the router's registry (every model called must be listed with a `baseUrl`). */
  registry?: Registry;
  /** Cool-downs, sessions and counters; default a new {@link MemoryState} (per process). */
  state?: SharedState;
  /** Per attempt: most ms to wait for response headers, and between body bytes. Default 60,000. */
  timeoutMs?: number;
  /** Retries on the same model after a 5xx, reset or short 429, before moving on. Default 1. */
  retries?: number;
  /** Backoff before the first retry, doubled each time, ±50% jitter. Default 100 ms. */
  backoffMs?: number;
  /** Longest `Retry-After` waited for on the same model; longer ones move on at once. Default 2,000 ms. */
  maxRetryAfterMs?: number;
  /** How long a failing model is taken out of decisions. Default 30,000 ms. */
  cooldownMs?: number;
  /** Most upstream calls per request, retries included. Default 6. */
  maxAttempts?: number;
  /** Where upstream keys are read (`apiKeyEnv` names a variable here). Default process.env. */
  env?: Record<string, string | undefined>;
  /** undici dispatcher for upstream calls; default one keep-alive Agent per executor. */
  dispatcher?: Dispatcher;
  /** Called with each request's outcome record (also delivered to `router.onOutcome` listeners). */
  onOutcome?: (outcome: Outcome) => void;
  /** Conversation keys are remembered this long after their last request. Default 1 hour. */
  sessionTtlMs?: number;
  /** A session leaves its model only when the new first choice's predicted score is higher by this much. Default 0.1. */
  escalationMargin?: number;
}

/** Per-request options of {@link Executor.complete} and {@link Executor.stream}. */
export interface ExecuteOptions {
  /** Cancels the upstream call (and any wait) when aborted. */
  signal?: AbortSignal;
  /** Policy and knobs for this request's decision. */
  route?: RouteOptions;
  /** A registry id to call first instead of the router's choice; the decision's other models follow as fallbacks. */
  model?: string;
  /** A conversation key: the conversation stays on its first model unless the policy escalates. */
  session?: string;
  /** The request id (for feedback); default a random UUID. */
  id?: string;
  /** A decision already made for this request (skips routing). */
  decision?: Decision;
}

/** An OpenAI `chat.completion` object as returned by the upstream (with `model` set to the answering registry id). */
export type ChatCompletion = Record<string, unknown> & { model: string; choices: unknown[]; usage?: Record<string, unknown> };

/** What every answered request reports. */
export interface ExecutionInfo {
  /** routecore's request id, for `router.feedback(id, score)`. */
  id: string;
  /** The model that answered (registry id). */
  model: string;
  /** The router's first choice. */
  routed: string;
  /** The decision that was carried out. */
  decision: Decision;
  /** Every upstream call, in order; the last one answered. */
  attempts: Attempt[];
}

/** A non-streaming answer. */
export interface ChatResult extends ExecutionInfo {
  /** The upstream's response body, `model` replaced by the answering registry id. */
  response: ChatCompletion;
  usage: Usage;
  /** USD: usage × the registry's prices; null when the model has no prices. */
  costUsd: number | null;
  /** Milliseconds from the call to the answer. */
  latencyMs: number;
}

/** One server-sent event of a streamed answer. */
export interface StreamChunk {
  /** The event's data: a `chat.completion.chunk` as JSON text (its `model` set to the answering id), or `[DONE]`. */
  data: string;
}

/** How a stream ended: what {@link ChatStream.result} resolves to. */
export interface StreamSummary extends ExecutionInfo {
  usage: Usage;
  costUsd: number | null;
  latencyMs: number;
}

/**
 * A streamed answer. It is returned once an upstream has produced its first token, so fallbacks for
 * failures before that have already happened and `model` is final. Iterate it once for the chunks;
 * the last is `[DONE]`. Iteration throws `ERR_ROUTECORE_STREAM_INTERRUPTED` when the upstream breaks
 * after tokens were sent. Stopping iteration early (break, return) cancels the upstream call.
 */
export interface ChatStream extends ExecutionInfo, AsyncIterable<StreamChunk> {
  /** Settles when the stream has ended: the usage and cost, or the error that ended it. */
  readonly result: Promise<StreamSummary>;
  /** Cancels the upstream call; iteration ends with `ERR_ROUTECORE_ABORTED`. */
  cancel(): void;
}

/** The error an executed request ends in: every attempt, why it failed, and an HTTP status a gateway can answer with. */
export class UpstreamError extends RoutecoreError {
  /** Every upstream call made, in order. */
  readonly attempts: Attempt[];
  /** 502 (bad gateway), 503 (all unavailable/rate-limited), 504 (all timed out), 499 (aborted), or the upstream's 4xx for a rejected request. */
  readonly status: number;
  /** The request id. */
  readonly id: string;

  constructor(code: ConstructorParameters<typeof RoutecoreError>[0], message: string, attempts: Attempt[], status: number, id: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'RoutecoreError';
    this.attempts = attempts;
    this.status = status;
    this.id = id;
  }
}

/** The body fields routecore adds or replaces; the client's others pass through. */
const STREAM_USAGE = { include_usage: true } as const;
const MAX_ERROR_BODY = 2048;

/** What one attempt came to. */
type AttemptOutcome =
  | { kind: 'ok'; response: ChatCompletion }
  | { kind: 'stream'; first: StreamChunk[]; rest: AsyncIterator<string>; close: () => void; usage: Usage | null; text: number }
  | { kind: 'retry-same'; waitMs: number; attempt: Attempt }
  | { kind: 'next'; cooldownMs: number; attempt: Attempt }
  | { kind: 'reject'; attempt: Attempt; status: number; message: string }
  | { kind: 'aborted'; attempt: Attempt };

/**
 * Carries out routing decisions. One per router and process is enough; it is safe to share.
 *
 * ```ts
 * const executor = new Executor({ router });
 * const { response, model } = await executor.complete({ messages: [{ role: 'user', content: 'Hi' }] });
 * for await (const chunk of await executor.stream({ messages, stream: true })) process.stdout.write(chunk.data);
 * ```
 */
export class Executor {
  readonly router: Router;
  readonly state: SharedState;
  readonly #registry: Registry;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #backoffMs: number;
  readonly #maxRetryAfterMs: number;
  readonly #cooldownMs: number;
  readonly #maxAttempts: number;
  readonly #env: Record<string, string | undefined>;
  readonly #dispatcher: Dispatcher;
  readonly #ownDispatcher: boolean;
  readonly #onOutcome: ((o: Outcome) => void) | undefined;
  readonly #sessionTtlMs: number;
  readonly #margin: number;
  readonly #unsubscribe: () => void;
  readonly #ownState: boolean;

  constructor(options: ExecutorOptions) {
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object with a router', options);
    const { router } = options;
    if (typeof router !== 'object' || router === null || typeof (router as Router).routeChat !== 'function') throw invalidArgument('options.router', 'a Router', router);
    this.router = router;
    const registry = options.registry ?? router.registry;
    if (registry === undefined) {
      throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', 'the executor needs a registry with each model\'s baseUrl and apiKeyEnv: pass options.registry, or load the router with one');
    }
    if (typeof registry !== 'object' || typeof (registry as Registry).get !== 'function') throw invalidArgument('options.registry', 'a Registry', registry);
    this.#registry = registry;
    this.#timeoutMs = num(options.timeoutMs, 'options.timeoutMs', 1, 3_600_000, 60_000);
    this.#retries = num(options.retries, 'options.retries', 0, 10, 1, true);
    this.#backoffMs = num(options.backoffMs, 'options.backoffMs', 0, 60_000, 100);
    this.#maxRetryAfterMs = num(options.maxRetryAfterMs, 'options.maxRetryAfterMs', 0, 600_000, 2_000);
    this.#cooldownMs = num(options.cooldownMs, 'options.cooldownMs', 0, 86_400_000, 30_000);
    this.#maxAttempts = num(options.maxAttempts, 'options.maxAttempts', 1, 100, 6, true);
    this.#sessionTtlMs = num(options.sessionTtlMs, 'options.sessionTtlMs', 1, 30 * 86_400_000, 3_600_000);
    this.#margin = num(options.escalationMargin, 'options.escalationMargin', 0, 1, 0.1);
    if (options.env !== undefined && (typeof options.env !== 'object' || options.env === null)) throw invalidArgument('options.env', 'an object of environment variables', options.env);
    this.#env = options.env ?? process.env;
    if (options.onOutcome !== undefined && typeof options.onOutcome !== 'function') throw invalidArgument('options.onOutcome', 'a function', options.onOutcome);
    this.#onOutcome = options.onOutcome;
    if (options.dispatcher !== undefined) {
      this.#dispatcher = options.dispatcher;
      this.#ownDispatcher = false;
    } else {
      this.#dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: 128 });
      this.#ownDispatcher = true;
    }
    this.#ownState = options.state === undefined;
    this.state = options.state ?? new MemoryState();
    // Cool-downs from any replica (or this executor) take the model out of this router's decisions.
    this.#unsubscribe = this.state.onCooldown((mark) => {
      if (!this.router.models.includes(mark.model)) return;
      try {
        this.router.markUnavailable(mark.model, Math.max(1, mark.until - Date.now()));
      } catch {
        // a disposed router takes no marks
      }
    });
  }

  /** Answers a chat request without streaming (a `stream: true` in the body is ignored here). */
  async complete(request: ChatRequest, options: ExecuteOptions = {}): Promise<ChatResult> {
    const run = await this.#begin(request, options, false);
    const { id, decision, order, attempts, started, prompt, signal, cleanup } = run;
    try {
      const body = JSON.stringify({ ...stripRoutecore(request), stream: false });
      for (let i = 0; i < order.length && attempts.length < this.#maxAttempts; ) {
        const model = order[i]!;
        const out = await this.#attempt(model, body, false, signal, attempts);
        if (out.kind === 'ok') {
          const usage = usageOf(out.response.usage) ?? { prompt_tokens: run.promptTokens, completion_tokens: 0, estimated: true };
          const costUsd = this.#cost(model, usage);
          out.response.model = model;
          const latencyMs = performance.now() - started;
          this.#answered(model, decision.model, latencyMs, usage, costUsd);
          await this.#remember(options.session, model);
          this.#emit({ id, prompt, decision, model, attempts, usage, costUsd, started, status: 'ok', stream: false, session: options.session });
          return { id, model, routed: decision.model, decision, attempts, response: out.response, usage, costUsd, latencyMs };
        }
        if (out.kind === 'stream') throw new RoutecoreError('ERR_ROUTECORE_INTERNAL', 'a non-streaming call came back as a stream');
        const next = await this.#handleFailure(out, model, signal, attempts);
        if (next === 'same') continue;
        i++;
      }
      throw this.#exhausted(id, attempts);
    } catch (err) {
      const e = this.#finalError(err, id, attempts);
      this.#emit({ id, prompt, decision, model: null, attempts, usage: null, costUsd: null, started, status: statusOf(e), stream: false, session: options.session, error: e.message });
      throw e;
    } finally {
      cleanup();
    }
  }

  /**
   * Answers a chat request as a stream of SSE chunks. Resolves when the first token has arrived
   * (after any fallbacks); rejects like {@link complete} when no model produced one.
   */
  async stream(request: ChatRequest, options: ExecuteOptions = {}): Promise<ChatStream> {
    const run = await this.#begin(request, options, true);
    const { id, decision, order, attempts, started, prompt, signal, cleanup, controller } = run;
    const clientWantsUsage = (request as { stream_options?: { include_usage?: unknown } }).stream_options?.include_usage === true;
    const body = JSON.stringify({ ...stripRoutecore(request), stream: true, stream_options: { ...((request as { stream_options?: object }).stream_options ?? {}), ...STREAM_USAGE } });
    let opened: Extract<AttemptOutcome, { kind: 'stream' }> | undefined;
    let model = '';
    try {
      for (let i = 0; i < order.length && attempts.length < this.#maxAttempts; ) {
        model = order[i]!;
        const out = await this.#attempt(model, body, true, signal, attempts);
        if (out.kind === 'stream') {
          opened = out;
          break;
        }
        const next = await this.#handleFailure(out as Exclude<AttemptOutcome, { kind: 'ok' | 'stream' }>, model, signal, attempts);
        if (next === 'same') continue;
        i++;
      }
      if (!opened) throw this.#exhausted(id, attempts);
    } catch (err) {
      cleanup();
      const e = this.#finalError(err, id, attempts);
      this.#emit({ id, prompt, decision, model: null, attempts, usage: null, costUsd: null, started, status: statusOf(e), stream: true, session: options.session, error: e.message });
      throw e;
    }

    const stream = opened;
    const answering = model;
    const attemptIndex = attempts.length - 1;
    const attemptStart = performance.now() - (attempts[attemptIndex]?.ms ?? 0);
    let settle!: { resolve: (s: StreamSummary) => void; reject: (e: unknown) => void };
    const result = new Promise<StreamSummary>((resolve, reject) => (settle = { resolve, reject }));
    // Nobody may be listening to `result`; its rejection is the iterator's to report.
    result.catch(() => undefined);
    const executor = this;
    let iterated = false;
    let ended = false;

    async function* chunks(): AsyncGenerator<StreamChunk> {
      let usage: Usage | null = stream.usage;
      let textChars = stream.text;
      let finished = false;
      try {
        for (const c of stream.first) yield c;
        for (;;) {
          let r: IteratorResult<string>;
          try {
            r = await stream.rest.next();
          } catch (err) {
            if (signal.aborted) throw abortedError(id, attempts);
            throw interrupted(executor.#redact(describeError(err)));
          }
          if (r.done) break;
          const data = r.value;
          if (data === '[DONE]') {
            finished = true;
            break;
          }
          const parsed = parseChunk(data);
          if (parsed === undefined) throw interrupted('the upstream sent an event that is not a JSON chat.completion.chunk');
          const u = usageOf(parsed['usage']);
          if (u) usage = u;
          textChars += deltaChars(parsed);
          const choices = parsed['choices'];
          // The usage-only chunk was asked for by routecore, not the client: keep it from the client.
          if (!clientWantsUsage && Array.isArray(choices) && choices.length === 0 && u) continue;
          parsed['model'] = answering;
          yield { data: JSON.stringify(parsed) };
        }
        if (!finished) throw interrupted('the upstream closed the stream without [DONE]');
        const finalUsage = usage ?? { prompt_tokens: run.promptTokens, completion_tokens: Math.ceil(textChars / 4), estimated: true };
        const costUsd = executor.#cost(answering, finalUsage);
        const latencyMs = performance.now() - started;
        attempts[attemptIndex] = { ...attempts[attemptIndex]!, ms: Math.round(performance.now() - attemptStart) };
        executor.#answered(answering, decision.model, latencyMs, finalUsage, costUsd);
        await executor.#remember(options.session, answering);
        executor.#emit({ id, prompt, decision, model: answering, attempts, usage: finalUsage, costUsd, started, status: 'ok', stream: true, session: options.session });
        ended = true;
        settle.resolve({ id, model: answering, routed: decision.model, decision, attempts, usage: finalUsage, costUsd, latencyMs });
        yield { data: '[DONE]' };
      } catch (err) {
        const e = executor.#finalError(err, id, attempts);
        executor.#emit({ id, prompt, decision, model: answering, attempts, usage, costUsd: null, started, status: statusOf(e), stream: true, session: options.session, error: e.message });
        ended = true;
        settle.reject(e);
        throw e;
      } finally {
        // Early return (the caller stopped reading) or an error: cancel the upstream.
        if (!ended) {
          // The caller stopped reading: cancel the upstream and record the request as aborted.
          ended = true;
          controller.abort();
          const e = abortedError(id, attempts);
          executor.#emit({ id, prompt, decision, model: answering, attempts, usage, costUsd: null, started, status: 'aborted', stream: true, session: options.session, error: e.message });
          settle.reject(e);
        }
        stream.close();
        cleanup();
      }
    }

    function interrupted(why: string): UpstreamError {
      attempts[attemptIndex] = { ...attempts[attemptIndex]!, status: 'interrupted', error: why };
      executor.router.hub.metrics.error(answering, 'interrupted');
      return new UpstreamError(
        'ERR_ROUTECORE_STREAM_INTERRUPTED',
        `${answering}'s stream broke after tokens were sent (${why}); not retried, since a retry would repeat output`,
        attempts,
        502,
        id,
      );
    }

    const gen = chunks();
    return {
      id,
      model: answering,
      routed: decision.model,
      decision,
      attempts,
      result,
      cancel: () => controller.abort(),
      [Symbol.asyncIterator]() {
        if (iterated) throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', 'a ChatStream can be iterated only once');
        iterated = true;
        return gen;
      },
    };
  }

  /** Stops listening to the state and closes the connections this executor opened (and its own state). */
  async close(): Promise<void> {
    this.#unsubscribe();
    if (this.#ownDispatcher) await this.#dispatcher.close();
    if (this.#ownState) await this.state.close();
  }

  /** Validates, decides, applies the session rule; sets up cancellation. */
  async #begin(request: ChatRequest, options: ExecuteOptions, streaming: boolean) {
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object', options);
    const started = performance.now();
    const ts = Date.now();
    const id = options.id ?? `rc-${randomUUID()}`;
    if (typeof id !== 'string' || id === '') throw invalidArgument('options.id', 'a non-empty string', id);
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw invalidArgument('options.signal', 'an AbortSignal', options.signal);
    if (options.session !== undefined && (typeof options.session !== 'string' || options.session === '')) throw invalidArgument('options.session', 'a non-empty string', options.session);
    if (options.model !== undefined && (typeof options.model !== 'string' || !this.#registry.has(options.model))) {
      throw invalidArgument('options.model', `a model id listed in the registry (${this.#registry.ids().join(', ')})`, options.model);
    }
    let chat: { text: string; promptTokens: number };
    let decision: Decision;
    try {
      if (options.decision !== undefined) {
        // A decision made elsewhere (a gateway's /v1/route, a test): only the text rule is needed here.
        chat = await chatTextAsync(request);
        decision = options.decision;
      } else {
        const routed = await this.router.routeChat(request, options.route);
        chat = routed;
        decision = routed;
      }
    } catch (err) {
      if (isRoutecoreError(err, 'ERR_ROUTECORE_NO_ELIGIBLE_MODEL')) {
        throw new UpstreamError(err.code, `${err.message} (every model may be cooling down after failures)`, [], 503, id, { cause: err });
      }
      throw err;
    }
    const prompt = chat.text;
    let order = [decision.model, ...decision.fallbacks.filter((m) => m !== decision.model)];
    if (options.model !== undefined) {
      order = [options.model, ...order.filter((m) => m !== options.model)];
    } else if (options.session !== undefined) {
      order = await this.#sessionOrder(options.session, decision, order);
    }
    this.router.hub.metrics.decision(order[0]!);
    const controller = new AbortController();
    const outer = options.signal;
    const onAbort = () => controller.abort(outer?.reason);
    if (outer) {
      if (outer.aborted) controller.abort(outer.reason);
      else outer.addEventListener('abort', onAbort, { once: true });
    }
    const cleanup = () => outer?.removeEventListener('abort', onAbort);
    void streaming;
    void ts;
    return { id, decision, order, attempts: [] as Attempt[], started, prompt, promptTokens: chat.promptTokens, signal: controller.signal, controller, cleanup };
  }

  /**
   * The session rule: a conversation stays on the model that answered its previous request when that
   * model is still in this decision's list, unless the new first choice is predicted better by at least
   * `escalationMargin` (or, under the `threshold` policy, the decision moved from weak to strong).
   */
  async #sessionOrder(session: string, decision: Decision, order: string[]): Promise<string[]> {
    const kept = await this.state.getValue(`session:${session}`);
    if (kept === undefined || kept === order[0] || !order.includes(kept)) return order;
    const t = this.router.threshold;
    if (decision.policy === 'threshold' && t.strong !== null) {
      if (decision.model === t.strong && kept === t.weak) return order; // escalation
    } else {
      const now = decision.scores[decision.model];
      const was = decision.scores[kept];
      if (now !== undefined && was !== undefined && now - was >= this.#margin) return order;
    }
    return [kept, ...order.filter((m) => m !== kept)];
  }

  async #remember(session: string | undefined, model: string): Promise<void> {
    if (session === undefined) return;
    try {
      await this.state.setValue(`session:${session}`, model, this.#sessionTtlMs);
    } catch {
      // Losing a session mark costs a prompt-cache hit, not the answer.
    }
  }

  /** One upstream call. Pushes its Attempt (success included). */
  async #attempt(model: string, body: string, streaming: boolean, signal: AbortSignal, attempts: Attempt[]): Promise<AttemptOutcome> {
    const t0 = performance.now();
    const entry = this.#registry.get(model);
    const fail = (status: Attempt['status'], error: string): Attempt => ({ model, status, ms: Math.round(performance.now() - t0), error: this.#redact(error) });
    const config = this.#target(model, entry);
    if (typeof config === 'string') return { kind: 'next', cooldownMs: 0, attempt: fail('config', config) };
    this.router.hub.metrics.call(model);
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: streaming ? 'text/event-stream' : 'application/json' };
    if (config.key !== undefined) headers['authorization'] = `Bearer ${config.key}`;
    const upstreamBody = body.replace(/^\{/, `{"model":${JSON.stringify(model)},`);
    let res: Dispatcher.ResponseData;
    try {
      res = await undiciRequest(config.url, {
        method: 'POST',
        headers,
        body: upstreamBody,
        signal,
        dispatcher: this.#dispatcher,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      });
    } catch (err) {
      return this.#networkFailure(err, model, signal, fail);
    }
    const status = res.statusCode;
    if (status >= 200 && status < 300) {
      if (!streaming) {
        let text: string;
        try {
          text = await res.body.text();
        } catch (err) {
          return this.#networkFailure(err, model, signal, fail);
        }
        const json = parseJson(text);
        if (!json || !Array.isArray(json['choices'])) {
          return { kind: 'next', cooldownMs: this.#cooldownMs, attempt: fail('malformed', `status ${status} but the body is not a chat.completion (${preview(text)})`) };
        }
        this.#push(attempts, fail(status, ''), true);
        return { kind: 'ok', response: json as ChatCompletion };
      }
      return this.#openStream(res, model, signal, fail, status, attempts);
    }
    // An error status: read a bounded piece of the body for the message, then decide.
    let text = '';
    try {
      text = (await res.body.text()).slice(0, MAX_ERROR_BODY);
    } catch {
      // the status says enough
    }
    const why = `status ${status}${upstreamMessage(text)}`;
    if (status === 429) {
      const wait = retryAfterMs(res.headers['retry-after']);
      return { kind: 'retry-same', waitMs: wait ?? -1, attempt: fail(status, why + (wait !== undefined ? ` (Retry-After ${Math.round(wait)} ms)` : '')) };
    }
    if (status >= 500 || status === 408) return { kind: 'retry-same', waitMs: -1, attempt: fail(status, why) };
    if (status === 401 || status === 403 || status === 404) return { kind: 'next', cooldownMs: this.#cooldownMs, attempt: fail(status, why) };
    return { kind: 'reject', attempt: fail(status, why), status, message: why };
  }

  /** Reads a 2xx SSE response until its first token; failures before it are fallback-able. */
  async #openStream(res: Dispatcher.ResponseData, model: string, signal: AbortSignal, fail: (s: Attempt['status'], e: string) => Attempt, status: number, attempts: Attempt[]): Promise<AttemptOutcome> {
    const events = sseData(res.body)[Symbol.asyncIterator]();
    const close = () => {
      if (!res.body.destroyed) res.body.destroy();
    };
    const first: StreamChunk[] = [];
    let usage: Usage | null = null;
    let text = 0;
    try {
      for (;;) {
        const r = await events.next();
        if (r.done || r.value === '[DONE]') {
          close();
          return { kind: 'next', cooldownMs: this.#cooldownMs, attempt: fail('malformed', r.done ? 'the stream ended before its first token' : 'the stream sent [DONE] before any token') };
        }
        const parsed = parseChunk(r.value);
        if (parsed === undefined) {
          close();
          return { kind: 'next', cooldownMs: this.#cooldownMs, attempt: fail('malformed', `the stream sent an event that is not a JSON chat.completion.chunk before its first token (${preview(r.value)})`) };
        }
        const u = usageOf(parsed['usage']);
        if (u) usage = u;
        const chars = deltaChars(parsed);
        text += chars;
        parsed['model'] = model;
        first.push({ data: JSON.stringify(parsed) });
        if (chars > 0 || hasFinish(parsed)) break;
      }
    } catch (err) {
      close();
      return this.#networkFailure(err, model, signal, fail);
    }
    this.#push(attempts, fail(status, ''), true);
    return { kind: 'stream', first, rest: events, close, usage, text };
  }

  #networkFailure(err: unknown, model: string, signal: AbortSignal, fail: (s: Attempt['status'], e: string) => Attempt): AttemptOutcome {
    void model;
    if (signal.aborted) return { kind: 'aborted', attempt: fail('aborted', 'the caller cancelled the request') };
    const code = (err as { code?: string }).code ?? '';
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
      return { kind: 'next', cooldownMs: this.#cooldownMs, attempt: fail('timeout', `no ${code === 'UND_ERR_BODY_TIMEOUT' ? 'body bytes' : 'response'} within ${this.#timeoutMs} ms`) };
    }
    return { kind: 'retry-same', waitMs: -1, attempt: fail('reset', describeError(err)) };
  }

  /** Records a failed attempt and says whether to retry the same model or move on (after waiting). */
  async #handleFailure(out: Exclude<AttemptOutcome, { kind: 'ok' | 'stream' }>, model: string, signal: AbortSignal, attempts: Attempt[]): Promise<'same' | 'next'> {
    this.#push(attempts, out.attempt, false);
    if (out.kind === 'aborted') throw abortedError('', []);
    if (out.kind === 'reject') {
      throw new RoutecoreError('ERR_ROUTECORE_UPSTREAM_REJECTED', `${model} rejected the request with ${this.#redact(out.message)}; not retried on another model, since the request itself is at fault`, { cause: { status: out.status } });
    }
    if (out.kind === 'next') {
      if (out.cooldownMs > 0) await this.#cool(model, out.cooldownMs, out.attempt);
      return 'next';
    }
    // retry-same: 429, 5xx, reset
    const tries = attempts.filter((a) => a.model === model).length;
    const retryAfter = out.waitMs;
    if (tries <= this.#retries && retryAfter <= this.#maxRetryAfterMs) {
      const wait = retryAfter >= 0 ? retryAfter : this.#backoffMs * 2 ** (tries - 1) * (0.5 + Math.random());
      await sleep(wait, signal);
      return 'same';
    }
    await this.#cool(model, retryAfter > 0 ? Math.max(retryAfter, 1) : this.#cooldownMs, out.attempt);
    return 'next';
  }

  #push(attempts: Attempt[], a: Attempt, ok: boolean): void {
    attempts.push(ok ? { model: a.model, status: a.status, ms: a.ms } : a);
    if (!ok) this.router.hub.metrics.error(a.model, typeof a.status === 'number' ? `status ${a.status}` : a.status);
  }

  async #cool(model: string, ms: number, attempt: Attempt): Promise<void> {
    try {
      await this.state.setCooldown(model, ms, typeof attempt.status === 'number' ? `status ${attempt.status}` : attempt.status);
    } catch {
      // A state that cannot be reached must not fail a request that may still be answered.
    }
  }

  #exhausted(id: string, attempts: Attempt[]): UpstreamError {
    const allTimeouts = attempts.length > 0 && attempts.every((a) => a.status === 'timeout');
    const unavailable = attempts.length > 0 && attempts.every((a) => a.status === 429 || a.status === 503);
    const list = attempts.map((a) => `${a.model}: ${a.error ?? a.status} (${a.ms} ms)`).join('; ');
    return new UpstreamError(
      'ERR_ROUTECORE_UPSTREAM',
      attempts.length === 0 ? 'no model could be called' : `every upstream attempt failed (${attempts.length}): ${list}`,
      attempts,
      allTimeouts ? 504 : unavailable ? 503 : 502,
      id,
    );
  }

  #finalError(err: unknown, id: string, attempts: Attempt[]): UpstreamError {
    if (err instanceof UpstreamError) {
      return err.id === id ? err : new UpstreamError(err.code, err.message, attempts, err.status, id, { cause: err.cause });
    }
    if (err instanceof RoutecoreError) {
      const status = err.code === 'ERR_ROUTECORE_ABORTED' ? 499 : err.code === 'ERR_ROUTECORE_UPSTREAM_REJECTED' ? ((err.cause as { status?: number } | undefined)?.status ?? 400) : 502;
      return new UpstreamError(err.code, err.message, attempts, status, id);
    }
    return new UpstreamError('ERR_ROUTECORE_INTERNAL', this.#redact(describeError(err)), attempts, 500, id, { cause: err });
  }

  #answered(model: string, routed: string, latencyMs: number, usage: Usage, costUsd: number | null): void {
    this.router.hub.metrics.answer(model, model !== routed, latencyMs, usage.prompt_tokens, usage.completion_tokens, costUsd);
  }

  #emit(o: { id: string; prompt: string; decision: Decision; model: string | null; attempts: Attempt[]; usage: Usage | null; costUsd: number | null; started: number; status: OutcomeStatus; stream: boolean; session?: string | undefined; error?: string }): void {
    const outcome: Outcome = {
      id: o.id,
      ts: new Date(Date.now() - (performance.now() - o.started)).toISOString(),
      prompt: o.prompt,
      routed: o.decision.model,
      model: o.model,
      attempts: o.attempts.slice(),
      usage: o.usage,
      costUsd: o.costUsd,
      latencyMs: Math.round((performance.now() - o.started) * 1000) / 1000,
      status: o.status,
      policy: o.decision.policy,
      stream: o.stream,
    };
    if (o.error !== undefined) outcome.error = o.error;
    if (o.session !== undefined) outcome.session = o.session;
    this.router.hub.emitOutcome(outcome);
    if (this.#onOutcome) {
      try {
        this.#onOutcome(outcome);
      } catch {
        // see Hub.emitOutcome
      }
    }
  }

  #cost(model: string, usage: Usage): number | null {
    const e = this.#registry.get(model);
    if (!e || e.inputCostPer1M === undefined || e.outputCostPer1M === undefined) return null;
    return (usage.prompt_tokens * e.inputCostPer1M + usage.completion_tokens * e.outputCostPer1M) / 1e6;
  }

  /** The URL and key for a model, or why it cannot be called. */
  #target(model: string, entry: ModelEntry | undefined): { url: string; key: string | undefined } | string {
    if (!entry) return `${model} is not in the registry`;
    if (!entry.baseUrl) return `${model} has no baseUrl in the registry`;
    let key: string | undefined;
    if (entry.apiKeyEnv !== undefined) {
      key = this.#env[entry.apiKeyEnv];
      if (key === undefined || key === '') return `environment variable ${entry.apiKeyEnv} (${model}'s apiKeyEnv) is not set`;
    }
    return { url: chatUrl(entry.baseUrl), key };
  }

  /** Replaces every upstream key this executor can send with `[redacted]`. */
  #redact(text: string): string {
    let out = text;
    for (const e of this.#registry.entries()) {
      if (e.apiKeyEnv === undefined) continue;
      const key = this.#env[e.apiKeyEnv];
      if (key && key.length >= 4) out = out.split(key).join('[redacted]');
    }
    return out;
  }
}

/** `…/v1` + `/chat/completions`; a baseUrl that already ends in `/chat/completions` is used as is. */
export function chatUrl(baseUrl: string): string {
  const trimmed = baseUrl.replace(/\/+$/, '');
  return trimmed.endsWith('/chat/completions') ? trimmed : `${trimmed}/chat/completions`;
}

/** The request body without `model` (set per upstream) and routecore's own fields. */
function stripRoutecore(request: ChatRequest): Record<string, unknown> {
  const { model: _m, ...rest } = request;
  return rest;
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function parseChunk(data: string): Record<string, unknown> | undefined {
  const v = parseJson(data);
  if (!v) return undefined;
  if (v['choices'] !== undefined && !Array.isArray(v['choices'])) return undefined;
  if (v['choices'] === undefined && v['usage'] === undefined) return undefined;
  return v;
}

/** Characters of generated text (content, refusal, tool-call arguments) in a chunk. */
function deltaChars(chunk: Record<string, unknown>): number {
  const choices = chunk['choices'];
  if (!Array.isArray(choices)) return 0;
  let n = 0;
  for (const c of choices) {
    const d = (c as { delta?: Record<string, unknown> } | null)?.delta;
    if (!d) continue;
    if (typeof d['content'] === 'string') n += d['content'].length;
    if (typeof d['refusal'] === 'string') n += d['refusal'].length;
    if (typeof d['reasoning_content'] === 'string') n += d['reasoning_content'].length;
    if (Array.isArray(d['tool_calls'])) n += Math.max(1, JSON.stringify(d['tool_calls']).length);
  }
  return n;
}

function hasFinish(chunk: Record<string, unknown>): boolean {
  const choices = chunk['choices'];
  return Array.isArray(choices) && choices.some((c) => typeof (c as { finish_reason?: unknown } | null)?.finish_reason === 'string');
}

function usageOf(u: unknown): Usage | null {
  if (typeof u !== 'object' || u === null) return null;
  const p = (u as Record<string, unknown>)['prompt_tokens'];
  const c = (u as Record<string, unknown>)['completion_tokens'];
  if (typeof p !== 'number' || typeof c !== 'number' || !(p >= 0) || !(c >= 0)) return null;
  return { prompt_tokens: p, completion_tokens: c };
}

/** Parses Retry-After: delay-seconds or an HTTP date. */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}

function upstreamMessage(text: string): string {
  const json = parseJson(text);
  const err = json?.['error'];
  const msg = typeof err === 'object' && err !== null ? (err as { message?: unknown }).message : typeof err === 'string' ? err : undefined;
  if (typeof msg === 'string' && msg !== '') return `: ${msg.slice(0, 300)}`;
  return text.trim() === '' ? '' : `: ${preview(text)}`;
}

function preview(text: string): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > 120 ? JSON.stringify(t.slice(0, 120) + '…') : JSON.stringify(t);
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: string }).code;
    return code ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

function abortedError(id: string, attempts: Attempt[]): UpstreamError {
  return new UpstreamError('ERR_ROUTECORE_ABORTED', 'the request was cancelled by its caller (AbortSignal)', attempts, 499, id);
}

function statusOf(e: RoutecoreError): OutcomeStatus {
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

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortedError('', []));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(abortedError('', []));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function num(v: unknown, name: string, lo: number, hi: number, fallback: number, integer = false): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi || (integer && !Number.isInteger(v))) {
    throw invalidArgument(name, `${integer ? 'an integer' : 'a number'} from ${lo} to ${hi}`, v);
  }
  return v;
}
