/**
 * Training a router from outcome records: the encoder and predictor are fitted natively, off the
 * JS thread; this module turns records into labels and writes the training summary.
 * @module
 */
import { basename } from 'node:path';

import { resolveBackend, type BackendRequest } from './backend.js';
import { RoutecoreError, invalidArgument } from './errors.js';
import { readOutcomes, modelIdsOf, type OutcomeRecord, type ReadReport } from './data.js';
import { binding, rethrowNative, type NativeEpochInfo, type NativeTrainOptions } from './native.js';
import { META, Router, type RouterOptions, type TrainingSummary } from './router.js';

/** Predictors this version trains. */
export type PredictorKind = 'mlp' | 'linear' | 'kmeans';

/** Options of {@link train}. Defaults are the ones the shipped routers use. */
export interface TrainOptions {
  /** `mlp` (default): hashed n-grams -> hidden ReLU layer -> one sigmoid per model. `linear`: logistic regression per model. */
  predictor?: PredictorKind;
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
  /** Hashing encoder: 2^log2Buckets buckets (default 16), word n-grams up to wordNgramMax (2), char n-grams charNgramMin..charNgramMax (3..5). */
  encoder?: { log2Buckets?: number; wordNgramMax?: number; charNgramMin?: number; charNgramMax?: number };
  /** Called after every epoch. */
  onEpoch?: (info: NativeEpochInfo) => void;
  /** Free text stored in the artifact. */
  description?: string;
  /**
   * Train a `precomputed` router on your own embeddings instead of the prompts' text: row-major
   * `records x dim` floats, row i for record i. The router then routes embeddings
   * ({@link Router.routeEmbeddingSync}), not text.
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

/** What {@link train} reports besides the router. */
export interface TrainResult {
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

const KNOWN_OPTIONS = new Set([
  'predictor', 'clusters', 'restarts', 'hidden', 'learningRate', 'weightDecay', 'batchSize', 'maxEpochs', 'patience', 'validationFraction', 'seed',
  'encoder', 'onEpoch', 'description', 'metadata', 'embeddings', 'backend', 'threads', 'router',
]);

/**
 * Trains a router on outcome records (see DESIGN.md, "Data formats"): from JSONL files, or from
 * records already in memory. Models missing from a record count as unknown for that prompt, not as
 * failures. Bad lines are errors naming file and line.
 */
export async function train(data: string | readonly string[] | readonly OutcomeRecord[], options: TrainOptions = {}): Promise<TrainResult> {
  const started = performance.now();
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object', options);
  for (const k of Object.keys(options)) if (!KNOWN_OPTIONS.has(k)) throw invalidArgument(`options.${k}`, 'a known training option', k);
  const predictor = options.predictor ?? 'mlp';
  if (predictor !== 'mlp' && predictor !== 'linear' && predictor !== 'kmeans') {
    throw invalidArgument('options.predictor', '"mlp", "linear" or "kmeans"', predictor);
  }
  if (options.onEpoch !== undefined && typeof options.onEpoch !== 'function') throw invalidArgument('options.onEpoch', 'a function', options.onEpoch);

  let records: OutcomeRecord[];
  const files: ReadReport[] = [];
  if (typeof data === 'string' || (Array.isArray(data) && data.length > 0 && typeof data[0] === 'string')) {
    records = [];
    for (const f of (typeof data === 'string' ? [data] : data) as string[]) {
      if (typeof f !== 'string') throw invalidArgument('data', 'file paths (all strings)', f);
      const r = readOutcomes(f);
      files.push(r.report);
      for (const rec of r.records) records.push(rec);
    }
  } else if (Array.isArray(data)) {
    records = data as OutcomeRecord[];
  } else {
    throw invalidArgument('data', 'a JSONL path, an array of paths, or an array of outcome records', data);
  }
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

  const enc = options.encoder ?? {};
  const nativeOptions: NativeTrainOptions = {
    ...enc,
    predictor,
    clusters: options.clusters,
    restarts: options.restarts,
    hidden: predictor === 'mlp' ? (options.hidden ?? 32) : 0,
    learningRate: options.learningRate ?? (predictor === 'linear' ? 0.02 : 0.002),
    weightDecay: options.weightDecay,
    batchSize: options.batchSize,
    maxEpochs: options.maxEpochs,
    patience: options.patience,
    validationFraction: options.validationFraction,
    seed: options.seed,
  };
  if (predictor === 'mlp' && nativeOptions.hidden === 0) throw invalidArgument('options.hidden', 'an integer >= 1 for the mlp predictor', options.hidden);
  for (const [k, v] of Object.entries(nativeOptions)) {
    if (k === 'predictor') continue;
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

  const { backend, threads } = resolveBackend({ backend: options.backend, threads: options.threads });
  let result;
  try {
    if (options.embeddings !== undefined) {
      const x = options.embeddings;
      if (!(x instanceof Float32Array) || x.length === 0 || x.length % records.length !== 0) {
        throw invalidArgument('options.embeddings', `a Float32Array of records x dim floats (${records.length} records)`, x);
      }
      const dim = x.length / records.length;
      result = await binding().NativeRouter.trainEmbeddings(x, records.length, dim, labels, M, nativeOptions, metadata, backend, threads, options.onEpoch);
    } else {
      const text = Buffer.from(records.map((r) => r.prompt).join(''), 'utf8');
      const offsets = new Uint32Array(records.length + 1);
      let pos = 0;
      for (let i = 0; i < records.length; i++) {
        pos += Buffer.byteLength(records[i]!.prompt, 'utf8');
        offsets[i + 1] = pos;
      }
      result = await binding().NativeRouter.train(text, offsets, records.length, labels, M, nativeOptions, metadata, backend, threads, options.onEpoch);
    }
  } catch (err) {
    rethrowNative(err, 'training failed');
  }
  const router = new Router(result.router, options.router ?? {});
  return { router, summary, report: result.report, files, seconds: (performance.now() - started) / 1000 };
}
