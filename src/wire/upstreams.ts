/**
 * Upstream attempts for the wires other than OpenAI chat completions, as the attempt runner's seam
 * (src/execution/attempt.ts) defines them: each calls one model once and answers in chat-completions
 * terms (a completion, or a stream opened at its first token) or with a classified failure. Retries,
 * fallbacks, cool-downs and cost stay with the runner.
 *
 * - `anthropic-messages` ({@link anthropicMessagesAttempt}): `POST {baseUrl}/messages` with `x-api-key`
 *   and `anthropic-version`; the chat request translated (src/wire/anthropic.ts), or the client's own
 *   Messages body passed through when the face attached one ({@link NATIVE}).
 * - `openai-responses` ({@link openAIResponsesAttempt}): a face's Responses body passed through to
 *   `POST {baseUrl}/responses`; any other request goes to the same upstream's chat completions.
 *
 * Failures map onto the runner's vocabulary: HTTP statuses as they are (Anthropic's 529 "overloaded"
 * is a 5xx: retried, then the next model), an in-stream `error` event before the first token as the
 * status its type stands for (`overloaded_error` 529, `rate_limit_error` 429, `api_error` 500), a
 * stream that ends before its first token as `malformed`.
 * @module
 */
import { request as undiciRequest, type Dispatcher } from 'undici';

import { upstreamKey, type AttemptOutcome, type Failure, type StreamChunk, type UpstreamAnswer, type UpstreamAttempt, type UpstreamCall, type UpstreamUsage } from '../execution/attempt.js';
import { postBuffered, type BufferedAnswer } from '../execution/buffered-post.js';
import { deltaChars, preview, statusFailure, usageOf } from '../execution/openai-upstream.js';
import { sseData } from '../execution/sse.js';
import { ANTHROPIC_VERSION, AnthropicChunkReader, chatToMessages, isAnthropicMessage, messageToChat, unsupportedByMessages } from './anthropic.js';
import { NATIVE, NATIVE_EVENT_FIELD, isObject, nativeFor, parseJsonObject, sseEvent, type Json } from './common.js';
import { responsesEventInfo, responsesUsage } from './responses.js';

/** `{baseUrl}/messages`; a baseUrl that already ends in `/messages` is used as is. */
export function messagesUrl(baseUrl: string): string {
  const trimmed = baseUrl.replace(/\/+$/, '');
  return trimmed.endsWith('/messages') ? trimmed : `${trimmed}/messages`;
}

/** `{baseUrl}/responses`; a baseUrl that already ends in `/responses` is used as is. */
export function responsesUrl(baseUrl: string): string {
  const trimmed = baseUrl.replace(/\/+$/, '');
  return trimmed.endsWith('/responses') ? trimmed : `${trimmed}/responses`;
}

function fail(failure: Failure): AttemptOutcome<never> {
  return { ok: false, failure };
}

function networkFailure(err: unknown, signal: AbortSignal, timeoutMs: number): Failure {
  if (signal.aborted) return { kind: 'aborted', message: 'the caller cancelled the request' };
  const code = (err as { code?: string }).code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return { kind: 'timeout', message: `no ${code === 'UND_ERR_BODY_TIMEOUT' ? 'body bytes' : 'response'} within ${timeoutMs} ms` };
  }
  const e = err as Error;
  return { kind: 'reset', message: e instanceof Error ? (code ? `${e.message} (${code})` : e.message) : String(err) };
}

/** A failure for an error status, its message from the body (Anthropic's or OpenAI's error shape). */
async function readStatusFailure(res: Dispatcher.ResponseData): Promise<Failure> {
  let text = '';
  try {
    text = await res.body.text();
  } catch {
    // the status says enough
  }
  return statusFailure(res.statusCode, text, res.headers['retry-after']);
}

/** The HTTP status an Anthropic in-stream error type stands for. */
function errorEventStatus(type: string | null): number {
  switch (type) {
    case 'overloaded_error':
      return 529;
    case 'rate_limit_error':
      return 429;
    case 'invalid_request_error':
      return 400;
    case 'authentication_error':
      return 401;
    case 'permission_error':
      return 403;
    case 'not_found_error':
      return 404;
    default:
      return 500;
  }
}

/** Options shared by the attempts. */
export interface WireUpstreamOptions {
  /** `max_tokens` for Anthropic when a chat request sets none (the Messages API requires it). Default 4096. */
  anthropicMaxTokens?: number;
}

/**
 * Reads an SSE body event by event, turning each into chat-chunk JSON texts (`convert`), until the first
 * token; the rest is read lazily by the executor. Shared by both wires.
 */
async function openStream(
  res: Dispatcher.ResponseData,
  signal: AbortSignal,
  timeoutMs: number,
  status: number,
  convert: (data: string) => { out: string[]; failure?: Failure; error?: string },
): Promise<AttemptOutcome<UpstreamAnswer>> {
  const events = sseData(res.body)[Symbol.asyncIterator]();
  const close = () => {
    if (!res.body.destroyed) res.body.destroy();
  };
  const first: StreamChunk[] = [];
  const pending: string[] = [];
  let usage: UpstreamUsage | null = null;
  let text = 0;
  let started = false;
  try {
    while (!started) {
      const r = await events.next();
      if (r.done) {
        close();
        return fail({ kind: 'malformed', message: 'the stream ended before its first token' });
      }
      const c = convert(r.value);
      if (c.failure) {
        close();
        return fail(c.failure);
      }
      for (const data of c.out) {
        if (started || data === '[DONE]') {
          pending.push(data);
          continue;
        }
        const parsed = JSON.parse(data) as Json;
        const u = usageOf(parsed['usage']);
        if (u) usage = u;
        const chars = deltaChars(parsed);
        text += chars;
        first.push({ data });
        const choices = parsed['choices'];
        if (chars > 0 || (Array.isArray(choices) && choices.some((ch) => isObject(ch) && typeof ch['finish_reason'] === 'string'))) started = true;
      }
    }
  } catch (err) {
    close();
    return fail(networkFailure(err, signal, timeoutMs));
  }
  async function* rest(): AsyncGenerator<string> {
    yield* pending;
    if (pending.includes('[DONE]')) return;
    for (;;) {
      const r = await events.next();
      if (r.done) return;
      const c = convert(r.value);
      if (c.failure || c.error !== undefined) throw new Error(c.error ?? c.failure!.message);
      for (const data of c.out) {
        yield data;
        if (data === '[DONE]') return;
      }
    }
  }
  return { ok: true, status, value: { stream: true, opened: { first, rest: rest(), close, usage, text } } };
}

/** The `anthropic-messages` attempt over `dispatcher`, keys read from `env`. */
export function anthropicMessagesAttempt(dispatcher: Dispatcher, env: Record<string, string | undefined>, options: WireUpstreamOptions = {}): UpstreamAttempt {
  return async (call: UpstreamCall): Promise<AttemptOutcome<UpstreamAnswer>> => {
    const { model, entry, signal, timeoutMs } = call;
    const key = upstreamKey(model, entry, env);
    if ('kind' in key) return fail(key);
    const native = nativeFor(call.request, 'anthropic-messages');
    const unsupported = native ? undefined : unsupportedByMessages(call.request);
    if (unsupported) return fail({ kind: 'config', message: `${model} (an Anthropic Messages upstream) cannot honour ${unsupported[1]}`, param: unsupported[0] });
    const payload: Json = native ? { ...native.body, model } : chatToMessages(call.request, { model, defaultMaxTokens: options.anthropicMaxTokens });
    if (call.stream) payload['stream'] = true;
    else delete payload['stream'];
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: call.stream ? 'text/event-stream' : 'application/json', 'anthropic-version': ANTHROPIC_VERSION, ...(native?.headers ?? {}) };
    if (key.key !== undefined) headers['x-api-key'] = key.key;
    if (!call.stream) {
      let answer: BufferedAnswer;
      try {
        answer = await postBuffered(dispatcher, messagesUrl(entry!.baseUrl!), { headers, body: JSON.stringify(payload), cancellation: call.cancellation, timeoutMs });
      } catch (err) {
        return fail(networkFailure(err, signal, timeoutMs));
      }
      const { status, text } = answer;
      if (status < 200 || status >= 300) return fail(statusFailure(status, text, answer.headers['retry-after']));
      const message = parseJsonObject(text);
      if (!isAnthropicMessage(message)) return fail({ kind: 'malformed', message: `status ${status} but the body is not a Messages API message (${preview(text)})` });
      const completion = messageToChat(message, model) as Json & { model: string; choices: unknown[] };
      if (native) (completion as { [NATIVE]?: Json })[NATIVE] = { ...message, model };
      return { ok: true, status, value: { stream: false, response: completion } };
    }
    let res: Dispatcher.ResponseData;
    try {
      res = await undiciRequest(messagesUrl(entry!.baseUrl!), { method: 'POST', headers, body: JSON.stringify(payload), signal, dispatcher, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    } catch (err) {
      return fail(networkFailure(err, signal, timeoutMs));
    }
    const status = res.statusCode;
    if (status < 200 || status >= 300) return fail(await readStatusFailure(res));
    const reader = new AnthropicChunkReader(model);
    return openStream(res, signal, timeoutMs, status, (data) => {
      const event = parseJsonObject(data);
      if (!event) return { out: [], failure: { kind: 'malformed', message: `the stream sent an event that is not JSON (${preview(data)})` }, error: 'the upstream sent an event that is not JSON' };
      const r = reader.read(event);
      if (r.error !== null) return { out: [], failure: { kind: 'status', status: errorEventStatus(r.errorType), message: `error event: ${r.error}` }, error: `the upstream sent an error event (${r.error})` };
      let out: Json[] = r.chunks;
      if (native) {
        if (event['type'] === 'message_start' && isObject(event['message'])) event['message'] = { ...event['message'], model };
        const carrier: Json = out[0] ?? { object: 'chat.completion.chunk', model, choices: [] };
        carrier[NATIVE_EVENT_FIELD] = sseEvent(String(event['type']), event);
        if (event['type'] === 'message_delta') carrier['usage'] = reader.usage;
        out = [carrier, ...out.slice(1)];
      } else if (r.done) {
        out = [...out, reader.usageChunk()];
      }
      const texts = out.map((c) => JSON.stringify(c));
      if (r.done) texts.push('[DONE]');
      return { out: texts };
    });
  };
}

/**
 * The `openai-responses` attempt: a Responses body from the `/v1/responses` face goes to the upstream's
 * `/responses` unchanged (model replaced); every other request to its chat completions through `chat`.
 */
export function openAIResponsesAttempt(dispatcher: Dispatcher, env: Record<string, string | undefined>, chat: UpstreamAttempt): UpstreamAttempt {
  return async (call: UpstreamCall): Promise<AttemptOutcome<UpstreamAnswer>> => {
    const native = nativeFor(call.request, 'openai-responses');
    if (!native) return chat(call);
    const { model, entry, signal, timeoutMs } = call;
    const key = upstreamKey(model, entry, env);
    if ('kind' in key) return fail(key);
    const payload: Json = { ...native.body, model, stream: call.stream };
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: call.stream ? 'text/event-stream' : 'application/json' };
    if (key.key !== undefined) headers['authorization'] = `Bearer ${key.key}`;
    let res: Dispatcher.ResponseData;
    try {
      res = await undiciRequest(responsesUrl(entry!.baseUrl!), { method: 'POST', headers, body: JSON.stringify(payload), signal, dispatcher, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    } catch (err) {
      return fail(networkFailure(err, signal, timeoutMs));
    }
    const status = res.statusCode;
    if (status < 200 || status >= 300) return fail(await readStatusFailure(res));
    if (!call.stream) {
      let text: string;
      try {
        text = await res.body.text();
      } catch (err) {
        return fail(networkFailure(err, signal, timeoutMs));
      }
      const response = parseJsonObject(text);
      if (response?.['object'] !== 'response' || !Array.isArray(response['output'])) return fail({ kind: 'malformed', message: `status ${status} but the body is not a Responses API response (${preview(text)})` });
      const u = responsesUsage(response);
      // The executor reads usage and the model from a completion; the client gets the response itself.
      const completion: Json & { model: string; choices: unknown[] } = { object: 'chat.completion', model, choices: [{ index: 0, message: { role: 'assistant', content: '' }, finish_reason: 'stop' }] };
      if (u) completion['usage'] = { ...u, total_tokens: u.prompt_tokens + u.completion_tokens };
      (completion as { [NATIVE]?: Json })[NATIVE] = { ...response, model };
      return { ok: true, status, value: { stream: false, response: completion } };
    }
    return openStream(res, signal, timeoutMs, status, (data) => {
      const event = parseJsonObject(data);
      if (!event) return { out: [], failure: { kind: 'malformed', message: `the stream sent an event that is not JSON (${preview(data)})` }, error: 'the upstream sent an event that is not JSON' };
      const info = responsesEventInfo(event);
      if (info.failed !== null) return { out: [], failure: { kind: 'status', status: 500, message: `the stream reported a failure: ${info.failed}` }, error: `the upstream reported a failure (${info.failed})` };
      const response = event['response'];
      if (isObject(response) && 'model' in response) event['response'] = { ...response, model };
      // A carrier chunk: its delta lets the executor see the first token and count text; the face writes the native event.
      const delta = typeof event['delta'] === 'string' ? event['delta'] : '';
      const choice = info.done ? { index: 0, delta: {}, finish_reason: 'stop' } : info.token ? { index: 0, delta: { content: delta === '' ? ' ' : delta }, finish_reason: null } : undefined;
      const carrier: Json = { object: 'chat.completion.chunk', model, choices: choice ? [choice] : [], [NATIVE_EVENT_FIELD]: sseEvent(String(event['type']), event) };
      if (info.usage) carrier['usage'] = info.usage;
      return { out: info.done ? [JSON.stringify(carrier), '[DONE]'] : [JSON.stringify(carrier)] };
    });
  };
}

/**
 * The attempts for every wire besides `openai-chat`, keyed by wire name, for the executor's table;
 * `chat` is the executor's own chat-completions attempt (the Responses wire's other half).
 */
export function wireUpstreams(dispatcher: Dispatcher, env: Record<string, string | undefined>, chat: UpstreamAttempt, options: WireUpstreamOptions = {}): [string, UpstreamAttempt][] {
  return [
    ['anthropic-messages', anthropicMessagesAttempt(dispatcher, env, options)],
    ['openai-responses', openAIResponsesAttempt(dispatcher, env, chat)],
  ];
}
