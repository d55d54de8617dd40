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
 * - Failures are OpenAI-shaped errors (`{ error: { message, type, code, routecore_code } }`), the same
 *   answers as the gateway's (src/wire/openai.ts): 502/503/504 with `upstream_error`,
 *   `upstream_unavailable`, `upstream_timeout`, 400 for bad bodies, 404 for an unknown model, so the
 *   SDK raises its usual `APIError` subclasses.
 * @module
 */
import { RoutecoreError, isRoutecoreError } from '../errors.js';
import { parseModelName } from '../chat/model-name.js';
import { Executor, type ExecuteOptions, type ExecutionInfo, type ExecutorOptions } from '../execution/executor.js';
import { UpstreamError } from '../execution/runner.js';
import type { Router } from '../app/router.js';
import { OpenAIErrorAnswer, answerFor, badRequest, decisionHeaders, internalError, modelList } from '../wire/openai.js';

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
    if (method === 'GET' && path.endsWith('/models')) return json(200, modelList(router.registry, router.models));
    if (method !== 'POST' || !path.endsWith('/chat/completions')) {
      if (fallbackFetch) return fallbackFetch(input, init);
      return errorResponse(new OpenAIErrorAnswer(404, 'invalid_request_error', 'unknown_url', `routecore's fetch answers POST …/chat/completions and GET …/models, not ${method} ${url.pathname}`));
    }
    let body: Record<string, unknown>;
    try {
      const text = init?.body !== undefined && init.body !== null ? await new Response(init.body).text() : input instanceof Request ? await input.text() : '';
      const parsed = JSON.parse(text) as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      body = parsed as Record<string, unknown>;
    } catch (err) {
      return errorResponse(badRequest('invalid_json', `the request body is not a JSON object (${(err as Error).message})`));
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
              controller.enqueue(encoder.encode(`data: ${JSON.stringify(errorAnswer(err).body(stream.id))}\n\n`));
              controller.close();
            }
          },
          async cancel() {
            await iterator.return?.();
          },
        });
        return new Response(readable, { status: 200, headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headersOf(stream) } });
      }
      const r = await executor.complete(request, opts);
      return json(200, r.response, headersOf(r));
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err; // the SDK expects fetch to reject on abort
      return errorFor(err);
    }
  };
  return Object.assign(fetchFn, { executor }) as RoutedFetch;
}

function headersOf(info: ExecutionInfo): Record<string, string> {
  return { ...decisionHeaders({ model: info.model, routed: info.routed, policy: info.decision.policy, attempts: info.attempts.length }), 'x-routecore-request-id': info.id };
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

/** The OpenAI-shaped answer for anything the executor threw (the gateway's answers, src/wire/openai.ts). */
function errorAnswer(err: unknown): OpenAIErrorAnswer {
  // In-process there is no server log to point to: a bug's own message is the answer.
  return answerFor(err) ?? internalError(err instanceof Error ? err.message : String(err), isRoutecoreError(err) ? err.code : undefined);
}

function errorResponse(answer: OpenAIErrorAnswer, requestId?: string): Response {
  const headers: Record<string, string> = { ...answer.headers };
  if (answer.attempts !== undefined) headers['x-routecore-attempts'] = String(answer.attempts.length);
  if (requestId !== undefined) headers['x-routecore-request-id'] = requestId;
  return json(answer.status, answer.body(requestId), headers);
}

/** An OpenAI-shaped error response for anything the executor threw. */
export function errorFor(err: unknown): Response {
  return errorResponse(errorAnswer(err), err instanceof UpstreamError ? err.id : undefined);
}
