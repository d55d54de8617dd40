/**
 * routecore/openai: a `fetch` for the OpenAI SDK (`new OpenAI({ fetch: routedFetch({ router }) })`)
 * that answers chat-completions requests in-process through the executor. The SDK is untouched:
 * its requests, streaming and errors work as against api.openai.com.
 *
 * - `model: 'routecore'` or `'routecore:<policy>[:<knob>]'` is routed; a registry id goes to that
 *   model with the decision's other models as fallbacks (src/chat/model-name.ts).
 * - The response's `model` is the model that answered; headers `x-routecore-model`,
 *   `x-routecore-routed`, `x-routecore-policy`, `x-routecore-attempts`, `x-routecore-request-id`.
 * - The SDK's own `apiKey` (its Authorization header) never leaves the process: each upstream gets
 *   the key named by its registry `apiKeyEnv`.
 * - Failures are OpenAI-shaped errors (`{ error: { message, type, code } }`) with the executor's
 *   status (502/503/504, 400 for bad bodies, 404 for an unknown model), so the SDK raises its usual
 *   `APIError` subclasses.
 * @module
 */
import { RoutecoreError, isRoutecoreError } from '../errors.js';
import { parseModelName } from '../chat/model-name.js';
import { Executor, UpstreamError, type ExecuteOptions, type ExecutionInfo, type ExecutorOptions } from '../execution/executor.js';
import type { Router } from '../routing/router.js';

/** Options of {@link routedFetch}: the router, or an executor already built on it, plus executor options. */
export type RoutedFetchOptions = Omit<ExecutorOptions, 'router'> & {
  router: Router;
  /** An executor to share (its options win); default a new one from these options. */
  executor?: Executor;
  /** Conversation key for each request (e.g. from a header the application sets); default none. */
  session?: (body: Record<string, unknown>, init: RequestInit | undefined) => string | undefined;
  /** Answered for paths other than chat completions and models; default: an OpenAI-shaped 404. */
  fallbackFetch?: typeof fetch;
};

/** The fetch function, with its executor for metrics and `close()`. */
export type RoutedFetch = typeof fetch & { executor: Executor };

/** A fetch that answers OpenAI chat-completions requests through routecore. */
export function routedFetch(options: RoutedFetchOptions): RoutedFetch {
  if (typeof options !== 'object' || options === null) throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', 'routedFetch(options): options must be an object with a router');
  const { executor: given, session, fallbackFetch, ...executorOptions } = options;
  const executor = given ?? new Executor(executorOptions);
  const router = executor.router;

  const fetchFn = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    const path = url.pathname.replace(/\/+$/, '');
    if (method === 'GET' && path.endsWith('/models')) return modelsResponse(router);
    if (method !== 'POST' || !path.endsWith('/chat/completions')) {
      if (fallbackFetch) return fallbackFetch(input, init);
      return errorResponse(404, `routecore's fetch answers POST …/chat/completions and GET …/models, not ${method} ${url.pathname}`, 'invalid_request_error', 'not_found');
    }
    let body: Record<string, unknown>;
    try {
      const text = init?.body !== undefined && init.body !== null ? await new Response(init.body).text() : input instanceof Request ? await input.text() : '';
      const parsed = JSON.parse(text) as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      body = parsed as Record<string, unknown>;
    } catch (err) {
      return errorResponse(400, `the request body is not a JSON object (${(err as Error).message})`, 'invalid_request_error', 'invalid_json');
    }
    const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined) ?? undefined;
    try {
      const choice = parseModelName(body['model'], router.registry);
      const opts: ExecuteOptions = choice.kind === 'routed' ? { route: choice.route } : { model: choice.model };
      if (signal) opts.signal = signal;
      const key = session?.(body, init);
      if (key !== undefined) opts.session = key;
      const request = body as unknown as Parameters<Executor['complete']>[0];
      if (body['stream'] === true) {
        const stream = await executor.stream(request, opts);
        const encoder = new TextEncoder();
        const iterator = stream[Symbol.asyncIterator]();
        const readable = new ReadableStream<Uint8Array>({
          async pull(controller) {
            try {
              const r = await iterator.next();
              if (r.done) controller.close();
              else controller.enqueue(encoder.encode(`data: ${r.value.data}\n\n`));
            } catch (err) {
              // After tokens were sent only an in-band error can tell the SDK; it raises it as an APIError.
              const e = err as RoutecoreError;
              controller.enqueue(encoder.encode(`data: ${JSON.stringify({ error: { message: e.message, type: 'upstream_error', code: e.code } })}\n\n`));
              controller.close();
            }
          },
          async cancel() {
            await iterator.return?.();
          },
        });
        return new Response(readable, { status: 200, headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...decisionHeaders(stream) } });
      }
      const r = await executor.complete(request, opts);
      return new Response(JSON.stringify(r.response), { status: 200, headers: { 'content-type': 'application/json', ...decisionHeaders(r) } });
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err; // the SDK expects fetch to reject on abort
      return errorFor(err);
    }
  };
  return Object.assign(fetchFn, { executor }) as RoutedFetch;
}

function decisionHeaders(info: ExecutionInfo): Record<string, string> {
  return {
    'x-routecore-model': info.model,
    'x-routecore-routed': info.routed,
    'x-routecore-policy': info.decision.policy,
    'x-routecore-attempts': String(info.attempts.length),
    'x-routecore-request-id': info.id,
  };
}

function modelsResponse(router: Router): Response {
  const ids = ['routecore', 'routecore:best', 'routecore:cost', 'routecore:threshold', 'routecore:subset', ...(router.registry?.ids() ?? router.models)];
  const data = ids.map((id) => ({ id, object: 'model', created: 0, owned_by: 'routecore' }));
  return new Response(JSON.stringify({ object: 'list', data }), { status: 200, headers: { 'content-type': 'application/json' } });
}

function errorResponse(status: number, message: string, type: string, code: string | null, extra: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ error: { message, type, code } }), { status, headers: { 'content-type': 'application/json', ...extra } });
}

/** An OpenAI-shaped error response for anything the executor threw. */
export function errorFor(err: unknown): Response {
  if (err instanceof UpstreamError) {
    const type = err.code === 'ERR_ROUTECORE_UPSTREAM_REJECTED' ? 'invalid_request_error' : 'upstream_error';
    return errorResponse(err.status === 499 ? 499 : err.status, err.message, type, err.code, { 'x-routecore-attempts': String(err.attempts.length), 'x-routecore-request-id': err.id });
  }
  if (isRoutecoreError(err, 'ERR_ROUTECORE_INVALID_ARGUMENT')) return errorResponse(400, err.message, 'invalid_request_error', err.code);
  if (isRoutecoreError(err, 'ERR_ROUTECORE_UNKNOWN_MODEL')) return errorResponse(404, err.message, 'invalid_request_error', 'model_not_found');
  if (isRoutecoreError(err, 'ERR_ROUTECORE_NO_ELIGIBLE_MODEL')) return errorResponse(503, err.message, 'upstream_error', err.code);
  const message = err instanceof Error ? err.message : String(err);
  return errorResponse(500, message, 'server_error', isRoutecoreError(err) ? err.code : null);
}
