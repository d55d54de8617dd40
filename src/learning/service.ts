/**
 * The learning side of one gateway replica, behind a handful of hooks the gateway calls (so the
 * gateway's own code stays about HTTP): live statistics from every outcome, shadow judging of the
 * sampled answers, the judged pairs written into the outcome log, and, with `--learn`, a learning
 * round on a schedule in a worker thread that swaps in a better router by hot reload.
 * @module
 */
import { existsSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Dispatcher } from 'undici';

import type { Outcome } from '../app/hub.js';
import type { Registry } from '../routing/registry.js';
import type { Decision } from '../routing/router.js';
import type { Router } from '../app/router.js';
import type { SharedState } from '../state/shared-state.js';
import { readJudgmentsAsync, type Judgment } from '../training/judged-pairs.js';
import type { LearnConfig, ShadowConfig } from './config.js';
import { completionText, loadJudgeTemplate } from './judge.js';
import { learnOnce, readDecisions, type LearnDecision, type LearnOptions } from './learn.js';
import { LiveStats, type StatsBody } from './live.js';
import { Shadow, deltaText, strongestModel, type ShadowTicket } from './shadow.js';

const WORKER_URL = new URL('./learn-worker.js', import.meta.url);

/** What the gateway hands to {@link LearningService}. */
export interface LearningServiceOptions {
  shadow?: ShadowConfig;
  learn?: LearnConfig;
  /** The router and registry serving now (they change on reload). */
  router: () => Router;
  registry: () => Registry;
  state: SharedState;
  env?: Record<string, string | undefined>;
  dispatcher?: Dispatcher;
  /** Per shadow upstream call (the gateway's per-attempt timeout). */
  timeoutMs?: number;
  /** Client key names that opted out of shadowing. */
  optOutKeys: readonly string[];
  /** Writes a judged pair into the outcome log. */
  writeJudgment: (j: Judgment) => void;
  /** The outcome log's file, read back at start (the estimates survive a restart) and by learning rounds; undefined when nothing is logged. */
  logPath?: string;
  /** Flushes the outcome log (before a learning round reads it). */
  flushLog?: () => void;
  /** The serving router's file and how the gateway loads it (learning rounds replace it). */
  routerPath?: string;
  aliases?: Record<string, string>;
  registryPath?: string;
  /** Called after a swap (the gateway reloads), and with each decision. */
  onSwap?: (d: LearnDecision) => void;
  /** Says what happened (a learning round's decision, a failure), at a log level; default `info`. */
  print: (line: string, level?: 'info' | 'warn' | 'error') => void;
}

/** A sampled request whose answer is being collected. */
export interface ShadowCollector {
  ticket: ShadowTicket;
  text: string;
}

/** The learning side of one gateway replica. */
export class LearningService {
  readonly live: LiveStats;
  readonly shadow: Shadow | undefined;
  /**
   * Settles once the judged pairs of an earlier run are read back from the log into {@link live}
   * (resolves whether or not there were any, or the read failed, which is said through `print`). The
   * read streams the file after the constructor returns, so a gateway answers from its first request
   * on; until then `/v1/stats` counts this run's pairs only.
   */
  readonly restored: Promise<void>;
  readonly #options: LearningServiceOptions;
  #lastLearn: LearnDecision | null = null;
  #learnTimer: NodeJS.Timeout | undefined;
  #learning: Promise<LearnDecision | null> | undefined;
  #worker: Worker | undefined;
  #closed = false;
  #prom: ReturnType<LiveStats['prometheus']> | undefined;

  constructor(options: LearningServiceOptions) {
    this.#options = options;
    this.live = new LiveStats(() => strongestModel(options.registry()));
    const s = options.shadow;
    if (s) {
      this.shadow = new Shadow({
        router: options.router,
        registry: options.registry(),
        judge: s.judge,
        rate: s.rate,
        focus: s.focus,
        ...(s.comparison !== undefined ? { comparison: s.comparison } : {}),
        budgetUsdPerDay: s.budgetUsdPerDay,
        maxConcurrent: s.maxConcurrent,
        maxTokens: s.maxTokens,
        judgeMaxTokens: s.judgeMaxTokens,
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
        ...(s.template !== undefined ? { template: loadJudgeTemplate(s.template) } : {}),
        state: options.state,
        optOutKeys: options.optOutKeys,
        env: options.env,
        ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
        onJudgment: (j) => {
          options.writeJudgment(j);
          this.live.judgment(j);
        },
      });
    }
    this.restored = this.#restore(options);
    if (options.routerPath !== undefined) this.#lastLearn = readDecisions(options.routerPath).at(-1) ?? null;
  }

  async #restore(options: LearningServiceOptions): Promise<void> {
    const path = options.logPath;
    // Not a byte in the constructor's turn: the gateway starts listening first.
    await nextTurn();
    if (path === undefined || !existsSync(path)) return;
    try {
      this.live.seed(await readJudgmentsAsync(path));
    } catch (err) {
      options.print(`could not read the judged pairs back from ${path}: ${(err as Error).message}`, 'warn');
    }
  }

  /** Registers the judged-quality gauges in a prom-client registry (the gateway's `/metrics`). */
  registerMetrics(registry: Parameters<LiveStats['prometheus']>[0]): void {
    this.#prom = this.live.prometheus(registry);
  }

  /** Startup lines: what is sampled, where it goes, what it may cost; and the learning schedule. */
  describe(): string[] {
    const lines: string[] = [];
    if (this.shadow) lines.push(this.shadow.describe());
    const l = this.#options.learn;
    if (l) lines.push(`learning ON: every ${l.everyMinutes} min a candidate router is trained on the judged pairs and swapped into ${this.#options.routerPath} only when it beats the serving router on held-out pairs (decisions in ${this.#options.routerPath}.learn.jsonl)`);
    return lines;
  }

  /** Hook: every outcome record of this replica. */
  outcome(o: Outcome): void {
    this.live.outcome(o);
  }

  /** Hook: an answered request; returns a collector when it is to be judged (cheap when not). */
  sample(id: string, decision: Decision, key: string | null): ShadowCollector | undefined {
    const ticket = this.shadow?.sample(id, decision, key);
    return ticket ? { ticket, text: '' } : undefined;
  }

  /** Hook: one streamed chunk's data of a sampled request. */
  collect(c: ShadowCollector, data: string): void {
    c.text += deltaText(data);
  }

  /** Hook: the client has its whole answer (`response` for a non-streamed one, else the collected text). */
  answered(c: ShadowCollector, request: Record<string, unknown>, model: string, costUsd: number | null, response?: unknown): void {
    const text = response === undefined ? c.text : completionText(response);
    if (text === undefined || !this.shadow) return;
    this.shadow.submit(c.ticket, { request, answer: text, model, costUsd });
  }

  /** The `/v1/stats` body. */
  async stats(): Promise<StatsBody> {
    const cooldowns = await this.#options.state.cooldowns().catch(() => []);
    const s = this.shadow;
    const shadow = s
      ? { enabled: true, rate: s.rate, focus: s.focus, judge: s.judge, comparison: s.comparison, template: s.template.name, budgetUsdPerDay: s.budgetUsdPerDay, maxConcurrent: s.maxConcurrent, ...s.counters, spentUsd: Math.round(s.counters.spentUsd * 1e9) / 1e9 }
      : { enabled: false };
    const learn = { enabled: this.#options.learn !== undefined, running: this.#learning !== undefined, last: this.#lastLearn };
    return this.live.snapshot({ cooldowns, shadow, learn });
  }

  /** The judged-quality gauges in the Prometheus text format (of the registry they were registered in). */
  prometheus(): Promise<string> {
    this.#prom ??= this.live.prometheus();
    return this.#prom.metrics();
  }

  /** Starts the learning schedule (`--learn`). */
  startLearning(): void {
    const l = this.#options.learn;
    if (!l || this.#closed) return;
    this.#learnTimer = setInterval(() => void this.learnNow(), l.everyMinutes * 60_000);
    this.#learnTimer.unref();
  }

  /** Runs one learning round now in a worker thread (one at a time); resolves with its decision. */
  learnNow(): Promise<LearnDecision | null> {
    if (this.#learning) return this.#learning;
    const o = this.#options;
    if (!o.learn || o.logPath === undefined || o.routerPath === undefined || o.registryPath === undefined) return Promise.resolve(null);
    o.flushLog?.();
    const options: LearnOptions = {
      logs: [o.logPath],
      router: o.routerPath,
      registry: o.registryPath,
      aliases: o.aliases ?? {},
      holdout: o.learn.holdout,
      minPairs: o.learn.minPairs,
      ...(o.learn.prior !== undefined ? { prior: [{ path: o.learn.prior, weight: o.learn.priorWeight }] } : {}),
    };
    const finish = (result: LearnDecision | null) => {
      this.#learning = undefined;
      if (result) {
        this.#lastLearn = result;
        o.print(`learning round: ${result.action}: ${result.reason}`);
        if (result.action === 'swap') o.onSwap?.(result);
      }
      return result;
    };
    if (!existsSync(fileURLToPath(WORKER_URL))) {
      // Running from sources (tests): no compiled worker file, so the round runs on this thread.
      this.#learning = learnOnce(options).then(finish, (err: unknown) => {
        o.print(`learning round failed: ${(err as Error).message}`, 'error');
        return finish(null);
      });
      return this.#learning;
    }
    this.#learning = new Promise<LearnDecision | null>((resolve) => {
      // Training takes seconds of CPU: a worker thread keeps the gateway's event loop answering.
      const worker = new Worker(WORKER_URL, { workerData: options });
      this.#worker = worker;
      let result: LearnDecision | null = null;
      worker.once('message', (m: { decision?: LearnDecision; error?: string }) => {
        if (m.decision) result = m.decision;
        else o.print(`learning round failed: ${m.error ?? 'unknown error'}`, 'error');
      });
      worker.once('error', (err) => o.print(`learning round failed: ${err.message}`, 'error'));
      worker.once('exit', () => {
        this.#worker = undefined;
        resolve(finish(result));
      });
    });
    return this.#learning;
  }

  /** Stops the schedule and the worker, and waits for running shadow judgments (briefly). */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#learnTimer) clearInterval(this.#learnTimer);
    if (this.#worker) await this.#worker.terminate().catch(() => undefined);
    await this.shadow?.close(2000);
  }
}
