/**
 * `POST /v1/messages/count_tokens` (Anthropic's token counting) in Anthropic's shape: the body of a
 * Messages request without `max_tokens` (`model`, `messages`, `system`, `tools`, `tool_choice`,
 * `thinking`), the answer `{"input_tokens": N}`, errors as Anthropic's API gives them
 * (`{"type": "error", "error": {"type", "message"}}`, the message naming the field).
 *
 * The model is resolved as `/v1/messages` would resolve it (a registry id as asked, `routecore…` by the
 * router). When that model is an Anthropic upstream (registry `wire: anthropic-messages`), the body
 * goes to its own `/v1/messages/count_tokens` with its key, and its count comes back. Otherwise, or
 * when that call fails, the answer is routecore's own token estimate (the one the executor uses for
 * usage an upstream did not report, src/chat/messages.ts, plus the tool definitions at the same rate);
 * `x-routecore-token-count` says which (`upstream` or `estimate`). A body the upstream refuses (400,
 * 413) is the client's: its answer is passed on.
 * @module
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type Dispatcher, request as undiciRequest } from 'undici';

import { type ChatRequest, chatText } from '../chat/messages.js';
import { ROUTED_MODEL, parseModelName } from '../chat/model-name.js';
import { isRoutecoreError, type RoutecoreError } from '../errors.js';
import { upstreamKey } from '../execution/attempt.js';
import { estimateTokens } from '../routing/prompt.js';
import type { ModelEntry } from '../routing/registry.js';
import { ANTHROPIC_VERSION, anthropicError, messagesToChat } from '../wire/anthropic.js';
import { WireError, inClientTerms, isObject, parseJsonObject, type Json } from '../wire/common.js';
import { OpenAIErrorAnswer, badRequest, decisionHeaders } from '../wire/openai.js';
import { messagesUrl } from '../wire/upstreams.js';
import { type RouteContext, modelAllowed } from './route-context.js';
import { messagesFace } from './wire-faces.js';

/** The route. */
export const COUNT_TOKENS_PATH = '/v1/messages/count_tokens';

/** The response header saying where `input_tokens` came from: `upstream` (the model's own count) or `estimate`. */
export const TOKEN_COUNT_HEADER = 'x-routecore-token-count';

/**
 * The Messages fields count_tokens refuses, as Anthropic does (a count has no generation settings).
 * Others are taken: the translation checks what it knows, and what chat cannot carry (Anthropic's newer
 * fields such as `output_config` or `cache_control`, server tools) reaches an Anthropic model's own count
 * unchanged and is left out of routecore's estimate.
 */
const GENERATION_FIELDS = new Set(['max_tokens', 'stream', 'stop_sequences', 'temperature', 'top_p', 'top_k', 'metadata', 'service_tier']);

/** Most bytes of an upstream answer read. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** The body as a chat request (for routing and the estimate); throws a 400 naming the field. */
function parseBody(body: unknown): ChatRequest {
  if (!isObject(body)) throw badRequest('invalid_body', 'the request body must be a JSON object with "model" and "messages"');
  for (const key of Object.keys(body)) {
    if (GENERATION_FIELDS.has(key)) throw badRequest('unknown_parameter', `body.${key}: Extra inputs are not permitted (count_tokens counts a request; it takes no generation settings)`, key);
  }
  let chat: ChatRequest;
  try {
    // The Messages translation checks messages, system, tools, tool_choice and thinking; it needs a
    // max_tokens it then ignores here: the largest it takes, so that any thinking budget fits under it.
    chat = messagesToChat({ ...body, max_tokens: 10_000_000 }, () => undefined);
  } catch (err) {
    if (err instanceof WireError) throw badRequest(err.reason, err.message, err.param ?? undefined, err.code);
    throw err;
  }
  try {
    chatText(chat); // refuses what nothing can be routed on (no user turn, an empty last one), naming the message
  } catch (err) {
    const named = inClientTerms(err, chat);
    if (isRoutecoreError(named)) throw badRequest('invalid_messages', named.message, 'messages', named.code);
    throw err;
  }
  return chat;
}

/** routecore's estimate of a request's input tokens: the executor's prompt estimate plus the tool definitions, both at {@link estimateTokens}'s rate. */
export function estimateInputTokens(chat: ChatRequest, tools: unknown): number {
  const toolTokens = Array.isArray(tools) && tools.length > 0 ? estimateTokens(Buffer.byteLength(JSON.stringify(tools), 'utf8')) : 0;
  return chatText(chat).promptTokens + toolTokens;
}

/** What an Anthropic upstream said: its count, the client's fault to pass on, or why it could not count. */
type UpstreamCount = { ok: true; tokens: number } | { ok: false; refusal: { status: number; body: Json } } | { ok: false; why: string };

/** One call to `{baseUrl}/messages/count_tokens` of an Anthropic upstream. */
async function countUpstream(dispatcher: Dispatcher, id: string, entry: ModelEntry, env: Record<string, string | undefined>, body: Json, headers: FastifyRequest['headers'], timeoutMs: number): Promise<UpstreamCount> {
  const key = upstreamKey(id, entry, env);
  if ('kind' in key) return { ok: false, why: key.message };
  const send: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json', 'anthropic-version': ANTHROPIC_VERSION };
  for (const h of ['anthropic-version', 'anthropic-beta']) {
    const v = headers[h];
    if (typeof v === 'string' && v !== '') send[h] = v;
  }
  if (key.key !== undefined) send['x-api-key'] = key.key;
  let status: number;
  let text: string;
  try {
    const res = await undiciRequest(`${messagesUrl(entry.baseUrl!)}/count_tokens`, { method: 'POST', headers: send, body: JSON.stringify({ ...body, model: id }), dispatcher, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    status = res.statusCode;
    text = (await res.body.text()).slice(0, MAX_ANSWER_BYTES);
  } catch (err) {
    return { ok: false, why: `${id}: ${(err as Error).message}` };
  }
  const answer = parseJsonObject(text);
  if (status >= 200 && status < 300) {
    const n = answer?.['input_tokens'];
    return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? { ok: true, tokens: n } : { ok: false, why: `${id}: status ${status} without an integer input_tokens` };
  }
  // The body is at fault (Anthropic validates more than routecore does): the client hears it as the upstream said it.
  if (status === 400 || status === 413) {
    const error = answer?.['error'];
    const message = isObject(error) && typeof error['message'] === 'string' ? error['message'] : `the upstream ${id} refused the body (status ${status})`;
    return { ok: false, refusal: { status, body: anthropicError(status, message) } };
  }
  return { ok: false, why: `${id}: status ${status}` };
}

/** Registers the route. Every error is answered in Anthropic's shape (its `config.errorFace`), a 401 included. */
export function registerCountTokensRoute(app: FastifyInstance, routes: RouteContext): void {
  const config = { errorFace: () => messagesFace };
  app.post(COUNT_TOKENS_PATH, { config }, async (request: FastifyRequest, reply: FastifyReply) => {
    const chat = parseBody(request.body);
    const body = request.body as Json;
    const gen = routes.acquire(request);
    try {
      let choice: ReturnType<typeof parseModelName>;
      try {
        choice = parseModelName(body['model'], gen.registry, 'model');
      } catch (err) {
        if (isRoutecoreError(err, 'ERR_ROUTECORE_UNKNOWN_MODEL')) throw new OpenAIErrorAnswer(404, 'not_found_error', 'model_not_found', `model: ${err.message}`, { param: 'model', routecoreCode: err.code });
        throw badRequest('invalid_model', (err as Error).message, 'model', (err as RoutecoreError).code);
      }
      const name = typeof body['model'] === 'string' ? body['model'] : ROUTED_MODEL;
      const key = request.rc.key;
      if (key && !modelAllowed(key.models, name)) {
        throw new OpenAIErrorAnswer(403, 'permission_error', 'model_not_allowed', `key "${key.name}" may not use model "${name}" (allowed: ${key.models!.join(', ')})`, { param: 'model' });
      }
      // A count may reach the operator's Anthropic account: the key's rate limit and budget apply as to chat.
      if (key) await routes.limits(key);
      let model: string;
      let routed: string | null = null;
      let policy: string | null = null;
      if (choice.kind === 'explicit') model = choice.model;
      else {
        const decision = await gen.router.routeChatInline(chat, choice.route);
        model = routed = decision.model;
        policy = decision.policy;
      }
      const entry = gen.registry.get(model);
      let attempts = 0;
      if (entry?.wire === 'anthropic-messages' && entry.baseUrl !== undefined) {
        attempts = 1;
        const counted = await countUpstream(routes.dispatcher, model, entry, routes.env, body, request.headers, routes.timeoutMs);
        reply.headers(decisionHeaders({ model, routed, policy, attempts }));
        if (counted.ok) {
          reply.header(TOKEN_COUNT_HEADER, 'upstream');
          return { input_tokens: counted.tokens };
        }
        if ('refusal' in counted) {
          reply.code(counted.refusal.status);
          return counted.refusal.body;
        }
        request.log.warn({ model, why: counted.why }, 'count_tokens: the Anthropic upstream could not count; answering routecore\'s estimate');
      }
      reply.headers(decisionHeaders({ model, routed, policy, attempts }));
      reply.header(TOKEN_COUNT_HEADER, 'estimate');
      return { input_tokens: estimateInputTokens(chat, body['tools']) };
    } finally {
      routes.release(request);
    }
  });
}
