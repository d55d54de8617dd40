/**
 * Shared pieces of the benchmark suites: the suite contract, figures with their docs/ARCHITECTURE.md targets,
 * order statistics, and a description of the machine. Suites import only from here and `src/`.
 * @module
 */
import { cpus, availableParallelism, loadavg, totalmem, platform, arch, release } from 'node:os';

/** A docs/ARCHITECTURE.md "Performance targets" bound a figure is checked against. */
export interface Target {
  /** The target's id in docs/ARCHITECTURE.md, e.g. `P1`. */
  id: string;
  op: '<=' | '>=';
  value: number;
}

/** One reported number. `key` is stable (the JSON and the smoke test read it); `label` is for people. */
export interface Figure {
  key: string;
  label: string;
  value: number;
  unit: string;
  target?: Target;
  /** Filled by {@link met}; absent when the figure has no target. */
  met?: boolean;
  note?: string;
}

/** What a suite returns: headline figures plus any structured detail (distributions, rounds). */
export interface SuiteResult {
  id: string;
  title: string;
  figures: Figure[];
  details: Record<string, unknown>;
  /** 1-minute load average before and after the suite: a busy machine shows here. */
  load: { before: number; after: number };
  seconds: number;
}

/** Everything a suite needs, prepared once by the parent process and read by each suite's child. */
export interface SetupInfo {
  /** The trained router file (safetensors layout). */
  routerPath: string;
  /** The P1 prompt set: test prompts trimmed/concatenated to 450–550 characters. */
  p1Prompts: string[];
  quick: boolean;
  threads: number;
  /** Where the real data sets live (`../shared/data`), or null with `--synthetic`; absent in old setups. */
  dataDir?: string | null;
}

/** One suite: a module exporting this, registered in `suites.ts`. Each runs in a fresh process. */
export interface Suite {
  id: string;
  title: string;
  run(setup: SetupInfo): Promise<Omit<SuiteResult, 'load' | 'seconds'>>;
}

/** Sets `met` from the target. */
export function met(f: Figure): Figure {
  if (f.target) f.met = f.target.op === '<=' ? f.value <= f.target.value : f.value >= f.target.value;
  return f;
}

/** Nearest-rank percentile (q in [0,1]) of an ascending-sorted array. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function median(values: readonly number[]): number {
  return percentile(Float64Array.from(values).sort(), 0.5);
}

/** Order statistics of a sample (any unit). */
export interface Distribution {
  n: number;
  min: number;
  p10: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function distribution(values: ArrayLike<number>): Distribution {
  const s = Float64Array.from(values as ArrayLike<number>).sort();
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum += s[i]!;
  return {
    n: s.length,
    min: s[0] ?? NaN,
    p10: percentile(s, 0.1),
    p50: percentile(s, 0.5),
    p90: percentile(s, 0.9),
    p99: percentile(s, 0.99),
    max: s[s.length - 1] ?? NaN,
    mean: s.length ? sum / s.length : NaN,
  };
}

/** Median cost of one `process.hrtime.bigint()` pair, in ns: the floor under every timed call. */
export function timerOverheadNs(samples = 10_000): number {
  const d = new Float64Array(samples);
  for (let i = 0; i < samples; i++) {
    const a = process.hrtime.bigint();
    const b = process.hrtime.bigint();
    d[i] = Number(b - a);
  }
  return percentile(d.sort(), 0.5);
}

/** The machine, as the report header and the JSON show it. */
export function machine(): Record<string, unknown> {
  const c = cpus();
  return {
    cpu: c[0]?.model ?? 'unknown',
    cores: c.length,
    availableParallelism: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    v8: process.versions.v8,
    platform: `${platform()} ${release()} ${arch()}`,
    loadavg1: loadavg()[0],
  };
}

export function load1(): number {
  return Math.round(loadavg()[0]! * 100) / 100;
}

/** Asks V8 for a full GC when the process was started with --expose-gc, so suites start level. */
export function settle(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) gc();
}

/** Keeps results observable so no call can be optimised away; printed nowhere. */
export const sink = { n: 0 };

/** One competitor of {@link raceRounds}: a call to time, synchronous or returning a promise. */
export interface Competitor {
  run: () => unknown;
  /** Await each call (async APIs); sync competitors are called back to back with no await. */
  async?: boolean;
}

/** Per-competitor result of {@link raceRounds}: mean µs per call in each round. */
export interface RaceResult {
  perRound: number[];
  callsPerRound: number;
  median: number;
}

/**
 * Interleaved rounds (STYLE.md item 10): each round runs every competitor for about `roundMs`,
 * in an order rotated round by round so no one always goes first after a GC or a context switch.
 * Returns the mean µs per call of every round; compare competitors with {@link pairedRatio}.
 */
export async function raceRounds(competitors: Record<string, Competitor>, rounds: number, roundMs: number): Promise<Record<string, RaceResult>> {
  const names = Object.keys(competitors);
  const plan: Record<string, number> = {};
  for (const name of names) {
    const c = competitors[name]!;
    // Warm (JIT, caches, thread pools) for about a round, which also sizes the round.
    let calls = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < Math.max(roundMs, 5) || calls < 3) {
      if (c.async) await c.run();
      else c.run();
      calls++;
    }
    const perCall = (performance.now() - t0) / calls;
    plan[name] = Math.max(1, Math.round(roundMs / Math.max(perCall, 1e-4)));
  }
  settle();
  const out: Record<string, RaceResult> = {};
  for (const name of names) out[name] = { perRound: [], callsPerRound: plan[name]!, median: NaN };
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + r) % names.length]!;
      const c = competitors[name]!;
      const n = plan[name]!;
      const t0 = process.hrtime.bigint();
      if (c.async) for (let i = 0; i < n; i++) await c.run();
      else for (let i = 0; i < n; i++) c.run();
      const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
      out[name]!.perRound.push(us);
    }
  }
  for (const name of names) out[name]!.median = median(out[name]!.perRound);
  return out;
}

/** Median over rounds of a/b taken round by round: a slow round moves both sides of its own ratio. */
export function pairedRatio(a: readonly number[], b: readonly number[]): number {
  return median(a.map((x, r) => x / b[r]!));
}

/** A call timed one at a time; `i` picks the input (e.g. the i-th prompt). */
export type IndexedCall = (i: number) => void;

/**
 * Times `calls` single calls of each competitor with hrtime around each, in alternating blocks of
 * `block` calls (after `warmup` untimed calls each), cycling through `promptCount` inputs. Returns
 * each competitor's µs per call, one sample per call.
 */
export function interleavedLatency(competitors: Record<string, IndexedCall>, calls: number, warmup: number, block: number, promptCount: number): Record<string, Float64Array> {
  const names = Object.keys(competitors);
  for (const name of names) {
    const f = competitors[name]!;
    for (let i = 0; i < warmup; i++) f(i % promptCount);
  }
  settle();
  const out: Record<string, Float64Array> = {};
  for (const name of names) out[name] = new Float64Array(calls);
  let done = 0;
  let cursor = 0;
  while (done < calls) {
    const n = Math.min(block, calls - done);
    for (const name of names) {
      const f = competitors[name]!;
      const d = out[name]!;
      for (let k = 0; k < n; k++) {
        const i = (cursor + k) % promptCount;
        const t0 = process.hrtime.bigint();
        f(i);
        const t1 = process.hrtime.bigint();
        d[done + k] = Number(t1 - t0) / 1000; // µs
      }
    }
    done += n;
    cursor += n;
  }
  return out;
}

/** A batch call (`routeBatch`, `scores`) whose result has a length. */
export type BatchCall = (batch: string[]) => Promise<unknown>;

/**
 * Runs `rounds` interleaved rounds of each competitor over successive `batches` (all of one size),
 * each round about `roundMs` long; returns prompts/s per round.
 */
export async function raceBatches(competitors: Record<string, BatchCall>, batches: string[][], rounds: number, roundMs: number): Promise<Record<string, { perRound: number[]; callsPerRound: number }>> {
  const size = batches[0]!.length;
  let next = 0;
  const batch = (): string[] => batches[next++ % batches.length]!;
  const plan: Record<string, number> = {};
  for (const [name, f] of Object.entries(competitors)) {
    await f(batch()); // warm: JIT, thread pool, scratch buffers
    await f(batch());
    const t0 = process.hrtime.bigint();
    await f(batch());
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    plan[name] = Math.max(1, Math.round(roundMs / Math.max(ms, 1e-3)));
  }
  settle();
  const out: Record<string, { perRound: number[]; callsPerRound: number }> = {};
  for (const name of Object.keys(competitors)) out[name] = { perRound: [], callsPerRound: plan[name]! };
  for (let r = 0; r < rounds; r++) {
    for (const [name, f] of Object.entries(competitors)) {
      const k = plan[name]!;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < k; i++) sink.n += ((await f(batch())) as { length: number }).length;
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      out[name]!.perRound.push((k * size) / s);
    }
  }
  return out;
}
