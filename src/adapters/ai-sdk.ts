/**
 * routecore/ai-sdk: `routedModel({ router, models })`, a language model for the Vercel AI SDK
 * (`generateText`, `streamText`, ...) that routes each call among the provider models you give it.
 *
 * The provider models make their own HTTP calls, so this adapter carries out the decision with the
 * same rules as the executor at the level the SDK exposes: the decision's models in order, the next
 * one on a thrown `APICallError` with status 5xx/429/408/401/403/404 or none (network, timeout), or on
 * a stream that fails before its first token; a failing model cools down (`Retry-After` when the
 * provider sent one, else `cooldownMs`) through the router (and the SharedState when given). A
 * 4xx that blames the request is rethrown as is. Retries of the same model are left to the SDK's
 * own `maxRetries`, which re-runs the routed call.
 *
 * The chosen id is the response's `modelId` (`result.response.modelId`) and
 * `providerMetadata.routecore` holds `{ model, routed, attempts }`.
 *
 * Implements the AI SDK's `LanguageModelV4` (ai 7.x); `LanguageModelV3` models (ai 6.x) work too,
 * the routed model then reporting `specificationVersion: 'v3'`.
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { LanguageModelV4, LanguageModelV4CallOptions, LanguageModelV4GenerateResult, LanguageModelV4Prompt, LanguageModelV4StreamPart, LanguageModelV4StreamResult, LanguageModelV4Usage } from '@ai-sdk/provider';

import { RoutecoreError, invalidArgument } from '../errors.js';
import type { Attempt, Outcome, OutcomeStatus, Usage } from '../chat/hub.js';
import type { ChatMessage } from '../chat/messages.js';
import type { ChatDecision } from '../chat/route-chat.js';
import { UpstreamError, retryAfterMs } from '../execution/executor.js';
import type { RouteOptions, Router } from '../routing/router.js';
import type { SharedState } from '../state/shared-state.js';

/** Options of {@link routedModel}. */
export interface RoutedModelOptions {
  /** The router; `models` keys are its model ids (after aliases). */
  router: Router;
  /** The provider models to route among, by router id, e.g. `{ 'gpt-4o': openai('gpt-4o'), ... }`. */
  models: Record<string, LanguageModelV4>;
  /** Routing policy and knobs for every call. */
  route?: RouteOptions;
  /** Where cool-downs go (other replicas hear of them); default the router only. */
  state?: SharedState;
  /** How long a failing model is taken out of decisions; default 30,000 ms. */
  cooldownMs?: number;
  /** Reported as the routed model's `modelId`; default `routecore`. */
  modelId?: string;
}

/** The routed language model. */
export type RoutedLanguageModel = LanguageModelV4 & { readonly router: Router };

/** Parts that mean the model has started answering: from here a failure cannot be retried elsewhere. */
const FIRST_TOKEN = new Set(['text-delta', 'reasoning-delta', 'tool-input-start', 'tool-input-delta', 'tool-call', 'file', 'source', 'finish']);

/** A language model that routes each call among `models`. */
export function routedModel(options: RoutedModelOptions): RoutedLanguageModel {
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object with router and models', options);
  const { router, models } = options;
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
  const cooldownMs = options.cooldownMs ?? 30_000;
  if (typeof cooldownMs !== 'number' || !(cooldownMs >= 0) || !Number.isFinite(cooldownMs)) throw invalidArgument('options.cooldownMs', 'a finite number of ms >= 0', cooldownMs);
  const route = options.route ?? {};
  const state = options.state;
  const hub = router.hub;

  async function decide(prompt: LanguageModelV4Prompt): Promise<{ decision: ChatDecision; order: string[] }> {
    const decision = await router.routeChat({ messages: toMessages(prompt) }, route);
    const order = [decision.model, ...decision.fallbacks].filter((id) => Object.hasOwn(models, id));
    if (order.length === 0) {
      throw new RoutecoreError('ERR_ROUTECORE_NO_ELIGIBLE_MODEL', `none of the decision's models (${[decision.model, ...decision.fallbacks].join(', ')}) is among options.models (${Object.keys(models).join(', ')})`);
    }
    hub.metrics.decision(order[0]!);
    return { decision, order };
  }

  /** Records a failure; returns the error to rethrow when it must not fall back. */
  async function failed(id: string, err: unknown, t0: number, attempts: Attempt[], signal: AbortSignal | undefined): Promise<unknown | undefined> {
    const status = (err as { statusCode?: unknown }).statusCode;
    const code = typeof status === 'number' ? status : signal?.aborted ? 'aborted' : 'error';
    const message = err instanceof Error ? err.message : String(err);
    attempts.push({ model: id, status: code, ms: Math.round(performance.now() - t0), error: message.slice(0, 300) });
    hub.metrics.error(id, typeof code === 'number' ? `status ${code}` : code);
    if (signal?.aborted) return err;
    if (typeof status === 'number' && status >= 400 && status < 500 && ![401, 403, 404, 408, 409, 429].includes(status)) return err;
    const headers = (err as { responseHeaders?: Record<string, string> }).responseHeaders;
    const wait = retryAfterMs(headers?.['retry-after']);
    const ms = wait !== undefined && wait > 0 ? wait : cooldownMs;
    if (ms > 0) {
      if (state) await state.setCooldown(id, ms, typeof code === 'number' ? `status ${code}` : code).catch(() => undefined);
      else router.markUnavailable(id, ms);
    }
    return undefined;
  }

  function finish(id: string, routed: string, decision: ChatDecision, attempts: Attempt[], usage: LanguageModelV4Usage | undefined, started: number, status: OutcomeStatus, requestId: string, stream: boolean, error?: string): void {
    const u: Usage | null = usage ? { prompt_tokens: usage.inputTokens.total ?? 0, completion_tokens: usage.outputTokens.total ?? 0 } : null;
    const entry = router.registry?.get(id);
    const cost = u && entry?.inputCostPer1M !== undefined && entry.outputCostPer1M !== undefined ? (u.prompt_tokens * entry.inputCostPer1M + u.completion_tokens * entry.outputCostPer1M) / 1e6 : null;
    const latencyMs = performance.now() - started;
    if (status === 'ok') hub.metrics.answer(id, id !== routed, latencyMs, u?.prompt_tokens ?? 0, u?.completion_tokens ?? 0, cost);
    const o: Outcome = {
      id: requestId,
      ts: new Date(Date.now() - latencyMs).toISOString(),
      prompt: decision.text,
      routed,
      model: status === 'ok' || status === 'interrupted' ? id : null,
      attempts: attempts.slice(),
      usage: u,
      costUsd: cost,
      latencyMs: Math.round(latencyMs * 1000) / 1000,
      status,
      policy: decision.policy,
      stream,
    };
    if (error !== undefined) o.error = error;
    hub.emitOutcome(o);
  }

  function exhausted(attempts: Attempt[], requestId: string): UpstreamError {
    const list = attempts.map((a) => `${a.model}: ${a.error ?? a.status} (${a.ms} ms)`).join('; ');
    return new UpstreamError('ERR_ROUTECORE_UPSTREAM', `every model failed (${attempts.length}): ${list}`, attempts, 502, requestId);
  }

  function meta(id: string, routed: string, attempts: Attempt[]) {
    return { routecore: { model: id, routed, attempts: attempts.map((a) => ({ ...a })) } } as unknown as NonNullable<LanguageModelV4GenerateResult['providerMetadata']>;
  }

  const model: RoutedLanguageModel = {
    specificationVersion: [...versions][0] as 'v4',
    provider: 'routecore',
    modelId: options.modelId ?? 'routecore',
    router,
    get supportedUrls() {
      // Only URLs every model fetches by itself are safe to pass through unfetched.
      return {};
    },
    async doGenerate(call: LanguageModelV4CallOptions): Promise<LanguageModelV4GenerateResult> {
      const started = performance.now();
      const requestId = `rc-${randomUUID()}`;
      const { decision, order } = await decide(call.prompt);
      const attempts: Attempt[] = [];
      for (const id of order) {
        const t0 = performance.now();
        hub.metrics.call(id);
        let r: LanguageModelV4GenerateResult;
        try {
          r = await models[id]!.doGenerate(call);
        } catch (err) {
          const fatal = await failed(id, err, t0, attempts, call.abortSignal);
          if (fatal !== undefined) {
            finish(id, decision.model, decision, attempts, undefined, started, call.abortSignal?.aborted ? 'aborted' : 'rejected', requestId, false, (fatal as Error).message);
            throw fatal;
          }
          continue;
        }
        attempts.push({ model: id, status: 200, ms: Math.round(performance.now() - t0) });
        finish(id, decision.model, decision, attempts, r.usage, started, 'ok', requestId, false);
        return {
          ...r,
          response: { ...r.response, modelId: id, id: r.response?.id ?? requestId },
          providerMetadata: { ...r.providerMetadata, ...meta(id, decision.model, attempts) },
        };
      }
      const e = exhausted(attempts, requestId);
      finish(order[0]!, decision.model, decision, attempts, undefined, started, 'error', requestId, false, e.message);
      throw e;
    },
    async doStream(call: LanguageModelV4CallOptions): Promise<LanguageModelV4StreamResult> {
      const started = performance.now();
      const requestId = `rc-${randomUUID()}`;
      const { decision, order } = await decide(call.prompt);
      const attempts: Attempt[] = [];
      for (const id of order) {
        const t0 = performance.now();
        hub.metrics.call(id);
        let result: LanguageModelV4StreamResult;
        const head: LanguageModelV4StreamPart[] = [];
        let reader: ReadableStreamDefaultReader<LanguageModelV4StreamPart>;
        try {
          result = await models[id]!.doStream(call);
          reader = result.stream.getReader();
          for (;;) {
            const r = await reader.read();
            if (r.done) throw new Error('the stream ended before its first token');
            if (r.value.type === 'error') {
              await reader.cancel().catch(() => undefined);
              throw r.value.error;
            }
            head.push(r.value);
            if (FIRST_TOKEN.has(r.value.type)) break;
          }
        } catch (err) {
          const fatal = await failed(id, err, t0, attempts, call.abortSignal);
          if (fatal !== undefined) {
            finish(id, decision.model, decision, attempts, undefined, started, call.abortSignal?.aborted ? 'aborted' : 'rejected', requestId, true, (fatal as Error)?.message);
            throw fatal;
          }
          continue;
        }
        attempts.push({ model: id, status: 200, ms: Math.round(performance.now() - t0) });
        const routed = decision.model;
        let sawMetadata = false;
        const rewrite = (p: LanguageModelV4StreamPart): LanguageModelV4StreamPart => {
          if (p.type === 'response-metadata') {
            sawMetadata = true;
            return { ...p, modelId: id };
          }
          if (p.type === 'finish') return { ...p, providerMetadata: { ...p.providerMetadata, ...meta(id, routed, attempts) } };
          return p;
        };
        let done = false;
        const stream = new ReadableStream<LanguageModelV4StreamPart>({
          start(controller) {
            for (const p of head) {
              if (!sawMetadata && p.type !== 'stream-start' && p.type !== 'response-metadata') {
                controller.enqueue({ type: 'response-metadata', modelId: id, id: requestId });
                sawMetadata = true;
              }
              controller.enqueue(rewrite(p));
              if (p.type === 'finish') {
                done = true;
                finish(id, routed, decision, attempts, p.usage, started, 'ok', requestId, true);
              }
            }
          },
          async pull(controller) {
            let r: { done: true; value?: LanguageModelV4StreamPart } | { done: false; value: LanguageModelV4StreamPart };
            try {
              r = await reader.read();
            } catch (err) {
              r = { done: false, value: { type: 'error', error: err } };
            }
            if (r.done) {
              if (!done) {
                done = true;
                const e = new RoutecoreError('ERR_ROUTECORE_STREAM_INTERRUPTED', `${id}'s stream ended without finishing after tokens were sent; not retried, since a retry would repeat output`);
                finish(id, routed, decision, attempts, undefined, started, 'interrupted', requestId, true, e.message);
                controller.enqueue({ type: 'error', error: e });
              }
              controller.close();
              return;
            }
            const p = r.value;
            if (p.type === 'error' && !done) {
              done = true;
              const cause = p.error instanceof Error ? p.error.message : String(p.error);
              const e = new RoutecoreError('ERR_ROUTECORE_STREAM_INTERRUPTED', `${id}'s stream broke after tokens were sent (${cause}); not retried, since a retry would repeat output`, { cause: p.error });
              finish(id, routed, decision, attempts, undefined, started, 'interrupted', requestId, true, e.message);
              controller.enqueue({ type: 'error', error: e });
              controller.close();
              await reader.cancel().catch(() => undefined);
              return;
            }
            if (p.type === 'error') {
              // An error after the finish part: pass it on once and end.
              controller.enqueue(p);
              controller.close();
              await reader.cancel().catch(() => undefined);
              return;
            }
            if (p.type === 'finish' && !done) {
              done = true;
              finish(id, routed, decision, attempts, p.usage, started, 'ok', requestId, true);
            }
            controller.enqueue(rewrite(p));
          },
          async cancel(reason) {
            if (!done) {
              done = true;
              finish(id, routed, decision, attempts, undefined, started, 'aborted', requestId, true, 'the caller stopped reading the stream');
            }
            await reader.cancel(reason);
          },
        });
        return { ...result, stream };
      }
      const e = exhausted(attempts, requestId);
      finish(order[0]!, decision.model, decision, attempts, undefined, started, 'error', requestId, true, e.message);
      throw e;
    },
  };
  return model;
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
