/**
 * The gateway's faces beyond chat completions: `POST /v1/responses` (OpenAI Responses API) and
 * `POST /v1/messages` (Anthropic Messages API). A face only translates: the client's body into the
 * chat request the router and executor take (the body itself rides along for upstreams that speak the
 * same wire, see {@link NATIVE}), the executor's answer and stream back into the client's wire, and
 * errors into that wire's shape. Routing, retries, fallbacks, cool-downs, limits, logs and metrics are
 * the gateway's and the executor's, exactly as for `/v1/chat/completions`.
 * @module
 */
import type { ChatRequest } from '../chat/messages.js';
import { ANTHROPIC_VERSION, MessagesStreamWriter, anthropicError, chatToMessage, messagesToChat } from '../wire/anthropic.js';
import { NATIVE, NATIVE_EVENT_FIELD, parseJsonObject, type Json, type NativeBody, type NativeOnly } from '../wire/common.js';
import { ResponsesStreamWriter, chatToResponse, itemReferences, responsesToChat, withReferencedItems } from '../wire/responses.js';

/** An error as a face needs it to answer in its own wire's shape. */
export interface FaceError {
  status: number;
  /** The OpenAI-style body the gateway would send on a chat route (`{error: {message, type, code, param, ...}}`). */
  body: { error: Json };
}

/** Writes one streamed answer in the face's wire. */
export interface FaceStream {
  /** The SSE text for one executor chunk's data (a `chat.completion.chunk` JSON text, or `[DONE]`). */
  write(data: string): string;
  /** The SSE text that closes a completed answer. */
  end(): string;
  /** The SSE text of an error after the stream began. */
  fail(error: FaceError): string;
  /** Output items this stream wrote itself, to keep for later references (see {@link FaceItems}). */
  minted?(): Json[];
}

/**
 * A face whose clients may send the output items of earlier answers back by reference (the Responses
 * API's `item_reference`, which the AI SDK sends by default). OpenAI keeps the items an upstream of
 * its own wrote; the ones routecore wrote (answers translated from another wire) the gateway keeps for a
 * while (src/serve/stored-items.ts).
 */
export interface FaceItems {
  /** The ids of the items `body` refers to. */
  references(body: unknown): string[];
  /** `body` with the items found in place of their references (a copy). */
  expand(body: Json, found: ReadonlyMap<string, Json>): Json;
  /** The output items of a non-streamed answer routecore wrote itself, to keep; none for an upstream's own answer, or when the request asked not to be stored. */
  minted(completion: Json, answer: Json, request: Json): Json[];
}

/** One wire the gateway answers besides chat completions. */
export interface Face {
  /** The route, e.g. `/v1/responses`. */
  readonly path: string;
  /** The registry wire whose upstreams take the client's body unchanged. */
  readonly wire: string;
  /** The client's body as a chat request (with the body attached for passthrough); throws a WireError for a bad body. */
  parse(body: unknown, headers: Record<string, string | string[] | undefined>): ChatRequest;
  /** The non-streamed answer for the executor's completion (`model` = the registry id that answered). */
  answer(completion: Json, request: Json, model: string): Json;
  /** A writer for one streamed answer (`promptTokens`: the executor's estimate, for a wire that reports input tokens before the answer). */
  stream(request: Json, model: string, promptTokens?: number): FaceStream;
  /** The error body (and status) in this wire's shape. */
  error(error: FaceError): { status: number; body: Json };
  /** Output items clients may refer back to; absent for a wire without references. */
  readonly items?: FaceItems;
}

/** The client's body attached to a translated request (see {@link NATIVE}). */
function attach(chat: ChatRequest, native: NativeBody): ChatRequest {
  Object.defineProperty(chat, NATIVE, { value: native, enumerable: false });
  return chat;
}

/**
 * A face's body as the executor's chat request, with the client's body attached: translated leniently
 * (what chat completions cannot carry but `wire` takes keeps the request to upstreams of `wire`:
 * {@link NativeBody.only}), and asking for the usage chunk when streamed (the face's last event carries
 * usage; the executor passes that chunk on only when asked).
 */
function translated(body: unknown, wire: string, toChat: (body: unknown, nativeOnly: NativeOnly) => ChatRequest, headers?: Record<string, string>): ChatRequest {
  let only: NativeBody['only'];
  const chat = toChat(body, (param, why) => {
    only ??= { param, why };
  });
  if (chat.stream === true) chat['stream_options'] = { include_usage: true };
  return attach(chat, { wire, body: body as Json, ...(headers ? { headers } : {}), ...(only ? { only } : {}) });
}

/** The upstream's own answer, when an upstream of the face's wire answered the client's body unchanged. */
function nativeAnswer(completion: Json): Json | undefined {
  return (completion as { [NATIVE]?: Json })[NATIVE];
}

/**
 * Streams either way: the upstream's own events when it spoke the face's wire (each chunk carries one
 * in {@link NATIVE_EVENT_FIELD}), else the face's translation of the chat chunks. The first chunk
 * decides; nothing is written before it.
 */
function faceStream(writer: { start(): string; chunk(c: Json): string; finish(): string; readonly output?: Json[] }, fail: (e: FaceError) => string, keep = false): FaceStream {
  let mode: 'native' | 'translated' | undefined;
  let started = false;
  const startOnce = (): string => {
    if (started) return '';
    started = true;
    return writer.start();
  };
  return {
    write(data) {
      if (data === '[DONE]') return '';
      const chunk = parseJsonObject(data);
      if (!chunk) return '';
      const native = chunk[NATIVE_EVENT_FIELD];
      mode ??= typeof native === 'string' ? 'native' : 'translated';
      if (mode === 'native') return typeof native === 'string' ? native : '';
      return startOnce() + writer.chunk(chunk);
    },
    end() {
      return mode === 'native' ? '' : startOnce() + writer.finish();
    },
    fail,
    minted: () => (keep && mode === 'translated' ? writer.output ?? [] : []),
  };
}

/** Whether a Responses request lets its output be kept (OpenAI's default `store: true`). */
function stores(request: Json): boolean {
  return request['store'] !== false;
}

/** `POST /v1/responses`: OpenAI's Responses API. */
export const responsesFace: Face = {
  path: '/v1/responses',
  wire: 'openai-responses',
  parse(body) {
    // What only OpenAI's Responses API can take (previous_response_id, built-in tools, stored items,
    // newer fields) keeps the request to `openai-responses` upstreams.
    return translated(body, 'openai-responses', responsesToChat);
  },
  answer(completion, request, model) {
    return nativeAnswer(completion) ?? chatToResponse(completion, request, { model });
  },
  stream(request, model) {
    const writer = new ResponsesStreamWriter(request, { model });
    return faceStream(writer, (e) => writer.fail(String(e.body.error['message']), String(e.body.error['code'] ?? 'server_error')), stores(request));
  },
  error(e) {
    // Responses errors have the chat completions shape; what the translation calls `messages` is the client's `input`.
    if (e.body.error['param'] === 'messages') return { status: e.status, body: { error: { ...e.body.error, param: 'input' } } };
    return { status: e.status, body: e.body };
  },
  items: {
    references: itemReferences,
    expand: withReferencedItems,
    minted(completion, answer, request) {
      if (nativeAnswer(completion) !== undefined || !stores(request) || !Array.isArray(answer['output'])) return [];
      return answer['output'] as Json[];
    },
  },
};

/** Headers a client sends to Anthropic that an Anthropic upstream should see too. */
const ANTHROPIC_CLIENT_HEADERS = ['anthropic-version', 'anthropic-beta'];

/** `POST /v1/messages`: Anthropic's Messages API. */
export const messagesFace: Face = {
  path: '/v1/messages',
  wire: 'anthropic-messages',
  parse(body, headers) {
    const forward: Record<string, string> = { 'anthropic-version': ANTHROPIC_VERSION };
    for (const h of ANTHROPIC_CLIENT_HEADERS) {
      const v = headers[h];
      if (typeof v === 'string' && v !== '') forward[h] = v;
    }
    // What chat completions cannot carry (Anthropic's newer fields, server tools, other block types)
    // keeps the request to Anthropic upstreams.
    return translated(body, 'anthropic-messages', messagesToChat, forward);
  },
  answer(completion, _request, model) {
    // A chat upstream does not say which stop sequence ended its answer (it strips it): `stop_sequence` stays null.
    return nativeAnswer(completion) ?? chatToMessage(completion, { model });
  },
  stream(_request, model, promptTokens) {
    // Anthropic reports the input tokens in message_start, before the answer (LangChain reads them
    // only there); a chat upstream counts them at the end, so message_start carries the estimate.
    const writer = new MessagesStreamWriter({ model, inputTokens: promptTokens });
    return faceStream(writer, (e) => writer.fail(anthropicErrorType(e), String(e.body.error['message'])));
  },
  error(e) {
    return { status: e.status, body: anthropicError(e.status, String(e.body.error['message']), e.body.error['code']) };
  },
};

function anthropicErrorType(e: FaceError): string {
  return String((anthropicError(e.status, '')['error'] as Json)['type']);
}

/** The faces the gateway registers, by route. */
export const WIRE_FACES: readonly Face[] = [responsesFace, messagesFace];

/** The face of a route, if it is one of {@link WIRE_FACES}. */
export function faceOf(route: string): Face | undefined {
  for (const f of WIRE_FACES) if (f.path === route) return f;
  return undefined;
}
