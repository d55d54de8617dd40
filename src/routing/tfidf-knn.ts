/**
 * TF-IDF kNN, the reference router of `../shared/data/README.md` (word 1–2-grams + char 3–5-grams,
 * cosine, k = 20, similarity-weighted mean, rows without a model's score skipped for that model),
 * as a router the product **serves**: a router file whose body is a hashing router (its encoder,
 * with the IDF fitted on the training prompts, makes the TF-IDF rows) and whose metadata
 * {@link TFIDF_KNN_KEY} holds the training prompts and their scores. On load the prompts are
 * encoded once into an inverted index ({@link KnnIndex}); `routeSync`/`route` then score a prompt
 * by exact sparse cosine against every training row — the same figures `routecore eval --train`
 * reports for TF-IDF kNN (`src/training/baselines.ts` uses this index too).
 *
 * The file stores the training prompts as text (so a router file of this kind carries its training
 * prompts: do not ship one trained on private prompts) rather than their TF-IDF rows, which are
 * 10–20× larger (4.5 MiB of CSR for 1,000 GSM8K prompts, 82 MiB for 11,000 MMLU ones) than the
 * 16 MiB a router file's header may hold.
 * @module
 */
import { binding, rethrowNative, type NativeSparseIndexHandle } from '../addon/native.js';
import { RoutecoreError, invalidArgument } from '../errors.js';

/** Metadata key of a TF-IDF kNN router file: `{"version":1,"k":K,"prompts":[…],"scores":[[…],…]}`. */
export const TFIDF_KNN_KEY = 'routecore.tfidf-knn';
/** Neighbours of the TF-IDF kNN reference. */
export const KNN_K = 20;
/** Largest k a file may ask for. */
export const KNN_MAX_K = 1000;

/** Sparse rows in CSR layout (row r owns entries `rowStart[r] .. rowStart[r+1]`). */
export interface CsrRows {
  rowStart: Uint32Array;
  index: Uint32Array;
  value: Float32Array;
}

/** The UTF-8 bytes and offsets of `prompts`, as the native encoder takes them. */
export function packPrompts(prompts: readonly string[]): { text: Buffer; offsets: Uint32Array } {
  const bufs = prompts.map((p) => Buffer.from(p, 'utf8'));
  const offsets = new Uint32Array(prompts.length + 1);
  let at = 0;
  bufs.forEach((b, i) => {
    offsets[i] = at;
    at += b.length;
  });
  offsets[prompts.length] = at;
  return { text: Buffer.concat(bufs), offsets };
}

/** What {@link encodeRows} needs of a native hashing router: its encoder. */
export interface RowEncoder {
  encode(text: Uint8Array, offsets: Uint32Array, count: number): CsrRows;
}

/** The TF-IDF rows of `prompts` by `enc`'s encoder, in chunks (the native call's text buffer stays small). */
export function encodeRows(enc: RowEncoder, prompts: readonly string[]): CsrRows {
  const out: CsrRows[] = [];
  for (let s = 0; s < prompts.length; s += 4096) {
    const part = prompts.slice(s, s + 4096);
    const { text, offsets } = packPrompts(part);
    const r = enc.encode(text, offsets, part.length);
    out.push({ rowStart: r.rowStart, index: r.index, value: r.value });
  }
  return concatRows(out, prompts.length);
}

function concatRows(parts: CsrRows[], n: number): CsrRows {
  if (parts.length === 1) return parts[0]!;
  const nnz = parts.reduce((a, p) => a + p.index.length, 0);
  const rowStart = new Uint32Array(n + 1), index = new Uint32Array(nnz), value = new Float32Array(nnz);
  let r = 0, at = 0;
  for (const p of parts) {
    const rows = p.rowStart.length - 1;
    for (let i = 0; i < rows; i++) rowStart[r + i] = at + p.rowStart[i]!;
    index.set(p.index, at);
    value.set(p.value, at);
    at += p.index.length;
    r += rows;
  }
  rowStart[n] = at;
  return { rowStart, index, value };
}

/** Most similarities (queries × training rows) held at once while scoring a batch: 16 MiB. */
const SIMILARITY_FLOATS = 4 << 20;

/**
 * The training rows of a TF-IDF kNN as an inverted index, built once: for each query and model,
 * the similarity-weighted mean of the model's scores over the k most similar training rows that
 * score it (weight = max(similarity, 0) + 1e-6, so a query far from everything gets the plain mean
 * of its neighbours); a model no training row scores gets 0.5.
 *
 * The similarity scatter (reading every posting of every query entry: 344k per query on open7's
 * 7,598 training prompts) runs in the addon (native/sparse_index.cc: 0.47 ms a query there against
 * 1.2 ms in TypeScript), on the addon's worker thread for {@link KnnIndex.scoreAsync}, so a
 * gateway serving this router keeps its event loop; with the same sums as the TypeScript scatter
 * kept for an addon built without it.
 */
export class KnnIndex {
  readonly rows: number;
  readonly models: number;
  readonly buckets: number;
  readonly k: number;
  readonly #y: Float32Array;
  readonly #native: NativeSparseIndexHandle | undefined;
  /** The TypeScript postings, when the addon has no sparse index. */
  readonly #count: Uint32Array | undefined;
  readonly #postRow: Uint32Array | undefined;
  readonly #postVal: Float32Array | undefined;
  /** Models scored on every row share one neighbour list; the others get their own. */
  readonly #full: number[] = [];
  readonly #partial: number[] = [];
  readonly #heapSim: Float32Array;
  readonly #heapIdx: Int32Array;
  readonly #heapLen: Int32Array;

  /** `native` false: the TypeScript scatter even where the addon has one (tests compare the two). */
  constructor(train: CsrRows, y: Float32Array, M: number, buckets: number, k = KNN_K, native = true) {
    const n = train.rowStart.length - 1;
    if (y.length !== n * M) throw invalidArgument('y', `${n} × ${M} scores`, y.length);
    if (!Number.isInteger(k) || k < 1) throw invalidArgument('k', 'an integer >= 1', k);
    this.rows = n;
    this.models = M;
    this.buckets = buckets;
    this.k = k;
    this.#y = y;
    const NativeSparseIndex = native ? binding().NativeSparseIndex : undefined;
    if (NativeSparseIndex) {
      try {
        this.#native = new NativeSparseIndex(train.rowStart, train.index, train.value, buckets);
      } catch (err) {
        rethrowNative(err);
      }
    } else {
      const count = new Uint32Array(buckets + 1);
      for (const c of train.index) if (c < buckets) count[c + 1]++;
      for (let c = 0; c < buckets; c++) count[c + 1] += count[c]!;
      const postRow = new Uint32Array(count[buckets]!), postVal = new Float32Array(count[buckets]!);
      const fill = count.slice(0, buckets);
      for (let i = 0; i < n; i++) {
        for (let e = train.rowStart[i]!, end = train.rowStart[i + 1]!; e < end; e++) {
          const c = train.index[e]!;
          if (c >= buckets) continue;
          const at = fill[c]!++;
          postRow[at] = i;
          postVal[at] = train.value[e]!;
        }
      }
      this.#count = count;
      this.#postRow = postRow;
      this.#postVal = postVal;
    }
    for (let j = 0; j < M; j++) {
      let all = true;
      for (let i = 0; i < n && all; i++) if (!Number.isFinite(y[i * M + j]!)) all = false;
      (all ? this.#full : this.#partial).push(j);
    }
    const lists = (this.#full.length ? 1 : 0) + this.#partial.length;
    this.#heapSim = new Float32Array(lists * k);
    this.#heapIdx = new Int32Array(lists * k);
    this.#heapLen = new Int32Array(lists);
  }

  /** Whether the similarity scatter runs in the addon (and {@link scoreAsync} off the calling thread). */
  get native(): boolean {
    return this.#native !== undefined;
  }

  /** Scores of `queries` (q × models, row-major) into `out` (allocated when not given), on the calling thread. */
  score(queries: CsrRows, out?: Float32Array): Float32Array {
    const { res, sims, ranges } = this.#batches(queries, out);
    for (const [from, to] of ranges) {
      if (this.#native) {
        try {
          this.#native.similaritiesSync(queries.rowStart.subarray(from), queries.index, queries.value, to - from, sims);
        } catch (err) {
          rethrowNative(err);
        }
      } else this.#scatter(queries, from, to, sims);
      this.#selectRange(sims, from, to, res);
    }
    return res;
  }

  /**
   * {@link score} with the similarity scatter on the addon's worker thread (on the calling thread
   * where the addon has no sparse index); only the neighbour selection runs here.
   */
  async scoreAsync(queries: CsrRows, out?: Float32Array): Promise<Float32Array> {
    const native = this.#native;
    if (!native) return this.score(queries, out);
    const { res, sims, ranges } = this.#batches(queries, out);
    for (const [from, to] of ranges) {
      try {
        await native.similarities(queries.rowStart.subarray(from), queries.index, queries.value, to - from, sims);
      } catch (err) {
        rethrowNative(err);
      }
      this.#selectRange(sims, from, to, res);
    }
    return res;
  }

  /** Frees the addon's postings (the index scores no more). */
  dispose(): void {
    this.#native?.dispose();
  }

  /**
   * The output of `queries` (`out`, or allocated), a similarity buffer, and the query ranges
   * [from, to) scattered into it one after the other: all of a small batch at once, else as many
   * queries as {@link SIMILARITY_FLOATS} hold.
   */
  #batches(queries: CsrRows, out: Float32Array | undefined): { res: Float32Array; sims: Float32Array; ranges: [number, number][] } {
    const q = queries.rowStart.length - 1;
    const chunk = Math.max(1, Math.min(q, Math.floor(SIMILARITY_FLOATS / Math.max(1, this.rows))));
    const ranges: [number, number][] = [];
    for (let from = 0; from < q; from += chunk) ranges.push([from, Math.min(q, from + chunk)]);
    return { res: out ?? new Float32Array(q * this.models), sims: new Float32Array(chunk * this.rows), ranges };
  }

  /** Queries [from, to)'s scores into `res` from their similarities in `sims`. */
  #selectRange(sims: Float32Array, from: number, to: number, res: Float32Array): void {
    for (let r = from; r < to; r++) this.#select(sims, (r - from) * this.rows, r, res);
  }

  /** The TypeScript scatter of queries [from, to) into `sims` ((to − from) × rows). */
  #scatter(queries: CsrRows, from: number, to: number, sims: Float32Array): void {
    const n = this.rows, count = this.#count!, postRow = this.#postRow!, postVal = this.#postVal!;
    for (let r = from; r < to; r++) {
      const sim = sims.subarray((r - from) * n, (r - from + 1) * n);
      sim.fill(0);
      for (let e = queries.rowStart[r]!, end = queries.rowStart[r + 1]!; e < end; e++) {
        const c = queries.index[e]!;
        if (c >= this.buckets) continue;
        const v = queries.value[e]!;
        for (let p = count[c]!, pe = count[c + 1]!; p < pe; p++) sim[postRow[p]!] += v * postVal[p]!;
      }
    }
  }

  /** Query r's scores into `res` from its similarities `sims[at .. at + rows)`. */
  #select(sims: Float32Array, at: number, r: number, res: Float32Array): void {
    const n = this.rows, M = this.models, k = this.k, y = this.#y;
    const heapSim = this.#heapSim, heapIdx = this.#heapIdx, heapLen = this.#heapLen;
    const full = this.#full, partial = this.#partial, first = full.length ? 1 : 0;
    const push = (h: number, s: number, i: number): void => {
      const base = h * k;
      let len = heapLen[h]!;
      if (len < k) {
        // sift up
        let at = len++;
        heapLen[h] = len;
        while (at > 0) {
          const parent = (at - 1) >> 1;
          if (heapSim[base + parent]! <= s) break;
          heapSim[base + at] = heapSim[base + parent]!;
          heapIdx[base + at] = heapIdx[base + parent]!;
          at = parent;
        }
        heapSim[base + at] = s;
        heapIdx[base + at] = i;
        return;
      }
      if (s <= heapSim[base]!) return;
      // replace the root and sift down
      let at = 0;
      for (;;) {
        const l = 2 * at + 1;
        if (l >= k) break;
        const rgt = l + 1;
        const c = rgt < k && heapSim[base + rgt]! < heapSim[base + l]! ? rgt : l;
        if (heapSim[base + c]! >= s) break;
        heapSim[base + at] = heapSim[base + c]!;
        heapIdx[base + at] = heapIdx[base + c]!;
        at = c;
      }
      heapSim[base + at] = s;
      heapIdx[base + at] = i;
    };
    const mean = (h: number, j: number): number => {
      let num = 0, den = 0;
      for (let t = 0; t < heapLen[h]!; t++) {
        const i = heapIdx[h * k + t]!, w = Math.max(heapSim[h * k + t]!, 0) + 1e-6;
        num += w * y[i * M + j]!;
        den += w;
      }
      return den > 0 ? num / den : 0.5;
    };
    heapLen.fill(0);
    // Rows are visited in order, so among equal similarities the earlier row stays (deterministic).
    for (let i = 0; i < n; i++) {
      const s = sims[at + i]!;
      if (first) push(0, s, i);
      for (let t = 0; t < partial.length; t++) if (Number.isFinite(y[i * M + partial[t]!]!)) push(first + t, s, i);
    }
    for (const j of full) res[r * M + j] = mean(0, j);
    for (let t = 0; t < partial.length; t++) res[r * M + partial[t]!] = mean(first + t, partial[t]!);
  }
}

/** kNN scores of `queries` against `train` (one-off: {@link KnnIndex} built and used once). */
export function knnScores(train: CsrRows, y: Float32Array, M: number, buckets: number, queries: CsrRows, k = KNN_K): Float32Array {
  const index = new KnnIndex(train, y, M, buckets, k);
  try {
    return index.score(queries);
  } finally {
    index.dispose();
  }
}

/** The metadata value of a TF-IDF kNN router file (see {@link TFIDF_KNN_KEY}); `y` is n × M, NaN = not scored. */
export function tfidfKnnMetadata(prompts: readonly string[], y: Float32Array, M: number, k = KNN_K): string {
  const scores = prompts.map((_, i) => Array.from(y.subarray(i * M, i * M + M), (v) => (Number.isFinite(v) ? v : null)));
  return JSON.stringify({ version: 1, k, prompts, scores });
}

/**
 * Reads a TF-IDF kNN router file's metadata value for a router of `models` outputs; every fault is
 * `ERR_ROUTECORE_BAD_ARTIFACT` naming the field.
 */
export function parseTfidfKnn(raw: string, models: number): { k: number; prompts: string[]; y: Float32Array } {
  const bad = (what: string): never => {
    throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', `router file metadata "${TFIDF_KNN_KEY}": ${what}`);
  };
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    bad('is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad('is not an object');
  const o = v as Record<string, unknown>;
  if (o['version'] !== 1) bad(`version must be 1, got ${JSON.stringify(o['version'])}`);
  const k = o['k'];
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > KNN_MAX_K) bad(`k must be an integer from 1 to ${KNN_MAX_K}, got ${JSON.stringify(k)}`);
  const prompts = o['prompts'];
  if (!Array.isArray(prompts) || prompts.length === 0) bad('prompts must be a non-empty array of strings');
  (prompts as unknown[]).forEach((p, i) => {
    if (typeof p !== 'string') bad(`prompts[${i}] must be a string`);
  });
  const scores = o['scores'];
  const n = (prompts as string[]).length;
  if (!Array.isArray(scores) || scores.length !== n) bad(`scores must be an array of ${n} rows (one per prompt)`);
  const y = new Float32Array(n * models);
  (scores as unknown[]).forEach((row, i) => {
    if (!Array.isArray(row) || row.length !== models) bad(`scores[${i}] must be an array of ${models} numbers or nulls (one per model)`);
    (row as unknown[]).forEach((s, j) => {
      if (s === null) y[i * models + j] = NaN;
      else if (typeof s === 'number' && Number.isFinite(s)) y[i * models + j] = s;
      else bad(`scores[${i}][${j}] must be a finite number or null`);
    });
  });
  return { k: k as number, prompts: prompts as string[], y };
}
