/**
 * What every wire translation shares: the error a bad body raises (with the field at fault, so each
 * face can answer 400 in its own wire's shape), small validators, ids, and SSE framing.
 *
 * Translations are pure: objects in, objects out, no I/O. The canonical form between faces and
 * upstreams is an OpenAI chat-completions request, `chat.completion` and `chat.completion.chunk`
 * (src/chat/messages.ts), because every OpenAI-compatible upstream speaks it and the router reads it.
 * @module
 */
import { randomBytes } from 'node:crypto';

import { InvalidMessagesError, type ChatMessage, type ChatRequest } from '../chat/messages.js';
import { RoutecoreError, describe, isPlainObject } from '../errors.js';

/** A request body a wire cannot accept: `param` names the field (`input[2].content[0].type`). */
export class WireError extends RoutecoreError {
  /** The body field at fault, dotted/indexed from the body's root; null when the whole body is. */
  readonly param: string | null;
  /** Stable machine-readable reason (`invalid_input`, `unsupported_tool`, ...), the error body's `code`. */
  readonly reason: string;

  constructor(reason: string, param: string | null, message: string) {
    super('ERR_ROUTECORE_INVALID_ARGUMENT', message);
    this.reason = reason;
    this.param = param;
  }
}

/**
 * Where a face's translated messages came from in the client's body, so that a fault found later in
 * them names what the client sent (`messages[2].content` of a Messages body, `input[3].content` or
 * `instructions` of a Responses one) rather than an index among the translated messages (a system
 * prompt shifts every one). `at[k]` is the client's position of message k, which the wire's `field`
 * names (undefined: a message the translation made itself). One non-enumerable property on the
 * messages array, left out of JSON and of deep equality: tags on each message cost 3–4 µs per request
 * of five messages in a WeakMap (ephemerons the collector traces), 0.7 as properties.
 */
interface ClientFields {
  readonly at: readonly number[];
  readonly field: (at: number) => string | undefined;
}

const CLIENT_FIELDS = Symbol('routecore.clientFields');

/** Records that `messages[k]` came from the client's field `field(at[k])` (see {@link inClientTerms}). */
export function recordClientFields(messages: ChatMessage[], at: readonly number[], field: (at: number) => string | undefined): void {
  Object.defineProperty(messages, CLIENT_FIELDS, { value: { at, field } satisfies ClientFields });
}

/**
 * `err` in the client's terms: a fault of a translated message's content ({@link InvalidMessagesError})
 * names the client's field it came from instead of its index among the translated messages; any other
 * error, or messages with no recorded fields, is returned as it is.
 */
export function inClientTerms(err: unknown, chat: { messages?: unknown }): unknown {
  if (!(err instanceof InvalidMessagesError) || err.content === undefined || !Array.isArray(chat.messages)) return err;
  const fields = (chat.messages as { [CLIENT_FIELDS]?: ClientFields })[CLIENT_FIELDS];
  const at = fields?.at[err.content.index];
  const path = at === undefined ? undefined : fields!.field(at);
  return path === undefined ? err : err.naming(path);
}

/** A plain JSON object (not an array, not null). */
export type Json = Record<string, unknown>;

/** Whether `v` is a plain object: the wire modules' name for {@link isPlainObject}, the one definition. */
export const isObject: (v: unknown) => v is Json = isPlainObject;

/** Throws a {@link WireError} for field `param` that should have been `expected`. */
export function badField(param: string, expected: string, actual: unknown, reason = 'invalid_request'): never {
  throw new WireError(reason, param, `body.${param} must be ${expected}, got ${describe(actual)}`);
}

/** An optional string field. */
export function optString(body: Json, field: string, path = field): string | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') badField(path, 'a string', v);
  return v;
}

/** An optional finite number within [lo, hi]. */
export function optNumber(body: Json, field: string, lo: number, hi: number, path = field, integer = false): number | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi || (integer && !Number.isInteger(v))) {
    badField(path, `${integer ? 'an integer' : 'a number'} from ${lo} to ${hi}`, v);
  }
  return v;
}

/** An optional boolean. */
export function optBoolean(body: Json, field: string, path = field): boolean | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') badField(path, 'true or false', v);
  return v;
}

/** A random id with a wire's prefix (`resp_`, `msg_`, `toolu_`), 24 hex characters after it. */
export function wireId(prefix: string): string {
  return prefix + randomBytes(12).toString('hex');
}

/** One server-sent event: `event: <name>` (when named) and one `data:` line. */
export function sseEvent(name: string | null, data: unknown): string {
  const json = typeof data === 'string' ? data : JSON.stringify(data);
  return name === null ? `data: ${json}\n\n` : `event: ${name}\ndata: ${json}\n\n`;
}

/** Parses JSON text, or returns undefined. */
export function parseJsonObject(text: string): Json | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return isObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The fields a Responses body and a Messages body both carry over to the chat request as they are:
 * `model`, `stream`, `temperature` (0 to `maxTemperature`: the client wire's own range) and `top_p`.
 */
export function copySamplingFields(body: Json, chat: ChatRequest, maxTemperature: number): void {
  if (typeof body['model'] === 'string') chat.model = body['model'];
  else if (body['model'] !== undefined) badField('model', 'a string', body['model']);
  const stream = optBoolean(body, 'stream');
  if (stream !== undefined) chat.stream = stream;
  const temperature = optNumber(body, 'temperature', 0, maxTemperature);
  if (temperature !== undefined) chat['temperature'] = temperature;
  const topP = optNumber(body, 'top_p', 0, 1);
  if (topP !== undefined) chat['top_p'] = topP;
}

/** The first choice of a chat completion or chunk, when it is an object. */
export function firstChoice(body: Json): Json | undefined {
  const choice = Array.isArray(body['choices']) ? body['choices'][0] : undefined;
  return isObject(choice) ? choice : undefined;
}

/**
 * A streamed choice's delta and its text piece (the content, or a refusal's text): what both stream
 * translators (Responses events, Anthropic events) read first from every chunk.
 */
export function chunkDelta(choice: Json): { delta: Json; piece: string } {
  const delta = isObject(choice['delta']) ? choice['delta'] : {};
  const piece = typeof delta['content'] === 'string' ? delta['content'] : typeof delta['refusal'] === 'string' ? delta['refusal'] : '';
  return { delta, piece };
}

/** The chat usage of a completion or chunk, when it has a usable one. */
export function chatUsage(u: unknown): { prompt_tokens: number; completion_tokens: number; cached_tokens: number; reasoning_tokens: number } | null {
  if (!isObject(u)) return null;
  const p = u['prompt_tokens'];
  const c = u['completion_tokens'];
  if (typeof p !== 'number' || typeof c !== 'number') return null;
  const cached = (u['prompt_tokens_details'] as { cached_tokens?: unknown } | undefined)?.cached_tokens;
  const reasoning = (u['completion_tokens_details'] as { reasoning_tokens?: unknown } | undefined)?.reasoning_tokens;
  return { prompt_tokens: p, completion_tokens: c, cached_tokens: typeof cached === 'number' ? cached : 0, reasoning_tokens: typeof reasoning === 'number' ? reasoning : 0 };
}

/**
 * Where a face keeps the client's own request body on the chat request it hands the executor, so an
 * upstream that speaks the client's wire can be sent that body unchanged (passthrough) instead of the
 * chat translation. A symbol: JSON (the body sent to chat upstreams, logs) never sees it. An upstream
 * that passes a body through puts the upstream's own answer under the same symbol on the completion it
 * returns, and the face answers with that.
 */
export const NATIVE: unique symbol = Symbol.for('routecore.native');

/**
 * Leaves `tool_choice` and `parallel_tool_calls` out of a translated chat request that has no tools:
 * chat completions refuses them without tools (OpenAI answers 400), while the Responses and Messages
 * APIs take them. Each face validates them first; this only decides what is sent.
 */
export function withoutToolFieldsIfNoTools(chat: ChatRequest): ChatRequest {
  if (chat['tools'] === undefined) {
    delete chat['tool_choice'];
    delete chat['parallel_tool_calls'];
  }
  return chat;
}

/**
 * Told about a part of a face's request that chat completions cannot carry but the face's own wire
 * takes (a newer field, a built-in or server tool, an item stored upstream): its path and what it is.
 * The part is left out of the translation; the face then lets only upstreams of its wire answer
 * ({@link NativeBody.only}).
 */
export type NativeOnly = (param: string, why: string) => void;

/** The client's body for one wire (see {@link NATIVE}). */
export interface NativeBody {
  /** The registry wire that may take `body` unchanged (`openai-responses`, `anthropic-messages`). */
  wire: string;
  body: Json;
  /** Client headers to forward to such an upstream (`anthropic-version`, `anthropic-beta`). */
  headers?: Record<string, string>;
  /**
   * Set when the body uses something the chat translation cannot carry (a server tool, a field of the
   * wire's own): the field, and why. Only an upstream of `wire` may then answer; the executor refuses
   * every other model as a `config` failure naming the field (a 400 when no model of the wire is left).
   */
  only?: { param: string; why: string };
}

/** The native body attached to a request, whatever its wire, if any. */
export function nativeOf(request: object): NativeBody | undefined {
  return (request as { [NATIVE]?: NativeBody })[NATIVE];
}

/** The native body attached to a request for `wire`, if any. */
export function nativeFor(request: object, wire: string): NativeBody | undefined {
  const n = nativeOf(request);
  return n !== undefined && n.wire === wire ? n : undefined;
}

/**
 * The field of a `chat.completion.chunk` that carries one passed-through upstream event (its SSE text)
 * through the executor's stream to the face; faces that did not ask for passthrough never see it.
 */
export const NATIVE_EVENT_FIELD = 'routecore_native';

/**
 * Said in a chat tool message where the tool's result had an image or a file: a chat tool message
 * takes text only, so both faces put the result's media in a user message right after the turn's tool
 * messages (an Anthropic upstream gets them in the same user turn as its tool_result blocks).
 */
export const TOOL_MEDIA_NOTE = '(attached below)';
