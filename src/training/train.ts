/**
 * `train()`, the public training entry point: one predictor (fit.ts) or, with `auto`, the
 * cross-validated selection of predictor, ensemble and calibration (auto.ts), which itself trains
 * its members through fit.ts. This module sits above both so that neither imports the other's caller.
 * @module
 */
import { invalidArgument } from '../errors.js';
import type { OutcomeRecord, PairwiseRecord } from './data.js';
import type { DataSpec } from './auto-data.js';
import { autoTrain, type AutoOptions, type AutoReport } from './auto.js';
import { checkTrainOptions, trainPredictor, type PredictorOptions, type PredictorResult } from './fit.js';

export type { EpochInfo, PredictorKind, PredictorOptions, PredictorResult } from './fit.js';

/** Options of {@link train}. Defaults are the ones the shipped routers use. */
export interface TrainOptions extends PredictorOptions {
  /**
   * Choose the predictor, ensemble, label shrinkage, prior blend and calibration by k-fold
   * cross-validation on this data (see `auto.ts`); `true` for the defaults. The predictor options
   * above must then be left unset.
   */
  auto?: boolean | AutoOptions;
}

/** What {@link train} reports besides the router. */
export interface TrainResult extends PredictorResult {
  /** With `auto`: what was chosen and why (also stored in the artifact). */
  auto?: AutoReport;
}

/**
 * Trains a router on outcome records or on pairwise preference records (see docs/ARCHITECTURE.md, "Data
 * formats"): from JSONL files (each file's format is recognised from its first line; all files
 * must hold the same one), or from records already in memory. Models missing from an outcome
 * record count as unknown for that prompt, not as failures. Bad lines are errors naming file and
 * line. Pairwise data trains `mf`, `mlp`, `linear` with a Bradley–Terry loss and `knn` as
 * similarity-weighted ranking; the router's scores are then strengths through a sigmoid, and
 * P(a beats b) = sigmoid(logit q_a − logit q_b) (the `threshold` policy uses exactly that).
 * With `options.auto`, the predictor and the rest are chosen by cross-validation (auto.ts), and
 * the data may also be weighted `{ path, weight }` files.
 */
export async function train(
  data: string | readonly string[] | readonly OutcomeRecord[] | readonly PairwiseRecord[] | readonly DataSpec[],
  options: TrainOptions = {},
): Promise<TrainResult> {
  checkTrainOptions(options);
  if (options.auto !== undefined && options.auto !== false) {
    // The --auto grid (its ridge members fit the hashing encoder's TF-IDF rows; its ensemble members
    // ride in the file's header) is built for the hashing encoder: say so rather than train one.
    const kind = options.encoder?.kind;
    if (kind !== undefined && kind !== 'hashing') {
      throw invalidArgument('options.encoder.kind', `"hashing" with options.auto (a ${kind} encoder trains with a fixed predictor; compare encoders by CV with scripts/encoder-quality.ts)`, kind);
    }
    return autoTrain(data, options);
  }
  return trainPredictor(data, options);
}
