/**
 * P2: `routeBatch` throughput (prompts/s) over batch sizes, CPU, 2 threads.
 *
 * At every size two competitors race in interleaved rounds in this one process: `routeBatch`
 * (scores + one Decision object per prompt) and `scores` (the same native call, no decisions), so
 * their ratio says how much of the time the decision objects take. At the P2 size a third races
 * with them: `routeBatch` on a router loaded with 1 thread, for the thread scaling. Each figure is
 * the median over rounds; every round runs enough calls to last about `roundMs`, each call on the
 * next slice of the ≈500-character query set.
 * Batches of ≤ 8 prompts are scored on the calling thread (`SYNC_BATCH_LIMIT` in src/router.ts),
 * larger ones on the addon's own thread.
 * @module
 */
import { Router } from '../src/index.js';
import { median, met, raceBatches, type BatchCall, type Figure, type SetupInfo, type Suite } from './common.js';

const P2_SIZE = 1024;

export const p2: Suite = {
  id: 'P2',
  title: 'routeBatch throughput, CPU, 2 threads',
  async run(setup: SetupInfo) {
    const prompts = setup.p1Prompts;
    const router = Router.loadSync(setup.routerPath, { backend: 'cpu', threads: setup.threads });
    const router1 = Router.loadSync(setup.routerPath, { backend: 'cpu', threads: 1 });
    const sizes = setup.quick ? [1, 16, P2_SIZE] : [1, 16, 256, 1024, 4096];
    const rounds = setup.quick ? 5 : 7;
    const roundMs = setup.quick ? 10 : 250;

    const bySize: Record<string, Record<string, { median: number; min: number; max: number; perRound: number[]; callsPerRound: number }>> = {};
    for (const size of sizes) {
      // Consecutive calls take consecutive slices of the query set, so no call re-reads the
      // table rows the previous one just pulled into cache (a fixed batch of 1 would).
      const count = Math.max(1, Math.ceil(prompts.length / size));
      const batches = Array.from({ length: count }, (_, j) => Array.from({ length: size }, (_, i) => prompts[(j * size + i) % prompts.length]!));
      const competitors: Record<string, BatchCall> = {
        routeBatch: (b) => router.routeBatch(b),
        scores: (b) => router.scores(b),
      };
      if (size === P2_SIZE) competitors['routeBatch threads=1'] = (b) => router1.routeBatch(b);
      const res = await raceBatches(competitors, batches, rounds, roundMs);
      bySize[size] = {};
      for (const [name, r] of Object.entries(res)) {
        bySize[size]![name] = { median: median(r.perRound), min: Math.min(...r.perRound), max: Math.max(...r.perRound), perRound: r.perRound, callsPerRound: r.callsPerRound };
      }
    }

    const figures: Figure[] = [];
    for (const size of sizes) {
      const r = bySize[size]!;
      figures.push(
        met({
          key: `routeBatch.${size}`,
          label: `routeBatch ${size}`,
          value: r.routeBatch!.median,
          unit: 'prompts/s',
          ...(size === P2_SIZE ? { target: { id: 'P2', op: '>=' as const, value: 100_000 } } : {}),
          note: `rounds ${Math.round(r.routeBatch!.min)}–${Math.round(r.routeBatch!.max)}${size <= 8 ? '; sync path' : ''}`,
        }),
      );
    }
    for (const size of sizes) {
      const r = bySize[size]!;
      figures.push({ key: `scores.${size}`, label: `scores ${size} (no decisions)`, value: r.scores!.median, unit: 'prompts/s' });
    }
    // Ratios are taken round by round (the competitors ran back to back) and then the median, so a
    // slow round on a shared machine moves both sides of its own ratio.
    const at = bySize[P2_SIZE]!;
    const paired = (a: number[], b: number[]): number => median(a.map((x, r) => x / b[r]!));
    const route = at.routeBatch!.perRound;
    const one = at['routeBatch threads=1']!.perRound;
    figures.push(
      { key: `decisionShare.${P2_SIZE}`, label: `decision objects' share of routeBatch time @${P2_SIZE}`, value: 1 - paired(route, at.scores!.perRound), unit: 'ratio', note: '1 − routeBatch/scores, median of per-round ratios' },
      { key: `routeBatch.${P2_SIZE}.threads1`, label: `routeBatch ${P2_SIZE}, 1 thread`, value: at['routeBatch threads=1']!.median, unit: 'prompts/s' },
      { key: `threadScaling.${P2_SIZE}`, label: `2 threads / 1 thread @${P2_SIZE}`, value: paired(route, one), unit: 'ratio', note: 'median of per-round ratios' },
    );
    router.dispose();
    router1.dispose();
    return { id: 'P2', title: p2.title, figures, details: { sizes, rounds, roundMs, threads: setup.threads, promptsPerSecond: bySize } };
  },
};
