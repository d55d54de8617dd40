/**
 * The gateway's own Prometheus metrics (HTTP answers, latency, in-flight requests, client refusals,
 * reloads, log and state health). The router's per-model metrics (decisions, upstream calls, errors,
 * tokens, USD) come from `router.prometheus()` and are appended to the same scrape.
 * @module
 */

/** Upper bounds (seconds) of the request-duration histogram: from routing-only answers to long generations. */
export const REQUEST_BUCKETS_S: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

interface Histogram {
  buckets: number[];
  sum: number;
  count: number;
}

function label(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Counters of one gateway process. */
export class GatewayMetrics {
  readonly #answers = new Map<string, number>();
  readonly #durations = new Map<string, Histogram>();
  readonly #refusals = new Map<string, number>();
  readonly #reloads = new Map<string, number>();
  inflight = 0;

  /** One finished HTTP exchange: `route` is the route pattern (never the raw URL, which clients control). */
  answered(route: string, status: number, seconds: number): void {
    const k = `${route}\u0000${status}`;
    this.#answers.set(k, (this.#answers.get(k) ?? 0) + 1);
    let h = this.#durations.get(route);
    if (!h) {
      h = { buckets: new Array<number>(REQUEST_BUCKETS_S.length).fill(0), sum: 0, count: 0 };
      this.#durations.set(route, h);
    }
    h.sum += seconds;
    h.count++;
    for (let i = 0; i < REQUEST_BUCKETS_S.length; i++) {
      if (seconds <= REQUEST_BUCKETS_S[i]!) {
        h.buckets[i]!++;
        break;
      }
    }
  }

  /** A request refused before any upstream call (`auth`, `rate_limit`, `budget`, `model_not_allowed`, ...). */
  refused(reason: string): void {
    this.#refusals.set(reason, (this.#refusals.get(reason) ?? 0) + 1);
  }

  reload(result: 'ok' | 'failed'): void {
    this.#reloads.set(result, (this.#reloads.get(result) ?? 0) + 1);
  }

  /** The gateway's families in the Prometheus text format; `extra` adds gauges read at scrape time. */
  prometheus(extra: { logWritten: number; logQueued: number; stateErrors: number; cooldowns: number; redisUp: number | null; draining: boolean }): string {
    const lines: string[] = [];
    const family = (name: string, type: string, help: string) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    family('routecore_http_requests_total', 'counter', 'HTTP answers by route and status.');
    for (const [k, n] of this.#answers) {
      const [route, status] = k.split('\u0000');
      lines.push(`routecore_http_requests_total{route="${label(route!)}",status="${status}"} ${n}`);
    }
    family('routecore_http_request_duration_seconds', 'histogram', 'Time from request to the end of the answer, by route.');
    for (const [route, h] of this.#durations) {
      const l = `route="${label(route)}"`;
      let cum = 0;
      for (let i = 0; i < REQUEST_BUCKETS_S.length; i++) {
        cum += h.buckets[i]!;
        lines.push(`routecore_http_request_duration_seconds_bucket{${l},le="${REQUEST_BUCKETS_S[i]}"} ${cum}`);
      }
      lines.push(`routecore_http_request_duration_seconds_bucket{${l},le="+Inf"} ${h.count}`);
      lines.push(`routecore_http_request_duration_seconds_sum{${l}} ${h.sum}`);
      lines.push(`routecore_http_request_duration_seconds_count{${l}} ${h.count}`);
    }
    family('routecore_http_inflight_requests', 'gauge', 'Requests being answered now.');
    lines.push(`routecore_http_inflight_requests ${this.inflight}`);
    family('routecore_client_refusals_total', 'counter', 'Requests refused before any upstream call, by reason.');
    for (const [r, n] of this.#refusals) lines.push(`routecore_client_refusals_total{reason="${label(r)}"} ${n}`);
    family('routecore_router_reloads_total', 'counter', 'Router reloads (SIGHUP or a changed router file), by result.');
    for (const [r, n] of this.#reloads) lines.push(`routecore_router_reloads_total{result="${r}"} ${n}`);
    family('routecore_log_rows_written_total', 'counter', 'Outcome-log rows written to the store.');
    lines.push(`routecore_log_rows_written_total ${extra.logWritten}`);
    family('routecore_log_rows_queued', 'gauge', 'Outcome-log rows waiting in memory.');
    lines.push(`routecore_log_rows_queued ${extra.logQueued}`);
    family('routecore_state_errors_total', 'counter', 'Shared-state calls that failed (Redis unreachable).');
    lines.push(`routecore_state_errors_total ${extra.stateErrors}`);
    family('routecore_cooldowns_active', 'gauge', 'Models taken out of decisions now.');
    lines.push(`routecore_cooldowns_active ${extra.cooldowns}`);
    if (extra.redisUp !== null) {
      family('routecore_redis_up', 'gauge', '1 when both Redis connections are ready.');
      lines.push(`routecore_redis_up ${extra.redisUp}`);
    }
    family('routecore_draining', 'gauge', '1 while the gateway is shutting down.');
    lines.push(`routecore_draining ${extra.draining ? 1 : 0}`);
    return lines.join('\n') + '\n';
  }
}
