/**
 * The gateway's one prom-client registry: its own families (HTTP answers, latency, in-flight
 * requests, client refusals, reloads, log and state health, the fleet's decisions), the process's
 * default metrics (`routecore_process_*`, `routecore_nodejs_*`), and the current router's per-model
 * families (decisions, upstream calls, errors, tokens, USD: src/execution/metrics.ts), swapped when a
 * reload replaces the router. Gauges are read at scrape time.
 * @module
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

import { LabelledHistogram } from '../execution/histogram.js';

import type { Metrics } from '../execution/metrics.js';

/** Upper bounds (seconds) of the request-duration histogram: from routing-only answers to long generations. */
export const REQUEST_BUCKETS_S: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** What the gateway's gauges read at scrape time. */
export interface GatewayGauges {
  /** Outcome-log rows written to the store, and waiting in memory. */
  log(): { written: number; queued: number };
  /** Shared-state calls that failed. */
  stateErrors(): number;
  /** Models cooling down now. */
  cooldowns(): Promise<number>;
  /** 1 when Redis is connected, 0 when not, null without Redis. */
  redisUp(): number | null;
  draining(): boolean;
  /** Decisions per first-choice model this hour, summed over the replicas sharing the state. */
  fleetDecisions(): Promise<Map<string, number>>;
  /** Mean coverage of recent traffic (Router.recentCoverage); null when there is none to give. */
  coverage?(): number | null;
}

/** The gateway's metrics and its registry. */
export class GatewayMetrics {
  /** The one registry `/metrics` answers from. */
  readonly registry = new Registry();
  /** Requests being answered now (also `/readyz`'s `inflight`). */
  inflight = 0;
  /** Answers by route and status, counted in a map and read by prom-client at scrape time (nothing to hash per request). */
  readonly #answers = new Map<string, Map<number, number>>();
  /** By route; read by prom-client at scrape time (../execution/histogram.ts: no label hashing per request). */
  readonly #durations: LabelledHistogram;
  readonly #overhead: LabelledHistogram;
  readonly #refusals: Counter<'reason'>;
  readonly #reloads: Counter<'result'>;
  #router: Metrics | undefined;

  constructor(gauges: GatewayGauges) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'routecore_' });
    const answers = this.#answers;
    new Counter({
      name: 'routecore_http_requests_total',
      help: 'HTTP answers by route and status.',
      labelNames: ['route', 'status'] as const,
      registers,
      collect() {
        this.reset();
        for (const [route, byStatus] of answers) for (const [status, n] of byStatus) this.inc({ route, status }, n);
      },
    });
    this.#durations = new LabelledHistogram({ name: 'routecore_http_request_duration_seconds', help: 'Time from request to the end of the answer, by route.', labelName: 'route', buckets: REQUEST_BUCKETS_S });
    this.registry.registerMetric(this.#durations.asMetric());
    const self = this;
    new Gauge({
      name: 'routecore_http_inflight_requests',
      help: 'Requests being answered now.',
      registers,
      collect() {
        this.set(self.inflight);
      },
    });
    this.#overhead = new LabelledHistogram({
      name: 'routecore_gateway_overhead_seconds',
      help: "The gateway's own time per answered request (routing, parsing, translating, formatting, I/O), upstream wait excluded, by route.",
      labelName: 'route',
      buckets: [25e-6, 50e-6, 75e-6, 100e-6, 150e-6, 200e-6, 300e-6, 500e-6, 750e-6, 1e-3, 2e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3],
    });
    this.registry.registerMetric(this.#overhead.asMetric());
    this.#refusals = new Counter({ name: 'routecore_client_refusals_total', help: 'Requests refused before any upstream call, by reason.', labelNames: ['reason'] as const, registers });
    this.#reloads = new Counter({ name: 'routecore_router_reloads_total', help: 'Router reloads (SIGHUP or a changed router file), by result.', labelNames: ['result'] as const, registers });
    new Counter({
      name: 'routecore_log_rows_written_total',
      help: 'Outcome-log rows written to the store.',
      registers,
      collect() {
        this.reset();
        this.inc(gauges.log().written);
      },
    });
    new Gauge({
      name: 'routecore_log_rows_queued',
      help: 'Outcome-log rows waiting in memory.',
      registers,
      collect() {
        this.set(gauges.log().queued);
      },
    });
    new Counter({
      name: 'routecore_state_errors_total',
      help: 'Shared-state calls that failed (Redis unreachable).',
      registers,
      collect() {
        this.reset();
        this.inc(gauges.stateErrors());
      },
    });
    new Gauge({
      name: 'routecore_cooldowns_active',
      help: 'Models taken out of decisions now.',
      registers,
      // With --workers, /metrics aggregates the workers: every worker sees the same shared cool-downs.
      aggregator: 'max',
      async collect() {
        this.set(await gauges.cooldowns());
      },
    });
    if (gauges.redisUp() !== null) {
      new Gauge({
        name: 'routecore_redis_up',
        help: '1 when both Redis connections are ready.',
        registers,
        aggregator: 'min',
        collect() {
          this.set(gauges.redisUp() ?? 0);
        },
      });
    }
    new Gauge({
      aggregator: 'max',
      name: 'routecore_draining',
      help: '1 while the gateway is shutting down.',
      registers,
      collect() {
        this.set(gauges.draining() ? 1 : 0);
      },
    });
    if (gauges.coverage) {
      const coverage = gauges.coverage;
      new Gauge({
        name: 'routecore_router_coverage',
        help: "Mean over a sample of recent routed texts of their largest cosine similarity to the router's training prompts (RouteLLM's benchmark-dataset similarity): how much of the traffic looks like what the router was trained on.",
        registers,
        collect() {
          const v = coverage();
          if (v === null) this.reset();
          else this.set(v);
        },
      });
    }
    new Gauge({
      name: 'routecore_fleet_decisions_hour',
      help: 'Decisions per first-choice model this hour, summed over every replica sharing the state.',
      labelNames: ['model'] as const,
      registers,
      // With --workers and Redis every worker reads the same fleet counters; without Redis each counts its own.
      aggregator: gauges.redisUp() !== null ? 'max' : 'sum',
      async collect() {
        this.reset();
        for (const [model, n] of await gauges.fleetDecisions()) this.set({ model }, n);
      },
    });
  }

  /** Puts a router's per-model families in the registry, in place of the previous router's. */
  useRouter(metrics: Metrics): void {
    if (this.#router === metrics) return;
    if (this.#router) for (const name of this.#router.names) this.registry.removeSingleMetric(name);
    for (const f of metrics.families) this.registry.registerMetric(f);
    this.#router = metrics;
  }

  /**
   * The gateway's own time for one answered request, upstream wait excluded (request in to answer out,
   * minus the time inside upstream attempts), by route.
   */
  overhead(route: string, seconds: number): void {
    this.#overhead.observe(route, seconds);
  }

  /** One finished HTTP exchange: `route` is the route pattern (never the raw URL, which clients control). */
  answered(route: string, status: number, seconds: number): void {
    let byStatus = this.#answers.get(route);
    if (!byStatus) {
      byStatus = new Map();
      this.#answers.set(route, byStatus);
    }
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
    this.#durations.observe(route, seconds);
  }

  /** A request refused before any upstream call (`auth`, `rate_limit`, `budget`, `model_not_allowed`, ...). */
  refused(reason: string): void {
    this.#refusals.inc({ reason });
  }

  reload(result: 'ok' | 'failed'): void {
    this.#reloads.inc({ result });
  }

  /** Every family in the Prometheus text exposition format. */
  prometheus(): Promise<string> {
    return this.registry.metrics();
  }

  /** The exposition's content type. */
  get contentType(): string {
    return this.registry.contentType;
  }
}
