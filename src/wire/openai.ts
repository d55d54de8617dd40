/**
 * The OpenAI chat-completions face as both routecore/openai (`routedFetch`) and the gateway speak it:
 * error answers (`{"error": {"message", "type", "code", "param", ...}}` with the status an OpenAI
 * client expects, so the SDK's retry logic and error classes behave as against the real API), the
 * `x-routecore-*` decision headers and the `/v1/models` list. One module, so the same failure reads
 * the same on both faces (an upstream timeout is `504 upstream_timeout`, `routecore_code`
 * `ERR_ROUTECORE_UPSTREAM`, everywhere).
 * @module
 */
import { isRoutecoreError } from '../errors.js';
import type { Attempt } from '../app/hub.js';
import { InvalidMessagesError } from '../chat/messages.js';
import { ROUTED_MODEL } from '../chat/model-name.js';
import { UpstreamError } from '../execution/runner.js';
import type { UpstreamErrorFields } from '../execution/attempt.js';
import { POLICIES } from '../routing/policy.js';
import type { Registry } from '../routing/registry.js';

/** The OpenAI error `type` values routecore answers with. */
export type OpenAIErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'upstream_error'
  | 'server_error';

/** The body of an error answer. */
export interface OpenAIErrorBody {
  error: {
    message: string;
    type: OpenAIErrorType;
    /** Stable, machine-readable: `invalid_json`, `model_not_found`, `upstream_timeout`, ... */
    code: string;
    /** The request field at fault, when there is one (OpenAI's `param`). */
    param: string | null;
    /** routecore's own error code (`ERR_ROUTECORE_*`), when a RoutecoreError is behind the answer. */
    routecore_code?: string;
    /** routecore's request id. */
    request_id?: string;
    /** Every upstream call made, when the upstreams failed. */
    attempts?: Attempt[];
  };
}

/** An error answer on the OpenAI wire: status, an OpenAI-shaped body, extra headers. Thrown by the gateway's handlers. */
export class OpenAIErrorAnswer extends Error {
  readonly status: number;
  readonly type: OpenAIErrorType;
  readonly code: string;
  readonly param: string | null;
  readonly routecoreCode: string | undefined;
  readonly attempts: Attempt[] | undefined;
  /** Extra response headers (e.g. `retry-after` on a 429). */
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    type: OpenAIErrorType,
    code: string,
    message: string,
    extra: { param?: string | undefined; routecoreCode?: string | undefined; attempts?: Attempt[] | undefined; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'OpenAIErrorAnswer';
    this.status = status;
    this.type = type;
    this.code = code;
    this.param = extra.param ?? null;
    this.routecoreCode = extra.routecoreCode;
    this.attempts = extra.attempts;
    this.headers = extra.headers ?? {};
  }

  /** The JSON body, with the request id when known. */
  body(requestId?: string): OpenAIErrorBody {
    const error: OpenAIErrorBody['error'] = { message: this.message, type: this.type, code: this.code, param: this.param };
    if (this.routecoreCode !== undefined) error.routecore_code = this.routecoreCode;
    if (requestId !== undefined) error.request_id = requestId;
    if (this.attempts !== undefined) error.attempts = this.attempts;
    return { error };
  }
}

/** 400 with `invalid_request_error`. */
export function badRequest(code: string, message: string, param?: string, routecoreCode?: string): OpenAIErrorAnswer {
  return new OpenAIErrorAnswer(400, 'invalid_request_error', code, message, { param, routecoreCode });
}

/** The upstream-failure code for a status the runner chose (502/503/504). */
export function upstreamCode(status: number): string {
  if (status === 504) return 'upstream_timeout';
  if (status === 503) return 'upstream_unavailable';
  return 'upstream_error';
}

/** The OpenAI error type for a plain HTTP status (used for upstream 4xx passed back to the client). */
export function typeForStatus(status: number): OpenAIErrorType {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'upstream_error';
  return 'invalid_request_error';
}

/**
 * The answer for an error routecore raised while executing or validating a request: an
 * {@link UpstreamError} (the runner's), a bad argument, an unknown model, no eligible model. Undefined
 * for anything else, which the face answers as its own 500.
 */
export function answerFor(err: unknown): OpenAIErrorAnswer | undefined {
  if (err instanceof OpenAIErrorAnswer) return err;
  if (err instanceof UpstreamError) {
    const attempts = err.attempts;
    const extra = { routecoreCode: err.code, attempts };
    if (err.code === 'ERR_ROUTECORE_UPSTREAM_REJECTED') {
      const cause = err.cause as { param?: unknown; upstream?: UpstreamErrorFields } | undefined;
      // No model could take a field of the request (the runner's `config` failures with a param).
      if (typeof cause?.param === 'string') return new OpenAIErrorAnswer(400, 'invalid_request_error', 'unsupported_parameter', err.message, { ...extra, param: cause.param });
      // The upstream refused the request: its own code and param (context_length_exceeded, ...) are what a client acts on.
      const up = cause?.upstream;
      return new OpenAIErrorAnswer(err.status, typeForStatus(err.status), up?.code ?? 'upstream_rejected', err.message, { ...extra, ...(up?.param !== undefined ? { param: up.param } : {}) });
    }
    if (err.code === 'ERR_ROUTECORE_ABORTED') return new OpenAIErrorAnswer(499, 'invalid_request_error', 'client_closed_request', err.message, extra);
    const retry = err.retryAfterMs !== undefined ? { headers: { 'retry-after': String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))) } } : {};
    if (err.code === 'ERR_ROUTECORE_NO_ELIGIBLE_MODEL') return new OpenAIErrorAnswer(503, 'upstream_error', 'no_eligible_model', err.message, { ...extra, ...retry });
    const status = err.status >= 500 && err.status <= 504 ? err.status : 502;
    return new OpenAIErrorAnswer(status, 'upstream_error', upstreamCode(status), err.message, { ...extra, ...retry });
  }
  if (err instanceof InvalidMessagesError) return badRequest('invalid_messages', err.message, err.param, err.code);
  if (isRoutecoreError(err, 'ERR_ROUTECORE_INVALID_ARGUMENT')) return badRequest('invalid_request', err.message, undefined, err.code);
  if (isRoutecoreError(err, 'ERR_ROUTECORE_UNKNOWN_MODEL')) return new OpenAIErrorAnswer(404, 'invalid_request_error', 'model_not_found', err.message, { param: 'model', routecoreCode: err.code });
  if (isRoutecoreError(err, 'ERR_ROUTECORE_NO_ELIGIBLE_MODEL')) return new OpenAIErrorAnswer(503, 'upstream_error', 'no_eligible_model', err.message, { routecoreCode: err.code });
  return undefined;
}

/** A 500 for a failure that is routecore's own bug; `message` is what the client may read. */
export function internalError(message: string, routecoreCode?: string): OpenAIErrorAnswer {
  return new OpenAIErrorAnswer(500, 'server_error', 'internal_error', message, { routecoreCode });
}

/** The headers that say how a request was routed; CORS exposes them with `x-request-id`. */
export const DECISION_HEADERS = ['x-routecore-model', 'x-routecore-routed', 'x-routecore-policy', 'x-routecore-attempts'] as const;

/**
 * The decision headers of an answer: the model that answered (`none` when none did), the router's
 * first choice, the policy (`none` before a decision) and the number of upstream calls.
 */
export function decisionHeaders(d: { model: string | null; routed: string | null; policy: string | null; attempts: number }): Record<(typeof DECISION_HEADERS)[number], string> {
  return {
    'x-routecore-model': d.model ?? 'none',
    'x-routecore-routed': d.routed ?? 'none',
    'x-routecore-policy': d.policy ?? 'none',
    'x-routecore-attempts': String(d.attempts),
  };
}

/** The routed model names offered besides the registry ids: `routecore` and `routecore:<policy>`. */
export const ROUTED_MODEL_NAMES: readonly string[] = [ROUTED_MODEL, ...POLICIES.map((p) => `${ROUTED_MODEL}:${p}`)];

/** One entry of `GET /v1/models`. */
export interface ModelListEntry {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

/**
 * The `GET /v1/models` body: `routecore`, each `routecore:<policy>`, then every registry id (owned by
 * its provider), keeping only the names `allowed` admits (a client key's allow-list).
 */
export function modelList(registry: Registry | undefined, fallbackIds: readonly string[], allowed: (name: string) => boolean = () => true): { object: 'list'; data: ModelListEntry[] } {
  const created = Math.floor(Date.now() / 1000);
  const names = [...ROUTED_MODEL_NAMES, ...(registry?.ids() ?? fallbackIds)];
  return {
    object: 'list',
    data: names.filter(allowed).map((id) => ({ id, object: 'model', created, owned_by: ROUTED_MODEL_NAMES.includes(id) ? 'routecore' : (registry?.get(id)?.provider ?? 'routecore') })),
  };
}
