/**
 * k-fold cross-validation of a training recipe ({@link crossValidate}). It lives apart from eval.ts
 * because it trains routers: evaluation itself stays below training (auto.ts selects by
 * `evaluateScores`), and this module sits above both, so neither imports the other in a circle.
 * @module
 */
import { RoutecoreError, invalidArgument } from '../errors.js';
import { modelIdsOf, type OutcomeRecord } from '../training/data.js';
import { fnv1a32 } from '../training/hash.js';
import { train, type TrainOptions } from '../training/train.js';
import { checkOptions, checkRecords, evaluateCore, type EvalOptions, type EvalReport } from './eval.js';

/** Options of {@link crossValidate}. */
export interface CrossValidateOptions extends EvalOptions {
  /** Folds, an integer ≥ 2; default 5. */
  folds?: number;
  /** Passed to {@link train} for every fold (`router` options are ignored). */
  trainOptions?: TrainOptions;
}

/**
 * k-fold cross-validation: each record goes to fold `fnv1a32(id) mod k` (records sharing an id share
 * a fold); a router is trained on the other k − 1 folds and scores the held-out one; the held-out
 * predictions of all folds are pooled and evaluated as one test set (each row's `cost` decisions use
 * its own fold router's training mean costs). Folds with no rows are skipped with a warning.
 */
export async function crossValidate(records: OutcomeRecord[], options: CrossValidateOptions = {}): Promise<EvalReport> {
  const recs = checkRecords(records);
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object', options);
  const { folds = 5, trainOptions = {}, ...evalOptions } = options;
  checkOptions(evalOptions);
  if (!Number.isSafeInteger(folds) || folds < 2 || folds > recs.length) {
    throw invalidArgument('options.folds', `an integer from 2 to the number of records (${recs.length})`, folds);
  }
  if (typeof trainOptions !== 'object' || trainOptions === null) throw invalidArgument('options.trainOptions', 'an object', trainOptions);
  const models = modelIdsOf(recs);
  const M = models.length;
  const col = new Map(models.map((id, j) => [id, j]));
  const n = recs.length;
  const foldOf = new Int32Array(n);
  const foldRows = new Array<number>(folds).fill(0);
  for (let i = 0; i < n; i++) {
    foldOf[i] = fnv1a32(recs[i]!.id) % folds;
    foldRows[foldOf[i]!]!++;
  }
  const scores = new Float32Array(n * M).fill(NaN);
  const foldExpectedCost: ((id: string) => number | undefined)[] = [];
  const warnings: string[] = [];
  const { router: _ignored, ...topts } = trainOptions;
  for (let f = 0; f < folds; f++) {
    const test: number[] = [];
    const trainRecs: OutcomeRecord[] = [];
    for (let i = 0; i < n; i++) {
      if (foldOf[i] === f) test.push(i);
      else trainRecs.push(recs[i]!);
    }
    if (test.length === 0) {
      warnings.push(`fold ${f + 1} of ${folds} has no rows (ids hash unevenly); skipped`);
      foldExpectedCost.push(() => undefined);
      evalOptions.onProgress?.(f + 1, folds);
      continue;
    }
    if (trainRecs.length === 0) throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `fold ${f + 1} of ${folds} holds every record: nothing to train on`);
    const { router } = await train(trainRecs, topts);
    try {
      const part = await router.scores(test.map((i) => recs[i]!.prompt));
      const ids = router.models;
      const m = ids.length;
      for (let c = 0; c < m; c++) {
        const j = col.get(ids[c]!);
        if (j === undefined) continue;
        for (let t = 0; t < test.length; t++) scores[test[t]! * M + j] = part[t * m + c]!;
      }
      const training = router.training;
      foldExpectedCost.push((id) => training?.models[id]?.meanCost ?? undefined);
    } finally {
      router.dispose();
    }
    evalOptions.onProgress?.(f + 1, folds);
  }
  const report = evaluateCore(models, scores, recs, { ...evalOptions, foldOf, foldExpectedCost });
  report.warnings.unshift(...warnings);
  report.cv = { folds, foldRows, predictor: topts.predictor ?? 'mlp' };
  return report;
}
