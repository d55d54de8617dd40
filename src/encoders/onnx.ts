/**
 * The `onnx` encoder: a user's sentence-transformer export (a directory with `model.onnx` — or
 * `onnx/model.onnx`, the sentence-transformers and FastEmbed layouts — and `tokenizer.json`), run
 * through onnxruntime-node, an optional peer dependency loaded only here. The native tokenizer
 * tokenizes (with the special tokens of the file's post-processor: [CLS] … [SEP] for BERT-style
 * models), the batch is padded, the session runs off the JS thread (onnxruntime's own threads), and
 * the token states are pooled (mean over the attention mask, or the first token) and L2-normalised.
 *
 * It is an {@link OnnxEncoder} with `name`, `dim` and `encode(texts)`: the shape of the router's
 * encoder seam for routers trained on embeddings (`train(records, { embeddings })`, then
 * `Router.load(file, { encoder })`). It has no `encodeSync` (onnxruntime-node runs asynchronously),
 * so such a router serves `route()`, `routeChat()` and the gateway, not `routeSync`. Concurrent
 * `encode` calls made in the same turn of the event loop are coalesced into one session run.
 * @module
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

import { noteOnnxSession } from '../addon/backend.js';
import { binding, rethrowNative, type NativeTokenizerHandle } from '../addon/native.js';
import { RoutecoreError, invalidArgument } from '../errors.js';

/** Options of {@link OnnxEncoder.load}. */
export interface OnnxEncoderOptions {
  /** `mean` (default): the mean of the token states under the attention mask; `cls`: the first token's. */
  pooling?: 'mean' | 'cls';
  /** L2-normalise each row (default true, as sentence-transformers' Normalize module). */
  normalize?: boolean;
  /** Tokens per text at most, special tokens included (default 512, BERT's limit). */
  maxTokens?: number;
  /** The output to read; default `last_hidden_state`, else `token_embeddings`, else the first. */
  output?: string;
  /**
   * `cpu`, `cuda` or `auto` (default: ROUTECORE_BACKEND, else `auto`): `cuda` asks onnxruntime for
   * its CUDA execution provider and fails when it cannot have it; `auto` tries CUDA where this
   * onnxruntime-node offers it and falls back to the CPU.
   */
  backend?: 'cpu' | 'cuda' | 'auto';
  /** Texts per session run at most (default 64). */
  maxBatch?: number;
}

interface OrtTensor {
  readonly dims: readonly number[];
  readonly data: Float32Array | BigInt64Array | unknown;
}
interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, unknown>): Promise<Record<string, OrtTensor>>;
  release?(): Promise<void>;
}
interface Ort {
  InferenceSession: { create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: string, data: BigInt64Array | Float32Array, dims: number[]) => unknown;
  listSupportedBackends?(): Array<{ name: string }>;
}

const require = createRequire(import.meta.url);

function loadOrt(): Ort {
  try {
    return require('onnxruntime-node') as Ort;
  } catch (err) {
    throw new RoutecoreError(
      'ERR_ROUTECORE_ADDON_UNAVAILABLE',
      `the onnx encoder needs onnxruntime-node, an optional peer dependency of routecore: npm install onnxruntime-node (${(err as Error).message.split('\n')[0]})`,
      { cause: err },
    );
  }
}

/** How the tokenizer.json's post-processor frames one sequence: ids before and after it, and type ids. */
interface Framing {
  before: number[];
  after: number[];
  typeId: number;
}

function framingOf(json: Record<string, unknown>, file: string): Framing {
  const pp = json['post_processor'] as Record<string, unknown> | null | undefined;
  if (!pp) return { before: [], after: [], typeId: 0 };
  const pair = (v: unknown, what: string): number => {
    if (!Array.isArray(v) || typeof v[1] !== 'number') throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${file}: post_processor.${what} is not [token, id]`);
    return v[1];
  };
  if (pp['type'] === 'BertProcessing' || pp['type'] === 'RobertaProcessing') {
    return { before: [pair(pp['cls'], 'cls')], after: [pair(pp['sep'], 'sep')], typeId: 0 };
  }
  if (pp['type'] === 'TemplateProcessing') {
    const single = pp['single'] as Array<Record<string, { id: string; type_id: number }>> | undefined;
    const specials = (pp['special_tokens'] ?? {}) as Record<string, { ids: number[] }>;
    if (!Array.isArray(single)) throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${file}: post_processor.single is not a list`);
    const f: Framing = { before: [], after: [], typeId: 0 };
    let seen = false;
    for (const piece of single) {
      if (piece['Sequence']) {
        seen = true;
        f.typeId = piece['Sequence'].type_id ?? 0;
      } else if (piece['SpecialToken']) {
        const ids = specials[piece['SpecialToken'].id]?.ids;
        if (!ids) throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${file}: post_processor names special token ${piece['SpecialToken'].id} without ids`);
        (seen ? f.after : f.before).push(...ids);
      }
    }
    return f;
  }
  throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${file}: post_processor type ${JSON.stringify(pp['type'])} is not supported (BertProcessing, RobertaProcessing, TemplateProcessing)`);
}

/** Where Linux shows a loaded NVIDIA driver; none means no GPU CUDA could use. */
const NVIDIA_DRIVER = '/proc/driver/nvidia/version';

/**
 * Why onnxruntime's CUDA execution provider cannot run here, found without asking onnxruntime (a
 * failed attempt prints onnxruntime's own error lines on stderr, in every process that tries): on
 * Linux, no NVIDIA driver, or an onnxruntime-node installed without its CUDA provider library (its
 * Linux x64 package lists CUDA either way). undefined: nothing known against CUDA, so it is tried.
 */
export function cudaMissing(driver = NVIDIA_DRIVER): string | undefined {
  if (process.platform !== 'linux') return undefined;
  if (!existsSync(driver)) return `no NVIDIA GPU driver here (no ${driver})`;
  let binDir: string;
  try {
    binDir = join(dirname(require.resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', 'linux', process.arch);
  } catch {
    return undefined;
  }
  const lib = join(binDir, 'libonnxruntime_providers_cuda.so');
  return existsSync(lib) ? undefined : `this onnxruntime-node has no CUDA provider library (no ${lib})`;
}

/** Resolves `auto`/`cpu`/`cuda` (ROUTECORE_BACKEND when unset) to the providers to ask for. */
function providersFor(ort: Ort, request: 'cpu' | 'cuda' | 'auto'): { providers: string[]; chosen: 'cpu' | 'cuda'; why: string } {
  const offered = new Set((ort.listSupportedBackends?.() ?? []).map((b) => b.name));
  if (request === 'cpu') return { providers: ['cpu'], chosen: 'cpu', why: 'cpu requested' };
  if (request === 'cuda') {
    if (!offered.has('cuda')) throw new RoutecoreError('ERR_ROUTECORE_BACKEND_UNAVAILABLE', 'the onnx encoder was asked for CUDA, but this onnxruntime-node offers no CUDA execution provider');
    const missing = cudaMissing();
    if (missing !== undefined) throw new RoutecoreError('ERR_ROUTECORE_BACKEND_UNAVAILABLE', `the onnx encoder was asked for CUDA, but ${missing}`);
    return { providers: ['cuda'], chosen: 'cuda', why: 'cuda requested' };
  }
  if (!offered.has('cuda')) return { providers: ['cpu'], chosen: 'cpu', why: 'auto: this onnxruntime-node offers no CUDA execution provider' };
  const missing = cudaMissing();
  if (missing !== undefined) return { providers: ['cpu'], chosen: 'cpu', why: `auto: ${missing}, so CUDA was not tried; CPU` };
  return { providers: ['cuda', 'cpu'], chosen: 'cuda', why: 'auto: onnxruntime-node offers CUDA' };
}

/** Whether this process has said which execution provider `auto` chose (once per process). */
let providerSaid = false;

/** Says once per process, in one line on stderr, which execution provider `auto` chose and why. */
function sayProvider(provider: { chosen: 'cpu' | 'cuda'; why: string }): void {
  if (providerSaid) return;
  providerSaid = true;
  process.stderr.write(`routecore: onnxruntime runs on ${provider.chosen === 'cuda' ? 'CUDA' : 'the CPU'} (${provider.why})\n`);
}

interface Pending {
  texts: readonly string[];
  resolve: (rows: Float32Array) => void;
  reject: (err: unknown) => void;
}

/** Options of {@link OnnxTextSession.load}: what the encoder and the predictor share. */
export interface OnnxSessionOptions {
  /** Tokens per text at most, special tokens included. */
  maxTokens: number;
  /** Texts per session run at most. */
  maxBatch: number;
  /** `cpu`, `cuda` or `auto` (see {@link OnnxEncoderOptions.backend}); undefined: ROUTECORE_BACKEND, else `auto`. */
  backend?: unknown;
}

/**
 * @internal What the onnx encoder and the onnx predictor (onnx-predictor.ts) share: a transformer
 * over text in a directory (`model.onnx` or `onnx/model.onnx`, and `tokenizer.json`), its session
 * on the chosen execution provider, and {@link OnnxTextSession.run}: tokenize with the native
 * tokenizer, frame with the post-processor's special tokens, pad, run. {@link OnnxTextSession.coalesce}
 * turns a per-batch step into calls that concurrent callers share.
 */
export class OnnxTextSession {
  /** Absolute paths of the directory, the model file and the tokenizer file. */
  readonly dir: string;
  readonly modelPath: string;
  readonly tokenizerPath: string;
  /** sha256 of model.onnx, hex. */
  readonly modelHash: string;
  /** The execution provider the session was created with, and why. */
  readonly executionProvider: 'cpu' | 'cuda';
  readonly providerReason: string;
  readonly maxBatch: number;
  /** Session runs so far, and texts run (coalescing shows as texts > runs). */
  readonly stats = { runs: 0, texts: 0 };
  readonly #session: OrtSession;
  readonly #ort: Ort;
  readonly #tokenizer: NativeTokenizerHandle;
  readonly #framing: Framing;
  readonly #padId: number;
  readonly #maxTokens: number;
  readonly #wantsTypes: boolean;

  private constructor(init: {
    dir: string; modelPath: string; tokenizerPath: string; modelHash: string; session: OrtSession; ort: Ort; tokenizer: NativeTokenizerHandle;
    framing: Framing; padId: number; maxTokens: number; maxBatch: number; provider: { chosen: 'cpu' | 'cuda'; why: string };
  }) {
    this.dir = init.dir;
    this.modelPath = init.modelPath;
    this.tokenizerPath = init.tokenizerPath;
    this.modelHash = init.modelHash;
    this.#session = init.session;
    this.#ort = init.ort;
    this.#tokenizer = init.tokenizer;
    this.#framing = init.framing;
    this.#padId = init.padId;
    this.#maxTokens = init.maxTokens;
    this.maxBatch = init.maxBatch;
    this.#wantsTypes = init.session.inputNames.includes('token_type_ids');
    this.executionProvider = init.provider.chosen;
    this.providerReason = init.provider.why;
  }

  /** The session's output names. */
  get outputNames(): readonly string[] {
    return this.#session.outputNames;
  }

  /**
   * Loads `dir`. `what` names the caller in messages (`the onnx encoder`, `the onnx predictor`).
   * Missing files, an unloadable model and a model without `input_ids`/`attention_mask` inputs
   * are ERR_ROUTECORE_BAD_MODEL naming the file; no onnxruntime-node is ERR_ROUTECORE_ADDON_UNAVAILABLE.
   */
  static async load(dir: string, options: OnnxSessionOptions, what: string): Promise<OnnxTextSession> {
    const envBackend = (process.env['ROUTECORE_BACKEND'] ?? '').trim().toLowerCase();
    const backend = options.backend ?? (envBackend === 'cpu' || envBackend === 'cuda' ? envBackend : 'auto');
    if (backend !== 'cpu' && backend !== 'cuda' && backend !== 'auto') throw invalidArgument('options.backend', '"cpu", "cuda" or "auto"', options.backend);
    const abs = resolve(dir);
    const modelPath = [join(abs, 'model.onnx'), join(abs, 'onnx', 'model.onnx')].find((p) => existsSync(p));
    if (!modelPath) throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${abs} holds no model.onnx (nor onnx/model.onnx)`);
    const tokPath = join(abs, 'tokenizer.json');
    if (!existsSync(tokPath)) throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${tokPath} is missing: ${what} tokenizes with the model's tokenizer.json`);
    const tokBytes = readFileSync(tokPath);
    let tokenizer: NativeTokenizerHandle;
    try {
      tokenizer = new (binding().NativeTokenizer)(tokBytes, tokPath);
    } catch (err) {
      rethrowNative(err);
    }
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(tokBytes.toString('utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${tokPath} is not JSON: ${(err as Error).message}`, { cause: err });
    }
    const framing = framingOf(json, tokPath);
    const padding = json['padding'] as { pad_id?: number } | null | undefined;
    const padId = typeof padding?.pad_id === 'number' ? padding.pad_id : 0;
    const ort = loadOrt();
    let provider = providersFor(ort, backend);
    const modelBytes = readFileSync(modelPath);
    const create = (providers: string[]) => ort.InferenceSession.create(modelBytes, { executionProviders: providers, graphOptimizationLevel: 'all' });
    let session: OrtSession;
    try {
      session = await create(provider.providers);
    } catch (err) {
      const message = (err as Error).message;
      if (provider.chosen !== 'cuda') throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${modelPath}: onnxruntime cannot load it: ${message}`, { cause: err });
      // onnxruntime-node's Linux x64 build lists CUDA even where its CUDA libraries or a device are
      // missing, and then fails to create the session. Whether the model or CUDA is at fault: a
      // CPU session tells. `auto` means "CUDA where it works", so it keeps the CPU session.
      try {
        session = await create(['cpu']);
      } catch (cpuErr) {
        throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${modelPath}: onnxruntime cannot load it: ${(cpuErr as Error).message}`, { cause: cpuErr });
      }
      if (backend === 'cuda') {
        await session.release?.();
        throw new RoutecoreError('ERR_ROUTECORE_BACKEND_UNAVAILABLE', `${modelPath}: ${what} was asked for CUDA, and onnxruntime's CUDA execution provider failed: ${message.split('\n')[0]}`, { cause: err });
      }
      provider = { providers: ['cpu'], chosen: 'cpu', why: `auto: onnxruntime-node offers CUDA, but it failed here (${message.split('\n')[0]}); CPU` };
    }
    for (const input of ['input_ids', 'attention_mask']) {
      if (!session.inputNames.includes(input)) throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${modelPath} has no input "${input}" (inputs: ${session.inputNames.join(', ')}): not a transformer text model export`);
    }
    noteOnnxSession(provider.chosen, provider.why);
    if (backend === 'auto') sayProvider(provider);
    return new OnnxTextSession({
      dir: abs, modelPath, tokenizerPath: tokPath, modelHash: createHash('sha256').update(modelBytes).digest('hex'), session, ort, tokenizer, framing, padId,
      maxTokens: options.maxTokens, maxBatch: options.maxBatch, provider,
    });
  }

  /**
   * One session run over `texts`: tokenize, frame, pad, run; returns the output `output` (float32,
   * else ERR_ROUTECORE_BAD_MODEL naming `name`), the padded length `T` and each text's length.
   */
  async run(texts: readonly string[], output: string, name: string): Promise<{ data: Float32Array; dims: readonly number[]; T: number; lengths: number[] }> {
    const n = texts.length;
    const parts = texts.map((t) => Buffer.from(t, 'utf8'));
    const offsets = new Uint32Array(n + 1);
    parts.forEach((b, i) => {
      offsets[i + 1] = offsets[i]! + b.length;
    });
    let tok: ReturnType<NativeTokenizerHandle['encode']>;
    try {
      tok = this.#tokenizer.encode(Buffer.concat(parts), offsets, n);
    } catch (err) {
      rethrowNative(err);
    }
    const { before, after, typeId } = this.#framing;
    const room = this.#maxTokens - before.length - after.length;
    const lengths = Array.from({ length: n }, (_, i) => before.length + Math.min(room, tok.offsets[i + 1]! - tok.offsets[i]!) + after.length);
    const T = Math.max(1, ...lengths);
    const ids = new BigInt64Array(n * T).fill(BigInt(this.#padId));
    const mask = new BigInt64Array(n * T);
    const types = new BigInt64Array(n * T);
    for (let i = 0; i < n; i++) {
      const seq = [...before, ...tok.ids.subarray(tok.offsets[i]!, tok.offsets[i]! + lengths[i]! - before.length - after.length), ...after];
      for (let t = 0; t < seq.length; t++) {
        ids[i * T + t] = BigInt(seq[t]!);
        mask[i * T + t] = 1n;
        types[i * T + t] = BigInt(t >= before.length && t < seq.length - after.length ? typeId : 0);
      }
    }
    const feeds: Record<string, unknown> = {
      input_ids: new this.#ort.Tensor('int64', ids, [n, T]),
      attention_mask: new this.#ort.Tensor('int64', mask, [n, T]),
    };
    if (this.#wantsTypes) feeds['token_type_ids'] = new this.#ort.Tensor('int64', types, [n, T]);
    let result: Record<string, OrtTensor>;
    try {
      result = await this.#session.run(feeds);
    } catch (err) {
      throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${name}: onnxruntime failed: ${(err as Error).message}`, { cause: err });
    }
    this.stats.runs++;
    this.stats.texts += n;
    const out = result[output]!;
    if (!(out.data instanceof Float32Array)) throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${name}: output "${output}" is not float32`);
    return { data: out.data, dims: out.dims, T, lengths };
  }

  /**
   * Turns `step` (one batch of at most maxBatch texts → rows of `width()` floats each) into a
   * function whose concurrent calls in one event-loop turn share session runs.
   */
  coalesce(step: (texts: readonly string[]) => Promise<{ rows: Float32Array; width: number }>, width: () => number, name: string): (texts: readonly string[]) => Promise<Float32Array> {
    let queue: Pending[] = [];
    let scheduled = false;
    const drain = async (): Promise<void> => {
      scheduled = false;
      const batch = queue;
      queue = [];
      const all = batch.flatMap((p) => p.texts);
      const w = width();
      try {
        const rows = new Float32Array(all.length * w);
        for (let start = 0; start < all.length; start += this.maxBatch) {
          const r = await step(all.slice(start, start + this.maxBatch));
          if (r.width !== w) throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${name} returned rows of ${r.width} floats, then ${w}`);
          rows.set(r.rows, start * w);
        }
        let at = 0;
        for (const p of batch) {
          p.resolve(rows.slice(at * w, (at + p.texts.length) * w));
          at += p.texts.length;
        }
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    };
    return (texts) =>
      new Promise((resolvePromise, reject) => {
        queue.push({ texts, resolve: resolvePromise, reject });
        if (!scheduled) {
          scheduled = true;
          setImmediate(() => void drain());
        }
      });
  }

  /** Releases the onnxruntime session. */
  async dispose(): Promise<void> {
    await this.#session.release?.();
  }
}

/** @internal Checks `maxTokens`/`maxBatch` options (`prefix` names them in errors). */
export function sessionLimits(maxTokens: unknown, maxBatch: unknown, prefix: string): { maxTokens: number; maxBatch: number } {
  const t = maxTokens ?? 512;
  if (!Number.isInteger(t) || (t as number) < 2 || (t as number) > 65536) throw invalidArgument(`${prefix}maxTokens`, 'an integer from 2 to 65536', maxTokens);
  const b = maxBatch ?? 64;
  if (!Number.isInteger(b) || (b as number) < 1 || (b as number) > 4096) throw invalidArgument(`${prefix}maxBatch`, 'an integer from 1 to 4096', maxBatch);
  return { maxTokens: t as number, maxBatch: b as number };
}

/** A sentence-transformer ONNX export as a text encoder. */
export class OnnxEncoder {
  /** `onnx:<directory name>@<sha256 prefix of model.onnx>`: what a router file records. */
  readonly name: string;
  /** Floats per text. */
  readonly dim: number;
  readonly pooling: 'mean' | 'cls';
  readonly #core: OnnxTextSession;
  readonly #normalize: boolean;
  readonly #output: string;
  readonly #encode: (texts: readonly string[]) => Promise<Float32Array>;

  private constructor(core: OnnxTextSession, name: string, pooling: 'mean' | 'cls', normalize: boolean, output: string) {
    this.#core = core;
    this.name = name;
    this.dim = 0;
    this.pooling = pooling;
    this.#normalize = normalize;
    this.#output = output;
    this.#encode = core.coalesce((texts) => this.#run(texts), () => this.dim, name);
  }

  /** The execution provider the session was created with (`cpu` or `cuda`), and why. */
  get executionProvider(): 'cpu' | 'cuda' {
    return this.#core.executionProvider;
  }

  /** Why that provider runs (e.g. `auto: no NVIDIA GPU driver here`), as the one startup line says. */
  get providerReason(): string {
    return this.#core.providerReason;
  }

  /** Session runs so far, and texts encoded (coalescing shows as texts > runs). */
  get stats(): { runs: number; texts: number } {
    return this.#core.stats;
  }

  /** Loads `dir` (model.onnx or onnx/model.onnx, and tokenizer.json) and probes the output width. */
  static async load(dir: string, options: OnnxEncoderOptions = {}): Promise<OnnxEncoder> {
    if (typeof dir !== 'string' || dir === '') throw invalidArgument('dir', 'a directory holding model.onnx and tokenizer.json', dir);
    const pooling = options.pooling ?? 'mean';
    if (pooling !== 'mean' && pooling !== 'cls') throw invalidArgument('options.pooling', '"mean" or "cls"', options.pooling);
    const limits = sessionLimits(options.maxTokens, options.maxBatch, 'options.');
    const core = await OnnxTextSession.load(dir, { ...limits, backend: options.backend }, 'the onnx encoder');
    const output = options.output ?? ['last_hidden_state', 'token_embeddings'].find((o) => core.outputNames.includes(o)) ?? core.outputNames[0]!;
    if (!core.outputNames.includes(output)) throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${core.modelPath} has no output "${output}" (outputs: ${core.outputNames.join(', ')})`);
    const name = `onnx:${core.dir.split(/[\\/]/).pop()}@${core.modelHash.slice(0, 12)}`;
    const encoder = new OnnxEncoder(core, name, pooling, options.normalize ?? true, output);
    // The width, from one probe run (and a first check that the output has a usable shape).
    const probe = await encoder.#run(['probe']);
    (encoder as { dim: number }).dim = probe.width;
    return encoder;
  }

  /** Encodes texts into `texts.length x dim` floats (coalesced with concurrent calls). */
  encode(texts: readonly string[]): Promise<Float32Array> {
    if (!Array.isArray(texts)) return Promise.reject(invalidArgument('texts', 'an array of strings', texts));
    for (let i = 0; i < texts.length; i++) if (typeof texts[i] !== 'string') return Promise.reject(invalidArgument(`texts[${i}]`, 'a string', texts[i]));
    return this.#encode(texts);
  }

  // One session run over `texts`, pooled and normalised.
  async #run(texts: readonly string[]): Promise<{ rows: Float32Array; width: number }> {
    const n = texts.length;
    const { data, dims, T, lengths } = await this.#core.run(texts, this.#output, this.name);
    let width: number;
    const rows = (w: number): Float32Array => new Float32Array(n * w);
    let pooled: Float32Array;
    if (dims.length === 3 && dims[0] === n && dims[1] === T) {
      width = dims[2]!;
      pooled = rows(width);
      for (let i = 0; i < n; i++) {
        const row = pooled.subarray(i * width, (i + 1) * width);
        if (this.pooling === 'cls') {
          row.set(data.subarray(i * T * width, i * T * width + width));
        } else {
          for (let t = 0; t < lengths[i]!; t++) {
            const at = (i * T + t) * width;
            for (let j = 0; j < width; j++) row[j]! += data[at + j]!;
          }
          for (let j = 0; j < width; j++) row[j]! /= lengths[i]!;
        }
      }
    } else if (dims.length === 2 && dims[0] === n) {
      width = dims[1]!; // already pooled (a sentence_embedding output)
      pooled = Float32Array.from(data);
    } else {
      throw new RoutecoreError(
        'ERR_ROUTECORE_BAD_MODEL',
        `${this.name}: output "${this.#output}" has shape [${dims.join(', ')}]; expected [batch ${n}, tokens ${T}, hidden] or [batch ${n}, hidden]`,
      );
    }
    for (let i = 0; i < pooled.length; i++) {
      if (!Number.isFinite(pooled[i]!)) {
        throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${this.name}: the model output ${Number.isNaN(pooled[i]!) ? 'NaN' : 'an infinity'} for text ${Math.floor(i / width)} (column ${i % width})`);
      }
    }
    if (this.#normalize) {
      for (let i = 0; i < n; i++) {
        const row = pooled.subarray(i * width, (i + 1) * width);
        let s = 0;
        for (const v of row) s += v * v;
        const norm = Math.sqrt(s);
        if (norm > 0) for (let j = 0; j < width; j++) row[j]! /= norm;
      }
    }
    return { rows: pooled, width };
  }

  /** Releases the onnxruntime session. */
  async dispose(): Promise<void> {
    await this.#core.dispose();
  }
}
