/**
 * routecore/ai-sdk: `routedModel({ router, models })`, a language model for the Vercel AI SDK
 * (`generateText`, `streamText`, ...) that routes each call among the provider models you give it.
 *
 * The provider models make their own HTTP calls; each call of one is an attempt of the one attempt
 * runner (src/execution/runner.ts), so the executor's rules hold here unchanged: retries of the same
 * model with backoff and `Retry-After`, fallback down the decision's list, cool-downs, the same
 * attempt records, outcome, cost and error codes. The SDK's errors are classified by what they carry:
 * `statusCode` (and `responseHeaders['retry-after']`), a parse or validation error (malformed), the
 * attempt's own timeout, else a broken connection. A stream that fails before its first part falls
 * back; after it, the stream ends with an error part carrying `ERR_ROUTECORE_STREAM_INTERRUPTED`.
 *
 * The chosen id is the response's `modelId` (`result.response.modelId`) and
 * `providerMetadata.routecore` holds `{ model, routed, attempts }`. Consider `maxRetries: 0` on the
 * SDK call: the runner already retries (the SDK does not retry routecore's own errors anyway).
 *
 * Implements the AI SDK's `LanguageModelV4` (ai 7.x); `LanguageModelV3` models (ai 6.x) work too,
 * the routed model then reporting `specificationVersion: 'v3'`.
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { LanguageModelV4, LanguageModelV4CallOptions, LanguageModelV4GenerateResult, LanguageModelV4Prompt, LanguageModelV4StreamPart, LanguageModelV4StreamResult, LanguageModelV4Usage } from '@ai-sdk/provider';

import { RoutecoreError, invalidArgument } from '../errors.js';
import type { Attempt, Usage } from '../app/hub.js';
import type { ChatMessage } from '../chat/messages.js';
import { IdleDeadline, retryAfterMs, type AttemptOutcome, type Failure } from '../execution/attempt.js';
import { AttemptRunner, describeError, type Run, type RunnerSettings } from '../execution/runner.js';
import type { RouteOptions } from '../routing/router.js';
import type { Router } from '../app/router.js';
import type { SharedState } from '../state/shared-state.js';

/**
 * What routecore needs of a provider model: the AI SDK's language-model shape, written structurally so
 * that this file's declarations import nothing from `@ai-sdk/provider`. npm installs ai 6 (its
 * `LanguageModelV3`) on Node 20 and ai 7 (`LanguageModelV4`) on 22 and 24; both satisfy this, and a
 * strict TypeScript build compiles against either (scripts/install-check.sh checks all three).
 */
export interface AiSdkLanguageModel {
  /** `v4` (ai 7) or `v3` (ai 6); checked at run time. */
  readonly specificationVersion: string;
  readonly provider: string;
  readonly modelId: string;
  doGenerate(options: never): PromiseLike<unknown>;
  doStream(options: never): PromiseLike<unknown>;
}

/** Options of {@link routedModel}; the retry and fallback knobs are the runner's, as for the executor. */
export interface RoutedModelOptions<M extends AiSdkLanguageModel = AiSdkLanguageModel> extends RunnerSettings {
  /** The router; `models` keys are its model ids (after aliases). */
  router: Router;
  /** The provider models to route among, by router id, e.g. `{ 'gpt-4o': openai('gpt-4o'), ... }`; all v4 or all v3. */
  models: Record<string, M>;
  /** Routing policy and knobs for every call. */
  route?: RouteOptions;
  /** Where cool-downs also go (other replicas hear of them); the router is marked in any case. */
  state?: SharedState;
  /** Reported as the routed model's `modelId`; default `routecore`. */
  modelId?: string;
}

/**
 * The routed language model: the same type as the models it routes among (its `specificationVersion`
 * is theirs), so `generateText({ model })` of the installed ai version takes it.
 */
export type RoutedLanguageModel<M extends AiSdkLanguageModel = AiSdkLanguageModel> = M & { readonly router: Router };

/** Parts that mean the model has started answering: from here a failure cannot be retried elsewhere. */
const FIRST_TOKEN = new Set(['text-delta', 'reasoning-delta', 'tool-input-start', 'tool-input-delta', 'tool-call', 'file', 'source', 'finish']);

/** A stream opened up to its first part, as one attempt's answer. */
interface OpenedSdkStream {
  result: LanguageModelV4StreamResult;
  reader: ReadableStreamDefaultReader<LanguageModelV4StreamPart>;
  head: LanguageModelV4StreamPart[];
  deadline: IdleDeadline;
}

/** A language model that routes each call among `models`. */
export function routedModel<M extends AiSdkLanguageModel>(options: RoutedModelOptions<M>): RoutedLanguageModel<M> {
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object with router and models', options);
  const { router } = options;
  // Inside, the models are driven through ai 7's types; v3 models take the same calls (see the module comment).
  const models = options.models as unknown as Record<string, LanguageModelV4>;
  if (typeof router !== 'object' || router === null || typeof (router as Router).routeChat !== 'function') throw invalidArgument('options.router', 'a Router', router);
  if (typeof models !== 'object' || models === null || Object.keys(models).length === 0) throw invalidArgument('options.models', 'an object of router model id -> AI SDK language model', models);
  const versions = new Set<string>();
  for (const [id, m] of Object.entries(models)) {
    if (!router.models.includes(id)) throw invalidArgument(`options.models["${id}"]`, `a key naming one of the router's models (${router.models.join(', ')})`, id);
    const v = (m as { specificationVersion?: unknown } | null)?.specificationVersion;
    if (typeof m !== 'object' || m === null || typeof m.doGenerate !== 'function' || typeof m.doStream !== 'function' || (v !== 'v4' && v !== 'v3')) {
      throw invalidArgument(`options.models["${id}"]`, 'an AI SDK language model (specificationVersion "v4" or "v3")', m);
    }
    versions.add(v);
  }
  if (versions.size > 1) throw invalidArgument('options.models', 'language models of one specification version (all v4 or all v3)', models);
  const runner = new AttemptRunner({ ...options, registry: router.registry, state: options.state });
  const route = options.route ?? {};

  async function start(call: LanguageModelV4CallOptions, stream: boolean): Promise<Run> {
    const decision = await router.routeChatInline({ messages: toMessages(call.prompt) }, route);
    const order = [decision.model, ...decision.fallbacks].filter((id) => Object.hasOwn(models, id));
    if (order.length === 0) {
      throw new RoutecoreError('ERR_ROUTECORE_NO_ELIGIBLE_MODEL', `none of the decision's models (${[decision.model, ...decision.fallbacks].join(', ')}) is among options.models (${Object.keys(models).join(', ')})`);
    }
    return runner.start({ id: `rc-${randomUUID()}`, decision, order, prompt: decision.text, stream, signal: call.abortSignal });
  }

  function meta(id: string, routed: string, attempts: Attempt[]) {
    return { routecore: { model: id, routed, attempts: attempts.map((a) => ({ ...a })) } } as unknown as NonNullable<LanguageModelV4GenerateResult['providerMetadata']>;
  }

  const model: LanguageModelV4 & { readonly router: Router } = {
    specificationVersion: [...versions][0] as 'v4',
    provider: 'routecore',
    modelId: options.modelId ?? 'routecore',
    router,
    get supportedUrls() {
      // Only URLs every model fetches by itself are safe to pass through unfetched.
      return {};
    },
    async doGenerate(call: LanguageModelV4CallOptions): Promise<LanguageModelV4GenerateResult> {
      const run = await start(call, false);
      const { model: id, value: r } = await run.first(async ({ model: target, signal, timeoutMs }): Promise<AttemptOutcome<LanguageModelV4GenerateResult>> => {
        const deadline = new IdleDeadline(timeoutMs);
        try {
          return { ok: true, value: await models[target]!.doGenerate({ ...call, abortSignal: AbortSignal.any([signal, deadline.signal]) }) };
        } catch (err) {
          return { ok: false, failure: sdkFailure(err, signal, deadline, timeoutMs) };
        } finally {
          deadline.clear();
        }
      });
      run.answered(id, usageOf(r.usage));
      return {
        ...r,
        response: { ...r.response, modelId: id, id: r.response?.id ?? run.id },
        providerMetadata: { ...r.providerMetadata, ...meta(id, run.decision.model, run.attempts) },
      };
    },
    async doStream(call: LanguageModelV4CallOptions): Promise<LanguageModelV4StreamResult> {
      const run = await start(call, true);
      const { model: id, value: opened } = await run.first(async ({ model: target, signal, timeoutMs }): Promise<AttemptOutcome<OpenedSdkStream>> => {
        // The deadline covers the first part, then each read of a part the caller asks for (a slow
        // reader is not a stuck upstream), like undici's body timeout.
        const deadline = new IdleDeadline(timeoutMs);
        let reader: ReadableStreamDefaultReader<LanguageModelV4StreamPart> | undefined;
        try {
          const result = await models[target]!.doStream({ ...call, abortSignal: AbortSignal.any([signal, deadline.signal]) });
          reader = result.stream.getReader();
          const head: LanguageModelV4StreamPart[] = [];
          for (;;) {
            const r = await reader.read();
            deadline.touch();
            if (r.done) {
              deadline.clear();
              return { ok: false, failure: { kind: 'malformed', message: 'the stream ended before its first token' } };
            }
            if (r.value.type === 'error') throw r.value.error;
            head.push(r.value);
            if (FIRST_TOKEN.has(r.value.type)) {
              deadline.clear();
              return { ok: true, value: { result, reader, head, deadline } };
            }
          }
        } catch (err) {
          deadline.clear();
          await reader?.cancel().catch(() => undefined);
          return { ok: false, failure: sdkFailure(err, signal, deadline, timeoutMs) };
        }
      });
      const { result, reader, head, deadline } = opened;
      const routed = run.decision.model;
      let sawMetadata = false;
      const rewrite = (p: LanguageModelV4StreamPart): LanguageModelV4StreamPart => {
        if (p.type === 'response-metadata') {
          sawMetadata = true;
          return { ...p, modelId: id };
        }
        if (p.type === 'finish') {
          run.answered(id, usageOf(p.usage));
          return { ...p, providerMetadata: { ...p.providerMetadata, ...meta(id, routed, run.attempts) } };
        }
        return p;
      };
      const end = async (controller: ReadableStreamDefaultController<LanguageModelV4StreamPart>, error?: RoutecoreError) => {
        deadline.clear();
        if (error) controller.enqueue({ type: 'error', error });
        controller.close();
        await reader.cancel().catch(() => undefined);
      };
      const stream = new ReadableStream<LanguageModelV4StreamPart>({
        start(controller) {
          for (const p of head) {
            if (!sawMetadata && p.type !== 'stream-start' && p.type !== 'response-metadata') {
              controller.enqueue({ type: 'response-metadata', modelId: id, id: run.id });
              sawMetadata = true;
            }
            controller.enqueue(rewrite(p));
          }
        },
        async pull(controller) {
          let r: Awaited<ReturnType<typeof reader.read>>;
          try {
            deadline.touch();
            r = await reader.read();
            deadline.clear();
          } catch (err) {
            const why = deadline.fired ? `no stream part within ${runner.timeoutMs} ms` : describeError(err);
            if (run.ended) return end(controller);
            return end(controller, run.interrupted(id, why, null, err));
          }
          if (r.done) {
            if (!run.ended) return end(controller, run.interrupted(id, 'the upstream closed the stream without finishing', null));
            return end(controller);
          }
          const p = r.value;
          if (p.type === 'error') {
            // After the finish part an error is passed on as it is; before it, the stream was interrupted.
            if (run.ended) {
              controller.enqueue(p);
              return end(controller);
            }
            const why = deadline.fired ? `no stream part within ${runner.timeoutMs} ms` : p.error instanceof Error ? p.error.message : String(p.error);
            return end(controller, run.interrupted(id, why, null, p.error));
          }
          controller.enqueue(rewrite(p));
        },
        async cancel(reason) {
          deadline.clear();
          if (!run.ended) run.aborted(id);
          await reader.cancel(reason);
        },
      });
      return { ...result, stream };
    },
  };
  return model as unknown as RoutedLanguageModel<M>;
}

/** An AI SDK error as the runner's failure vocabulary. */
function sdkFailure(err: unknown, signal: AbortSignal, deadline: IdleDeadline, timeoutMs: number): Failure {
  if (signal.aborted) return { kind: 'aborted', message: 'the caller cancelled the request' };
  if (deadline.fired) return { kind: 'timeout', message: `no response within ${timeoutMs} ms` };
  const e = err as { statusCode?: unknown; responseHeaders?: Record<string, string>; name?: unknown; message?: unknown; cause?: unknown };
  const message = err instanceof Error ? err.message : String(err);
  // A stream that breaks carries the 200 it started with: only an error status is an upstream's answer.
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400) {
    const wait = retryAfterMs(e.responseHeaders?.['retry-after']);
    const text = `status ${e.statusCode}${message ? `: ${message.slice(0, 300)}` : ''}`;
    return { kind: 'status', status: e.statusCode, message: wait !== undefined ? `${text} (Retry-After ${Math.round(wait)} ms)` : text, ...(wait !== undefined ? { retryAfterMs: wait } : {}) };
  }
  // The SDK's own parse and validation errors: the upstream answered 2xx with something that is not an answer.
  if (e?.name === 'AI_JSONParseError' || e?.name === 'AI_TypeValidationError' || e?.name === 'AI_InvalidResponseDataError' || e?.name === 'AI_EmptyResponseBodyError') {
    return { kind: 'malformed', message };
  }
  return { kind: 'reset', message: e?.cause !== undefined ? `${message} (${describeError(e.cause)})` : message };
}

/** The SDK's usage as the outcome's, or null when the provider reported none. */
function usageOf(usage: LanguageModelV4Usage | undefined): Usage | null {
  if (!usage) return null;
  return { prompt_tokens: usage.inputTokens.total ?? 0, completion_tokens: usage.outputTokens.total ?? 0 };
}

/** The AI SDK's prompt as chat-completions messages, text parts only (what routing reads). */
function toMessages(prompt: LanguageModelV4Prompt): ChatMessage[] {
  if (!Array.isArray(prompt)) throw invalidArgument('prompt', 'an AI SDK prompt (array of messages)', prompt);
  return prompt.map((m) => {
    if (m.role === 'system') return { role: 'system', content: m.content };
    const parts = m.content as readonly { type: string; text?: string }[];
    const text = parts.filter((p) => p.type === 'text' && typeof p.text === 'string').map((p) => p.text!).join('\n');
    return { role: m.role, content: text };
  });
}
