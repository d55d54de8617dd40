/**
 * OpenAI-shaped error answers of the gateway: `{"error": {"message", "type", "code", ...}}` with the
 * HTTP status an OpenAI client expects, so that SDK retry logic and error classes behave as they do
 * against the real API (401 → AuthenticationError, 429 → RateLimitError, 5xx → retried, ...).
 * @module
 */
import type { Attempt } from '../chat/hub.js';

/** The OpenAI error `type` values the gateway uses. */
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

/** An error the gateway answers with: status plus an OpenAI-shaped body. */
export class GatewayError extends Error {
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
    extra: { param?: string; routecoreCode?: string; attempts?: Attempt[]; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'GatewayError';
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
export function badRequest(code: string, message: string, param?: string, routecoreCode?: string): GatewayError {
  return new GatewayError(400, 'invalid_request_error', code, message, { param, routecoreCode });
}

/** The upstream-failure code for a status the executor chose (502/503/504). */
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
