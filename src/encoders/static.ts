/**
 * The `static` encoder (model2vec's StaticModel): a model directory in the layout model2vec's
 * potion models ship (`tokenizer.json`, `model.safetensors` with the embedding table and optional
 * per-token weights, `config.json`), loaded into the native core, which tokenizes, gathers one row
 * per token, takes the weighted mean and L2-normalises. Nothing is fetched behind the user's back:
 * the directory is a path on disk.
 * @module
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { binding, rethrowNative, type NativeStaticEncoderHandle } from '../addon/native.js';
import { RoutecoreError, invalidArgument } from '../errors.js';

/** The files of a model2vec-layout directory that define the encoder (their hashes name it). */
export const STATIC_MODEL_FILES = ['tokenizer.json', 'model.safetensors'] as const;

/** Options of {@link StaticModel.load}. */
export interface StaticModelOptions {
  /** Tokens of a prompt averaged at most (model2vec's default, 512); 0 = all. */
  maxTokens?: number;
  /**
   * `f16` (default): the table is held and gathered as binary16, half the memory traffic of the
   * gather that dominates a prompt's cost once the table leaves the cache (cosines move by ~1e-4);
   * `f32`: the file's floats as they are (an F16 file is binary16 either way).
   */
  precision?: 'f16' | 'f32';
}

/** What a router file records about its static model (metadata `encoder.static.*`). */
export interface StaticModelIdentity {
  /** The directory the router was trained with (absolute). */
  dir: string;
  /** sha256 (hex) of each file of {@link STATIC_MODEL_FILES}. */
  files: Record<string, string>;
}

/** Packs prompts as the addon reads them: one UTF-8 buffer and count + 1 byte offsets. */
function pack(prompts: readonly string[]): { text: Uint8Array; offsets: Uint32Array } {
  const parts = prompts.map((p) => Buffer.from(p, 'utf8'));
  const offsets = new Uint32Array(prompts.length + 1);
  let at = 0;
  parts.forEach((b, i) => {
    at += b.length;
    offsets[i + 1] = at;
  });
  return { text: Buffer.concat(parts), offsets };
}

function readModelFile(dir: string, file: string): Buffer {
  const path = join(dir, file);
  try {
    return readFileSync(path);
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new RoutecoreError(
      'ERR_ROUTECORE_BAD_MODEL',
      missing
        ? `${path} is missing: a static model directory holds ${STATIC_MODEL_FILES.join(' and ')} (the layout model2vec's potion models ship)`
        : `cannot read ${path}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * A loaded model2vec-layout model. Pass it (or its directory) as the encoder of `train()`, or
 * embed prompts with it directly.
 */
export class StaticModel {
  /** The directory, resolved to an absolute path. */
  readonly dir: string;
  /** sha256 (hex) of tokenizer.json and model.safetensors: what a router trained on it records. */
  readonly files: Readonly<Record<string, string>>;
  /** Embedding width. */
  readonly dim: number;
  /** Rows of the embedding table (the tokenizer's vocabulary). */
  readonly rows: number;
  /** Tokens of a prompt averaged at most (0 = all). */
  readonly maxTokens: number;
  /** How the table is held ({@link StaticModelOptions.precision}). */
  readonly precision: 'f16' | 'f32';
  /** @internal */
  readonly handle: NativeStaticEncoderHandle;

  private constructor(dir: string, files: Record<string, string>, handle: NativeStaticEncoderHandle, maxTokens: number, precision: 'f16' | 'f32') {
    this.dir = dir;
    this.files = Object.freeze(files);
    this.handle = handle;
    this.dim = handle.dim;
    this.rows = handle.rows;
    this.maxTokens = maxTokens;
    this.precision = precision;
  }

  /** Reads and checks a model directory (errors name the file and what is wrong with it). */
  static loadSync(dir: string, options: StaticModelOptions = {}): StaticModel {
    if (typeof dir !== 'string' || dir === '') throw invalidArgument('dir', 'a path to a model2vec-layout directory', dir);
    const maxTokens = options.maxTokens ?? 512;
    if (!Number.isInteger(maxTokens) || maxTokens < 0 || maxTokens > 2 ** 31) {
      throw invalidArgument('options.maxTokens', 'an integer >= 0 (0 = every token)', options.maxTokens);
    }
    const precision = options.precision ?? 'f16';
    if (precision !== 'f16' && precision !== 'f32') throw invalidArgument('options.precision', '"f16" or "f32"', options.precision);
    const abs = resolve(dir);
    let isDir = false;
    try {
      isDir = statSync(abs).isDirectory();
    } catch {
      // reported below
    }
    if (!isDir) throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${abs} is not a directory: a static model is a directory holding ${STATIC_MODEL_FILES.join(' and ')}`);
    const tokenizer = readModelFile(abs, 'tokenizer.json');
    const table = readModelFile(abs, 'model.safetensors');
    let handle: NativeStaticEncoderHandle;
    try {
      handle = new (binding().NativeStaticEncoder)(tokenizer, join(abs, 'tokenizer.json'), table, join(abs, 'model.safetensors'), maxTokens, precision === 'f16');
    } catch (err) {
      rethrowNative(err);
    }
    return new StaticModel(abs, { 'tokenizer.json': sha256(tokenizer), 'model.safetensors': sha256(table) }, handle, maxTokens, precision);
  }

  /** {@link StaticModel.loadSync}, as a promise. */
  static async load(dir: string, options: StaticModelOptions = {}): Promise<StaticModel> {
    return StaticModel.loadSync(dir, options);
  }

  /**
   * Embeds prompts: `prompts.length x dim` floats, row-major, each row the L2-normalised weighted
   * mean of the prompt's token rows (all zeros when no token of the prompt is known).
   */
  embed(prompts: readonly string[]): Float32Array {
    if (!Array.isArray(prompts)) throw invalidArgument('prompts', 'an array of strings', prompts);
    prompts.forEach((p, i) => {
      if (typeof p !== 'string') throw invalidArgument(`prompts[${i}]`, 'a string', p);
    });
    const { text, offsets } = pack(prompts);
    const out = new Float32Array(prompts.length * this.dim);
    try {
      this.handle.embed(text, offsets, prompts.length, out);
    } catch (err) {
      rethrowNative(err);
    }
    return out;
  }

  /** What a router trained on this model records about it. */
  identity(): StaticModelIdentity {
    return { dir: this.dir, files: { ...this.files } };
  }
}

/** Metadata keys a static or mixed router file holds about its model (beside the core's own). */
export const STATIC_META = {
  /** The model directory at training time (absolute). */
  model: 'encoder.static.model',
  /** JSON: file name -> sha256 of each of {@link STATIC_MODEL_FILES}. */
  files: 'encoder.static.files',
  /** "true" when the file carries the table and tokenizer, "false" when it only names them. */
  embedded: 'encoder.static.embedded',
} as const;

/**
 * The static model a router file needs to load, or undefined when it needs none (hashing,
 * precomputed, or a static router that carries its table). `given`: the caller's model or its
 * directory (`RouterOptions.staticModel`), else the directory recorded at training time. A model
 * that is missing, or whose files differ from those the router was trained with, is
 * `ERR_ROUTECORE_MODEL_MISMATCH` naming the file and why.
 */
export function staticModelFor(meta: Readonly<Record<string, string>>, source: string, given?: string | StaticModel): StaticModel | undefined {
  const kind = meta['encoder'];
  if ((kind !== 'static' && kind !== 'mixed') || meta[STATIC_META.embedded] !== 'false') return undefined;
  let want: Record<string, string> = {};
  try {
    want = JSON.parse(meta[STATIC_META.files] ?? '{}') as Record<string, string>;
  } catch {
    throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', `${source}: metadata "${STATIC_META.files}" is not JSON`);
  }
  const recorded = meta[STATIC_META.model];
  let model: StaticModel;
  if (given instanceof StaticModel) {
    model = given;
  } else {
    const dir = given ?? recorded;
    if (dir === undefined) {
      throw new RoutecoreError('ERR_ROUTECORE_MODEL_MISMATCH', `${source} was trained with a static model it does not carry and does not name: pass options.staticModel`);
    }
    for (const f of STATIC_MODEL_FILES) {
      let present = false;
      try {
        present = statSync(join(dir, f)).isFile();
      } catch {
        // missing
      }
      if (!present) {
        throw new RoutecoreError(
          'ERR_ROUTECORE_MODEL_MISMATCH',
          `${source} needs its static model, but ${join(resolve(dir), f)} is missing` +
            (given === undefined ? ` (the directory recorded at training; pass options.staticModel to point elsewhere)` : ''),
        );
      }
    }
    try {
      model = StaticModel.loadSync(dir, { maxTokens: Number(meta['encoder.static.max_tokens'] ?? 512), precision: meta['encoder.static.precision'] === 'f32' ? 'f32' : 'f16' });
    } catch (err) {
      if (err instanceof RoutecoreError && err.code === 'ERR_ROUTECORE_BAD_MODEL') {
        throw new RoutecoreError('ERR_ROUTECORE_MODEL_MISMATCH', `${source} needs its static model, but ${err.message}`, { cause: err });
      }
      throw err;
    }
  }
  for (const f of STATIC_MODEL_FILES) {
    if (want[f] !== undefined && model.files[f] !== want[f]) {
      throw new RoutecoreError(
        'ERR_ROUTECORE_MODEL_MISMATCH',
        `${join(model.dir, f)} is not the file ${source} was trained with (sha256 ${model.files[f]!.slice(0, 16)}…, trained with ${want[f]!.slice(0, 16)}…)`,
      );
    }
  }
  return model;
}

/**
 * Reads the `__metadata__` of a `.router` file (the safetensors JSON header) without loading its
 * tensors, when the file names a static model the loader must load first; `{}` otherwise.
 */
export function routerFileMetadata(bytes: Uint8Array): Record<string, string> {
  if (bytes.length < 9) return {};
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = view.getBigUint64(0, true);
  if (len === 0n || len > BigInt(bytes.length - 8) || len > 64n << 20n) return {};
  const text = Buffer.from(bytes.buffer, bytes.byteOffset + 8, Number(len)).toString('utf8');
  // Only a file that names its static model needs the header parsed here (an embedded one carries
  // a tokenizer of a megabyte or so in its header, which the native reader reads anyway).
  if (!text.includes(`"${STATIC_META.embedded}":"false"`)) return {};
  try {
    const header = JSON.parse(text) as { __metadata__?: unknown };
    const meta = header.__metadata__;
    return meta && typeof meta === 'object' ? (meta as Record<string, string>) : {};
  } catch {
    return {}; // the native reader reports what is wrong with the file
  }
}
