/**
 * The seam between the one attempt runner (./runner.ts) and the transports: what "make one upstream
 * attempt" receives and what it must answer. The runner owns every rule (retries, backoff,
 * `Retry-After`, cool-downs, the fallback order, the attempt list, outcomes, cost); an attempt only
 * calls one model once and says what happened, in the vocabulary of {@link Failure}.
 *
 * Implementations today: the OpenAI chat-completions wire over undici (./openai-upstream.ts, used by
 * the executor and so by routecore/openai and the gateway) and the AI SDK provider models
 * (src/adapters/ai-sdk.ts). Another wire (Anthropic Messages, OpenAI Responses) is one more
 * {@link UpstreamAttempt} chosen by the registry entry's wire (see {@link wireOf}).
 * @module
 */
import type { Attempt } from '../app/hub.js';
import type { ChatRequest } from '../chat/messages.js';
import type { ModelEntry } from '../routing/registry.js';
import type { Cancellation } from './cancellation.js';

/**
 * Why one attempt failed, as the transport saw it. The runner alone turns this into an action
 * (same model again, next model, stop), so every face follows the same rules.
 */
export type Failure =
  /**
   * The upstream answered with an error status; `retryAfterMs` from its `Retry-After` header; `upstream`:
   * the fields of its error body a client acts on (`code` such as `context_length_exceeded`, `param`, `type`).
   */
  | { kind: 'status'; status: number; message: string; retryAfterMs?: number; upstream?: UpstreamErrorFields }
  /** No response (or, streaming, no bytes / no first token) within the attempt's timeout. */
  | { kind: 'timeout'; message: string }
  /** The connection failed or broke before an answer (reset, refused, a stream cut before its first token). */
  | { kind: 'reset'; message: string }
  /** A 2xx that is not an answer: unreadable body, a stream of garbage, a stream that ended cleanly before its first token. */
  | { kind: 'malformed'; message: string }
  /**
   * The model cannot be called as configured (not in the registry, no `baseUrl`, its key variable
   * unset), or cannot honour a field of this request (`param`: e.g. `n` on an Anthropic upstream,
   * which answers one choice). No call was made; the next model is tried.
   */
  | { kind: 'config'; message: string; param?: string }
  /** The attempt's AbortSignal fired (the caller cancelled). */
  | { kind: 'aborted'; message: string };

/** What an upstream's error body says beyond its message (OpenAI's `{error: {code, param, type}}`, Anthropic's `{error: {type}}`). */
export interface UpstreamErrorFields {
  code?: string;
  param?: string;
  type?: string;
}

/** What one attempt came to: the face's answer (a completion, or a stream opened up to its first token), or a failure. */
export type AttemptOutcome<T> = { ok: true; value: T; status?: number } | { ok: false; failure: Failure };

/** What the runner hands an attempt. */
export interface AttemptTarget {
  /** The registry id to call. */
  model: string;
  /** Its registry entry (baseUrl, apiKeyEnv, prices, wire); undefined when the registry does not list it. */
  entry: ModelEntry | undefined;
  /** Fires when the caller cancels; the attempt must stop its call and answer `{ kind: 'aborted' }`. Made when first read: an attempt that can use {@link cancellation} should. */
  signal: AbortSignal;
  /** The same cancellation without an AbortSignal (./cancellation.ts): `aborted`, `onAbort(fn)`. */
  cancellation: Cancellation;
  /** The attempt's timeout (ms): for headers or the first token, and between body bytes / stream parts. */
  timeoutMs: number;
}

/**
 * One attempt as the runner calls it: the face has bound the request and the streaming mode; the
 * runner supplies the model and the cancellation. It resolves (never rejects, except for a bug) with
 * the answer or a {@link Failure}.
 */
export type AttemptFn<T> = (target: AttemptTarget) => Promise<AttemptOutcome<T>>;

/** A server-sent event of a chat-completions stream. */
export interface StreamChunk {
  /** The event's data: a `chat.completion.chunk` as JSON text (its `model` set to the answering id), or `[DONE]`. */
  data: string;
}

/** Usage as the upstream reported it. */
export interface UpstreamUsage {
  prompt_tokens: number;
  completion_tokens: number;
  /** Of `prompt_tokens`, read from the prompt cache. */
  cache_read_tokens?: number;
  /** Of `prompt_tokens`, written to the prompt cache. */
  cache_write_tokens?: number;
}

/**
 * A chat-completions stream opened up to its first token: nothing has reached the caller yet, so a
 * failure before this point was still free to fall back. The rest is read by the face.
 */
export interface OpenedStream {
  /** The chunks read so far (up to and including the first token), `model` already rewritten. */
  first: StreamChunk[];
  /** The remaining events' data (`[DONE]` included), as the wire's chat-completion-chunk JSON text. */
  rest: AsyncIterator<string>;
  /** Stops the upstream call (idempotent). */
  close(): void;
  /** Usage seen so far (some upstreams send it early), else null. */
  usage: UpstreamUsage | null;
  /** Characters of generated text seen so far (for an estimate when no usage arrives). */
  text: number;
}

/** An OpenAI `chat.completion` object as returned by the upstream (with `model` set to the answering registry id). */
export type ChatCompletion = Record<string, unknown> & { model: string; choices: unknown[]; usage?: Record<string, unknown> };

/** What an {@link UpstreamAttempt} is asked to do. */
export interface UpstreamCall extends AttemptTarget {
  /** The client's chat-completions request (its `model` is replaced by the upstream's id). */
  request: ChatRequest;
  /** The request body as JSON without `model`, prepared once per request (streaming: with `stream_options.include_usage`). */
  body: string;
  /** Stream (resolve with an {@link OpenedStream} at the first token) or not (resolve with the completion). */
  stream: boolean;
}

/** What an {@link UpstreamAttempt} answers. */
export type UpstreamAnswer = { stream: false; response: ChatCompletion } | { stream: true; opened: OpenedStream };

/**
 * One wire to an upstream: calls `call.model` once, in the chat-completions semantics the executor
 * speaks (a completion, or an SSE stream of `chat.completion.chunk` JSON), translating when its
 * upstream speaks another wire. It never retries or falls back; it classifies what went wrong.
 *
 * ```ts
 * const anthropic: UpstreamAttempt = async (call) => {
 *   // read call.entry (baseUrl, apiKeyEnv), translate call.request, POST with call.signal ...
 *   return { ok: false, failure: { kind: 'status', status: 529, message: 'status 529: overloaded' } };
 * };
 * new Executor({ router, upstreams: { 'anthropic-messages': anthropic } });
 * ```
 */
export type UpstreamAttempt = (call: UpstreamCall) => Promise<AttemptOutcome<UpstreamAnswer>>;

/** The wire a registry entry's upstream speaks; `openai-chat` unless the entry names another. */
export function wireOf(entry: ModelEntry | undefined): string {
  const wire = (entry as { wire?: unknown } | undefined)?.wire;
  return typeof wire === 'string' && wire !== '' ? wire : 'openai-chat';
}

/** An attempt record's `status` for a failure: the HTTP status, or the failure's kind. */
export function attemptStatus(f: Failure): Attempt['status'] {
  return f.kind === 'status' ? f.status : f.kind;
}

/** The key for an upstream (from `entry.apiKeyEnv` in `env`), or why it cannot be called. */
export function upstreamKey(model: string, entry: ModelEntry | undefined, env: Record<string, string | undefined>): { key: string | undefined } | Failure {
  if (!entry) return { kind: 'config', message: `${model} is not in the registry` };
  if (!entry.baseUrl) return { kind: 'config', message: `${model} has no baseUrl in the registry` };
  if (entry.apiKeyEnv === undefined) return { key: undefined };
  const key = env[entry.apiKeyEnv];
  if (key === undefined || key === '') return { kind: 'config', message: `environment variable ${entry.apiKeyEnv} (${model}'s apiKeyEnv) is not set` };
  return { key };
}

/** Parses Retry-After: delay-seconds or an HTTP date. */
export function retryAfterMs(header: string | string[] | undefined | null, now = Date.now()): number | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (v === undefined || v === null || v.trim() === '') return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}

/**
 * A timer an attempt arms for its timeout: `signal` fires when `ms` pass without {@link touch}.
 * Transports without their own timeouts (the AI SDK's fetch) use it for "no first token within
 * `timeoutMs`" and "no stream part within `timeoutMs`".
 */
export class IdleDeadline {
  readonly #controller = new AbortController();
  readonly #ms: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(ms: number) {
    this.#ms = ms;
    this.touch();
  }

  /** Fires after the timeout. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Whether the timeout fired. */
  get fired(): boolean {
    return this.#controller.signal.aborted;
  }

  /** Starts the timeout again (a byte or a part arrived). */
  touch(): void {
    if (this.fired) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#controller.abort(new Error(`no answer within ${this.#ms} ms`)), this.#ms);
    this.#timer.unref?.();
  }

  /** Disarms it ({@link touch} arms it again). */
  clear(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
