/**
 * `routecore train --auto` and the `--auto` part of `routecore info --router R`.
 * @module
 */
import { parseArgs } from 'node:util';

import { RoutecoreError } from '../errors.js';
import { loadTrainingData, parseDataSpec, type DataSpec } from '../training/auto-data.js';
import { GUARD_SE, type AutoObjective, type AutoReport } from '../training/auto.js';
import { train } from '../training/train.js';
import { parseEncoderSpec } from '../encoders/spec.js';
import { autoProgress } from './progress.js';

/** A usage mistake (exit code 2). */
export class AutoUsageError extends Error {}

function num(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new AutoUsageError(`${flag} expects a number, got "${v}"`);
  return n;
}

const f3 = (x: number | null | undefined): string => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(3));

const signed = (x: number | null | undefined): string => (x === null || x === undefined || !Number.isFinite(x) ? '—' : `${x >= 0 ? '+' : ''}${x.toFixed(3)}`);
const meanOf = (xs: readonly number[]): number => {
  const v = xs.filter((x) => Number.isFinite(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
};

/**
 * The report in words: what was chosen, why, its CV figures and the runner-up. Every figure says
 * what it is: "pooled" = all out-of-fold rows scored together (not the mean of the per-fold
 * figures, which is printed beside it), gains are per fold against always calling the baseline
 * model, with their mean ± standard error.
 */
export function describeAuto(a: AutoReport): string[] {
  const metric = a.objective === 'quality' ? 'mean quality (policy best)' : a.objective === 'aiq' ? 'AIQ (cost sweep)' : 'APGR (strong/weak)';
  const foldsText = (xs: readonly number[]): string => `per fold ${xs.map(f3).join(', ')} (their mean ${f3(meanOf(xs))})`;
  const lines = [
    `objective: ${metric}; ${a.folds}-fold CV on ${a.rows} records (fold rows ${a.foldRows.join('/')}), ${a.models.length} models, seed ${a.seed}`,
    `chosen: ${a.chosen.name}`,
    `  pooled out-of-fold ${metric}: ${f3(a.chosen.cv)} (all held-out rows scored together); ${foldsText(a.chosen.folds)}`,
    `why: ${a.why}`,
    `baseline, always calling ${a.baseline.model}: pooled ${f3(a.baseline.cv)}; ${foldsText(a.baseline.folds)}`,
    `gain of the best candidate (${a.best.name}) above always calling ${a.baseline.model}: per-fold differences ${a.gain.folds.map(signed).join(', ')}, mean ${signed(a.gain.mean)} ± ${f3(a.gain.se)} (se; sd ${f3(a.gain.sd)}); pooled difference ${f3(a.best.cv)} − ${f3(a.baseline.cv)} = ${signed(a.best.cv - a.baseline.cv)}`,
  ];
  if (a.procedure) {
    const p = a.procedure;
    lines.push(`guard (selection bias removed): gain of the selection procedure above always calling ${a.baseline.model}, each fold read with the candidate chosen on the other folds: ${p.folds.map(signed).join(', ')}, mean ${signed(p.mean)} ± ${f3(p.rowSe ?? p.se)} (${p.rowSe !== undefined ? `se from a bootstrap of each fold's test rows; ${f3(p.se)} from the spread of the folds` : 'se'}) → ${a.gain.verdict}${a.gain.verdict === 'gain' ? ` (more than ${GUARD_SE} se above zero)` : ` (not more than ${GUARD_SE} se above zero${p.rowSe !== undefined ? ' with most folds positive' : ''}: the router keeps the baseline model)`}`);
  } else {
    lines.push(`guard: chosen candidate's gain ${signed(a.gain.mean)} ± ${f3(a.gain.se)} (se) → ${a.gain.verdict} (a file from before the selection-procedure guard)`);
  }
  lines.push(`runner-up: ${a.runnerUp ? `${a.runnerUp.name} (pooled ${f3(a.runnerUp.cv)})` : '—'}`);
  if (a.calibration) lines.push(`calibration: Platt, ${a.chosen.cal === 'model' ? 'one per model' : 'one shared by all models'}, fitted on out-of-fold scores; ECE ${f3(a.calibration.eceBefore)} → ${f3(a.calibration.eceAfter)} (cross-fitted)`);
  if (a.costModel) lines.push(`cost per query from prompt ${a.costModel.kind ?? 'length'}: per-fold gain ${signed(a.costModel.gain)} (sd ${f3(a.costModel.sd)}) over mean costs → ${a.costModel.kept ? 'kept' : 'not kept (mean cost per model)'}`);
  if (a.operatingPoint) {
    const op = a.operatingPoint;
    const t = op.target.maxCost1k !== undefined ? `at most $${op.target.maxCost1k}/1k` : `quality at least ${op.target.minQuality}`;
    lines.push(`operating point for ${t} (calibrated on the out-of-fold sweep): ${op.text}${op.mixWith !== null ? `; serve it with policy cost, λ drawn per request: ${op.mixWith} with probability ${op.share.toFixed(3)}, else ${op.lambda} (lambdaFor in routecore/research)` : `; serve it with policy cost, λ=${op.lambda}`}`);
  }
  lines.push(`grid: ${a.evaluated} candidates (${a.grid.memberSets.map((s) => s.join(' + ')).join('; ')}; α ${a.grid.alphas.join('/')}; β ${a.grid.betas.join('/')}; calibration shared/per model; cost ${a.grid.costModels.join('/')})${a.skipped.length ? `; ${a.skipped.length} left out by the time budget` : ''}; ${a.seconds.toFixed(0)} s`);
  return lines;
}

/** `routecore train --auto ...` */
export async function cmdTrainAuto(args: string[]): Promise<void> {
  const { values, tokens } = parseArgs({
    args,
    strict: true,
    tokens: true,
    options: {
      auto: { type: 'boolean' },
      data: { type: 'string', multiple: true },
      weight: { type: 'string', multiple: true },
      out: { type: 'string' },
      objective: { type: 'string' },
      'budget-s': { type: 'string' },
      workers: { type: 'string' },
      folds: { type: 'string' },
      seed: { type: 'string' },
      half: { type: 'boolean' },
      description: { type: 'string' },
      json: { type: 'boolean' },
      'max-cost-1k': { type: 'string' },
      'min-quality': { type: 'string' },
      encoder: { type: 'string', multiple: true },
    },
  });
  if (!values.data?.length) throw new AutoUsageError('train --auto needs at least one --data F.jsonl');
  if (!values.out) throw new AutoUsageError('train --auto needs --out R.router');
  // --weight W applies to the --data given just before it; F.jsonl:W says the same in one token.
  const specs: DataSpec[] = [];
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    if (t.name === 'data') specs.push(parseDataSpec(t.value!));
    else if (t.name === 'weight') {
      const last = specs[specs.length - 1];
      if (!last) throw new AutoUsageError('--weight W must follow the --data F.jsonl it weighs');
      const w = num(t.value, '--weight')!;
      if (w < 0) throw new AutoUsageError(`--weight expects a number >= 0, got "${t.value}"`);
      last.weight = w;
    }
  }
  const objective = values.objective as AutoObjective | undefined;
  if (objective !== undefined && objective !== 'quality' && objective !== 'aiq' && objective !== 'apgr') {
    throw new AutoUsageError(`--objective expects quality, aiq or apgr, got "${values.objective}"`);
  }
  const budgetS = num(values['budget-s'], '--budget-s');
  if (budgetS !== undefined && !(budgetS > 0)) throw new AutoUsageError(`--budget-s expects a number of seconds > 0, got "${values['budget-s']}"`);
  const workers = num(values.workers, '--workers');
  const folds = num(values.folds, '--folds');
  const maxCost1k = num(values['max-cost-1k'], '--max-cost-1k');
  const minQuality = num(values['min-quality'], '--min-quality');
  if (maxCost1k !== undefined && minQuality !== undefined) throw new AutoUsageError('give --max-cost-1k or --min-quality, not both');
  if (maxCost1k !== undefined && !(maxCost1k >= 0)) throw new AutoUsageError(`--max-cost-1k expects USD per 1,000 queries >= 0, got "${values['max-cost-1k']}"`);
  const costTarget = maxCost1k !== undefined ? { maxCost1k } : minQuality !== undefined ? { minQuality } : undefined;
  const { files } = loadTrainingData(specs);
  for (const f of files) {
    process.stderr.write(`${f.file}: ${f.format}, ${f.records} records${f.unscored ? ` (+${f.unscored} log lines without a score, skipped)` : ''}, weight ${f.weight} → ${f.used} used\n`);
  }
  // --encoder hashing|static:DIR|mixed:DIR, repeatable: the grid runs per encoder, the best CV kept.
  const encoders = (values.encoder ?? []).map((e) => parseEncoderSpec(e, '--encoder'));
  const result = await train(specs, {
    seed: num(values.seed, '--seed'),
    description: values.description,
    auto: { objective, budgetS, workers, folds, onProgress: autoProgress(), ...(costTarget ? { costTarget } : {}) },
    ...(encoders.length === 1 ? (encoders[0]!.kind === 'hashing' ? {} : { encoder: encoders[0]! }) : encoders.length > 1 ? { encoders } : {}),
  });
  for (const e of result.encoders ?? []) {
    process.stderr.write(`encoder ${e.encoder}: chose ${e.chosen}, CV ${e.cv.toFixed(4)}${e.kept ? ' (kept)' : ''}\n`);
  }
  const a = result.auto!;
  try {
    await result.router.save(values.out, { halfPrecision: values.half === true });
  } finally {
    result.router.dispose();
  }
  if (values.json) process.stdout.write(JSON.stringify(a) + '\n');
  else for (const l of describeAuto(a)) process.stdout.write(l + '\n');
  process.stderr.write(`wrote ${values.out}\n`);
}

/** Lines for `routecore info --router R`. */
export function describeRouterAuto(auto: Record<string, unknown> | undefined): string[] {
  if (auto === undefined) return ['auto: not trained with --auto'];
  if (auto['version'] !== 1) throw new RoutecoreError('ERR_ROUTECORE_ARTIFACT_VERSION', `router file metadata "routecore.auto" has version ${String(auto['version'])}; this routecore reads version 1`);
  return describeAuto(auto as unknown as AutoReport).map((l) => `auto ${l}`);
}
