/**
 * The one executor: carries out a routing decision against the chosen model's upstream (the OpenAI
 * chat-completions wire by default, another wire when the registry entry names one), non-streaming
 * or streaming. Every face (routecore/openai, the gateway) calls this; the AI SDK adapter, whose
 * provider models make their own calls, uses the same attempt runner (./runner.ts) directly.
 *
 * Retries, backoff, `Retry-After`, fallbacks, cool-downs, the attempt list, outcomes and cost are
 * the runner's (rules in ./runner.ts and docs/CHAT.md). The executor adds what only it knows: the
 * request body per upstream, the session rule, and reading an OpenAI stream after its first token.
 * @module
 */
import { Agent, type Dispatcher } from 'undici';

import { RoutecoreError, invalidArgument, isRoutecoreError } from '../errors.js';
import type { Attempt, Outcome, Usage } from '../app/hub.js';
import { chatTextAsync, type ChatRequest } from '../chat/messages.js';
import type { Decision, RouteOptions } from '../routing/router.js';
import type { Router } from '../app/router.js';
import type { Registry } from '../routing/registry.js';
import { estimateTokens } from '../routing/prompt.js';
import { MemoryState } from '../state/memory.js';
import type { SharedState } from '../state/shared-state.js';
import { wireOf, type AttemptTarget, type ChatCompletion, type StreamChunk, type UpstreamAttempt, type UpstreamCall } from './attempt.js';
import { isCancellation, type Cancellation } from './cancellation.js';
import { deltaChars, openAIChatAttempt, parseChunk, streamError, usageOf } from './openai-upstream.js';
import { AttemptRunner, UpstreamError, describeError, type Run, type RunnerSettings } from './runner.js';
import { wireUpstreams } from '../wire/upstreams.js';
import { nativeOf } from '../wire/common.js';
import { DEFAULT_ANTHROPIC_MAX_TOKENS } from '../wire/anthropic.js';
import { requestId } from './request-id.js';

export type { Attempt, Outcome, Usage } from '../app/hub.js';
export type { ChatCompletion, StreamChunk, UpstreamAttempt } from './attempt.js';
export { retryAfterMs } from './attempt.js';
export { chatUrl } from './openai-upstream.js';
export { UpstreamError } from './runner.js';
export { Canceller, type Cancellation } from './cancellation.js';

/** Options of {@link Executor}; the retry and fallback knobs are the runner's ({@link RunnerSettings}). */
export interface ExecutorOptions extends RunnerSettings {
  /** The router whose decisions are carried out; its registry supplies `baseUrl`, `apiKeyEnv` and prices. */
  router: Router;
  /** Overrides the router's registry (every model called must be listed with a `baseUrl`). */
  registry?: Registry;
  /** Cool-downs, sessions and counters; default a new {@link MemoryState} (per process). */
  state?: SharedState;
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
  /**
   * Attempts for upstream wires other than `openai-chat`, by wire name (a registry entry's `wire`).
   * `openai-chat` is built in (undici, this executor's dispatcher and env) and may be replaced here.
   */
  upstreams?: Record<string, UpstreamAttempt>;
  /** `max_tokens` sent to an Anthropic upstream for a chat request that sets no output limit (the Messages API requires one). Default 4,096. */
  anthropicMaxTokens?: number;
}

/** Per-request options of {@link Executor.complete} and {@link Executor.stream}. */
export interface ExecuteOptions {
  /** Cancels the upstream call (and any wait) when aborted. */
  signal?: AbortSignal;
  /**
   * The same as {@link signal} without an AbortSignal: a {@link Canceller} the caller aborts (the
   * gateway's, one per request, cheaper than an AbortController). Given both, this one is used.
   */
  cancellation?: Cancellation;
  /** Policy and knobs for this request's decision. */
  route?: RouteOptions;
  /** A registry id to call first instead of the router's choice; the decision's other models follow as fallbacks. */
  model?: string;
  /** A conversation key: the conversation stays on its first model unless the policy escalates. */
  session?: string;
  /** The request id (for feedback); default a new time-ordered id (./request-id.ts). */
  id?: string;
  /** A decision already made for this request (skips routing). */
  decision?: Decision;
}

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
  /** Milliseconds (fractional) spent in upstream attempts (for a stream: up to its first token); the rest of the time is routecore's. */
  upstreamMs: number;
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
  /** The prompt's tokens as routecore estimated them before the call (the upstream's count comes at the end, in the usage). */
  readonly promptTokens: number;
  /** Settles when the stream has ended: the usage and cost, or the error that ended it. */
  readonly result: Promise<StreamSummary>;
  /** Cancels the upstream call; iteration ends with `ERR_ROUTECORE_ABORTED`. */
  cancel(): void;
}

/** The body fields routecore adds or replaces; the client's others pass through. */
const STREAM_USAGE = { include_usage: true } as const;

/** The wire of registry entries that name none. */
const DEFAULT_WIRE = 'openai-chat';

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
  readonly #runner: AttemptRunner;
  readonly #upstreams: Map<string, UpstreamAttempt>;
  readonly #env: Record<string, string | undefined>;
  readonly #dispatcher: Dispatcher;
  readonly #ownDispatcher: boolean;
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
    this.#sessionTtlMs = num(options.sessionTtlMs, 'options.sessionTtlMs', 1, 30 * 86_400_000, 3_600_000);
    this.#margin = num(options.escalationMargin, 'options.escalationMargin', 0, 1, 0.1);
    if (options.env !== undefined && (typeof options.env !== 'object' || options.env === null)) throw invalidArgument('options.env', 'an object of environment variables', options.env);
    this.#env = options.env ?? process.env;
    if (options.upstreams !== undefined && (typeof options.upstreams !== 'object' || options.upstreams === null || Object.values(options.upstreams).some((u) => typeof u !== 'function'))) {
      throw invalidArgument('options.upstreams', 'an object of wire name -> attempt function', options.upstreams);
    }
    this.#ownState = options.state === undefined;
    this.state = options.state ?? new MemoryState();
    this.#runner = new AttemptRunner({ ...options, registry, state: this.state, redact: (t) => this.#redact(t) });
    if (options.dispatcher !== undefined) {
      this.#dispatcher = options.dispatcher;
      this.#ownDispatcher = false;
    } else {
      this.#dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: 128 });
      this.#ownDispatcher = true;
    }
    const chat = openAIChatAttempt(this.#dispatcher, this.#env);
    const anthropicMaxTokens = num(options.anthropicMaxTokens, 'options.anthropicMaxTokens', 1, 10_000_000, DEFAULT_ANTHROPIC_MAX_TOKENS);
    this.#upstreams = new Map([[DEFAULT_WIRE, chat], ...wireUpstreams(this.#dispatcher, this.#env, chat, { anthropicMaxTokens }), ...Object.entries(options.upstreams ?? {})]);
    // Cool-downs from any replica take the model out of this router's decisions.
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
    const { run, promptTokens } = await this.#begin(request, options, false);
    const body = upstreamBody(request, false);
    const { model, value } = await run.first((target) => this.#call(upstreamCall(target, request, body, false)));
    if (value.stream) throw run.failed(new RoutecoreError('ERR_ROUTECORE_INTERNAL', 'a non-streaming call came back as a stream'));
    const response = value.response;
    const usage: Usage = usageOf(response.usage) ?? { prompt_tokens: promptTokens, completion_tokens: 0, estimated: true };
    response.model = model;
    const { costUsd, latencyMs } = run.answered(model, usage);
    if (options.session !== undefined) await this.#remember(options.session, model);
    return { id: run.id, model, routed: run.decision.model, decision: run.decision, attempts: run.attempts, upstreamMs: run.upstreamMs, response, usage, costUsd, latencyMs };
  }

  /**
   * Answers a chat request as a stream of SSE chunks. Resolves when the first token has arrived
   * (after any fallbacks); rejects like {@link complete} when no model produced one.
   */
  async stream(request: ChatRequest, options: ExecuteOptions = {}): Promise<ChatStream> {
    const { run, promptTokens } = await this.#begin(request, options, true);
    const clientWantsUsage = (request as { stream_options?: { include_usage?: unknown } }).stream_options?.include_usage === true;
    const body = upstreamBody(request, true);
    const { model: answering, value } = await run.first((target) => this.#call(upstreamCall(target, request, body, true)));
    if (!value.stream) throw run.failed(new RoutecoreError('ERR_ROUTECORE_INTERNAL', 'a streaming call came back as a completion'));
    const opened = value.opened;
    const { id, decision } = run;
    let settle!: { resolve: (s: StreamSummary) => void; reject: (e: unknown) => void };
    const result = new Promise<StreamSummary>((resolve, reject) => (settle = { resolve, reject }));
    // Nobody may be listening to `result`; its rejection is the iterator's to report.
    result.catch(() => undefined);
    const executor = this;
    let iterated = false;

    async function* chunks(): AsyncGenerator<StreamChunk> {
      let usage: Usage | null = opened.usage;
      let textChars = opened.text;
      let finished = false;
      // What the answer used so far: the upstream's count when it sent one, else routecore's estimate
      // (an answer cut or left early is billed by the upstream all the same; it is priced and charged).
      const spent = (): Usage => usage ?? { prompt_tokens: promptTokens, completion_tokens: estimateTokens(textChars), estimated: true };
      try {
        for (const c of opened.first) yield c;
        for (;;) {
          let r: IteratorResult<string>;
          try {
            r = await opened.rest.next();
          } catch (err) {
            throw run.interrupted(answering, describeError(err), spent(), err);
          }
          if (r.done) break;
          const data = r.value;
          if (data === '[DONE]') {
            finished = true;
            break;
          }
          const parsed = parseChunk(data);
          if (parsed === undefined) {
            const said = streamError(data);
            throw run.interrupted(answering, said !== undefined ? `the upstream sent an error (${said})` : 'the upstream sent an event that is not a JSON chat.completion.chunk', spent());
          }
          const u = usageOf(parsed['usage']);
          if (u) usage = u;
          textChars += deltaChars(parsed);
          const choices = parsed['choices'];
          // The usage-only chunk was asked for by routecore, not the client: keep it from the client.
          if (!clientWantsUsage && Array.isArray(choices) && choices.length === 0 && u) continue;
          parsed['model'] = answering;
          yield { data: JSON.stringify(parsed) };
        }
        if (!finished) throw run.interrupted(answering, 'the upstream closed the stream without [DONE]', spent());
        const finalUsage = spent();
        const { costUsd, latencyMs } = run.answered(answering, finalUsage);
        if (options.session !== undefined) await executor.#remember(options.session, answering);
        settle.resolve({ id, model: answering, routed: decision.model, decision, attempts: run.attempts, upstreamMs: run.upstreamMs, usage: finalUsage, costUsd, latencyMs });
        yield { data: '[DONE]' };
      } catch (err) {
        const e = run.failed(err);
        settle.reject(e);
        throw e;
      } finally {
        if (!run.ended) {
          // The caller stopped reading (break, return): cancel the upstream, record the request as aborted.
          run.cancel();
          settle.reject(run.aborted(answering, spent()));
        }
        opened.close();
      }
    }

    const gen = chunks();
    return {
      id,
      model: answering,
      routed: decision.model,
      decision,
      attempts: run.attempts,
      upstreamMs: run.upstreamMs,
      promptTokens,
      result,
      cancel: () => run.cancel(),
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

  /** One attempt through the wire the model's registry entry names. */
  #call(call: Parameters<UpstreamAttempt>[0]): ReturnType<UpstreamAttempt> {
    const wire = wireOf(call.entry);
    const native = nativeOf(call.request);
    if (native?.only !== undefined && native.wire !== wire) {
      return Promise.resolve({ ok: false, failure: { kind: 'config', message: `${call.model} speaks ${wire}, and only an ${native.wire} upstream can take ${native.only.why}`, param: native.only.param } });
    }
    const attempt = this.#upstreams.get(wire);
    if (!attempt) return Promise.resolve({ ok: false, failure: { kind: 'config', message: `${call.model}'s wire "${wire}" has no upstream attempt in this executor (known: ${[...this.#upstreams.keys()].join(', ')})` } });
    return attempt(call);
  }

  /** Validates, decides, applies the session rule; starts the run. */
  async #begin(request: ChatRequest, options: ExecuteOptions, stream: boolean): Promise<{ run: Run; promptTokens: number }> {
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object', options);
    const id = options.id ?? requestId();
    if (typeof id !== 'string' || id === '') throw invalidArgument('options.id', 'a non-empty string', id);
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw invalidArgument('options.signal', 'an AbortSignal', options.signal);
    if (options.cancellation !== undefined && !isCancellation(options.cancellation)) throw invalidArgument('options.cancellation', 'a Canceller (or an object with aborted, onAbort and signal)', options.cancellation);
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
        // At once where the router can score the text on this thread (Router.routeChatInline): no wait for a batch.
        const routed = await this.router.routeChatInline(request, options.route);
        chat = routed;
        decision = routed;
      }
    } catch (err) {
      if (!isRoutecoreError(err, 'ERR_ROUTECORE_NO_ELIGIBLE_MODEL')) throw err;
      if (options.model === undefined) {
        const e = new UpstreamError(err.code, `${err.message} (every model may be cooling down after failures)`, [], 503, id, { cause: err });
        // The client may come back when the first cool-down ends (the 503's Retry-After).
        e.retryAfterMs = this.router.cooldownLeftMs();
        throw e;
      }
      // Every model the router knows is cooling down, but the client named one: a name is called even
      // then (docs/DEPLOY.md), alone, since the others are all cooling down.
      chat = await chatTextAsync(request);
      decision = { model: options.model, fallbacks: [], scores: {}, expectedCost: null, policy: options.route?.policy ?? this.router.policy, micros: 0 };
    }
    let order = [decision.model, ...decision.fallbacks.filter((m) => m !== decision.model)];
    if (options.model !== undefined) {
      order = [options.model, ...order.filter((m) => m !== options.model)];
    } else if (options.session !== undefined) {
      order = await this.#sessionOrder(options.session, decision, order);
    }
    const run = this.#runner.start({ id, decision, order, prompt: chat.text, stream, session: options.session, signal: options.signal, cancellation: options.cancellation });
    return { run, promptTokens: chat.promptTokens };
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

/**
 * One attempt's call: the target's fields (its AbortSignal still made only when read) and the request.
 * A class, not an object literal with a getter, for the reason given at the runner's `Target`: a
 * literal's accessor lives in its hidden class and kept the request's objects alive past the request.
 */
class Call implements UpstreamCall {
  readonly model: string;
  readonly entry: AttemptTarget['entry'];
  readonly cancellation: AttemptTarget['cancellation'];
  readonly timeoutMs: number;
  readonly #target: AttemptTarget;

  constructor(
    target: AttemptTarget,
    readonly request: ChatRequest,
    readonly body: string,
    readonly stream: boolean,
  ) {
    this.model = target.model;
    this.entry = target.entry;
    this.cancellation = target.cancellation;
    this.timeoutMs = target.timeoutMs;
    this.#target = target;
  }

  get signal(): AbortSignal {
    return this.#target.signal;
  }
}

function upstreamCall(target: AttemptTarget, request: ChatRequest, body: string, stream: boolean): UpstreamCall {
  return new Call(target, request, body, stream);
}

/**
 * The upstream body as JSON text, serialised once per request: the client's fields without `model`
 * (set per upstream), `stream` set, and for a stream `stream_options.include_usage`. One copy by key
 * instead of a rest-destructuring and a spread (0.6 against 1.6 µs for a one-message request).
 */
function upstreamBody(request: ChatRequest, stream: boolean): string {
  const src = request as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(src)) if (k !== 'model') out[k] = src[k];
  out['stream'] = stream;
  if (stream) out['stream_options'] = { ...((src['stream_options'] as object | undefined) ?? {}), ...STREAM_USAGE };
  return JSON.stringify(out);
}

function num(v: unknown, name: string, lo: number, hi: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) throw invalidArgument(name, `a number from ${lo} to ${hi}`, v);
  return v;
}
