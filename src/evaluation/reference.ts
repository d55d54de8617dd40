/**
 * A plain-TypeScript reference of the `mlp` and `linear` forward passes, reading the weights from a
 * `.router` file's bytes. Two jobs: the oracle the tests hold the native scores to, and the
 * "same predictor in plain TypeScript" competitor of benchmark P5. It is written to be reasonably
 * fast (typed arrays, row-major loops, no allocation per row) so that race is fair, but it stays
 * obvious: no SIMD, no workers.
 *
 * The `.router` layout is safetensors: 8-byte little-endian header length, a JSON header naming
 * each tensor's dtype (F32 or F16), shape and byte range, `__metadata__` (string -> string), then
 * the little-endian tensor bytes. The hashing encoder is not re-implemented here: for a hashing
 * router, give the sparse TF-IDF rows the native encoder produces (`encode()` of the internal
 * binding); for a `precomputed` router, give the dense embeddings.
 * @module
 */
import { RoutecoreError } from '../errors.js';

/** One tensor of a router file, widened to float32. */
export interface RouterTensor {
  /** Stored dtype: `F32`, or `F16` (half-precision tables; widened exactly). */
  dtype: 'F32' | 'F16';
  shape: number[];
  data: Float32Array;
}

/** A parsed `.router` file. */
export interface RouterFile {
  metadata: Record<string, string>;
  tensors: Map<string, RouterTensor>;
}

/** Sparse rows in CSR layout: row r owns entries `rowStart[r] .. rowStart[r+1]`. */
export interface SparseRows {
  rowStart: ArrayLike<number>;
  index: ArrayLike<number>;
  value: ArrayLike<number>;
}

/** The `format` metadata value of every routecore router file (native/artifact.h). */
const FORMAT_NAME = 'routecore.router';

function bad(why: string): never {
  throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', `router file: ${why}`);
}

let halfTable: Float32Array | undefined;

/** binary16 -> float32 for every bit pattern, built once (exact: every half is a float). */
function halves(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) t[h] = sign * mant * 2 ** -24;
    else if (exp === 31) t[h] = mant ? NaN : sign * Infinity;
    else t[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  halfTable = t;
  return t;
}

/** Converts binary16 bit patterns to float32 values. */
export function halfToFloat(bits: number): number {
  return halves()[bits & 0xffff]!;
}

/** Converts a float to its binary16 bit pattern, rounding to nearest even (overflow to ±Infinity). */
export function floatToHalf(f: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, f);
  const x = view.getUint32(0);
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - exp;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (exp << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** Parses a `.router` file (safetensors layout) without the native addon. */
export function readRouterFile(bytes: Uint8Array): RouterFile {
  if (!(bytes instanceof Uint8Array)) bad('expected the file bytes as a Uint8Array');
  if (bytes.length < 8) bad(`only ${bytes.length} bytes; truncated?`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = view.getBigUint64(0, true);
  if (headerLen === 0n || headerLen > BigInt(bytes.length - 8)) bad(`header length ${headerLen} does not fit in ${bytes.length} bytes`);
  const hlen = Number(headerLen);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + hlen))) as Record<string, unknown>;
  } catch (err) {
    bad(`header is not UTF-8 JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) bad('header is not a JSON object');
  const bodyStart = 8 + hlen;
  const bodySize = bytes.length - bodyStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, RouterTensor>();
  const meta = header.__metadata__;
  if (typeof meta !== 'object' || meta === null) bad('a safetensors file without routecore metadata: not a routecore router');
  for (const [k, v] of Object.entries(meta as Record<string, unknown>)) {
    if (typeof v !== 'string') bad(`metadata "${k}" is not a string`);
    metadata[k] = v;
  }
  if (metadata.format !== FORMAT_NAME) bad(`metadata "format" is ${JSON.stringify(metadata.format)}, not "${FORMAT_NAME}": not a routecore router`);
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const t = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (t === null || typeof t !== 'object' || !Array.isArray(t.shape) || !Array.isArray(t.data_offsets) || t.data_offsets.length !== 2) {
      bad(`tensor "${name}" lacks dtype, shape or data_offsets`);
    }
    if (t.dtype !== 'F32' && t.dtype !== 'F16') bad(`tensor "${name}" has dtype ${String(t.dtype)}; routecore writes F32 and F16 only`);
    const shape = t.shape as number[];
    let count = 1;
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) bad(`tensor "${name}" has a bad shape`);
      count *= d;
    }
    const [begin, end] = t.data_offsets as number[];
    const width = t.dtype === 'F32' ? 4 : 2;
    if (!Number.isInteger(begin) || !Number.isInteger(end) || begin! < 0 || end! < begin!) bad(`tensor "${name}" has bad data_offsets`);
    if (end! - begin! !== count * width) bad(`tensor "${name}" spans ${end! - begin!} bytes but its shape needs ${count * width}`);
    if (end! > bodySize) bad(`truncated: tensor "${name}" ends at byte ${end} of a ${bodySize}-byte data section`);
    const data = new Float32Array(count);
    const at = bodyStart + begin!;
    if (width === 4) {
      // Copy: the tensor's offset in a pooled Buffer need not be 4-byte aligned.
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(at + 4 * i, true);
    } else {
      const h = halves();
      for (let i = 0; i < count; i++) data[i] = h[view.getUint16(at + 2 * i, true)]!;
    }
    tensors.set(name, { dtype: t.dtype, shape, data });
  }
  return { metadata, tensors };
}

function uint(meta: Record<string, string>, key: string): number {
  const v = meta[key];
  if (v === undefined || !/^\d+$/.test(v)) bad(`metadata "${key}" is missing or not an unsigned integer`);
  return Number(v);
}

function tensor(file: RouterFile, name: string, shape: number[]): RouterTensor {
  const t = file.tensors.get(name);
  if (!t) bad(`no tensor "${name}"`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) bad(`tensor "${name}" has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
  return t;
}

/**
 * The network of a router file, as plain arrays: `table` [inputDim x width0] + `tableBias`, then
 * for `mlp` ReLU and `outWeight` [hidden x outputs] + `outBias` (`mf`: the same without the ReLU:
 * projection, then model embeddings); a sigmoid on every output.
 */
export interface RouterNetwork {
  predictor: 'mlp' | 'linear' | 'mf';
  encoder: 'hashing' | 'precomputed';
  /** Hash buckets (hashing) or embedding size (precomputed). */
  inputDim: number;
  /** Columns of the table: the hidden width (mlp) or the number of models (linear). */
  width0: number;
  outputs: number;
  table: Float32Array;
  tableBias: Float32Array;
  /** Whether the file stored the table as F16. */
  tableHalf: boolean;
  outWeight?: Float32Array;
  outBias?: Float32Array;
  /** The router's model ids (score-column order), when the file names them. */
  models?: string[];
  metadata: Record<string, string>;
}

/** Reads the network of a `.router` file (either encoder; `mlp`, `linear` or `mf`). */
export function routerNetwork(bytes: Uint8Array | RouterFile): RouterNetwork {
  const file = bytes instanceof Uint8Array ? readRouterFile(bytes) : bytes;
  const meta = file.metadata;
  const encoder = meta.encoder;
  let inputDim: number;
  if (encoder === 'hashing') inputDim = 2 ** uint(meta, 'encoder.log2_buckets');
  else if (encoder === 'precomputed') inputDim = uint(meta, 'encoder.dim');
  else bad(`encoder ${JSON.stringify(encoder)} is not "hashing" or "precomputed"`);
  const outputs = uint(meta, 'predictor.outputs');
  let models: string[] | undefined;
  try {
    const m = JSON.parse(meta['routecore.models'] ?? 'null') as unknown;
    if (Array.isArray(m) && m.length === outputs && m.every((x) => typeof x === 'string')) models = m as string[];
  } catch {
    models = undefined;
  }
  const base = { encoder, inputDim, outputs, models, metadata: meta } as const;
  if (meta.predictor === 'linear') {
    const w = tensor(file, 'linear.weight', [inputDim, outputs]);
    return { ...base, predictor: 'linear', width0: outputs, table: w.data, tableHalf: w.dtype === 'F16', tableBias: tensor(file, 'linear.bias', [outputs]).data };
  }
  // mlp and mf share a layout: table + bias, then one layer + bias (mf has no ReLU between).
  const layered = { mlp: ['predictor.hidden', 'mlp.table', 'mlp.table_bias', 'mlp.out_weight', 'mlp.out_bias'], mf: ['predictor.dim', 'mf.projection', 'mf.projection_bias', 'mf.model_embedding', 'mf.model_bias'] } as const;
  if (meta.predictor === 'mlp' || meta.predictor === 'mf') {
    const [widthKey, table, tableBias, outWeight, outBias] = layered[meta.predictor];
    const width = uint(meta, widthKey);
    const w = tensor(file, table, [inputDim, width]);
    return {
      ...base,
      predictor: meta.predictor,
      width0: width,
      table: w.data,
      tableHalf: w.dtype === 'F16',
      tableBias: tensor(file, tableBias, [width]).data,
      outWeight: tensor(file, outWeight, [width, outputs]).data,
      outBias: tensor(file, outBias, [outputs]).data,
    };
  }
  bad(`predictor ${JSON.stringify(meta.predictor)} is not "mlp", "linear" or "mf" (the networks this reader covers)`);
}

/**
 * The forward pass in plain TypeScript. Scores are float32 like the native ones; sums run in
 * float64 (JS numbers), so the two agree to float32 rounding, not bit for bit.
 *
 * ```ts
 * const ref = ReferenceRouter.fromBytes(readFileSync('my.router'));
 * const scores = ref.scoreDense(embeddings, count); // count x outputs
 * ```
 */
export class ReferenceRouter {
  readonly net: RouterNetwork;
  readonly #acc: Float64Array;
  readonly #z: Float64Array;

  constructor(net: RouterNetwork) {
    this.net = net;
    this.#acc = new Float64Array(net.width0);
    this.#z = new Float64Array(net.outputs);
  }

  static fromBytes(bytes: Uint8Array): ReferenceRouter {
    return new ReferenceRouter(routerNetwork(bytes));
  }

  get inputDim(): number {
    return this.net.inputDim;
  }

  get outputs(): number {
    return this.net.outputs;
  }

  /** Scores `count` dense rows (row-major `count x inputDim`): a `count x outputs` Float32Array. */
  scoreDense(x: Float32Array, count: number, out: Float32Array = new Float32Array(count * this.net.outputs)): Float32Array {
    const { inputDim: dim, width0: w, table } = this.net;
    if (x.length !== count * dim) throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', `expected ${count} x ${dim} floats, got ${x.length}`);
    const acc = this.#acc;
    for (let r = 0; r < count; r++) {
      this.#start(acc);
      const base = r * dim;
      for (let i = 0; i < dim; i++) {
        const v = x[base + i]!;
        if (v === 0) continue;
        const row = i * w;
        for (let j = 0; j < w; j++) acc[j] += v * table[row + j]!;
      }
      this.#finish(acc, out, r);
    }
    return out;
  }

  /** Scores sparse rows (CSR; e.g. the native encoder's TF-IDF rows): a `rows x outputs` Float32Array. */
  scoreSparse(rows: SparseRows, out?: Float32Array): Float32Array {
    const { width0: w, table, inputDim } = this.net;
    const n = rows.rowStart.length - 1;
    const result = out ?? new Float32Array(n * this.net.outputs);
    const acc = this.#acc;
    const { rowStart, index, value } = rows;
    for (let r = 0; r < n; r++) {
      this.#start(acc);
      for (let k = rowStart[r]!, end = rowStart[r + 1]!; k < end; k++) {
        const i = index[k]!;
        if (i >= inputDim) throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', `feature index ${i} is outside [0, ${inputDim})`);
        const v = value[k]!;
        const row = i * w;
        for (let j = 0; j < w; j++) acc[j] += v * table[row + j]!;
      }
      this.#finish(acc, result, r);
    }
    return result;
  }

  #start(acc: Float64Array): void {
    const b = this.net.tableBias;
    for (let j = 0; j < acc.length; j++) acc[j] = b[j]!;
  }

  /** ReLU (mlp) and the output layer (mlp, mf), then the sigmoids, into row `r` of `out`. */
  #finish(acc: Float64Array, out: Float32Array, r: number): void {
    const { outputs: m, width0: w, outWeight, outBias } = this.net;
    const relu = this.net.predictor === 'mlp';
    const o = r * m;
    if (!outWeight) {
      for (let j = 0; j < m; j++) out[o + j] = 1 / (1 + Math.exp(-acc[j]!));
      return;
    }
    const z = this.#z;
    for (let k = 0; k < m; k++) z[k] = outBias![k]!;
    for (let j = 0; j < w; j++) {
      const a = acc[j]!;
      if (a === 0 || (relu && a < 0)) continue;
      const row = j * m;
      for (let k = 0; k < m; k++) z[k] += a * outWeight[row + k]!;
    }
    for (let k = 0; k < m; k++) out[o + k] = 1 / (1 + Math.exp(-z[k]!));
  }
}
