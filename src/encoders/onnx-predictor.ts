/**
 * The `onnx` predictor: a user's ONNX text classifier whose output is one score per model
 * (RouteLLM's BERT-classifier router, or any sequence-classification export with one logit per
 * candidate model), served as a router. A directory holds `model.onnx` (or `onnx/model.onnx`),
 * `tokenizer.json` and `routecore-predictor.json`, which names the models in output order:
 *
 * ```json
 * { "models": ["gpt-4o", "gpt-4o-mini"], "activation": "sigmoid" }
 * ```
 *
 * `Router.load(dir)` (or `Router.load('onnx:DIR')`) gives a router whose scores come from the
 * classifier: route, routeBatch, routeChat, the policies, the executor, the adapters and the gateway
 * take it as any other router. Tokenization, framing, padding, the execution provider and the
 * coalescing of concurrent calls are the onnx encoder's ({@link OnnxTextSession}). The classifier
 * runs asynchronously (onnxruntime's threads), so `routeSync`/`routeChatSync` refuse with a coded
 * error saying so, and there is no `.router` file: the directory is the artifact.
 * @module
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

import type { NativeRouterHandle } from '../addon/native.js';
import { RoutecoreError, invalidArgument } from '../errors.js';
import { ENCODER_META } from '../routing/encoder.js';
import type { RouterOptions } from '../routing/router.js';
import { OnnxTextSession, sessionLimits } from './onnx.js';

/** The file of an onnx predictor directory that names the models, in the order of the classifier's outputs. */
export const PREDICTOR_CONFIG = 'routecore-predictor.json';

/** What `routecore-predictor.json` holds. */
export interface OnnxPredictorConfig {
  /** The model ids, one per output column, in order (what decisions name; aliases may rename them). */
  models: string[];
  /**
   * How outputs become scores in [0,1]: `sigmoid` (default; one logit per model, each model's
   * success scored on its own), `softmax` (logits of one choice among the models), `none` (the
   * outputs are already in [0,1]; a value outside is an error).
   */
  activation?: 'sigmoid' | 'softmax' | 'none';
  /** The output to read; default `logits` when the model has one, else its first output. */
  output?: string;
  /** Tokens per text at most, special tokens included (default 512). */
  maxTokens?: number;
}

/** Options of {@link OnnxPredictor.load}. */
export interface OnnxPredictorOptions {
  /** `cpu`, `cuda` or `auto` (default: ROUTECORE_BACKEND, else `auto`), as the onnx encoder's. */
  backend?: 'cpu' | 'cuda' | 'auto';
  /** Texts per session run at most (default 64). */
  maxBatch?: number;
}

const CONFIG_KEYS = ['models', 'activation', 'output', 'maxTokens'];

function readConfig(path: string): Required<Omit<OnnxPredictorConfig, 'output' | 'maxTokens'>> & Pick<OnnxPredictorConfig, 'output' | 'maxTokens'> {
  if (!existsSync(path)) {
    throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${path} is missing: an onnx predictor directory names its models there, in output order, e.g. {"models": ["gpt-4o", "gpt-4o-mini"]}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${path} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const bad = (field: string, want: string, got: unknown): never => {
    throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${path}: "${field}" must be ${want}, got ${JSON.stringify(got)?.slice(0, 80)}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('(top level)', 'an object', raw);
  const c = raw as Record<string, unknown>;
  for (const k of Object.keys(c)) if (!CONFIG_KEYS.includes(k)) bad(k, `absent (known fields: ${CONFIG_KEYS.join(', ')})`, c[k]);
  const models = c['models'];
  if (!Array.isArray(models) || models.length === 0 || !models.every((m) => typeof m === 'string' && m !== '')) bad('models', 'a non-empty array of model ids', models);
  if (new Set(models as string[]).size !== (models as string[]).length) bad('models', 'distinct model ids', models);
  const activation = c['activation'] ?? 'sigmoid';
  if (activation !== 'sigmoid' && activation !== 'softmax' && activation !== 'none') bad('activation', '"sigmoid", "softmax" or "none"', activation);
  if (c['output'] !== undefined && (typeof c['output'] !== 'string' || c['output'] === '')) bad('output', 'an output name', c['output']);
  return { models: models as string[], activation: activation as 'sigmoid' | 'softmax' | 'none', output: c['output'] as string | undefined, maxTokens: c['maxTokens'] as number | undefined };
}

/** A user's ONNX classifier with one output per model: text in, scores in [0,1] out. */
export class OnnxPredictor {
  /** `onnx-predictor:<directory name>@<sha256 prefix of model.onnx>`. */
  readonly name: string;
  /** The model ids, in output order. */
  readonly models: readonly string[];
  readonly activation: 'sigmoid' | 'softmax' | 'none';
  readonly #core: OnnxTextSession;
  readonly #output: string;
  readonly #score: (texts: readonly string[]) => Promise<Float32Array>;

  private constructor(core: OnnxTextSession, config: ReturnType<typeof readConfig>, output: string) {
    this.#core = core;
    this.name = `onnx-predictor:${core.dir.split(/[\\/]/).pop()}@${core.modelHash.slice(0, 12)}`;
    this.models = config.models;
    this.activation = config.activation;
    this.#output = output;
    this.#score = core.coalesce((texts) => this.#run(texts), () => this.models.length, this.name);
  }

  /** The directory the predictor was loaded from (absolute). */
  get dir(): string {
    return this.#core.dir;
  }

  /** The execution provider the session was created with (`cpu` or `cuda`), and why. */
  get executionProvider(): 'cpu' | 'cuda' {
    return this.#core.executionProvider;
  }

  /** Why that provider runs (e.g. `auto: no NVIDIA GPU driver here`), as the one startup line says. */
  get providerReason(): string {
    return this.#core.providerReason;
  }

  /** Session runs so far, and texts scored. */
  get stats(): { runs: number; texts: number } {
    return this.#core.stats;
  }

  /**
   * Loads `dir` and checks the classifier with one probe run: its output must be [batch, models]
   * float32 with as many columns as `routecore-predictor.json` names models, finite. Every fault
   * is ERR_ROUTECORE_BAD_MODEL naming the file.
   */
  static async load(dir: string, options: OnnxPredictorOptions = {}): Promise<OnnxPredictor> {
    if (typeof dir !== 'string' || dir === '') throw invalidArgument('dir', `a directory holding model.onnx, tokenizer.json and ${PREDICTOR_CONFIG}`, dir);
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object', options);
    const abs = resolve(dir);
    if (!existsSync(abs) || !statSync(abs).isDirectory()) throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${abs} is not a directory: an onnx predictor is a directory holding model.onnx, tokenizer.json and ${PREDICTOR_CONFIG}`);
    const configPath = join(abs, PREDICTOR_CONFIG);
    const config = readConfig(configPath);
    let limits: { maxTokens: number; maxBatch: number };
    try {
      limits = sessionLimits(config.maxTokens, options.maxBatch, '');
    } catch (err) {
      throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${configPath}: ${(err as Error).message}`, { cause: err });
    }
    const core = await OnnxTextSession.load(abs, { ...limits, backend: options.backend }, 'the onnx predictor');
    try {
      const output = config.output ?? (core.outputNames.includes('logits') ? 'logits' : core.outputNames[0]!);
      if (!core.outputNames.includes(output)) throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${core.modelPath} has no output "${output}" (outputs: ${core.outputNames.join(', ')}), which ${configPath} names`);
      const predictor = new OnnxPredictor(core, config, output);
      await predictor.#run(['probe']); // shape, column count and finiteness, before the first request
      return predictor;
    } catch (err) {
      await core.dispose();
      throw err;
    }
  }

  /** Scores texts: `texts.length × models.length` floats in [0,1], row-major (coalesced with concurrent calls). */
  score(texts: readonly string[]): Promise<Float32Array> {
    if (!Array.isArray(texts)) return Promise.reject(invalidArgument('texts', 'an array of strings', texts));
    for (let i = 0; i < texts.length; i++) if (typeof texts[i] !== 'string') return Promise.reject(invalidArgument(`texts[${i}]`, 'a string', texts[i]));
    return this.#score(texts);
  }

  // One session run: the raw outputs, checked, through the activation.
  async #run(texts: readonly string[]): Promise<{ rows: Float32Array; width: number }> {
    const n = texts.length, m = this.models.length;
    const where = this.#core.modelPath;
    const { data, dims } = await this.#core.run(texts, this.#output, where);
    if (dims.length !== 2 || dims[0] !== n) {
      throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${where}: output "${this.#output}" has shape [${dims.join(', ')}]; an onnx predictor's must be [batch ${n}, models ${m}]`);
    }
    if (dims[1] !== m) {
      throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${where}: output "${this.#output}" has ${dims[1]} columns, but ${join(this.#core.dir, PREDICTOR_CONFIG)} names ${m} models (${this.models.join(', ')})`);
    }
    const rows = Float32Array.from(data.subarray(0, n * m));
    for (let i = 0; i < rows.length; i++) {
      const v = rows[i]!;
      if (!Number.isFinite(v)) {
        throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${where}: the model output ${Number.isNaN(v) ? 'NaN' : 'an infinity'} for text ${Math.floor(i / m)} (model ${this.models[i % m]})`);
      }
      if (this.activation === 'none' && (v < 0 || v > 1)) {
        throw new RoutecoreError('ERR_ROUTECORE_BAD_MODEL', `${where}: the model output ${v} for text ${Math.floor(i / m)} (model ${this.models[i % m]}), outside [0, 1], and ${PREDICTOR_CONFIG} says "activation": "none"`);
      }
    }
    if (this.activation === 'sigmoid') {
      for (let i = 0; i < rows.length; i++) rows[i] = 1 / (1 + Math.exp(-rows[i]!));
    } else if (this.activation === 'softmax') {
      for (let r = 0; r < n; r++) {
        const row = rows.subarray(r * m, (r + 1) * m);
        let max = -Infinity;
        for (const v of row) max = Math.max(max, v);
        let sum = 0;
        for (let j = 0; j < m; j++) sum += row[j] = Math.exp(row[j]! - max);
        for (let j = 0; j < m; j++) row[j] = row[j]! / sum;
      }
    }
    return { rows, width: m };
  }

  /** Releases the onnxruntime session. */
  async dispose(): Promise<void> {
    await this.#core.dispose();
  }
}

/**
 * The onnx predictor directory `source` names for `Router.load`: `onnx:DIR`, or a path to a
 * directory (a `.router` file is a file); undefined for anything else.
 */
export function onnxPredictorDir(source: unknown): string | undefined {
  if (typeof source !== 'string' || source === '' || source === 'default') return undefined;
  if (source.startsWith('onnx:')) return source.slice('onnx:'.length);
  try {
    return statSync(source).isDirectory() ? source : undefined;
  } catch {
    return undefined;
  }
}

/**
 * @internal (its signature names the native handle type, which the declarations do not ship)
 * `Router.load` of an onnx predictor directory: loads the classifier and builds a router of class
 * `make` on a handle whose scores it computes. The router's own options apply (registry, aliases,
 * policy...); `backend` picks the execution provider; `encoder` and `staticModel` do not apply.
 */
export async function loadOnnxPredictorRouter<R>(make: new (native: NativeRouterHandle, options: RouterOptions, embedded: boolean) => R, dir: string, options: RouterOptions): Promise<R> {
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object', options);
  for (const k of ['encoder', 'staticModel'] as const) {
    if (options[k] !== undefined) throw invalidArgument(`options.${k}`, 'absent: an onnx predictor reads text with its own tokenizer.json and model.onnx', options[k]);
  }
  const predictor = await OnnxPredictor.load(dir, { backend: options.backend, ...(options.maxBatchSize !== undefined ? { maxBatch: Math.min(options.maxBatchSize, 4096) } : {}) });
  const handle = predictorHandle(predictor);
  try {
    return new make(handle, options, false);
  } catch (err) {
    handle.dispose();
    throw err;
  }
}

/**
 * The predictor in the shape of the native router handle the router is built on: `score` runs the
 * classifier on the packed prompts; the synchronous, embedding, coverage and serialization entry
 * points refuse with coded errors that say what to use instead.
 */
function predictorHandle(p: OnnxPredictor): NativeRouterHandle & { readonly asyncOnly: true } {
  const metadata: Record<string, string> = {
    'routecore.models': JSON.stringify(p.models),
    [ENCODER_META]: p.name,
    'routecore.onnx.dir': p.dir,
    'routecore.onnx.activation': p.activation,
  };
  const syncOnly = (): never => {
    throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', `${p.name} (an onnx predictor) scores asynchronously only: use route(), routeBatch() or routeChat(), not routeSync() or routeChatSync()`);
  };
  const textOnly = (): never => {
    throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', `${p.name} (an onnx predictor) reads prompt text with its own tokenizer; it takes no embeddings`);
  };
  const unpack = (text: Uint8Array, offsets: Uint32Array, count: number): string[] => {
    const buf = Buffer.from(text.buffer, text.byteOffset, text.byteLength);
    return Array.from({ length: count }, (_, i) => buf.toString('utf8', offsets[i]!, offsets[i + 1]!));
  };
  return {
    asyncOnly: true,
    outputs: p.models.length,
    predictor: 'onnx',
    backend: p.executionProvider,
    encoder: 'onnx',
    inputDim: 0,
    scoreSync: syncOnly,
    scoreEmbeddingsSync: textOnly,
    scoreEmbeddings: () => Promise.reject(new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', `${p.name} (an onnx predictor) reads prompt text with its own tokenizer; it takes no embeddings`)),
    async score(text, offsets, count, out) {
      out.set(await p.score(unpack(text, offsets, count)));
    },
    encode: textOnly,
    coverage() {
      throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', `${p.name} (an onnx predictor) has no sketch of training prompts: coverage needs a router trained by routecore`);
    },
    serialize() {
      throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', `${p.name} (an onnx predictor) has no .router file: its directory ${p.dir} is the artifact`);
    },
    metadata: () => ({ ...metadata }),
    setMetadata(key, value) {
      metadata[key] = value;
    },
    dispose() {
      p.dispose().catch(() => undefined);
    },
  };
}
