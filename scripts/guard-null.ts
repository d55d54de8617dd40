/**
 * How often does the `train --auto` guard pass when there is nothing to gain? A null check on real
 * training data, no test split read: `train --auto` runs on a training part (RouteLLM: one outer
 * fold's training part, as `scripts/results.ts` runs it; split settings: the training files), and
 * at the guard (the `inspect` hook) every candidate's out-of-fold scores are permuted among the
 * rows of each fold — one permutation shared by all candidates, so the candidates keep their score
 * distributions and their correlation with each other but lose any relation to the outcomes. On
 * each permutation the selection procedure's held-out gain ({@link procedureGain}) and its
 * row-bootstrap standard error ({@link rowBootstrapSe}) are recomputed and the guard rules below
 * are applied; printed: each rule's pass rate on the permutations and its verdict on the real data.
 *
 *   node dist/scripts/guard-null.js --file routellm-gsm8k.jsonl --outer 4 --inner 3 [--perms 100]
 *   node dist/scripts/guard-null.js --train open7-gsm8k_train.jsonl --folds 5 [--objective quality]
 *
 * `--cache DIR` reuses out-of-fold scores (results-cache.ts format); the guard itself is never cached.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { packageRoot } from '../src/addon/native.js';
import { GUARD_SE, procedureGain, rowBootstrapSe, type AutoObjective, type SelectionState } from '../src/training/auto.js';
import { readOutcomes, type OutcomeRecord } from '../src/training/data.js';
import { fnv1a32 } from '../src/training/hash.js';
import { train } from '../src/training/train.js';
import { seededRandom } from '../src/learning/stats.js';
import { DiskCache } from './results-cache.js';

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' }, file: { type: 'string' }, outer: { type: 'string' }, inner: { type: 'string' },
    train: { type: 'string' }, folds: { type: 'string' }, objective: { type: 'string' }, perms: { type: 'string' },
    resamples: { type: 'string' }, cache: { type: 'string' },
  },
});
const dir = values['data-dir'] ?? join(packageRoot(), '..', 'shared', 'data');
let records: OutcomeRecord[];
let folds: number, salt: string, label: string;
if (values.file) {
  const outer = Number(values.outer ?? 0);
  records = readOutcomes(join(dir, values.file)).records.filter((r) => fnv1a32(r.id) % 5 !== outer);
  folds = Number(values.inner ?? 3);
  salt = 'inner/';
  label = `${values.file}, outer fold ${outer + 1}'s training part, ${folds} inner folds`;
} else {
  records = (values.train ?? '').split(',').flatMap((f) => readOutcomes(join(dir, f)).records);
  folds = Number(values.folds ?? 5);
  salt = '';
  label = `${values.train}, ${folds} folds`;
}
const perms = Number(values.perms ?? 100);
const resamples = Number(values.resamples ?? 50);
let state: SelectionState | undefined;
const res = await train(records, {
  seed: 1,
  auto: {
    folds,
    foldSalt: salt,
    workers: 1,
    ...(values.objective ? { objective: values.objective as AutoObjective } : {}),
    ...(values.cache ? { cache: new DiskCache(values.cache) } : {}),
    inspect: (s) => {
      state = s;
    },
  },
});
res.router.dispose();
const st = state!;
const n = Math.max(...st.foldRows.flat()) + 1;

/** The guard's figures for candidates scored through `source` (identity: the real data). */
function guardFigures(source: Int32Array | undefined, seed: number): { mean: number; foldSe: number; rowSe: number; positive: number; k: number } {
  const cands = source ? st.cands.map((c, x) => ({ name: c.name, folds: st.foldRows.map((rows) => st.metricOn(x, rows, source)) })) : st.cands;
  const p = procedureGain(cands, st.baseline);
  const picks = p.pickIndex ?? [];
  const rowSe = rowBootstrapSe((p.foldIndex ?? []).map((q) => st.foldRows[q]!), (x, rows) => st.metricOn(picks[x]!, rows, source) - st.metricOn(-1, rows), resamples, seed);
  return { mean: p.mean, foldSe: p.se, rowSe, positive: p.folds.filter((g) => g > 0).length, k: p.folds.length };
}
const rules: { name: string; pass: (g: ReturnType<typeof guardFigures>) => boolean }[] = [
  { name: 'fold se, 3 se (the rule before)', pass: (g) => g.mean - 3 * g.foldSe > 0 },
  { name: 'row se, 3 se, most folds positive', pass: (g) => g.positive > g.k / 2 && g.mean - 3 * g.rowSe > 0 },
  { name: `row se, ${GUARD_SE} se, most folds positive (the guard's rule)`, pass: (g) => g.positive > g.k / 2 && g.mean - GUARD_SE * g.rowSe > 0 },
  { name: `row se, ${GUARD_SE} se`, pass: (g) => g.mean - GUARD_SE * g.rowSe > 0 },
];
const real = guardFigures(undefined, 1);
const passes = rules.map(() => 0);
const rnd = seededRandom(12345);
for (let t = 0; t < perms; t++) {
  const source = Int32Array.from({ length: n }, (_, i) => i);
  for (const rows of st.foldRows) {
    const shuffled = [...rows];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
    }
    rows.forEach((r, i) => {
      source[r] = shuffled[i]!;
    });
  }
  const g = guardFigures(source, t + 2);
  rules.forEach((r, x) => {
    if (r.pass(g)) passes[x]!++;
  });
}
const f3 = (x: number): string => x.toFixed(3);
console.log(`${label}: ${records.length} rows, objective ${st.objective}, ${st.cands.length} candidates, ${perms} permutations, ${resamples} resamples per fold`);
console.log(`real data: procedure gain ${f3(real.mean)}, fold se ${f3(real.foldSe)}, row se ${f3(real.rowSe)}, ${real.positive} of ${real.k} folds positive`);
for (const [x, r] of rules.entries()) console.log(`  ${r.name}: passes ${passes[x]} of ${perms} permutations (${((100 * passes[x]!) / perms).toFixed(1)}%); real data: ${r.pass(real) ? 'gain' : 'no gain'}`);
