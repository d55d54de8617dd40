/**
 * Per-model counters of routing and execution: `router.metrics()` (a plain snapshot) and their
 * Prometheus families through prom-client. The snapshot is the one source of truth for the counters
 * (prom-client reads them at scrape time through `collect`, so the request path pays nothing for the
 * exposition); the latency histogram (./histogram.ts, read by prom-client like its own) is observed
 * once per answer, and the snapshot repeats its buckets so `router.metrics()` stays synchronous.
 * @module
 */
import { Counter, Registry, type CounterConfiguration, type Metric } from 'prom-client';

import { LabelledHistogram } from './histogram.js';

/** Upper bounds (seconds) of the upstream latency histogram's buckets. */
export const LATENCY_BUCKETS_S: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** What is counted for one model. */
export interface ModelMetrics {
  /** Times the router chose it first. */
  decisions: number;
  /** Upstream calls made to it (every attempt, retries included). */
  calls: number;
  /** Requests it answered although it was not the first choice. */
  fallbacks: number;
  /** Failed upstream calls, by reason (`status 503`, `timeout`, `reset`, ...). */
  errors: Record<string, number>;
  /** Requests it answered. */
  answers: number;
  /** Sum and count of the latency (ms) of its answered calls, and the histogram counts per bucket of {@link LATENCY_BUCKETS_S} (not cumulative). */
  latencyMsSum: number;
  latencyCount: number;
  latencyBuckets: number[];
  promptTokens: number;
  completionTokens: number;
  /** USD spent on it: upstream usage × registry prices (0 when it has no prices). */
  costUsd: number;
}

/** A snapshot of every counter. */
export interface MetricsSnapshot {
  models: Record<string, ModelMetrics>;
  /** Requests by how they ended: `ok`, `error` (every attempt failed), `rejected`, `aborted`, `interrupted`. */
  requests: Record<string, number>;
}

function empty(): ModelMetrics {
  return {
    decisions: 0,
    calls: 0,
    fallbacks: 0,
    errors: {},
    answers: 0,
    latencyMsSum: 0,
    latencyCount: 0,
    latencyBuckets: new Array<number>(LATENCY_BUCKETS_S.length).fill(0),
    promptTokens: 0,
    completionTokens: 0,
    costUsd: 0,
  };
}

/** The counters; one per router, shared by every executor and adapter built on it. */
export class Metrics {
  readonly #models = new Map<string, ModelMetrics>();
  readonly #requests: Record<string, number> = {};
  readonly #latency: LabelledHistogram;
  /** The Prometheus families, ready to be registered in a registry (the gateway's, or {@link registry}). */
  readonly families: readonly Metric[];
  /** Their names (the gateway swaps them on reload). */
  readonly names: readonly string[];
  #registry: Registry | undefined;

  constructor() {
    const models = this.#models;
    const requests = this.#requests;
    const names: string[] = [];
    /** A counter registered nowhere yet, whose name is remembered for {@link names}. */
    const counter = <L extends string>(config: CounterConfiguration<L>) => {
      names.push(config.name);
      return new Counter<L>({ ...config, registers: [] });
    };
    /** A counter per model whose value is read from the snapshot at scrape time. */
    const perModel = (name: string, help: string, value: (m: ModelMetrics) => number) =>
      counter({
        name,
        help,
        labelNames: ['model'] as const,
        collect() {
          this.reset();
          for (const [model, m] of models) this.inc({ model }, value(m));
        },
      });
    names.push('routecore_upstream_latency_seconds');
    this.#latency = new LabelledHistogram({ name: 'routecore_upstream_latency_seconds', help: 'Latency of answered upstream calls.', labelName: 'model', buckets: LATENCY_BUCKETS_S });
    this.families = [
      perModel('routecore_decisions_total', 'Requests the router sent to this model first.', (m) => m.decisions),
      perModel('routecore_upstream_calls_total', 'Upstream calls, retries included.', (m) => m.calls),
      counter({
        name: 'routecore_upstream_errors_total',
        help: 'Failed upstream calls by reason.',
        labelNames: ['model', 'reason'] as const,
        collect() {
          this.reset();
          for (const [model, m] of models) for (const [reason, n] of Object.entries(m.errors)) this.inc({ model, reason }, n);
        },
      }),
      perModel('routecore_answers_total', 'Requests this model answered.', (m) => m.answers),
      perModel('routecore_fallbacks_total', 'Requests this model answered as a fallback.', (m) => m.fallbacks),
      this.#latency.asMetric(),
      counter({
        name: 'routecore_tokens_total',
        help: 'Tokens billed, by kind (prompt, completion).',
        labelNames: ['model', 'kind'] as const,
        collect() {
          this.reset();
          for (const [model, m] of models) {
            this.inc({ model, kind: 'prompt' }, m.promptTokens);
            this.inc({ model, kind: 'completion' }, m.completionTokens);
          }
        },
      }),
      perModel('routecore_cost_usd_total', 'USD spent: upstream usage times registry prices.', (m) => m.costUsd),
      counter({
        name: 'routecore_requests_total',
        help: 'Requests by outcome.',
        labelNames: ['outcome'] as const,
        collect() {
          this.reset();
          for (const [outcome, n] of Object.entries(requests)) this.inc({ outcome }, n);
        },
      }),
    ];
    this.names = names;
  }

  #model(id: string): ModelMetrics {
    let m = this.#models.get(id);
    if (!m) {
      m = empty();
      this.#models.set(id, m);
    }
    return m;
  }

  decision(model: string): void {
    this.#model(model).decisions++;
  }

  call(model: string): void {
    this.#model(model).calls++;
  }

  error(model: string, reason: string): void {
    const e = this.#model(model).errors;
    e[reason] = (e[reason] ?? 0) + 1;
  }

  /** One answered request. */
  answer(model: string, fallback: boolean, latencyMs: number, promptTokens: number, completionTokens: number, costUsd: number | null): void {
    const m = this.#model(model);
    m.answers++;
    if (fallback) m.fallbacks++;
    m.latencyMsSum += latencyMs;
    m.latencyCount++;
    const s = latencyMs / 1000;
    for (let i = 0; i < LATENCY_BUCKETS_S.length; i++) {
      if (s <= LATENCY_BUCKETS_S[i]!) {
        m.latencyBuckets[i]!++;
        break;
      }
    }
    this.#latency.observe(model, s);
    m.promptTokens += promptTokens;
    m.completionTokens += completionTokens;
    if (costUsd !== null) m.costUsd += costUsd;
  }

  /** Tokens and USD of an answer that began and did not finish (a stream cut or left by the client): spent all the same. */
  spent(model: string, promptTokens: number, completionTokens: number, costUsd: number | null): void {
    const m = this.#model(model);
    m.promptTokens += promptTokens;
    m.completionTokens += completionTokens;
    if (costUsd !== null) m.costUsd += costUsd;
  }

  request(outcome: string): void {
    this.#requests[outcome] = (this.#requests[outcome] ?? 0) + 1;
  }

  snapshot(): MetricsSnapshot {
    const models: Record<string, ModelMetrics> = {};
    for (const [k, m] of this.#models) models[k] = { ...m, errors: { ...m.errors }, latencyBuckets: m.latencyBuckets.slice() };
    return { models, requests: { ...this.#requests } };
  }

  /** A registry holding only these families (for `router.prometheus()`); the gateway registers {@link families} in its own. */
  get registry(): Registry {
    if (!this.#registry) {
      this.#registry = new Registry();
      for (const f of this.families) this.#registry.registerMetric(f);
    }
    return this.#registry;
  }

  /** The families in the Prometheus text exposition format; every name starts with `routecore_`. */
  prometheus(): Promise<string> {
    return this.registry.metrics();
  }
}
