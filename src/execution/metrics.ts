/**
 * Per-model counters of routing and execution, and their Prometheus text form. Counters only grow;
 * latency is a fixed-bucket histogram so that scrapes from several replicas can be summed.
 * @module
 */

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
  /** Sum and count of the latency (ms) of its answered calls, and the histogram counts per bucket (cumulative at export). */
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

  /** Prometheus text exposition format (version 0.0.4); every name starts with `routecore_`. */
  prometheus(): string {
    const lines: string[] = [];
    const label = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
    const family = (name: string, type: string, help: string) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    };
    const each = (f: (id: string, m: ModelMetrics, l: string) => void) => {
      for (const [id, m] of this.#models) f(id, m, `model="${label(id)}"`);
    };
    family('routecore_decisions_total', 'counter', 'Requests the router sent to this model first.');
    each((_, m, l) => lines.push(`routecore_decisions_total{${l}} ${m.decisions}`));
    family('routecore_upstream_calls_total', 'counter', 'Upstream calls, retries included.');
    each((_, m, l) => lines.push(`routecore_upstream_calls_total{${l}} ${m.calls}`));
    family('routecore_upstream_errors_total', 'counter', 'Failed upstream calls by reason.');
    each((_, m, l) => {
      for (const [reason, n] of Object.entries(m.errors)) lines.push(`routecore_upstream_errors_total{${l},reason="${label(reason)}"} ${n}`);
    });
    family('routecore_answers_total', 'counter', 'Requests this model answered.');
    each((_, m, l) => lines.push(`routecore_answers_total{${l}} ${m.answers}`));
    family('routecore_fallbacks_total', 'counter', 'Requests this model answered as a fallback.');
    each((_, m, l) => lines.push(`routecore_fallbacks_total{${l}} ${m.fallbacks}`));
    family('routecore_upstream_latency_seconds', 'histogram', 'Latency of answered upstream calls.');
    each((_, m, l) => {
      let cum = 0;
      for (let i = 0; i < LATENCY_BUCKETS_S.length; i++) {
        cum += m.latencyBuckets[i]!;
        lines.push(`routecore_upstream_latency_seconds_bucket{${l},le="${LATENCY_BUCKETS_S[i]}"} ${cum}`);
      }
      lines.push(`routecore_upstream_latency_seconds_bucket{${l},le="+Inf"} ${m.latencyCount}`);
      lines.push(`routecore_upstream_latency_seconds_sum{${l}} ${m.latencyMsSum / 1000}`);
      lines.push(`routecore_upstream_latency_seconds_count{${l}} ${m.latencyCount}`);
    });
    family('routecore_tokens_total', 'counter', 'Tokens billed, by kind (prompt, completion).');
    each((_, m, l) => {
      lines.push(`routecore_tokens_total{${l},kind="prompt"} ${m.promptTokens}`);
      lines.push(`routecore_tokens_total{${l},kind="completion"} ${m.completionTokens}`);
    });
    family('routecore_cost_usd_total', 'counter', 'USD spent: upstream usage times registry prices.');
    each((_, m, l) => lines.push(`routecore_cost_usd_total{${l}} ${m.costUsd}`));
    family('routecore_requests_total', 'counter', 'Requests by outcome.');
    for (const [k, n] of Object.entries(this.#requests)) lines.push(`routecore_requests_total{outcome="${label(k)}"} ${n}`);
    return lines.join('\n') + '\n';
  }
}
