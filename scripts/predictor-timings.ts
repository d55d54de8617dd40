/**
 * Training time and per-prompt routing time of every predictor on RouterBench's training files,
 * plus the held-out quality each reaches (the numbers issue 3's closing note asks for).
 *
 * Run: npm run build:ts && node dist/scripts/predictor-timings.js [--data-dir DIR] [--runs N] [--json FILE]
 *
 * Protocol: train on the three `routerbench-*_train.jsonl` files (2,225 prompts, 11 models) with
 * each predictor's defaults (backend cpu, 2 threads, seed 1), `runs` times; the training figure is
 * the median wall time of `train()` (records read before the clock starts). Routing: every prompt
 * of the three `_test` files through `routeSync` one at a time (policy best), after one warm-up
 * pass; the figure is the median (and p99) of the per-call times over all passes. Quality: mean
 * score of the `best` policy's choice on the test rows and on the training rows' own cost/quality
 * table, from `evaluate()`; no hyper-parameter was tuned here.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { readOutcomes, type OutcomeRecord } from '../src/training/data.js';
import { evaluate } from '../src/evaluation/eval.js';
import { packageRoot } from '../src/addon/native.js';
import { train, type PredictorKind } from '../src/training/train.js';
import type { Router } from '../src/app/router.js';

const SETS = ['arc_challenge', 'mbpp', 'winogrande'];
const PREDICTORS: PredictorKind[] = ['mlp', 'linear', 'mf', 'knn', 'kmeans'];

function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'data-dir': { type: 'string' }, runs: { type: 'string' }, json: { type: 'string' } } });
  const dir = resolve(values['data-dir'] ?? join(packageRoot(), '..', 'shared', 'data'));
  const trainFiles = SETS.map((s) => join(dir, `routerbench-${s}_train.jsonl`));
  const testFiles = SETS.map((s) => join(dir, `routerbench-${s}_test.jsonl`));
  for (const f of [...trainFiles, ...testFiles]) if (!existsSync(f)) throw new Error(`missing ${f}: pass --data-dir`);
  const runs = Number(values.runs ?? 3);
  const trainRecords: OutcomeRecord[] = trainFiles.flatMap((f) => readOutcomes(f).records);
  const testRecords: OutcomeRecord[] = testFiles.flatMap((f) => readOutcomes(f).records);
  const rows: Record<string, unknown>[] = [];
  for (const predictor of PREDICTORS) {
    const seconds: number[] = [];
    let router: Router | undefined;
    for (let r = 0; r < runs; r++) {
      router?.dispose();
      const t0 = performance.now();
      ({ router } = await train(trainRecords, { predictor, backend: 'cpu', threads: 2, seed: 1 }));
      seconds.push((performance.now() - t0) / 1000);
    }
    const prompts = testRecords.map((r) => r.prompt);
    for (const p of prompts) router!.routeSync(p);
    const us: number[] = [];
    for (let pass = 0; pass < 3; pass++) {
      for (const p of prompts) {
        const t0 = process.hrtime.bigint();
        router!.routeSync(p);
        us.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
    }
    const report = await evaluate(router!, testRecords);
    const row = {
      predictor,
      trainSecondsMedian: quantile(seconds, 0.5),
      trainSeconds: seconds,
      routeUsP50: quantile(us, 0.5),
      routeUsP99: quantile(us, 0.99),
      testQualityBest: report.router.best.quality,
      testCost1kBest: report.router.best.cost1k,
      aiq: report.aiq.router,
      artifactBytes: router!.serialize({ halfPrecision: true }).length,
    };
    router!.dispose();
    rows.push(row);
    console.log(
      `${predictor.padEnd(7)} train ${row.trainSecondsMedian.toFixed(2)} s (median of ${runs}) | routeSync p50 ${row.routeUsP50.toFixed(1)} µs, p99 ${row.routeUsP99.toFixed(1)} µs | ` +
        `test quality (best) ${row.testQualityBest.toFixed(3)} at $${row.testCost1kBest.toFixed(2)}/1k, AIQ ${row.aiq?.toFixed(3)} | file ${(row.artifactBytes / 2 ** 20).toFixed(2)} MiB (F16)`,
    );
  }
  console.log(`train rows ${trainRecords.length}, test rows ${testRecords.length}, test prompt chars p50 ${quantile(testRecords.map((r) => r.prompt.length), 0.5)}`);
  if (values.json) writeFileSync(values.json, JSON.stringify({ trainRows: trainRecords.length, testRows: testRecords.length, runs, rows }, null, 2));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
