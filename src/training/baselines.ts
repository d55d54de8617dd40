/**
 * Reference routers in plain TypeScript on the hashing encoder's TF-IDF rows: **TF-IDF ridge** and
 * **TF-IDF kNN**, the two baselines of `../shared/data/README.md` ("a router worth shipping beats
 * these"), so that `routecore eval`, `train --auto` and the results page can say whether a router
 * beats them without Python.
 *
 * **Features.** The product's own hashing encoder (native, DESIGN.md "Encoder"): word 1–2-grams and
 * character 3–5-grams of the normalised text, sign-hashed into 2^k buckets, sublinear TF × IDF
 * fitted on the training prompts, each row L2-normalised. It is fitted here by training a throwaway
 * one-neighbour `knn` router on the training prompts (the cheapest fit of the encoder) and asking it
 * for the rows (`encode`). Against scikit-learn's `TfidfVectorizer` (the README's reference) the
 * differences are hashing (2^18 buckets by default here: few collisions, and sign hashing makes the
 * rest cancel on average) and sublinear TF; nothing is tuned to the data.
 *
 * **Ridge** ({@link ridgeFit}): per model, least squares on the rows that score it, penalty λ·‖w‖²
 * with λ = 1 (scikit-learn's default `Ridge(alpha=1)`), targets centred on the model's mean (the
 * intercept, unpenalised); solved by conjugate gradients on the normal equations, several models
 * at a time, to a relative residual of 1e-4 or 300 iterations.
 *
 * **kNN** ({@link knnScores}): cosine similarity (rows are unit vectors, so a sparse dot product
 * through an inverted index), for each model the k = 20 most similar training rows **that score
 * that model** (rows without the model's score are skipped for it, so a model scored on few
 * prompts still gets k neighbours), the similarity-weighted mean of their scores (weight =
 * max(similarity, 0) + 1e-6, so a query far from everything gets the plain mean of its neighbours);
 * a model no training row scores gets 0.5.
 * @module
 */
import { binding, rethrowNative, type NativeRouterHandle } from '../addon/native.js';
import { TFIDF_KNN_KEY, encodeRows, knnScores, tfidfKnnMetadata, type CsrRows } from '../routing/tfidf-knn.js';
import { Router } from '../app/router.js';
import { invalidArgument } from '../errors.js';
import { modelIdsOf, type OutcomeRecord } from './data.js';
import { trainPredictor, type PredictorOptions } from './fit.js';

export { knnScores, type CsrRows };

/** Encoder options of the reference baselines: the product's n-grams in 2^18 buckets. */
export const BASELINE_ENCODER: Readonly<NonNullable<PredictorOptions['encoder']>> = Object.freeze({ log2Buckets: 18 });
/** Ridge penalty of the TF-IDF ridge baseline (scikit-learn's default). */
export const RIDGE_PENALTY = 1;
/** Neighbours of the TF-IDF kNN baseline. */
export { KNN_K } from '../routing/tfidf-knn.js';

/** A hashing encoder fitted (IDF) on `records`' prompts; `encode` gives their TF-IDF rows. */
export class TfidfEncoder {
  readonly #handle: NativeRouterHandle;
  /** Hash buckets (the column space of the rows). */
  readonly buckets: number;

  private constructor(handle: NativeRouterHandle) {
    this.#handle = handle;
    this.buckets = handle.inputDim;
  }

  /** Fits the encoder on the prompts of `records` (which must score at least one model). */
  static async fit(records: readonly OutcomeRecord[], encoder: PredictorOptions['encoder'] = BASELINE_ENCODER): Promise<TfidfEncoder> {
    // A one-neighbour knn router is the cheapest way to run the native encoder's fit: no epochs.
    const { router } = await trainPredictor(records as OutcomeRecord[], { predictor: 'knn', k: 1, dim: 8, encoder, threads: 1 });
    let handle: NativeRouterHandle;
    try {
      handle = binding().NativeRouter.load(router.serialize(), 'TF-IDF encoder', 'cpu', 1);
    } catch (err) {
      rethrowNative(err, 'TF-IDF encoder');
    } finally {
      router.dispose();
    }
    return new TfidfEncoder(handle);
  }

  /** The encoder of a hashing router file (its IDF as fitted when it was trained). */
  static fromRouterBytes(bytes: Uint8Array): TfidfEncoder {
    try {
      return new TfidfEncoder(binding().NativeRouter.load(bytes, 'TF-IDF encoder', 'cpu', 1));
    } catch (err) {
      rethrowNative(err, 'TF-IDF encoder');
    }
  }

  /** The TF-IDF rows of `prompts` (unit L2 norm; an empty row for a prompt with no n-gram). */
  encode(prompts: readonly string[]): CsrRows {
    return encodeRows(this.#handle, prompts);
  }

  dispose(): void {
    this.#handle.dispose();
  }
}

/** Scores as a row-major n × M matrix, NaN where a record does not score the model. */
export function scoreMatrix(records: readonly OutcomeRecord[], models: readonly string[]): Float32Array {
  const M = models.length;
  const col = new Map(models.map((id, j) => [id, j]));
  const y = new Float32Array(records.length * M).fill(NaN);
  records.forEach((r, i) => {
    for (const [id, s] of Object.entries(r.scores)) {
      const j = col.get(id);
      if (j !== undefined && typeof s === 'number' && Number.isFinite(s)) y[i * M + j] = s;
    }
  });
  return y;
}

/** A fitted ridge: prediction = bias[j] + Σ x[c]·weight[c·M + j] over the row's buckets. */
export interface RidgeModel {
  models: string[];
  /** Column space (hash buckets). */
  buckets: number;
  /** buckets × M, row-major. */
  weight: Float32Array;
  bias: Float32Array;
  /** CG iterations run per block of models, and the largest final relative residual. */
  iterations: number[];
  residual: number;
}

/**
 * Ridge regression per model on sparse rows: minimises Σ over rows scoring model j of
 * (x·w_j + b_j − y)² + penalty·‖w_j‖², b_j = the model's mean (targets centred on it). Conjugate
 * gradients on (Xᵀ D_j X + penalty·I) w_j = Xᵀ D_j (y − b_j), D_j the rows scoring j; up to
 * `block` models per pass over the rows.
 */
export function ridgeFit(
  x: CsrRows,
  buckets: number,
  y: Float32Array,
  models: readonly string[],
  options: { penalty?: number; tol?: number; maxIter?: number; block?: number } = {},
): RidgeModel {
  const n = x.rowStart.length - 1;
  const M = models.length;
  if (y.length !== n * M) throw invalidArgument('y', `${n} × ${M} scores`, y.length);
  const penalty = options.penalty ?? RIDGE_PENALTY;
  if (!(penalty > 0)) throw invalidArgument('penalty', 'a number > 0', penalty);
  const tol = options.tol ?? 1e-4, maxIter = options.maxIter ?? 300, blockSize = Math.max(1, options.block ?? 8);
  // Only buckets some training row uses can get a weight: solve in that compact column space.
  const colOf = new Int32Array(buckets).fill(-1);
  const used: number[] = [];
  for (const c of x.index) if (colOf[c] === -1) colOf[c] = used.push(c) - 1;
  const d = used.length;
  const cIndex = Int32Array.from(x.index, (c) => colOf[c]!);
  const weight = new Float32Array(buckets * M), bias = new Float32Array(M);
  const iterations: number[] = [];
  let worst = 0;
  for (let j0 = 0; j0 < M; j0 += blockSize) {
    const B = Math.min(blockSize, M - j0);
    // Mask and centred targets of this block.
    const mask = new Uint8Array(n * B), yc = new Float64Array(n * B);
    for (let q = 0; q < B; q++) {
      let s = 0, c = 0;
      for (let i = 0; i < n; i++) {
        const v = y[i * M + j0 + q]!;
        if (Number.isFinite(v)) {
          s += v;
          c++;
        }
      }
      bias[j0 + q] = c ? s / c : 0.5;
      for (let i = 0; i < n; i++) {
        const v = y[i * M + j0 + q]!;
        if (Number.isFinite(v)) {
          mask[i * B + q] = 1;
          yc[i * B + q] = v - bias[j0 + q]!;
        }
      }
    }
    const u = new Float64Array(n * B);
    // out = Xᵀ D (X p) + penalty·p, for the B columns at once.
    const apply = (p: Float64Array, out: Float64Array): void => {
      u.fill(0);
      for (let i = 0; i < n; i++) {
        const ub = i * B;
        for (let e = x.rowStart[i]!, end = x.rowStart[i + 1]!; e < end; e++) {
          const v = x.value[e]!, pb = cIndex[e]! * B;
          for (let q = 0; q < B; q++) u[ub + q] += v * p[pb + q]!;
        }
        for (let q = 0; q < B; q++) if (!mask[ub + q]) u[ub + q] = 0;
      }
      for (let t = 0; t < d * B; t++) out[t] = penalty * p[t]!;
      for (let i = 0; i < n; i++) {
        const ub = i * B;
        for (let e = x.rowStart[i]!, end = x.rowStart[i + 1]!; e < end; e++) {
          const v = x.value[e]!, ob = cIndex[e]! * B;
          for (let q = 0; q < B; q++) out[ob + q] += v * u[ub + q]!;
        }
      }
    };
    // b = Xᵀ D yc
    const w = new Float64Array(d * B), r = new Float64Array(d * B), p = new Float64Array(d * B), ap = new Float64Array(d * B);
    for (let i = 0; i < n; i++) {
      for (let e = x.rowStart[i]!, end = x.rowStart[i + 1]!; e < end; e++) {
        const v = x.value[e]!, ob = cIndex[e]! * B;
        for (let q = 0; q < B; q++) r[ob + q] += v * yc[i * B + q]!;
      }
    }
    p.set(r);
    const rr = new Float64Array(B), bnorm = new Float64Array(B), active = new Uint8Array(B).fill(1);
    for (let t = 0; t < d; t++) for (let q = 0; q < B; q++) rr[q] += r[t * B + q]! ** 2;
    for (let q = 0; q < B; q++) {
      bnorm[q] = Math.sqrt(rr[q]!);
      if (bnorm[q] === 0) active[q] = 0;
    }
    let it = 0;
    for (; it < maxIter && active.some((a) => a === 1); it++) {
      apply(p, ap);
      const pap = new Float64Array(B);
      for (let t = 0; t < d; t++) for (let q = 0; q < B; q++) pap[q] += p[t * B + q]! * ap[t * B + q]!;
      const alpha = Array.from(pap, (v, q) => (active[q] && v > 0 ? rr[q]! / v : 0));
      const rrNew = new Float64Array(B);
      for (let t = 0; t < d; t++) {
        for (let q = 0; q < B; q++) {
          const at = t * B + q;
          w[at] += alpha[q]! * p[at]!;
          r[at] -= alpha[q]! * ap[at]!;
          rrNew[q] += r[at]! ** 2;
        }
      }
      for (let q = 0; q < B; q++) {
        if (!active[q]) continue;
        if (Math.sqrt(rrNew[q]!) <= tol * bnorm[q]!) active[q] = 0;
      }
      for (let t = 0; t < d; t++) {
        for (let q = 0; q < B; q++) {
          if (!active[q]) continue;
          const at = t * B + q;
          p[at] = r[at]! + (rrNew[q]! / rr[q]!) * p[at]!;
        }
      }
      rr.set(rrNew);
    }
    iterations.push(it);
    for (let q = 0; q < B; q++) if (bnorm[q]! > 0) worst = Math.max(worst, Math.sqrt(rr[q]!) / bnorm[q]!);
    for (let t = 0; t < d; t++) for (let q = 0; q < B; q++) weight[used[t]! * M + j0 + q] = w[t * B + q]!;
  }
  return { models: [...models], buckets, weight, bias, iterations, residual: worst };
}

/** Ridge predictions for sparse rows: n × M, row-major. */
export function ridgePredict(model: RidgeModel, x: CsrRows): Float32Array {
  const n = x.rowStart.length - 1, M = model.models.length;
  const out = new Float32Array(n * M);
  const acc = new Float64Array(M);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < M; j++) acc[j] = model.bias[j]!;
    for (let e = x.rowStart[i]!, end = x.rowStart[i + 1]!; e < end; e++) {
      const c = x.index[e]!;
      if (c >= model.buckets) continue;
      const v = x.value[e]!, wb = c * M;
      for (let j = 0; j < M; j++) acc[j] += v * model.weight[wb + j]!;
    }
    for (let j = 0; j < M; j++) out[i * M + j] = acc[j]!;
  }
  return out;
}

/** Both reference routers' scores for `prompts`, trained on `records`; columns in `models` order. */
export interface BaselineScores {
  models: string[];
  ridge: Float32Array;
  knn: Float32Array;
}

/**
 * Fits the TF-IDF encoder, ridge and kNN on `records` and scores `prompts` with both (columns in
 * `models` order, default the records' models).
 */
export async function baselineScores(records: readonly OutcomeRecord[], prompts: readonly string[], models: readonly string[] = modelIdsOf(records as OutcomeRecord[])): Promise<BaselineScores> {
  if (!Array.isArray(records) || records.length === 0) throw invalidArgument('records', 'a non-empty array of outcome records', records);
  const enc = await TfidfEncoder.fit(records);
  try {
    const xt = enc.encode(records.map((r) => r.prompt));
    const xq = enc.encode(prompts);
    const y = scoreMatrix(records, models);
    const ridge = ridgePredict(ridgeFit(xt, enc.buckets, y, models), xq);
    const knn = knnScores(xt, y, models.length, enc.buckets, xq);
    return { models: [...models], ridge, knn };
  } finally {
    enc.dispose();
  }
}

/**
 * Overwrites the float32 tensor `name` of a router file's bytes (safetensors layout: 8-byte header
 * length, JSON header, data) with `data`, in place. Used to serve a ridge fit as the weights of a
 * `linear` network the native trainer laid out.
 */
export function overwriteTensor(bytes: Uint8Array, name: string, data: Float32Array): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = Number(view.getBigUint64(0, true));
  const header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, hlen).toString('utf8')) as Record<string, { dtype?: string; data_offsets?: [number, number] }>;
  const t = header[name];
  if (t?.dtype !== 'F32' || !t.data_offsets) throw invalidArgument('name', 'a float32 tensor of the router file', name);
  const [begin, end] = t.data_offsets;
  if (end - begin !== data.length * 4) throw invalidArgument('data', `${(end - begin) / 4} floats for tensor ${name}`, data.length);
  const at = 8 + hlen + begin;
  for (let i = 0; i < data.length; i++) view.setFloat32(at + 4 * i, data[i]!, true);
}

/**
 * `router` (a hashing router trained on `records`, whose encoder fitted the IDF) as a TF-IDF kNN
 * router (routing/tfidf-knn.ts): its file carries `records`' prompts and scores (columns in the
 * router's model order) under TFIDF_KNN_KEY, and it scores by exact sparse cosine with `k`
 * neighbours. Disposes `router`.
 */
export function tfidfKnnRouter(router: Router, records: readonly OutcomeRecord[], k: number): Router {
  const bytes = new Uint8Array(router.serialize());
  const models = [...router.models];
  router.dispose();
  let native: NativeRouterHandle;
  try {
    native = binding().NativeRouter.load(bytes, 'TF-IDF kNN', 'cpu', 1);
  } catch (err) {
    rethrowNative(err, 'TF-IDF kNN');
  }
  try {
    native.setMetadata(TFIDF_KNN_KEY, tfidfKnnMetadata(records.map((r) => r.prompt), scoreMatrix(records, models), models.length, k));
    return new Router(native);
  } catch (err) {
    native.dispose();
    throw err;
  }
}
