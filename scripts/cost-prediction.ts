/**
 * Does a better per-query cost estimate move the RouterBench cost–quality curve? The check run
 * before cost by prompt text was built into `train --auto` (docs/RESULTS.md has the CV figures of
 * the product's own selection). Training split only: the held-out part is the training records with
 * `fnv1a32(id) mod 5 = 0`; no test row is read.
 *
 * One score router (`--predictor`, default linear) is trained on the other four fifths; its scores
 * then drive the `cost` policy over a fine λ grid under five cost estimates: each model's mean cost,
 * the prompt-length model of `train --auto`, a `lin` network on the cost share c / (c + mean) (cost
 * by prompt text), the per-task mean cost (knows the task label), and the true cost (an oracle).
 * Printed per estimate: the mean |log(estimate / true cost)| (over costs > 0) and the best held-out quality within
 * a few budgets (USD per 1k queries).
 *
 *   node dist/scripts/cost-prediction.js [--data-dir ../shared/data] [--predictor linear|mlp|knn]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { packageRoot } from '../src/addon/native.js';
import { costShareRecords, fitCostModel } from '../src/training/auto.js';
import { fnv1a32 } from '../src/training/hash.js';
import { costFromShare } from '../src/routing/postprocess.js';
import type { OutcomeRecord } from '../src/training/data.js';
import { train, type PredictorKind } from '../src/training/train.js';
import { estimateTokens } from '../src/routing/prompt.js';

const { values } = parseArgs({ options: { 'data-dir': { type: 'string' }, predictor: { type: 'string' } } });
const dir = values['data-dir'] ?? join(packageRoot(), '..', 'shared', 'data');
const predictor = (values.predictor ?? 'linear') as PredictorKind;
const records = ['arc_challenge', 'mbpp', 'winogrande']
  .flatMap((t) => readFileSync(join(dir, `routerbench-${t}_train.jsonl`), 'utf8').trim().split('\n'))
  .map((l) => JSON.parse(l) as OutcomeRecord)
  .filter((r) => r.costs && Object.keys(r.costs).length === Object.keys(r.scores).length);
const held = records.filter((r) => fnv1a32(r.id) % 5 === 0);
const fit = records.filter((r) => fnv1a32(r.id) % 5 !== 0);
const models = Object.keys(fit[0]!.scores);
const M = models.length;

const { router } = await train(fit, { predictor, seed: 1, ...(predictor === 'mlp' ? { hidden: 32 } : {}), ...(predictor === 'knn' ? { k: 20 } : {}) });
const scoreCol = models.map((id) => router.models.indexOf(id));
const S = await router.scores(held.map((r) => r.prompt));
router.dispose();

const shares = costShareRecords(fit, models);
const { router: costNet } = await train(shares.records, { predictor: 'linear', seed: 1 });
const costCol = models.map((id) => costNet.models.indexOf(id));
const C = await costNet.scores(held.map((r) => r.prompt));
costNet.dispose();

const length = fitCostModel(fit, models)!;
const tokens = (r: OutcomeRecord): number => estimateTokens(Buffer.byteLength(r.prompt, 'utf8'));
const taskMean = new Map<string, number[]>();
for (const task of new Set(fit.map((r) => r.task ?? ''))) {
  const rows = fit.filter((r) => (r.task ?? '') === task);
  taskMean.set(task, models.map((id) => {
    const cs = rows.map((r) => r.costs![id]).filter((c): c is number => typeof c === 'number' && c >= 0);
    return cs.reduce((a, c) => a + c, 0) / cs.length;
  }));
}
const estimates: Record<string, (i: number, j: number) => number> = {
  'mean cost': (_i, j) => length.mean[j]!,
  'by length': (i, j) => length.model.base[j]! + length.model.perToken[j]! * tokens(held[i]!),
  'by text': (i, j) => costFromShare(C[i * M + costCol[j]!]!, shares.mean[j]!),
  'known task': (i, j) => taskMean.get(held[i]!.task ?? '')![j]!,
  'true cost': (i, j) => held[i]!.costs![models[j]!]!,
};
const lambdas = [0, ...Array.from({ length: 97 }, (_, k) => 10 ** ((k - 16) / 16))];
const budgets = [0.5, 1, 1.5, 2.5, 5.1];
console.log(`held-out ${held.length} of ${records.length} training rows, ${M} models, score router ${predictor}`);
console.log(`estimate      mean|log err|  ${budgets.map((b) => `best q ≤ $${b}/1k`).join('  ')}`);
for (const [name, est] of Object.entries(estimates)) {
  let err = 0, pairs = 0;
  for (let i = 0; i < held.length; i++) {
    for (let j = 0; j < M; j++) {
      const truth = held[i]!.costs![models[j]!]!, e = est(i, j);
      if (truth > 0 && e > 0) {
        err += Math.abs(Math.log(e / truth));
        pairs++;
      }
    }
  }
  const points = lambdas.map((lambda) => {
    let q = 0, c = 0;
    for (let i = 0; i < held.length; i++) {
      let bj = 0, bv = -Infinity;
      for (let j = 0; j < M; j++) {
        const v = S[i * M + scoreCol[j]!]! - lambda * est(i, j);
        if (v > bv) [bv, bj] = [v, j];
      }
      q += held[i]!.scores[models[bj]!]!;
      c += held[i]!.costs![models[bj]!]!;
    }
    return { q: q / held.length, cost1k: (c / held.length) * 1000 };
  });
  const within = (b: number): string => Math.max(0, ...points.filter((p) => p.cost1k <= b).map((p) => p.q)).toFixed(3);
  console.log(`${name.padEnd(12)}  ${(err / pairs).toFixed(3).padStart(12)}  ${budgets.map((b) => within(b).padStart(`best q ≤ $${b}/1k`.length)).join('  ')}`);
}
