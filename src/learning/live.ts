/**
 * What `GET /v1/stats`, the dashboard and the Prometheus gauges show about live traffic: requests and
 * share per model, spend, latency p50/p99 (the last 4,096 answers), fallbacks, errors, and the
 * judged quality with its intervals (src/learning/stats.ts). Fed by outcome records and judged pairs
 * as they happen; one instance per gateway replica (figures are this replica's; the judged pairs of
 * the log it opened at start are read back so a restart keeps the estimates).
 * @module
 */
import { Gauge, Registry as PromRegistry } from 'prom-client';

import type { Outcome } from '../app/hub.js';
import type { CooldownMark } from '../state/shared-state.js';
import type { Judgment } from '../training/judged-pairs.js';
import { qualityReport, type QualityReport } from './stats.js';

/** Answers whose latency is kept for the percentiles. */
const LATENCY_WINDOW = 4096;
/** Judged pairs kept in memory for the estimates (the newest). */
const MAX_JUDGMENTS = 50_000;
/** The estimates (bootstrap) are recomputed at most this often. */
const QUALITY_REFRESH_MS = 2000;

/** Per-model traffic of `/v1/stats`. */
export interface ModelTraffic {
  /** Requests this model answered, and their share of all answered requests. */
  answers: number;
  share: number;
  /** Times the router chose it first. */
  routed: number;
  /** Answers it gave although it was not the first choice. */
  fallbacks: number;
  /** Failed calls to it. */
  errors: number;
  costUsd: number;
}

/** The body of `GET /v1/stats`. */
export interface StatsBody {
  object: 'routecore.stats';
  /** When these counters started (this process). */
  since: string;
  scope: 'this replica';
  requests: Record<string, number> & { total: number };
  models: Record<string, ModelTraffic>;
  spendUsd: number;
  latencyMs: { p50: number | null; p99: number | null; n: number };
  fallbacks: number;
  errors: number;
  cooldowns: CooldownMark[];
  /** Judged pairs the quality figures rest on (all samples). */
  judged: number;
  quality: QualityReport;
  shadow: Record<string, unknown> & { enabled: boolean };
  learn: Record<string, unknown> & { enabled: boolean };
}

/** Live counters of one replica. */
export class LiveStats {
  readonly since = new Date().toISOString();
  readonly #requests: Record<string, number> = {};
  readonly #models = new Map<string, ModelTraffic>();
  readonly #latency = new Float64Array(LATENCY_WINDOW);
  #latencyN = 0;
  #spend = 0;
  #fallbacks = 0;
  #errors = 0;
  #judgments: Judgment[] = [];
  #quality: { at: number; count: number; report: QualityReport } | undefined;
  readonly #strongest: () => string | null;

  /** @param strongest the "always call it" baseline of the saving (the registry's most expensive model). */
  constructor(strongest: () => string | null) {
    this.#strongest = strongest;
  }

  #model(id: string): ModelTraffic {
    let m = this.#models.get(id);
    if (!m) {
      m = { answers: 0, share: 0, routed: 0, fallbacks: 0, errors: 0, costUsd: 0 };
      this.#models.set(id, m);
    }
    return m;
  }

  /** One request's outcome record. */
  outcome(o: Outcome): void {
    this.#requests[o.status] = (this.#requests[o.status] ?? 0) + 1;
    this.#model(o.routed).routed++;
    for (const a of o.attempts) {
      if (a.error !== undefined || (typeof a.status === 'number' ? a.status >= 400 : true)) {
        this.#model(a.model).errors++;
        this.#errors++;
      }
    }
    if (o.model !== null) {
      const m = this.#model(o.model);
      m.answers++;
      if (o.model !== o.routed) {
        m.fallbacks++;
        this.#fallbacks++;
      }
      if (o.costUsd !== null) {
        m.costUsd += o.costUsd;
        this.#spend += o.costUsd;
      }
      this.#latency[this.#latencyN % LATENCY_WINDOW] = o.latencyMs;
      this.#latencyN++;
    }
  }

  /** One judged pair. */
  judgment(j: Judgment): void {
    this.#judgments.push(j);
    if (this.#judgments.length > MAX_JUDGMENTS * 1.25) this.#judgments = this.#judgments.slice(-MAX_JUDGMENTS);
  }

  /** Judged pairs read back from the log at start (oldest first), before those of this run. */
  seed(judgments: readonly Judgment[]): void {
    this.#judgments = [...judgments.slice(-MAX_JUDGMENTS), ...this.#judgments];
    // The read ends while the gateway already answers: a report cached from before it is stale at once.
    this.#quality = undefined;
  }

  /** The judged-quality estimates, recomputed when pairs arrived and at most every 2 s. */
  quality(): QualityReport {
    const now = Date.now();
    const q = this.#quality;
    if (q && (q.count === this.#judgments.length || now - q.at < QUALITY_REFRESH_MS)) return q.report;
    const report = qualityReport(this.#judgments, this.#strongest());
    this.#quality = { at: now, count: this.#judgments.length, report };
    return report;
  }

  /** Latency percentiles of the last answers (nearest rank). */
  latency(): StatsBody['latencyMs'] {
    const n = Math.min(this.#latencyN, LATENCY_WINDOW);
    if (n === 0) return { p50: null, p99: null, n: 0 };
    const sorted = Array.from(this.#latency.subarray(0, n)).sort((a, b) => a - b);
    const at = (q: number) => Math.round(sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]! * 1000) / 1000;
    return { p50: at(0.5), p99: at(0.99), n };
  }

  /** The `/v1/stats` body; `extra` adds what this class does not see (cool-downs, shadow, learning). */
  snapshot(extra: { cooldowns: CooldownMark[]; shadow: StatsBody['shadow']; learn: StatsBody['learn'] }): StatsBody {
    let answered = 0;
    for (const m of this.#models.values()) answered += m.answers;
    const models: Record<string, ModelTraffic> = {};
    for (const [id, m] of this.#models) models[id] = { ...m, share: answered > 0 ? Math.round((m.answers / answered) * 1e4) / 1e4 : 0, costUsd: Math.round(m.costUsd * 1e9) / 1e9 };
    let total = 0;
    for (const v of Object.values(this.#requests)) total += v;
    const quality = this.quality();
    return {
      object: 'routecore.stats',
      since: this.since,
      scope: 'this replica',
      requests: { ...this.#requests, total },
      models,
      spendUsd: Math.round(this.#spend * 1e9) / 1e9,
      latencyMs: this.latency(),
      fallbacks: this.#fallbacks,
      errors: this.#errors,
      cooldowns: extra.cooldowns,
      judged: quality.judged,
      quality,
      shadow: extra.shadow,
      learn: extra.learn,
    };
  }

  /**
   * Prometheus gauges of the judged quality (prom-client), registered in `registry` (the gateway's
   * one registry; default a new one). Each estimate comes as value, low, high and n, e.g.
   * `routecore_judged_router_as_good_ratio{bound="low"}`.
   */
  prometheus(registry: PromRegistry = new PromRegistry()): PromRegistry {
    const est = (name: string, help: string, pick: (q: QualityReport) => { value: number | null; interval: [number, number] | null; n: number }) => {
      new Gauge({
        name,
        help,
        labelNames: ['bound'],
        registers: [registry],
        collect: () => {
          const g = registry.getSingleMetric(name) as Gauge<'bound'>;
          const e = pick(this.quality());
          g.reset();
          if (e.value !== null) g.set({ bound: 'value' }, e.value);
          if (e.interval) {
            g.set({ bound: 'low' }, e.interval[0]);
            g.set({ bound: 'high' }, e.interval[1]);
          }
          g.set({ bound: 'n' }, e.n);
        },
      });
    };
    est('routecore_judged_cheaper_as_good_ratio', 'Share of judged prompts where the cheaper answer was at least as good (value, 95% Wilson low/high, n).', (q) => q.cheaperAsGood);
    est('routecore_judged_router_as_good_ratio', "Share of judged prompts where the router's choice was at least as good as its counterpart (value, 95% Wilson low/high, n).", (q) => q.routerAsGood);
    est('routecore_judged_apgr', "The serving router's APGR on judged live traffic (value, 95% bootstrap low/high, n).", (q) => q.apgr);
    est('routecore_judged_saving_ratio', 'Estimated saving against always calling the strongest model (value, 95% bootstrap low/high, n).', (q) => q.saving);
    new Gauge({
      name: 'routecore_judged_pairs',
      help: 'Judged pairs the estimates rest on, by sample (uniform: used for the estimates; all).',
      labelNames: ['sample'],
      registers: [registry],
      collect: () => {
        const g = registry.getSingleMetric('routecore_judged_pairs') as Gauge<'sample'>;
        const q = this.quality();
        g.set({ sample: 'uniform' }, q.uniform);
        g.set({ sample: 'all' }, q.judged);
      },
    });
    return registry;
  }
}
