/**
 * What every face built on one router shares: the metrics, the outcome and feedback listeners.
 * The app layer's Router (./router.ts) owns one hub (created on first use); executors, adapters
 * and the gateway report into it, so
 * `router.metrics()` and `router.feedback()` see every face's traffic.
 * @module
 */
import { invalidArgument } from '../errors.js';
import { Metrics } from '../execution/metrics.js';

/** One upstream call and how it ended. */
export interface Attempt {
  /** The registry id called. */
  model: string;
  /** HTTP status, or `timeout`, `reset` (connection reset/refused), `malformed` (unreadable answer), `config` (no baseUrl or key), `aborted`, `interrupted`. */
  status: number | 'timeout' | 'reset' | 'malformed' | 'config' | 'aborted' | 'interrupted' | 'error';
  /** Milliseconds from sending the request to the outcome. */
  ms: number;
  /** Why it failed (upstream keys are redacted); absent on success. */
  error?: string;
}

/** Token counts, from the upstream's `usage` or (`estimated`) from the text. */
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  /** Of `prompt_tokens`, those read from the provider's prompt cache (priced at `cacheReadCostPer1M`). */
  cache_read_tokens?: number;
  /** Of `prompt_tokens`, those written to the cache (Anthropic's cache creation; `cacheWriteCostPer1M`). */
  cache_write_tokens?: number;
  estimated?: boolean;
}

/** How a request ended. */
export type OutcomeStatus = 'ok' | 'error' | 'rejected' | 'aborted' | 'interrupted';

/**
 * One request's record, the outcome-log format of DESIGN.md: one JSON object per line of the log,
 * readable by `routecore train` once a score is attached by {@link Hub.feedback}.
 */
export interface Outcome {
  id: string;
  /** ISO-8601 time the request started. */
  ts: string;
  /** The text the router encoded (see src/chat/messages.ts). */
  prompt: string;
  /** The router's first choice. */
  routed: string;
  /** The model that answered; null when none did. */
  model: string | null;
  attempts: Attempt[];
  usage: Usage | null;
  costUsd: number | null;
  latencyMs: number;
  status: OutcomeStatus;
  policy: string;
  stream: boolean;
  /** Why the request failed, when it did. */
  error?: string;
  /** The conversation key, when one was given. */
  session?: string;
  /** The application's score in [0,1], when known at write time. */
  score?: number;
}

/** A score the application reported for a request's answer. */
export interface Feedback {
  id: string;
  ts: string;
  score: number;
}

/** Metrics plus outcome and feedback fan-out for one router. */
export class Hub {
  readonly metrics = new Metrics();
  readonly #outcomeListeners = new Set<(o: Outcome) => void>();
  readonly #feedbackListeners = new Set<(f: Feedback) => void>();

  onOutcome(listener: (o: Outcome) => void): () => void {
    if (typeof listener !== 'function') throw invalidArgument('listener', 'a function', listener);
    this.#outcomeListeners.add(listener);
    return () => void this.#outcomeListeners.delete(listener);
  }

  onFeedback(listener: (f: Feedback) => void): () => void {
    if (typeof listener !== 'function') throw invalidArgument('listener', 'a function', listener);
    this.#feedbackListeners.add(listener);
    return () => void this.#feedbackListeners.delete(listener);
  }

  emitOutcome(o: Outcome): void {
    this.metrics.request(o.status);
    for (const l of this.#outcomeListeners) {
      try {
        l(o);
      } catch {
        // A logging hook must not turn an answered request into a failure.
      }
    }
  }

  /** Validates and broadcasts a score for request `id`. */
  feedback(id: unknown, score: unknown): Feedback {
    if (typeof id !== 'string' || id === '') throw invalidArgument('id', 'the non-empty id of a routed request', id);
    if (typeof score !== 'number' || !(score >= 0 && score <= 1)) throw invalidArgument('score', 'a number in [0, 1]', score);
    const f: Feedback = { id, ts: new Date().toISOString(), score };
    for (const l of this.#feedbackListeners) {
      try {
        l(f);
      } catch {
        // as above
      }
    }
    return f;
  }
}
