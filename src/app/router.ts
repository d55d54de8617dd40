/**
 * The public Router: the routing core (src/routing/router.ts) plus what the faces built on one
 * router share — chat-completions routing, and the telemetry hub (metrics, outcome and feedback
 * listeners) that the executor, the adapters and the gateway report into. Keeping this layer apart
 * is what lets src/routing/ import nothing from the faces (chat/, execution/, serve/, adapters/).
 * @module
 */
import type { NativeRouterHandle } from '../addon/native.js';
import { routeChat, routeChatSync, type ChatDecision, type ChatRouteOptions } from '../chat/route-chat.js';
import type { MetricsSnapshot } from '../execution/metrics.js';
import { RouterCore, loadRouter, type RouterOptions } from '../routing/router.js';
import { Hub, type Feedback, type Outcome } from './hub.js';
import { CoverageSampler } from '../encoders/coverage.js';
import { loadOnnxPredictorRouter, onnxPredictorDir } from '../encoders/onnx-predictor.js';
import { RoutecoreError } from '../errors.js';

/**
 * Routes prompts and chat requests to models. Create one with {@link Router.load} (or `train()`),
 * share it across requests and faces, and {@link RouterCore.dispose} it when done.
 *
 * ```ts
 * const router = await Router.load('default', { aliases: { strong: 'gpt-4o', weak: 'gpt-4o-mini' } });
 * const d = await router.route('Prove that there are infinitely many primes.');
 * console.log(d.model, d.fallbacks, d.scores);
 * ```
 */
export class Router extends RouterCore {
  #hub: Hub | undefined;
  readonly #sampler = new CoverageSampler();

  /** @internal Use {@link Router.load} or `train()`. `embedded`: this is the shipped default router. */
  constructor(native: NativeRouterHandle, options: RouterOptions = {}, embedded = false) {
    super(native, options, embedded);
  }

  /**
   * Loads a router. `source`: `'default'` (the embedded strong/weak router), a path to a `.router`
   * file, or its bytes; or an onnx predictor, a directory (or `onnx:DIR`) holding a classifier with
   * one output per model (`model.onnx`, `tokenizer.json`, `routecore-predictor.json`; docs/ENCODERS.md).
   */
  static async load(source: string | Uint8Array = 'default', options: RouterOptions = {}): Promise<Router> {
    const onnx = onnxPredictorDir(source);
    if (onnx !== undefined) return loadOnnxPredictorRouter(Router, onnx, options);
    return loadRouter(Router, source, options);
  }

  /** Synchronous {@link Router.load}, for start-up code (not for an onnx predictor, which loads asynchronously). */
  static loadSync(source: string | Uint8Array = 'default', options: RouterOptions = {}): Router {
    const onnx = onnxPredictorDir(source);
    if (onnx !== undefined) {
      throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', `${onnx} is an onnx predictor directory: onnxruntime loads it asynchronously, so use await Router.load(), not Router.loadSync()`);
    }
    return loadRouter(Router, source, options);
  }

  /** @internal The metrics and outcome/feedback fan-out every face built on this router reports into. */
  get hub(): Hub {
    this.#hub ??= new Hub();
    return this.#hub;
  }

  /**
   * Routes an OpenAI chat-completions request (`{ messages: [...] }`), micro-batched like
   * {@link RouterCore.route}. Which text is encoded, the token estimate and the head-and-tail cut are
   * described in src/chat/messages.ts; an empty or whitespace-only last user turn is refused with
   * ERR_ROUTECORE_INVALID_ARGUMENT naming the field, e.g. `messages[2].content`.
   */
  routeChat(request: unknown, options?: ChatRouteOptions): Promise<ChatDecision> {
    return routeChat(this, request, options).then(this.#noted);
  }

  /**
   * @internal {@link Router.routeChat} without the micro-batch's wait where the router can score the
   * request's text on the calling thread as cheaply ({@link RouterCore.scoresInline}); batched
   * otherwise. The executor's path: a request that waits for its batch waits for every other request
   * the event loop reads in the same turn (at 32 connections that wait was nearly all of the gateway's
   * measured overhead), and a batch of short prompts costs about the same CPU per prompt either way.
   */
  routeChatInline(request: unknown, options?: ChatRouteOptions): Promise<ChatDecision> {
    return routeChat(this, request, options, true).then(this.#noted);
  }

  /** {@link Router.routeChat} on the calling thread. */
  routeChatSync(request: unknown, options?: ChatRouteOptions): ChatDecision {
    return this.#noted(routeChatSync(this, request, options));
  }

  /** A chat decision, its text noted by the coverage sampler (one arrow per router, not one closure per request). */
  readonly #noted = (d: ChatDecision): ChatDecision => {
    this.#sampler.note(d.text);
    return d;
  };

  /**
   * Coverage of recent chat traffic: the mean {@link RouterCore.coverage} of a sample of the texts
   * routeChat routed (every 16th, the newest 256); null before any, or for a router without a
   * training sketch. The gateway's `routecore_router_coverage` gauge.
   */
  recentCoverage(): number | null {
    return this.#sampler.mean(this);
  }

  /** Reports the application's score in [0,1] for an executed request's answer (by its id); outcome logs record it. */
  feedback(id: string, score: number): Feedback {
    return this.hub.feedback(id, score);
  }

  /** Subscribes to every executed request's outcome record; returns the unsubscribe function. */
  onOutcome(listener: (outcome: Outcome) => void): () => void {
    return this.hub.onOutcome(listener);
  }

  /** Per-model decisions, calls, fallbacks, errors, latency, tokens and USD of every executor on this router. */
  metrics(): MetricsSnapshot {
    return this.hub.metrics.snapshot();
  }

  /** {@link Router.metrics} in the Prometheus text format (names `routecore_*`), rendered by prom-client. */
  prometheus(): Promise<string> {
    return this.hub.metrics.prometheus();
  }
}
