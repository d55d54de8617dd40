/**
 * What the gateway lends the routes that live in their own files (src/serve/models-route.ts,
 * src/serve/count-tokens-route.ts): the router and registry of the current generation (held while a
 * request uses them, so a reload does not dispose them underneath), the upstream dispatcher and keys,
 * and the wire a route's errors are answered in.
 * @module
 */
import type { FastifyRequest } from 'fastify';
import type { Dispatcher } from 'undici';

import type { Router } from '../app/router.js';
import type { Registry } from '../routing/registry.js';
import type { ClientKey } from './config.js';
import type { Face } from './wire-faces.js';

/** The router and registry a request is answered with. */
export interface RouteGeneration {
  readonly router: Router;
  readonly registry: Registry;
}

/** The gateway's side of a route kept in its own file. */
export interface RouteContext {
  /** Holds the current generation for `request` until {@link RouteContext.release}. */
  acquire(request: FastifyRequest): RouteGeneration;
  release(request: FastifyRequest): void;
  /** The upstream dispatcher (undici Agent) and the environment upstream keys are read from. */
  readonly dispatcher: Dispatcher;
  readonly env: Record<string, string | undefined>;
  /** Per upstream call, as for the executor's attempts. */
  readonly timeoutMs: number;
  /** Refuses (429, with retry-after) a key over its requests per minute or its budget, as for chat. */
  limits(key: ClientKey): Promise<void>;
}

/** A route's `config.errorFace`: the wire its errors are answered in, decided per request (undefined: OpenAI's). */
export type ErrorFaceOf = (request: FastifyRequest) => Face | undefined;

/**
 * The wire a request's errors are answered in when its route is not one of the chat faces: the
 * route's own choice (`config: { errorFace }`), else none (the OpenAI shape). The gateway's error
 * handler asks this for 401s, 413s and bad bodies alike, so a route's client reads one shape.
 */
export function errorFaceOf(request: FastifyRequest): Face | undefined {
  const of = (request.routeOptions.config as { errorFace?: ErrorFaceOf } | undefined)?.errorFace;
  return of?.(request);
}

/** Whether a key's allow-list admits a model name: exact names, or a trailing `*` as a prefix (`routecore*`). */
export function modelAllowed(allowed: readonly string[] | undefined, name: string): boolean {
  if (allowed === undefined) return true;
  for (const a of allowed) {
    if (a === name) return true;
    if (a.endsWith('*') && name.startsWith(a.slice(0, -1))) return true;
  }
  return false;
}

/** Whether the client speaks Anthropic's API (its SDKs and tools send `anthropic-version` on every call). */
export function isAnthropicClient(request: FastifyRequest): boolean {
  const v = request.headers['anthropic-version'];
  return typeof v === 'string' && v !== '';
}
