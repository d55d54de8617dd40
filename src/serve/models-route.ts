/**
 * `GET /v1/models` and `GET /v1/models/{id}` (retrieve one) in the shape the client speaks: OpenAI's list
 * (`{object: "list", data: [{id, object: "model", created, owned_by}]}`) by default, Anthropic's
 * (`{data: [{type: "model", id, display_name, created_at, ...}], has_more, first_id, last_id}`, paged
 * by `limit`, `after_id`, `before_id`) when the request carries `anthropic-version`, as the Anthropic
 * SDKs and the tools built on them send on every call. Both offer the same names: `routecore`, each
 * `routecore:<policy>`, then every registry id, keeping only those the client key may use. Errors
 * follow the same choice of wire.
 * @module
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

import { ROUTED_MODEL } from '../chat/model-name.js';
import type { Registry } from '../routing/registry.js';
import { OpenAIErrorAnswer, ROUTED_MODEL_NAMES, badRequest, modelList } from '../wire/openai.js';
import { type RouteContext, isAnthropicClient, modelAllowed } from './route-context.js';
import { messagesFace } from './wire-faces.js';

/** One model of Anthropic's `GET /v1/models` (the fields its SDK types declare; what a registry does not know is null). */
export interface AnthropicModelInfo {
  type: 'model';
  id: string;
  display_name: string;
  /** RFC 3339; the epoch, as Anthropic's API documents for an unknown release date (a registry records none). */
  created_at: string;
  capabilities: null;
  deprecated_at: null;
  lifecycle: 'active';
  line: null;
  /** The registry's `contextWindow`, when it gives one. */
  max_input_tokens: number | null;
  max_tokens: null;
  retires_at: null;
}

/** Anthropic's list page. */
export interface AnthropicModelPage {
  data: AnthropicModelInfo[];
  has_more: boolean;
  first_id: string | null;
  last_id: string | null;
}

/** Anthropic's page size when `limit` is not given, and its largest. */
const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 1000;
const UNKNOWN_RELEASE = new Date(0).toISOString();

/** A readable name: `routecore:cost` → "routecore (routed, cost policy)"; a registry id is its own name. */
function displayName(id: string): string {
  if (id === ROUTED_MODEL) return 'routecore (routed, default policy)';
  if (ROUTED_MODEL_NAMES.includes(id)) return `routecore (routed, ${id.slice(ROUTED_MODEL.length + 1)} policy)`;
  return id;
}

function info(id: string, registry: Registry): AnthropicModelInfo {
  return {
    type: 'model',
    id,
    display_name: displayName(id),
    created_at: UNKNOWN_RELEASE,
    capabilities: null,
    deprecated_at: null,
    lifecycle: 'active',
    line: null,
    max_input_tokens: registry.get(id)?.contextWindow ?? null,
    max_tokens: null,
    retires_at: null,
  };
}

/** A query parameter as one string (a repeated one is refused: which would win is a guess). */
function param(query: Record<string, unknown>, name: string): string | undefined {
  const v = query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw badRequest('invalid_query', `${name}: give it once, as a string`, name);
  return v;
}

/**
 * Anthropic's page of `names` for the request's `limit`, `after_id` and `before_id` (newest-first in
 * Anthropic's API; here the gateway's own order, `routecore` first). `before_id` pages backwards: the
 * `limit` names just before it.
 */
export function anthropicPage(names: readonly string[], registry: Registry, query: Record<string, unknown>): AnthropicModelPage {
  const rawLimit = param(query, 'limit');
  let limit = DEFAULT_LIMIT;
  if (rawLimit !== undefined) {
    limit = /^\d+$/.test(rawLimit) ? Number(rawLimit) : Number.NaN;
    if (!(limit >= 1 && limit <= MAX_LIMIT)) throw badRequest('invalid_limit', `limit: Input should be an integer from 1 to ${MAX_LIMIT}, got ${JSON.stringify(rawLimit)}`, 'limit');
  }
  const after = param(query, 'after_id');
  const before = param(query, 'before_id');
  if (after !== undefined && before !== undefined) throw badRequest('invalid_query', 'give after_id or before_id, not both', 'before_id');
  const at = (id: string, name: string) => {
    const i = names.indexOf(id);
    if (i < 0) throw badRequest('invalid_cursor', `${name}: "${id}" is not a model of this list`, name);
    return i;
  };
  let from = 0;
  let to = Math.min(names.length, limit);
  if (after !== undefined) {
    from = at(after, 'after_id') + 1;
    to = Math.min(names.length, from + limit);
  } else if (before !== undefined) {
    to = at(before, 'before_id');
    from = Math.max(0, to - limit);
  }
  const data = names.slice(from, to).map((id) => info(id, registry));
  return {
    data,
    // Paging backwards, "more" is what lies before the page; forwards, what lies after it.
    has_more: before !== undefined ? from > 0 : to < names.length,
    first_id: data[0]?.id ?? null,
    last_id: data[data.length - 1]?.id ?? null,
  };
}

/** Registers the two routes; errors of an Anthropic client's requests (a 401 included) are answered in Anthropic's shape. */
export function registerModelRoutes(app: FastifyInstance, routes: RouteContext): void {
  const config = { errorFace: (request: FastifyRequest) => (isAnthropicClient(request) ? messagesFace : undefined) };
  const names = (request: FastifyRequest, registry: Registry, models: readonly string[]) => {
    const key = request.rc.key;
    return modelList(registry, models, (id) => modelAllowed(key?.models, id));
  };

  app.get('/v1/models', { config }, async (request) => {
    const gen = routes.acquire(request);
    try {
      const list = names(request, gen.registry, gen.router.models);
      if (!isAnthropicClient(request)) return list;
      return anthropicPage(
        list.data.map((m) => m.id),
        gen.registry,
        request.query as Record<string, unknown>,
      );
    } finally {
      routes.release(request);
    }
  });

  // A wildcard, not `:id`: registry ids may hold slashes (`openai/gpt-4o`), which clients send escaped or not.
  app.get('/v1/models/*', { config }, async (request) => {
    const id = (request.params as { '*': string })['*'];
    const gen = routes.acquire(request);
    try {
      const found = names(request, gen.registry, gen.router.models).data.find((m) => m.id === id);
      if (!found) throw new OpenAIErrorAnswer(404, 'invalid_request_error', 'model_not_found', `The model "${id}" does not exist or this key may not use it`, { param: 'model' });
      return isAnthropicClient(request) ? info(id, gen.registry) : found;
    } finally {
      routes.release(request);
    }
  });
}
