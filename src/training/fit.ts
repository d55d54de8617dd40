/**
 * Training one predictor: the encoder and predictor are fitted natively, off the JS thread; this
 * module turns records into labels and writes the training summary. `train()` (train.ts) is the
 * public entry point that also dispatches to the cross-validated selection (auto.ts), which trains
 * its members here: keeping this module free of auto.ts is what keeps training free of cycles.
 * @module
 */
import { basename } from 'node:path';

import { resolveBackend, type BackendRequest } from '../addon/backend.js';
import { RoutecoreError, invalidArgument } from '../errors.js';
import { readOutcomes, readPairwise, sniffFormat, modelIdsOf, type OutcomeRecord, type PairwiseRecord, type ReadReport } from './data.js';
import { binding, rethrowNative, type NativeBinding, type NativeTrainOptions } from '../addon/native.js';
import { META, type RouterOptions, type TrainingSummary } from '../routing/router.js';
import { Router } from '../app/router.js';
import { staticTrainingOptions, type EncoderChoice } from '../encoders/spec.js';
import { ENCODER_META, checkEncoder } from '../routing/encoder.js';
import type { DataSpec } from './auto-data.js';

/** What {@link PredictorOptions.onEpoch} receives after every epoch. */
export interface EpochInfo {
  /** 1-based epoch number. */
  epoch: number;
  /** The epoch cap in force (`maxEpochs`). */
  maxEpochs: number;
  /** Mean training loss of this epoch. */
  trainLoss: number;
  /** Loss on the held-out validation rows after this epoch; NaN when there is no validation slice. */
  validationLoss: number;
}

/** Predictors this version trains. */
export type PredictorKind = 'mlp' | 'linear' | 'mf' | 'knn' | 'kmeans';

const PREDICTORS: readonly PredictorKind[] = ['mlp', 'linear', 'mf', 'knn', 'kmeans'];

/**
 * Options of {@link trainPredictor} (and of `train()`, which adds `auto`). Defaults are the ones the
 * shipped routers use.
 */
export interface PredictorOptions {
  /**
   * `mlp` (default): hashed n-grams -> hidden ReLU layer -> one sigmoid per model. `linear`:
   * logistic regression per model. `mf`: matrix factorisation (RouteLLM MF), the prompt projected
   * to `dim` dimensions, score = sigmoid(projection · model embedding + bias). `knn`: the
   * similarity-weighted mean of the `k` most similar training prompts' scores (on pairwise data,
   * RouteLLM's similarity-weighted Bradley–Terry ranking over them). `kmeans`: the clustering router.
   */
  predictor?: PredictorKind;
  /** `knn`: neighbours per prompt, default 20 (at most 256). */
  k?: number;
  /** `mf`: projection width, default 64. `knn` on text: width of the sparse random sign projection the prompts are compared in, default 128. */
  dim?: number;
  /** `kmeans`: number of clusters (default 16) and k-means++ restarts (default 3; the best objective wins). `maxEpochs` caps its iterations. */
  clusters?: number;
  restarts?: number;
  /** Hidden width of `mlp`; default 32 (each routed prompt reads one table row of this width per n-gram, so width is latency). */
  hidden?: number;
  /** Adam learning rate; default 0.002 (mlp), 0.02 (linear). */
  learningRate?: number;
  /** Decoupled weight decay; default 1e-4. */
  weightDecay?: number;
  /** Mini-batch size; default 64. */
  batchSize?: number;
  /** Epoch cap; default 30. Training stops earlier when validation loss stops improving. */
  maxEpochs?: number;
  /** Epochs without validation improvement before stopping; default 4. */
  patience?: number;
  /** Share of rows held out for early stopping; default 0.1. */
  validationFraction?: number;
  /** Seed of initialisation and shuffling; the same seed and data give the same router. */
  seed?: number;
  /**
   * The text encoder. Hashing (the default): 2^log2Buckets buckets (default 16), word n-grams up to
   * wordNgramMax (2), char n-grams charNgramMin..charNgramMax (3..5). With `kind: 'static'` a
   * model2vec-layout model (`model`: its directory or a StaticModel) encodes instead; `kind:
   * 'mixed'` uses both, side by side ({@link EncoderChoice}).
   */
  encoder?: { log2Buckets?: number; wordNgramMax?: number; charNgramMin?: number; charNgramMax?: number } & Partial<EncoderChoice>;
  /** Called after every epoch. */
  onEpoch?: (info: EpochInfo) => void;
  /** Free text stored in the artifact. */
  description?: string;
  /**
   * Train a `precomputed` router on your own embeddings instead of the prompts' text: row-major
   * `records x dim` floats, row i for record i. The router then routes embeddings
   * ({@link Router.routeEmbeddingSync}), and text too when `router.encoder` gives the Encoder that
   * made these rows (its name is recorded in the artifact; see src/routing/encoder.ts).
   */
  embeddings?: Float32Array;
  /** Extra string entries for the artifact's metadata (e.g. `routecore.registry` list prices). */
  metadata?: Record<string, string>;
  /** Backend and threads for the returned router. */
  backend?: BackendRequest;
  threads?: number;
  /** Options for the returned Router (registry, aliases, policy...). */
  router?: RouterOptions;
}

/** What {@link trainPredictor} reports besides the router. */
export interface PredictorResult {
  router: Router;
  /** Rows used, per-model means, files read. */
  summary: TrainingSummary;
  /** Epochs run, best epoch, losses, early stopping. */
  report: { epochs: number; bestEpoch: number; trainRows: number; validationRows: number; bestValidationLoss: number; finalTrainLoss: number; stoppedEarly: boolean };
  /** Per input file: lines read and records kept. */
  files: ReadReport[];
  /** Wall-clock seconds. */
  seconds: number;
}

// 'auto' is known here so that `train(data, { auto: false })` passes through to trainPredictor.
const KNOWN_OPTIONS = new Set([
  'predictor', 'k', 'dim', 'clusters', 'restarts', 'hidden', 'learningRate', 'weightDecay', 'batchSize', 'maxEpochs', 'patience', 'validationFraction', 'seed',
  'encoder', 'onEpoch', 'description', 'metadata', 'embeddings', 'backend', 'threads', 'router', 'auto', 'encoders',
]);

/**
 * Checks that `options` is an object of known training options (`auto` included); the first check
 * of both `train()` and {@link trainPredictor}.
 */
export function checkTrainOptions(options: unknown): asserts options is PredictorOptions {
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object', options);
  for (const k of Object.keys(options)) if (!KNOWN_OPTIONS.has(k)) throw invalidArgument(`options.${k}`, 'a known training option', k);
}

/**
 * Trains a router on outcome records or on pairwise preference records (see docs/ARCHITECTURE.md, "Data
 * formats"): from JSONL files (each file's format is recognised from its first line; all files
 * must hold the same one), or from records already in memory. Models missing from an outcome
 * record count as unknown for that prompt, not as failures. Bad lines are errors naming file and
 * line. Pairwise data trains `mf`, `mlp`, `linear` with a Bradley–Terry loss and `knn` as
 * similarity-weighted ranking; the router's scores are then strengths through a sigmoid, and
 * P(a beats b) = sigmoid(logit q_a − logit q_b) (the `threshold` policy uses exactly that).
 */
export async function trainPredictor(
  data: string | readonly string[] | readonly OutcomeRecord[] | readonly PairwiseRecord[] | readonly DataSpec[],
  options: PredictorOptions = {},
): Promise<PredictorResult> {
  const started = performance.now();
  checkTrainOptions(options);
  if (Array.isArray(data) && typeof data[0] === 'object' && data[0] !== null && 'path' in data[0] && !('prompt' in data[0])) {
    throw invalidArgument('data', 'paths or records (weighted { path, weight } files need options.auto)', data[0]);
  }
  const predictor = options.predictor ?? 'mlp';
  if (!PREDICTORS.includes(predictor)) throw invalidArgument('options.predictor', PREDICTORS.map((p) => `"${p}"`).join(', '), predictor);
  if (options.onEpoch !== undefined && typeof options.onEpoch !== 'function') throw invalidArgument('options.onEpoch', 'a function', options.onEpoch);

  let records: OutcomeRecord[] = [];
  let battles: PairwiseRecord[] | undefined;
  const files: ReadReport[] = [];
  if (typeof data === 'string' || (Array.isArray(data) && data.length > 0 && typeof data[0] === 'string')) {
    const paths = (typeof data === 'string' ? [data] : data) as string[];
    let format: 'outcome' | 'pairwise' | undefined;
    for (const f of paths) {
      if (typeof f !== 'string') throw invalidArgument('data', 'file paths (all strings)', f);
      const here = sniffFormat(f);
      if (format !== undefined && here !== format) {
        throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `${f} holds ${here} records but ${paths[0]} holds ${format} records: train on one format at a time`);
      }
      format = here;
      if (here === 'pairwise') {
        const r = readPairwise(f);
        files.push(r.report);
        battles ??= [];
        for (const rec of r.records) battles.push(rec);
      } else {
        const r = readOutcomes(f);
        files.push(r.report);
        for (const rec of r.records) records.push(rec);
      }
    }
  } else if (Array.isArray(data)) {
    const first: unknown = data[0];
    if (typeof first === 'object' && first !== null && 'modelA' in first) battles = data as PairwiseRecord[];
    else records = data as OutcomeRecord[];
  } else {
    throw invalidArgument('data', 'a JSONL path, an array of paths, or an array of outcome or pairwise records', data);
  }
  if (battles) return trainPairwise(battles, files, predictor, options, started);
  if (records.length === 0) throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', 'no training records');

  const models = modelIdsOf(records);
  const M = models.length;
  const labels = new Float32Array(records.length * M).fill(NaN);
  const perModel: TrainingSummary['models'] = {};
  const sums = new Float64Array(M), costSums = new Float64Array(M), counts = new Uint32Array(M), costCounts = new Uint32Array(M);
  const col = new Map(models.map((id, j) => [id, j]));
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    if (typeof r?.prompt !== 'string' || r.prompt === '') throw invalidArgument(`data[${i}].prompt`, 'a non-empty string', r?.prompt);
    if (typeof r.scores !== 'object' || r.scores === null) throw invalidArgument(`data[${i}].scores`, 'an object of model id -> score in [0,1]', r.scores);
    for (const [id, s] of Object.entries(r.scores)) {
      if (typeof s !== 'number' || !(s >= 0 && s <= 1)) {
        throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `data[${i}] (id "${r.id}"): scores["${id}"] = ${String(s)} is not a number in [0,1]`);
      }
      const j = col.get(id)!;
      labels[i * M + j] = s;
      sums[j] += s;
      counts[j]++;
    }
    if (r.costs) {
      for (const [id, c] of Object.entries(r.costs)) {
        const j = col.get(id);
        if (j === undefined) continue; // a cost for a model with no score teaches nothing
        if (typeof c !== 'number' || !(c >= 0) || !Number.isFinite(c)) {
          throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `data[${i}] (id "${r.id}"): costs["${id}"] = ${String(c)} is not a non-negative number`);
        }
        costSums[j] += c;
        costCounts[j]++;
      }
    }
  }
  for (let j = 0; j < M; j++) {
    perModel[models[j]!] = {
      meanScore: counts[j] ? sums[j]! / counts[j]! : 0,
      meanCost: costCounts[j] ? costSums[j]! / costCounts[j]! : null,
      rows: counts[j]!,
    };
  }
  const summary: TrainingSummary = { rows: records.length, files: files.map((f) => basename(f.file)), models: perModel, predictor };
  return runNative(records.map((r) => r.prompt), labels, models, summary, files, predictor, options, started, false);
}

/**
 * Pairwise records -> battles (model a, model b, outcome: 1 when a won, 0 when b won, ½ a tie).
 * Per-model summary: battles fought and the share won (ties half).
 */
async function trainPairwise(
  battles: readonly PairwiseRecord[],
  files: ReadReport[],
  predictor: PredictorKind,
  options: PredictorOptions,
  started: number,
): Promise<PredictorResult> {
  if (battles.length === 0) throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', 'no training records');
  if (predictor === 'kmeans') throw invalidArgument('options.predictor', 'mf, knn, mlp or linear for pairwise data (kmeans needs per-model scores)', predictor);
  const col = new Map<string, number>();
  const models: string[] = [];
  const idOf = (id: string): number => {
    let j = col.get(id);
    if (j === undefined) {
      j = models.push(id) - 1;
      col.set(id, j);
    }
    return j;
  };
  const labels = new Float32Array(battles.length * 3);
  const prompts: string[] = [];
  for (let i = 0; i < battles.length; i++) {
    const b = battles[i]!;
    if (typeof b?.prompt !== 'string' || b.prompt === '') throw invalidArgument(`data[${i}].prompt`, 'a non-empty string', b?.prompt);
    if (typeof b.modelA !== 'string' || typeof b.modelB !== 'string' || b.modelA === b.modelB || b.modelA === '' || b.modelB === '') {
      throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `data[${i}] (id "${b.id}"): modelA and modelB must be two different model ids`);
    }
    if (b.winner !== 'model_a' && b.winner !== 'model_b' && b.winner !== 'tie') {
      throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `data[${i}] (id "${b.id}"): winner must be "model_a", "model_b" or "tie", got ${JSON.stringify(b.winner)}`);
    }
    labels[i * 3] = idOf(b.modelA);
    labels[i * 3 + 1] = idOf(b.modelB);
    labels[i * 3 + 2] = b.winner === 'model_a' ? 1 : b.winner === 'model_b' ? 0 : 0.5;
    prompts.push(b.prompt);
  }
  if (models.length < 2) throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', 'pairwise data must name at least two models');
  const won = new Float64Array(models.length), fought = new Uint32Array(models.length);
  for (let i = 0; i < battles.length; i++) {
    const a = labels[i * 3]!, b = labels[i * 3 + 1]!, y = labels[i * 3 + 2]!;
    won[a] += y;
    won[b] += 1 - y;
    fought[a]++;
    fought[b]++;
  }
  const perModel: TrainingSummary['models'] = {};
  models.forEach((id, j) => {
    perModel[id] = { meanScore: fought[j] ? won[j]! / fought[j]! : 0, meanCost: null, rows: fought[j]! };
  });
  const summary: TrainingSummary = { rows: battles.length, files: files.map((f) => basename(f.file)), models: perModel, predictor, objective: 'pairwise' };
  return runNative(prompts, labels, models, summary, files, predictor, options, started, true);
}

/** Validates the numeric options, builds the metadata and runs the native trainer. */
async function runNative(
  prompts: readonly string[],
  labels: Float32Array,
  models: string[],
  summary: TrainingSummary,
  files: ReadReport[],
  predictor: PredictorKind,
  options: PredictorOptions,
  started: number,
  pairwise: boolean,
): Promise<PredictorResult> {
  const M = models.length;
  const rows = prompts.length;
  const { kind, model, embed, maxTokens, precision, ...enc } = options.encoder ?? {};
  const nativeOptions: NativeTrainOptions = {
    ...enc,
    predictor,
    pairwise,
    clusters: options.clusters,
    restarts: options.restarts,
    k: options.k,
    dim: predictor === 'knn' ? options.dim : undefined,
    hidden: predictor === 'mlp' ? (options.hidden ?? 32) : predictor === 'mf' ? (options.dim ?? 64) : 0,
    learningRate: options.learningRate ?? (predictor === 'linear' ? 0.02 : predictor === 'mf' ? 0.005 : 0.002),
    weightDecay: options.weightDecay,
    batchSize: options.batchSize,
    maxEpochs: options.maxEpochs,
    patience: options.patience,
    validationFraction: options.validationFraction,
    seed: options.seed,
  };
  if (predictor === 'mlp' && nativeOptions.hidden === 0) throw invalidArgument('options.hidden', 'an integer >= 1 for the mlp predictor', options.hidden);
  if (predictor === 'mf' && nativeOptions.hidden === 0) throw invalidArgument('options.dim', 'an integer >= 1 for the mf predictor', options.dim);
  for (const [k, v] of Object.entries(nativeOptions)) {
    if (k === 'predictor' || k === 'pairwise') continue;
    if (v === undefined) delete (nativeOptions as Record<string, unknown>)[k];
    else if (typeof v !== 'number' || !Number.isFinite(v)) throw invalidArgument(k in enc ? `options.encoder.${k}` : `options.${k}`, 'a finite number', v);
  }
  const metadata: Record<string, string> = {
    [META.models]: JSON.stringify(models),
    [META.training]: JSON.stringify({ ...summary, options: { ...nativeOptions } }),
  };
  if (options.description !== undefined) metadata[META.description] = String(options.description);
  for (const [k, v] of Object.entries(options.metadata ?? {})) {
    if (typeof v !== 'string') throw invalidArgument(`options.metadata["${k}"]`, 'a string', v);
    if (k in metadata || k.startsWith('format') || k.startsWith('encoder') || k.startsWith('predictor')) {
      throw invalidArgument(`options.metadata["${k}"]`, 'a key routecore does not set itself', k);
    }
    metadata[k] = v;
  }
  const textEncoder = options.router?.encoder;
  if (options.embeddings !== undefined && textEncoder !== undefined) metadata[ENCODER_META] = checkEncoder(textEncoder, 'options.router.encoder').name;

  if (kind !== undefined) {
    const chosen = staticTrainingOptions({ kind, model, embed, maxTokens, precision });
    Object.assign(nativeOptions, chosen.native);
    Object.assign(metadata, chosen.metadata);
  }

  const { backend, threads } = resolveBackend({ backend: options.backend, threads: options.threads });
  let result: Awaited<ReturnType<NativeBinding['NativeRouter']['train']>>;
  try {
    if (options.embeddings !== undefined) {
      const x = options.embeddings;
      if (!(x instanceof Float32Array) || x.length === 0 || x.length % rows !== 0) {
        throw invalidArgument('options.embeddings', `a Float32Array of records x dim floats (${rows} records)`, x);
      }
      const dim = x.length / rows;
      result = await binding().NativeRouter.trainEmbeddings(x, rows, dim, labels, M, nativeOptions, metadata, backend, threads, options.onEpoch);
    } else {
      const text = Buffer.from(prompts.join(''), 'utf8');
      const offsets = new Uint32Array(rows + 1);
      let pos = 0;
      for (let i = 0; i < rows; i++) {
        pos += Buffer.byteLength(prompts[i]!, 'utf8');
        offsets[i + 1] = pos;
      }
      result = await binding().NativeRouter.train(text, offsets, rows, labels, M, nativeOptions, metadata, backend, threads, options.onEpoch);
    }
  } catch (err) {
    rethrowNative(err, 'training failed');
  }
  const router = new Router(result.router, options.router ?? {});
  return { router, summary, report: result.report, files, seconds: (performance.now() - started) / 1000 };
}
