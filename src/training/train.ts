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
import { encoderSpec, type EncoderChoice } from '../encoders/spec.js';

export type { EpochInfo, PredictorKind, PredictorOptions, PredictorResult } from './fit.js';

/** Options of {@link train}. Defaults are the ones the shipped routers use. */
export interface TrainOptions extends PredictorOptions {
  /**
   * Choose the predictor, ensemble, label shrinkage, prior blend and calibration by k-fold
   * cross-validation on this data (see `auto.ts`); `true` for the defaults. The predictor options
   * above must then be left unset.
   */
  auto?: boolean | AutoOptions;
  /**
   * With `auto`: the text encoders to consider (`{ kind: 'hashing' }`, `{ kind: 'static', model }`,
   * `{ kind: 'mixed', model }`). Each runs the whole cross-validated selection on the same folds;
   * the encoder whose chosen candidate has the best cross-validated metric is kept (ties to the
   * earlier one). Leave `encoder` unset with it.
   */
  encoders?: EncoderChoice[];
}

/** What {@link train} reports besides the router. */
export interface TrainResult extends PredictorResult {
  /** With `auto`: what was chosen and why (also stored in the artifact). */
  auto?: AutoReport;
  /** With `auto` and `encoders`: each encoder's chosen candidate and cross-validated metric. */
  encoders?: Array<{ encoder: string; chosen: string; cv: number; kept: boolean }>;
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
  if (options.encoders !== undefined && (options.auto === undefined || options.auto === false)) {
    throw invalidArgument('options.encoders', 'unset without options.auto (one encoder trains with options.encoder)', options.encoders);
  }
  if (options.auto !== undefined && options.auto !== false) {
    if (options.encoders !== undefined) return autoTrainEncoders(data, options);
    return autoTrain(data, options);
  }
  return trainPredictor(data, options);
}

/** `auto` over several encoders: the whole selection per encoder, the best cross-validated kept. */
async function autoTrainEncoders(
  data: string | readonly string[] | readonly OutcomeRecord[] | readonly PairwiseRecord[] | readonly DataSpec[],
  options: TrainOptions,
): Promise<TrainResult> {
  const { encoders, ...rest } = options;
  if (!Array.isArray(encoders) || encoders.length === 0) throw invalidArgument('options.encoders', 'a non-empty array of encoders ({ kind, model })', encoders);
  if (options.encoder !== undefined) throw invalidArgument('options.encoder', 'unset with options.encoders (list every encoder there)', options.encoder);
  let best: TrainResult | undefined;
  let bestCv = -Infinity;
  const tried: NonNullable<TrainResult['encoders']> = [];
  for (const [i, choice] of encoders.entries()) {
    if (typeof choice !== 'object' || choice === null) throw invalidArgument(`options.encoders[${i}]`, 'an encoder { kind, model }', choice);
    const result = await autoTrain(data, { ...rest, ...(choice.kind === 'hashing' ? {} : { encoder: choice }) });
    const cv = result.auto.chosen.cv;
    tried.push({ encoder: encoderSpec(choice), chosen: result.auto.chosen.name, cv, kept: false });
    if (best === undefined || cv > bestCv) {
      best?.router.dispose();
      best = result;
      bestCv = cv;
    } else {
      result.router.dispose();
    }
  }
  tried[tried.findIndex((t) => t.cv === bestCv)]!.kept = true;
  return { ...best!, encoders: tried };
}
