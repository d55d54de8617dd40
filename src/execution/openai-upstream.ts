/**
 * The OpenAI chat-completions wire to an upstream, over undici: one {@link UpstreamAttempt} that
 * POSTs `…/chat/completions` with the upstream's own key and classifies what came back. Used by the
 * executor for every registry entry whose wire is `openai-chat` (the default).
 * @module
 */
import { request as undiciRequest, type Dispatcher } from 'undici';

import {
  retryAfterMs,
  upstreamKey,
  type AttemptOutcome,
  type ChatCompletion,
  type Failure,
  type UpstreamErrorFields,
  type StreamChunk,
  type UpstreamAnswer,
  type UpstreamAttempt,
  type UpstreamCall,
  type UpstreamUsage,
} from './attempt.js';
import { isPlainObject } from '../errors.js';
import { describeError } from './runner.js';
import { postBuffered, type BufferedAnswer } from './buffered-post.js';
import type { Cancellation } from './cancellation.js';
import { sseData } from './sse.js';

/** Most bytes of an error body read for its message. */
const MAX_ERROR_BODY = 2048;

/** `…/v1` + `/chat/completions`; a baseUrl that already ends in `/chat/completions` is used as is. */
export function chatUrl(baseUrl: string): string {
  const trimmed = baseUrl.replace(/\/+$/, '');
  return trimmed.endsWith('/chat/completions') ? trimmed : `${trimmed}/chat/completions`;
}

/** Per upstream base URL and model, what a call needs and does not change per request (registry entries are few). */
interface Target {
  url: string;
  modelField: string;
  /** The output-limit name this upstream refused (see {@link retryWithOtherLimit}): later bodies carry the other at once. */
  refusedLimit?: LimitName;
}
const perTarget = new Map<string, Target>();

function targetOf(baseUrl: string, model: string): Target {
  const k = `${baseUrl}\n${model}`;
  let t = perTarget.get(k);
  if (!t) {
    t = { url: chatUrl(baseUrl), modelField: `{"model":${JSON.stringify(model)},` };
    if (perTarget.size > 1000) perTarget.clear();
    perTarget.set(k, t);
  }
  return t;
}

/** The OpenAI chat-completions attempt over `dispatcher`, keys read from `env`. */
export function openAIChatAttempt(dispatcher: Dispatcher, env: Record<string, string | undefined>): UpstreamAttempt {
  return async (call: UpstreamCall): Promise<AttemptOutcome<UpstreamAnswer>> => {
    const { model, entry, timeoutMs } = call;
    const key = upstreamKey(model, entry, env);
    if ('kind' in key) return { ok: false, failure: key };
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: call.stream ? 'text/event-stream' : 'application/json' };
    if (key.key !== undefined) headers['authorization'] = `Bearer ${key.key}`;
    // The body was serialised once per request (an object's JSON text, so it starts with `{`); only the model differs per upstream.
    const target = targetOf(entry!.baseUrl!, model);
    let body = target.modelField + call.body.slice(1);
    if (target.refusedLimit !== undefined) body = withOtherLimit(body, target.refusedLimit) ?? body;
    const outcome = await send(dispatcher, target.url, headers, body, model, call, timeoutMs);
    // The retry's closure only on a failure: an answered call makes none.
    return outcome.ok ? outcome : retryWithOtherLimit(outcome, body, target, (text) => send(dispatcher, target.url, headers, text, model, call, timeoutMs));
  };
}

/** One call with `body`: streamed (opened up to its first token) or read whole. */
function send(dispatcher: Dispatcher, url: string, headers: Record<string, string>, body: string, model: string, call: UpstreamCall, timeoutMs: number): Promise<AttemptOutcome<UpstreamAnswer>> {
  return call.stream ? openCall(dispatcher, url, headers, body, model, call, timeoutMs) : complete(dispatcher, url, headers, body, call.cancellation, timeoutMs);
}

/** The two names of the output-token limit in chat completions. */
const LIMIT_NAMES = ['max_completion_tokens', 'max_tokens'] as const;
type LimitName = (typeof LIMIT_NAMES)[number];

/** An upstream's words for a field it does not take (OpenAI: "Unsupported parameter", Mistral: "Extra inputs are not permitted", vLLM / others: "unknown", "unrecognized"). */
const REFUSED_FIELD = /unsupported|not supported|unknown|unrecogni[sz]ed|extra[ _](inputs|fields?|forbidden)|not permitted|not allowed|no such/i;

/**
 * OpenAI's current models take only `max_completion_tokens` (their reasoning models refuse
 * `max_tokens`), while many OpenAI-compatible servers take only `max_tokens` (Mistral answers 422 for
 * the other): one name cannot serve both, and the faces send `max_completion_tokens`. When an upstream
 * refuses the name it was sent (a 400 or 422 naming it as unsupported or extra), the call is made once
 * more with the other name, and when that answers, the upstream gets the other name from then on.
 */
async function retryWithOtherLimit(outcome: AttemptOutcome<UpstreamAnswer>, body: string, target: Target, send: (body: string) => Promise<AttemptOutcome<UpstreamAnswer>>): Promise<AttemptOutcome<UpstreamAnswer>> {
  if (outcome.ok || outcome.failure.kind !== 'status' || (outcome.failure.status !== 400 && outcome.failure.status !== 422)) return outcome;
  const message = outcome.failure.message;
  if (!REFUSED_FIELD.test(message)) return outcome;
  const sent = LIMIT_NAMES.find((n) => message.includes(n) && body.includes(`"${n}":`));
  const other = sent === undefined ? undefined : withOtherLimit(body, sent);
  if (sent === undefined || other === undefined) return outcome;
  const again = await send(other);
  if (again.ok) target.refusedLimit = sent;
  return again;
}

/** `body` with its top-level `name` renamed to the other limit name; undefined when it has no such field (or has both). */
function withOtherLimit(body: string, name: LimitName): string | undefined {
  const other = name === 'max_tokens' ? 'max_completion_tokens' : 'max_tokens';
  const parsed = parseJson(body);
  if (!parsed || parsed[name] === undefined || parsed[other] !== undefined) return undefined;
  parsed[other] = parsed[name];
  delete parsed[name];
  return JSON.stringify(parsed);
}

/** A streamed call opened up to its first token, or the failure classified. */
async function openCall(dispatcher: Dispatcher, url: string, headers: Record<string, string>, body: string, model: string, call: UpstreamCall, timeoutMs: number): Promise<AttemptOutcome<UpstreamAnswer>> {
  // undici's request() takes an AbortSignal (made here, on first read).
  const signal = call.signal;
  let res: Dispatcher.ResponseData;
  try {
    res = await undiciRequest(url, { method: 'POST', headers, body, signal, dispatcher, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  } catch (err) {
    return fail(networkFailure(err, signal, timeoutMs));
  }
  const status = res.statusCode;
  if (status >= 200 && status < 300) return openStream(res, model, signal, timeoutMs, status);
  // An error status: read a bounded piece of the body for the message.
  let text = '';
  try {
    text = await res.body.text();
  } catch {
    // the status says enough
  }
  return fail(statusFailure(status, text, res.headers['retry-after']));
}

/** A non-streamed call, read whole (./buffered-post.ts): the answer, or the failure classified as for streams. */
async function complete(dispatcher: Dispatcher, url: string, headers: Record<string, string>, body: string, cancellation: Cancellation, timeoutMs: number): Promise<AttemptOutcome<UpstreamAnswer>> {
  let res: BufferedAnswer;
  try {
    res = await postBuffered(dispatcher, url, { headers, body, cancellation, timeoutMs });
  } catch (err) {
    return fail(networkFailure(err, cancellation, timeoutMs));
  }
  const status = res.status;
  if (status >= 200 && status < 300) {
    const json = parseJson(res.text);
    if (!json || !Array.isArray(json['choices'])) return fail({ kind: 'malformed', message: `status ${status} but the body is not a chat.completion (${preview(res.text)})` });
    // No choice is no answer (some proxies say 200 with `choices: []` for a filtered or failed call): the next model may answer.
    if (json['choices'].length === 0) return fail({ kind: 'malformed', message: `status ${status} but the chat.completion has no choices (${preview(res.text)})` });
    return { ok: true, status, value: { stream: false, response: json as ChatCompletion } };
  }
  return fail(statusFailure(status, res.text, res.headers['retry-after']));
}

function fail(failure: Failure): AttemptOutcome<never> {
  return { ok: false, failure };
}

/** Reads a 2xx SSE response until its first token; failures before it are still free to fall back. */
async function openStream(res: Dispatcher.ResponseData, model: string, signal: AbortSignal, timeoutMs: number, status: number): Promise<AttemptOutcome<UpstreamAnswer>> {
  const events = sseData(res.body)[Symbol.asyncIterator]();
  const close = () => {
    if (!res.body.destroyed) res.body.destroy();
  };
  const first: StreamChunk[] = [];
  let usage: UpstreamUsage | null = null;
  let text = 0;
  try {
    for (;;) {
      const r = await events.next();
      if (r.done || r.value === '[DONE]') {
        close();
        return fail({ kind: 'malformed', message: r.done ? 'the stream ended before its first token' : 'the stream sent [DONE] before any token' });
      }
      const parsed = parseChunk(r.value);
      if (parsed === undefined) {
        close();
        const said = streamError(r.value);
        return fail({ kind: 'malformed', message: said !== undefined ? `the stream sent an error before its first token (${said})` : `the stream sent an event that is not a JSON chat.completion.chunk before its first token (${preview(r.value)})` });
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
    return fail(networkFailure(err, signal, timeoutMs));
  }
  return { ok: true, status, value: { stream: true, opened: { first, rest: events, close, usage, text } } };
}

/** A thrown transport error as a failure: the caller's abort, undici's timeouts, else a broken connection. */
function networkFailure(err: unknown, signal: { readonly aborted: boolean }, timeoutMs: number): Failure {
  if (signal.aborted) return { kind: 'aborted', message: 'the caller cancelled the request' };
  const code = (err as { code?: string }).code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return { kind: 'timeout', message: `no ${code === 'UND_ERR_BODY_TIMEOUT' ? 'body bytes' : 'response'} within ${timeoutMs} ms` };
  }
  return { kind: 'reset', message: describeError(err) };
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return isPlainObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** A `chat.completion.chunk` (or a usage-only chunk) parsed, or undefined when the event is not one. */
export function parseChunk(data: string): Record<string, unknown> | undefined {
  const v = parseJson(data);
  if (!v) return undefined;
  if (v['choices'] !== undefined && !Array.isArray(v['choices'])) return undefined;
  if (v['choices'] === undefined && v['usage'] === undefined) return undefined;
  return v;
}

/**
 * What an OpenAI-compatible stream's error event says (`data: {"error": {"message", "type"}}`, which
 * OpenAI and vLLM send when a generation fails mid-stream), as `type: message`; undefined for any other event.
 */
export function streamError(data: string): string | undefined {
  const err = parseJson(data)?.['error'];
  if (typeof err === 'string') return err.slice(0, 300);
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as Record<string, unknown>;
  const message = typeof e['message'] === 'string' ? e['message'].slice(0, 300) : JSON.stringify(err).slice(0, 300);
  const type = typeof e['type'] === 'string' ? e['type'] : typeof e['code'] === 'string' ? e['code'] : undefined;
  return type === undefined ? message : `${type}: ${message}`;
}

/** Characters of generated text (content, refusal, reasoning, tool-call arguments) in a chunk. */
export function deltaChars(chunk: Record<string, unknown>): number {
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

/** An OpenAI `usage` object's token counts, or null when it is not one. */
export function usageOf(u: unknown): UpstreamUsage | null {
  if (typeof u !== 'object' || u === null) return null;
  const p = (u as Record<string, unknown>)['prompt_tokens'];
  const c = (u as Record<string, unknown>)['completion_tokens'];
  if (typeof p !== 'number' || typeof c !== 'number' || !(p >= 0) || !(c >= 0)) return null;
  const usage: UpstreamUsage = { prompt_tokens: p, completion_tokens: c };
  // Cached prompt tokens are part of prompt_tokens and priced apart: OpenAI's
  // prompt_tokens_details.cached_tokens, and cache writes as LiteLLM names them (routecore's own
  // translation of an Anthropic answer carries both).
  const details = (u as Record<string, unknown>)['prompt_tokens_details'];
  const read = typeof details === 'object' && details !== null ? (details as Record<string, unknown>)['cached_tokens'] : undefined;
  if (typeof read === 'number' && read > 0) usage.cache_read_tokens = Math.min(read, p);
  const write = (u as Record<string, unknown>)['cache_creation_input_tokens'];
  if (typeof write === 'number' && write > 0) usage.cache_write_tokens = Math.min(write, p - (usage.cache_read_tokens ?? 0));
  return usage;
}

/**
 * The failure for an upstream's error status and (the start of) its body, in either wire's error shape:
 * its message in ours, `code` / `param` / `type` kept for the client ({@link UpstreamErrorFields}), and a
 * 429's `Retry-After`.
 */
export function statusFailure(status: number, body: string, retryAfter: string | string[] | undefined): Failure {
  const text = body.slice(0, MAX_ERROR_BODY);
  const err = parseJson(text)?.['error'];
  let detail = text.trim() === '' ? '' : `: ${preview(text)}`;
  let upstream: UpstreamErrorFields | undefined;
  if (typeof err === 'string' && err !== '') detail = `: ${err.slice(0, 300)}`;
  else if (typeof err === 'object' && err !== null) {
    const e = err as Record<string, unknown>;
    if (typeof e['message'] === 'string' && e['message'] !== '') detail = `: ${e['message'].slice(0, 300)}`;
    upstream = {};
    for (const k of ['code', 'param', 'type'] as const) if (typeof e[k] === 'string' && e[k] !== '') upstream[k] = (e[k] as string).slice(0, 200);
  }
  const failure: Failure = { kind: 'status', status, message: `status ${status}${detail}`, ...(upstream && Object.keys(upstream).length > 0 ? { upstream } : {}) };
  if (status !== 429) return failure;
  const wait = retryAfterMs(retryAfter);
  return wait === undefined ? failure : { ...failure, message: `${failure.message} (Retry-After ${Math.round(wait)} ms)`, retryAfterMs: wait };
}

/** A short quoted preview of a body, for messages. */
export function preview(text: string): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > 120 ? JSON.stringify(t.slice(0, 120) + '…') : JSON.stringify(t);
}
