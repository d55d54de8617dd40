/**
 * The router, composed of its parts: the text checks and packing (prompt.ts), the encoder seam
 * (encoder.ts: the artifact's native encoder, or an Encoder given at load time), the scorer
 * (scorer.ts: native predictor, ensemble members, postprocessing, cost network), the decision
 * policies (decide.ts) and the micro-batcher (batcher.ts). This module reads a `.router` file into
 * those parts and offers the routing API over them; chat requests and telemetry are the app
 * layer's (src/app/router.ts).
 * @module
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { resolveBackend, type BackendRequest } from '../addon/backend.js';
import { RoutecoreError, didYouMean, invalidArgument } from '../errors.js';
import { binding, packageRoot, rethrowNative, type NativeRouterHandle } from '../addon/native.js';
import { type StaticModel, routerFileMetadata, staticModelFor } from '../encoders/static.js';
import { coverageOf, type Coverage } from '../encoders/coverage.js';
import { MicroBatcher, type RouterStats } from './batcher.js';
import { Decider, type Decision, type RouteOptions, type ThresholdOptions } from './decide.js';
import { ENCODER_META, checkEncoder, checkRows, type Encoder } from './encoder.js';
import type { CostOptions, PolicyName } from './policy.js';
import { AUTO_KEY, type PostprocessSpec } from './postprocess.js';
import { PromptPacker, checkPrompt, checkPrompts, totalLength } from './prompt.js';
import { Registry } from './registry.js';
import { Scorer, type ScoreInput } from './scorer.js';
import { calibrateThreshold, strongWinProbability, type SubsetOptions } from './selection.js';

export type { Decision, RouteOptions, ThresholdOptions } from './decide.js';
export type { PolicyName } from './policy.js';
export type { RouterStats } from './batcher.js';
export type { Encoder } from './encoder.js';
export { MAX_PROMPT_BYTES } from './prompt.js';
/** Options of `Router.load()`. */
export interface RouterOptions {
  /** The deployment's models (a Registry or a path to JSON/YAML). Only registered, enabled models are chosen. */
  registry?: Registry | string;
  /** Maps the router's model ids to registry ids, e.g. `{ strong: 'gpt-4o', weak: 'gpt-4o-mini' }`. */
  aliases?: Record<string, string>;
  /** Default policy; `best` unless given. */
  policy?: PolicyName;
  /** Default knobs of the `cost` policy. */
  cost?: CostOptions;
  /** The `threshold` policy's pair and τ. */
  threshold?: ThresholdOptions;
  /** Default knobs of the `subset` policy. */
  subset?: SubsetOptions;
  /** Compute backend; default from ROUTECORE_BACKEND, else `auto`. */
  backend?: BackendRequest;
  /** CPU threads; default from ROUTECORE_THREADS, else all hardware threads. */
  threads?: number;
  /** Most prompts coalesced into one native call by {@link RouterCore.route}; default 256. */
  maxBatchSize?: number;
  /** How long {@link RouterCore.route} waits to fill a batch: 0 (default) = until the event loop's next turn. */
  maxWaitMs?: number;
  /**
   * The static model (directory or {@link StaticModel}) of a router trained with `embed: false`,
   * which names its model instead of carrying it; default: the directory recorded at training.
   */
  staticModel?: string | StaticModel;
  /**
   * For a router trained on embeddings (`encoder` reads `precomputed`): what turns prompt text into
   * its rows, so that `route`, `routeChat` and every face built on them take text (see encoder.ts).
   * Must give `inputDim` floats per text, under the name the router file records, if it records one.
   */
  encoder?: Encoder;
}
/**
 * Batches with at most this much text (UTF-16 units) are scored on the calling thread, whatever their
 * count; more text goes to the addon's thread: hashing a 256 KiB prompt takes milliseconds, which
 * `route()` must not spend on the event loop, and 16 Ki characters bound that block at a few hundred µs.
 * Below the bound the hand-off costs more than it frees: a gateway at 32 connections sent batches of
 * 9–32 short prompts to the thread, which cost 10 µs of CPU per prompt against 6 on the calling
 * thread (submit, wake-up and callback; one process, 32 `routeChat` at a time), and on a one-core
 * deployment the thread only takes turns with the event loop. See docs/PERFORMANCE.md.
 */
const SYNC_TEXT_LIMIT = 16 * 1024;

/** Metadata keys of the TypeScript layer inside a `.router` file. */
export const META = {
  models: 'routecore.models',
  training: 'routecore.training',
  registry: 'routecore.registry',
  description: 'routecore.description',
  calibration: 'routecore.calibration',
} as const;

/** Summary of the data a router was trained on, stored in the artifact. */
export interface TrainingSummary {
  rows: number;
  files: string[];
  models: Record<string, { meanScore: number; meanCost: number | null; rows: number }>;
  [extra: string]: unknown;
}
/**
 * @internal (its signature names the native handle, which the declarations do not ship)
 * Reads a `.router` file (or its bytes, or `'default'`, the embedded strong/weak router) into a
 * native handle and builds a router of class `make` on it; a router whose metadata is bad is
 * freed and the error names the file. The body of `Router.load()` (src/app/router.ts).
 */
export function loadRouter<R extends RouterCore>(
  make: new (native: NativeRouterHandle, options: RouterOptions, embedded: boolean) => R,
  source: string | Uint8Array,
  options: RouterOptions,
): R {
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object', options);
  let bytes: Uint8Array;
  let name: string;
  if (source instanceof Uint8Array) {
    bytes = source;
    name = '<buffer>';
  } else if (typeof source === 'string' && source !== '') {
    name = source === 'default' ? defaultRouterPath() : source;
    try {
      bytes = readFileSync(name);
    } catch (err) {
      throw new RoutecoreError('ERR_ROUTECORE_IO', `cannot read router file ${name}: ${(err as Error).message}`, { cause: err });
    }
  } else {
    throw invalidArgument('source', '"default", a path to a .router file, or its bytes', source);
  }
  const { backend, threads } = resolveBackend(options);
  // A router file that names its static model instead of carrying it: load and check the model.
  const staticModel = staticModelFor(routerFileMetadata(bytes), name, options.staticModel);
  let native: NativeRouterHandle;
  try {
    native = binding().NativeRouter.load(bytes, name, backend, threads, staticModel?.handle);
  } catch (err) {
    rethrowNative(err);
  }
  try {
    return new make(native, options, source === 'default');
  } catch (err) {
    // The weights loaded but the metadata did not: free them now, and say which file was at fault.
    native.dispose();
    if (err instanceof RoutecoreError && err.code === 'ERR_ROUTECORE_BAD_ARTIFACT' && !err.message.startsWith(name)) {
      throw new RoutecoreError(err.code, `${name}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}
interface Pending {
  prompt: string;
  options: RouteOptions | undefined;
  resolve: (d: Decision) => void;
  reject: (e: unknown) => void;
}

/**
 * Routes prompts to models: the routing half of the public `Router` (src/app/router.ts), which adds
 * what the serving faces share (chat requests, metrics, outcomes, feedback). Nothing here knows of
 * chat bodies, upstreams or telemetry, so every face can build on it without an import circle.
 * Construct it through `Router.load()` or `train()`; share it across requests and
 * {@link RouterCore.dispose} it when done.
 */
export class RouterCore {
  #scorer: Scorer | undefined; // undefined once disposed
  readonly #modelIds: readonly string[]; // router's own ids, in score-column order
  readonly #ids: readonly string[]; // after aliases: what decisions name
  readonly #registry: Registry | undefined;
  readonly #training: TrainingSummary | undefined;
  // What the scores mean: success probabilities, or Bradley–Terry strengths (pairwise training).
  readonly #objective: 'scores' | 'pairwise';
  readonly #decider: Decider;
  readonly #batcher: MicroBatcher<Pending>;
  // Text -> rows for a router trained on embeddings; undefined when the artifact encodes text itself.
  readonly #encoder: Encoder | undefined;
  // A router trained on embeddings, loaded without an Encoder: text has nothing to turn it into rows.
  readonly #rowsOnly: boolean;
  readonly #packer = new PromptPacker();
  #syncOut = new Float32Array(0);
  #syncCost = new Float32Array(0);

  /** @internal Use `Router.load()` or `train()`. `embedded`: this is the shipped default router. */
  constructor(native: NativeRouterHandle, options: RouterOptions = {}, embedded = false) {
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object', options);
    checkOptionNames(options);
    const meta = native.metadata();
    this.#modelIds = parseModelIds(meta[META.models], native.outputs);
    this.#training = meta[META.training] ? (metadataJson(meta, META.training) as TrainingSummary) : undefined;
    this.#objective = meta['predictor.objective'] === 'pairwise' ? 'pairwise' : 'scores';
    const scorer = new Scorer(native, meta, options.threads);
    this.#scorer = scorer;

    const aliases = options.aliases ?? {};
    if (typeof aliases !== 'object' || aliases === null) throw invalidArgument('options.aliases', 'an object of router id -> registry id', aliases);
    for (const [k, v] of Object.entries(aliases)) {
      if (!this.#modelIds.includes(k)) {
        throw invalidArgument(`options.aliases["${k}"]`, `a key naming one of the router's models (${this.#modelIds.join(', ')})`, k);
      }
      if (typeof v !== 'string' || v === '') throw invalidArgument(`options.aliases["${k}"]`, 'a non-empty registry id', v);
    }
    this.#ids = this.#modelIds.map((id) => (aliases as Record<string, string>)[id] ?? id);
    if (new Set(this.#ids).size !== this.#ids.length) throw invalidArgument('options.aliases', 'a mapping that keeps model ids distinct', aliases);

    if (options.registry === undefined) {
      // A router may ship list prices for its own models (the default router does); aliases rename
      // them, so an aliased default router still weighs cost until a registry replaces the prices.
      this.#registry = meta[META.registry] ? shippedRegistry(meta[META.registry]!, aliases as Record<string, string>) : undefined;
    } else if (typeof options.registry === 'string') {
      this.#registry = Registry.fromFile(options.registry);
    } else if (options.registry instanceof Registry) {
      this.#registry = options.registry;
    } else {
      throw invalidArgument('options.registry', 'a Registry or a path to a JSON/YAML registry', options.registry);
    }

    // An alias is an explicit mapping: a target the registry lacks is a typo, not a model to skip.
    if (options.registry !== undefined && this.#registry) {
      for (const [k, v] of Object.entries(aliases as Record<string, string>)) {
        if (!this.#registry.has(v)) {
          throw invalidArgument(`options.aliases["${k}"]`, `an id listed in the registry ${this.#registry.source} (${this.#registry.ids().join(', ')})`, v);
        }
      }
    }
    this.#decider = new Decider({
      ids: this.#ids,
      modelIds: this.#modelIds,
      registry: this.#registry,
      training: this.#training,
      objective: this.#objective,
      // The shipped default router saves by default: `threshold` at a measured τ (README, "Defaults").
      policy: options.policy ?? (embedded ? 'threshold' : 'best'),
      cost: options.cost,
      subset: options.subset,
      threshold: options.threshold,
      calibration: meta[META.calibration],
      calibrationKey: META.calibration,
      fallbackTau: embedded ? DEFAULT_ROUTER_TAU : 0.5,
      costModel: scorer.postprocess?.cost ?? undefined,
      costNetwork: scorer.hasCostNetwork,
    });
    const maxBatch = checkInt(options.maxBatchSize, 'options.maxBatchSize', 1, 65536, 256);
    const maxWait = checkInt(options.maxWaitMs, 'options.maxWaitMs', 0, 10_000, 0);
    this.#batcher = new MicroBatcher<Pending>(maxBatch, maxWait, (batch) => this.#runBatch(batch));
    this.#encoder = options.encoder === undefined ? undefined : checkGivenEncoder(options.encoder, native, meta);
    this.#rowsOnly = native.encoder === 'precomputed' && this.#encoder === undefined;
  }

  /** Model ids as decisions name them (after aliases), in score-column order. */
  get models(): readonly string[] {
    return this.#ids;
  }

  /** The predictor kind (`mlp`, `linear`, `mf`, `knn`, `kmeans`). */
  get predictor(): string {
    return this.#live().native.predictor;
  }

  /**
   * What the scores mean: `scores`, predicted success probabilities (trained on outcome records),
   * or `pairwise`, Bradley–Terry strengths through a sigmoid (trained on battles), for which
   * P(a beats b) = sigmoid(logit q_a − logit q_b).
   */
  get objective(): 'scores' | 'pairwise' {
    return this.#objective;
  }

  /**
   * The artifact's encoder: `hashing`, `static` or `mixed`, applied by the addon to prompt text;
   * `precomputed`: the router scores embeddings of {@link RouterCore.inputDim} floats, from your
   * own embedding service or from the {@link RouterCore.textEncoder} given at load time; `onnx`:
   * an onnx predictor directory, whose classifier reads the text itself (src/encoders/onnx-predictor.ts).
   */
  get encoder(): 'hashing' | 'static' | 'mixed' | 'precomputed' | 'onnx' {
    return this.#live().native.encoder;
  }

  /** The Encoder given at load time that turns text into this `precomputed` router's rows; undefined when none. */
  get textEncoder(): Encoder | undefined {
    return this.#encoder;
  }

  /** Feature dimension: hash buckets, or the embedding size of a `precomputed` router. */
  get inputDim(): number {
    return this.#live().native.inputDim;
  }

  /**
   * The backend this router computes on (`cpu` or `cuda`). A router made on `cuda` reads `cpu`
   * from the moment a CUDA error moved it to the CPU backend (`backendInfo().fallback` says why).
   */
  get backend(): string {
    return this.#live().native.backend;
  }

  /** What the router was trained on, when the file says. */
  get training(): TrainingSummary | undefined {
    return this.#training;
  }

  /**
   * What `train --auto` stored: the chosen candidate, its cross-validation figures, the runner-up,
   * the gain over the best single model; undefined for routers trained without `--auto`.
   */
  get auto(): Record<string, unknown> | undefined {
    const raw = this.#live().native.metadata()[AUTO_KEY];
    if (raw === undefined) return undefined;
    try {
      return JSON.parse(raw) as Record<string, unknown>;
    } catch {
      throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', `router file metadata "${AUTO_KEY}" is not JSON`);
    }
  }

  /** The blend, calibration and cost model applied after the native scores (`train --auto`); undefined when none. */
  get postprocess(): PostprocessSpec | undefined {
    return this.#scorer?.postprocess;
  }

  /** Raw artifact metadata (string -> string). */
  metadata(): Record<string, string> {
    return this.#live().native.metadata();
  }

  /**
   * Sets the `threshold` policy's τ so that `strongShare` of these prompts (a sample of your own
   * traffic) go to the strong model, stores it in the router (kept by save()), and returns it.
   */
  async calibrate(prompts: readonly string[], options: { strongShare: number }): Promise<number> {
    this.#live();
    const { strong, weak } = this.#decider.pair;
    if (strong < 0) {
      throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', 'calibrate() needs a strong/weak pair: pass options.threshold.strong and .weak when loading a router with more than two models');
    }
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object with strongShare', options);
    if (!Array.isArray(prompts) || prompts.length === 0) throw invalidArgument('prompts', 'a non-empty array of prompts', prompts);
    const scores = await this.scores(prompts);
    const m = this.#ids.length;
    const p = new Float64Array(prompts.length);
    for (let i = 0; i < prompts.length; i++) p[i] = strongWinProbability(scores[i * m + strong]!, scores[i * m + weak]!, this.#objective);
    const tau = calibrateThreshold(p, options.strongShare);
    this.#decider.tau = tau;
    this.#live().native.setMetadata(
      META.calibration,
      JSON.stringify({ threshold: tau, strongShare: options.strongShare, prompts: prompts.length, strong: this.#modelIds[strong], weak: this.#modelIds[weak] }),
    );
    return tau;
  }

  /** The policy decisions use when a call names none. */
  get policy(): PolicyName {
    return this.#decider.policy;
  }

  /** The `threshold` policy's current τ and pair (ids after aliases); pair null when not set up. */
  get threshold(): { value: number; strong: string | null; weak: string | null } {
    return this.#decider.threshold;
  }

  /**
   * Takes a model out of decisions for `ms` milliseconds (an upstream outage) without reloading;
   * it comes back by itself. Calling again extends or shortens the window; `ms` 0 restores it now.
   */
  markUnavailable(id: string, ms: number): void {
    this.#live();
    this.#decider.markUnavailable(id, ms);
  }

  /** Milliseconds until the first model taken out by {@link markUnavailable} comes back; undefined when none is out. */
  cooldownLeftMs(): number | undefined {
    return this.#decider.cooldownLeftMs();
  }

  /** The registry decisions are made against (given, or shipped in the router file); undefined when none. */
  get registry(): Registry | undefined {
    return this.#registry;
  }

  /** Micro-batching counters. */
  stats(): RouterStats {
    return this.#batcher.stats();
  }

  /**
   * @internal Whether {@link routeSync} scores `text` on the calling thread as cheaply as its
   * micro-batch would: a router that reads text itself (no load-time encoder, no asynchronous-only
   * backend such as an onnx predictor, no TF-IDF kNN whose search belongs on the addon's thread:
   * Scorer.prefersWorkerThread), and text within the calling-thread bound of a batch
   * (SYNC_TEXT_LIMIT). The executor then routes a request at once instead of waiting for the batch.
   */
  scoresInline(text: string): boolean {
    const scorer = this.#scorer;
    return scorer !== undefined && !this.#rowsOnly && this.#encoder === undefined && scorer.native.asyncOnly !== true && !scorer.prefersWorkerThread && text.length <= SYNC_TEXT_LIMIT;
  }

  /** Routes one prompt on the calling thread: the lowest-latency path for a single decision. */
  routeSync(prompt: string, options?: RouteOptions): Decision {
    const start = performance.now();
    const scorer = this.#live();
    checkPrompt(prompt, 'prompt');
    if (this.#rowsOnly) this.#refuseText();
    const decider = this.#decider;
    const opts = options === undefined ? undefined : decider.checkRouteOptions(options, 'options');
    const m = this.#ids.length;
    if (this.#syncOut.length < m) this.#syncOut = new Float32Array(m);
    const packed = this.#encoder === undefined ? this.#packer.pack([prompt], () => 'prompt') : undefined;
    // The encoder is the caller's code: its errors pass through as they are, not as native ones.
    const input: ScoreInput = packed ?? this.#encodeSync([prompt]);
    const promptBytes = packed ? packed.text.length : Buffer.byteLength(prompt);
    const cost = decider.costFor(opts);
    if (cost && this.#syncCost.length < m) this.#syncCost = new Float32Array(m);
    try {
      if (packed) scorer.scoreTextSync(packed, 1, this.#syncOut);
      else scorer.scoreSync(input, 1, this.#syncOut);
      if (cost) {
        scorer.costSharesSync(input, 1, this.#syncCost);
        scorer.toCost(this.#syncCost, 1, decider.costKeep);
      }
    } catch (err) {
      rethrowNative(err);
    }
    return decider.decide(this.#syncOut, 0, promptBytes, opts, (performance.now() - start) * 1000, cost ? this.#syncCost : undefined);
  }

  /**
   * Routes one prompt. Concurrent calls are coalesced into one native call (up to
   * `maxBatchSize`, within one event-loop turn or `maxWaitMs`).
   */
  route(prompt: string, options?: RouteOptions): Promise<Decision> {
    try {
      this.#live();
      checkPrompt(prompt, 'prompt');
      if (this.#rowsOnly) this.#refuseText();
      const opts = options === undefined ? undefined : this.#decider.checkRouteOptions(options, 'options');
      return new Promise<Decision>((resolve, reject) => this.#batcher.push({ prompt, options: opts, resolve, reject }));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Routes many prompts in one native call, scored off the JS thread when their text is long (over 16 Ki characters). */
  async routeBatch(prompts: readonly string[], options?: RouteOptions): Promise<Decision[]> {
    const scorer = this.#live();
    checkPrompts(prompts);
    if (this.#rowsOnly) this.#refuseText();
    const decider = this.#decider;
    const opts = options === undefined ? undefined : decider.checkRouteOptions(options, 'options');
    if (prompts.length === 0) return [];
    const start = performance.now();
    const { scores, costs } = await this.#score(scorer, prompts, (i) => `prompts[${i}]`, decider.costFor(opts) ? 'route' : 'none');
    const micros = ((performance.now() - start) * 1000) / prompts.length;
    const m = this.#ids.length;
    const out: Decision[] = new Array(prompts.length);
    for (let i = 0; i < prompts.length; i++) out[i] = decider.decide(scores, i * m, Buffer.byteLength(prompts[i]!), opts, micros, costs);
    return out;
  }

  /**
   * Routes one precomputed embedding (a `precomputed` router only), on the calling thread.
   * `promptTokens` in the options prices the prompt; it defaults to 0 (output cost only).
   */
  routeEmbeddingSync(embedding: Float32Array, options?: RouteOptions): Decision {
    const start = performance.now();
    const scorer = this.#live();
    if (!(embedding instanceof Float32Array)) throw invalidArgument('embedding', 'a Float32Array', embedding);
    const opts = options === undefined ? undefined : this.#decider.checkRouteOptions(options, 'options');
    const m = this.#ids.length;
    if (this.#syncOut.length < m) this.#syncOut = new Float32Array(m);
    try {
      scorer.scoreSync({ rows: embedding }, 1, this.#syncOut);
    } catch (err) {
      rethrowNative(err, 'embedding');
    }
    return this.#decider.decide(this.#syncOut, 0, 0, opts, (performance.now() - start) * 1000);
  }

  /**
   * Routes a batch of precomputed embeddings, row-major `count x inputDim` in one Float32Array,
   * scored off the JS thread.
   */
  async routeEmbeddings(embeddings: Float32Array, options?: RouteOptions): Promise<Decision[]> {
    const scorer = this.#live();
    if (!(embeddings instanceof Float32Array)) throw invalidArgument('embeddings', 'a Float32Array (count x inputDim, row-major)', embeddings);
    const dim = scorer.native.inputDim;
    if (embeddings.length === 0 || embeddings.length % dim !== 0) {
      throw invalidArgument('embeddings', `a non-empty Float32Array whose length is a multiple of ${dim}`, embeddings);
    }
    const opts = options === undefined ? undefined : this.#decider.checkRouteOptions(options, 'options');
    const count = embeddings.length / dim;
    const m = this.#ids.length;
    const out = new Float32Array(count * m);
    const start = performance.now();
    try {
      await scorer.score({ rows: embeddings }, count, out);
    } catch (err) {
      rethrowNative(err, 'embeddings');
    }
    const micros = ((performance.now() - start) * 1000) / count;
    const decisions: Decision[] = new Array(count);
    for (let i = 0; i < count; i++) decisions[i] = this.#decider.decide(out, i * m, 0, opts, micros);
    return decisions;
  }

  /** Predicted scores of every model for each prompt: a prompts x models Float32Array, row-major. */
  async scores(prompts: readonly string[]): Promise<Float32Array> {
    const scorer = this.#live();
    checkPrompts(prompts);
    if (this.#rowsOnly) this.#refuseText();
    return (await this.#score(scorer, prompts, (i) => `prompts[${i}]`, 'none')).scores;
  }

  /**
   * RouteLLM's benchmark–dataset similarity: for each prompt, the largest cosine similarity to the
   * router's sketch of its training prompts (kept in the `.router` file by routers that read text),
   * and their mean — how much of this traffic looks like what the router was trained on. Throws
   * ERR_ROUTECORE_INVALID_ARGUMENT for a router without a sketch (precomputed, or an older file).
   */
  coverage(prompts: readonly string[]): Coverage {
    const scorer = this.#live();
    checkPrompts(prompts);
    return coverageOf(scorer.native, prompts);
  }

  /**
   * Predicted USD per query of every model for each prompt (prompts x models, row-major), from the
   * cost network a `train --auto` router keeps when cost by prompt text won its cross-validation;
   * null for a router without one. The `cost` policy uses these for models the registry does not price.
   */
  async predictedCosts(prompts: readonly string[]): Promise<Float32Array | null> {
    const scorer = this.#live();
    checkPrompts(prompts);
    if (!scorer.hasCostNetwork) return null;
    const { costs } = await this.#score(scorer, prompts, (i) => `prompts[${i}]`, 'only');
    return costs!;
  }

  /** Writes the router to a `.router` file; `halfPrecision` stores the big tables as float16. */
  async save(path: string, options: { halfPrecision?: boolean } = {}): Promise<void> {
    if (typeof path !== 'string' || path === '') throw invalidArgument('path', 'a file path', path);
    const bytes = this.serialize(options);
    try {
      await writeFile(path, bytes);
    } catch (err) {
      throw new RoutecoreError('ERR_ROUTECORE_IO', `cannot write router file ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The `.router` bytes. */
  serialize(options: { halfPrecision?: boolean } = {}): Buffer {
    const native = this.#live().native;
    try {
      return native.serialize(options.halfPrecision === true);
    } catch (err) {
      rethrowNative(err);
    }
  }

  /** Frees the native router. Queued `route()` calls are rejected; later calls throw ERR_ROUTECORE_DISPOSED. */
  dispose(): void {
    const scorer = this.#scorer;
    if (!scorer) return;
    this.#scorer = undefined;
    for (const p of this.#batcher.drain()) p.reject(disposedError());
    scorer.dispose();
  }

  /** Text on a router that takes rows only (#rowsOnly) is refused before it reaches the scorer, saying what would fix it. */
  #refuseText(): never {
    throw new RoutecoreError(
      'ERR_ROUTECORE_INVALID_ARGUMENT',
      `this router was trained on precomputed embeddings; pass embeddings, not text (routeEmbeddings, routeEmbeddingSync), or load it with options.encoder, the Encoder that makes its ${this.inputDim}-dimensional rows`,
    );
  }

  #live(): Scorer {
    if (!this.#scorer) throw disposedError();
    return this.#scorer;
  }

  /** `rows` from the load-time encoder, on the calling thread. */
  #encodeSync(prompts: readonly string[]): ScoreInput {
    const enc = this.#encoder!;
    if (enc.encodeSync === undefined) {
      throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', `encoder "${enc.name}" encodes asynchronously only (no encodeSync): use route() or routeChat(), not the synchronous calls`);
    }
    return { rows: checkRows(enc.encodeSync(prompts), enc, prompts.length) };
  }

  /**
   * Scores prompts, and on a router with a cost network predicts their costs in USD per query:
   * `none` scores only; `route` scores, and costs for routing (NaN where the registry prices the
   * model, see {@link Decider.costKeep}); `only` the costs of every model, unscored ({@link RouterCore.predictedCosts}).
   */
  async #score(scorer: Scorer, prompts: readonly string[], names: (i: number) => string, costMode: 'none' | 'route' | 'only'): Promise<{ scores: Float32Array; costs: Float32Array | undefined }> {
    const m = this.#ids.length;
    const n = prompts.length;
    const scoring = costMode !== 'only';
    const out = new Float32Array(scoring ? n * m : 0);
    const costs = costMode !== 'none' && scorer.hasCostNetwork ? new Float32Array(n * m) : undefined;
    // The encoder is the caller's code: its errors pass through as they are, not as native ones.
    const rows = this.#encoder ? checkRows(await this.#encoder.encode(prompts), this.#encoder, n) : undefined;
    try {
      if (rows === undefined && !scorer.native.asyncOnly && !scorer.prefersWorkerThread && totalLength(prompts) <= SYNC_TEXT_LIMIT) {
        const input = this.#packer.pack(prompts, names);
        if (scoring) scorer.scoreSync(input, n, out);
        if (costs) scorer.costSharesSync(input, n, costs);
      } else {
        const input: ScoreInput = rows !== undefined ? { rows } : this.#packer.packOwned(prompts, names);
        const costsDone = costs ? scorer.costShares(input, n, costs) : undefined;
        // Awaited below; marked handled now so a scoring error first does not leave it unhandled.
        costsDone?.catch(() => undefined);
        if (scoring) await scorer.score(input, n, out);
        await costsDone;
      }
    } catch (err) {
      rethrowNative(err);
    }
    if (costs) scorer.toCost(costs, n, costMode === 'route' ? this.#decider.costKeep : undefined);
    return { scores: out, costs };
  }

  /** One micro-batch of `route()` calls: scored together, each decided with its own options. */
  #runBatch(batch: Pending[]): void {
    const scorer = this.#scorer;
    if (!scorer) {
      for (const p of batch) p.reject(disposedError());
      return;
    }
    const decider = this.#decider;
    const start = performance.now();
    const prompts = batch.map((p) => p.prompt);
    this.#score(scorer, prompts, (i) => `prompt (batched, #${i})`, batch.some((p) => decider.costFor(p.options)) ? 'route' : 'none').then(
      ({ scores, costs }) => {
        const micros = ((performance.now() - start) * 1000) / batch.length;
        const m = this.#ids.length;
        for (let i = 0; i < batch.length; i++) {
          const p = batch[i]!;
          try {
            p.resolve(decider.decide(scores, i * m, Buffer.byteLength(p.prompt), p.options, micros, costs && decider.costFor(p.options) ? costs : undefined));
          } catch (err) {
            p.reject(err);
          }
        }
      },
      (err) => {
        for (const p of batch) p.reject(err);
      },
    );
  }
}

/** Checks a load-time encoder against the router it is to serve. */
function checkGivenEncoder(given: unknown, native: NativeRouterHandle, meta: Readonly<Record<string, string>>): Encoder {
  const encoder = checkEncoder(given, 'options.encoder');
  if (native.encoder !== 'precomputed') {
    throw new RoutecoreError(
      'ERR_ROUTECORE_INVALID_ARGUMENT',
      `options.encoder: this router encodes text with its own ${native.encoder} encoder (it is in the router file); a load-time Encoder serves only routers trained on embeddings`,
    );
  }
  if (encoder.dim !== native.inputDim) {
    throw new RoutecoreError('ERR_ROUTECORE_MODEL_MISMATCH', `options.encoder "${encoder.name}" gives ${encoder.dim}-dimensional rows; this router takes ${native.inputDim}`);
  }
  const recorded = meta[ENCODER_META];
  if (recorded !== undefined && recorded !== encoder.name) {
    throw new RoutecoreError('ERR_ROUTECORE_MODEL_MISMATCH', `this router was trained on rows from encoder "${recorded}", and options.encoder is "${encoder.name}"`);
  }
  return encoder;
}

/**
 * τ of the shipped default router's default `threshold` policy. Chosen on held-out folds of the
 * RouteLLM data (scripts/chat-experiments.ts, grid step 0.02) as the largest weak share whose quality
 * stays within 2% of always-strong: τ = 0.52 sent 19.4% of held-out prompts to the weak model at
 * 98.4% of always-strong's quality and 81.7% of its cost. The shipped router itself sends 28.6% of
 * prompts from other data sets to the weak model at this τ (docs/CHAT.md, "The default policy").
 */
export const DEFAULT_ROUTER_TAU = 0.52;

const OPTION_NAMES: readonly string[] = ['registry', 'aliases', 'policy', 'cost', 'threshold', 'subset', 'backend', 'threads', 'maxBatchSize', 'maxWaitMs', 'staticModel', 'encoder'];

/** An unknown option is a typo that would otherwise be ignored in silence. */
function checkOptionNames(options: object): void {
  for (const k of Object.keys(options)) {
    if (OPTION_NAMES.includes(k)) continue;
    const hint = didYouMean(k, OPTION_NAMES);
    throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', `unknown Router.load option "${k}"${hint ? ` (did you mean "${hint}"?)` : ''}; known options: ${OPTION_NAMES.join(', ')}`);
  }
}

/** The registry a router file ships, its ids renamed through the aliases. */
function shippedRegistry(json: string, aliases: Record<string, string>): Registry {
  const raw = JSON.parse(json) as { models: { id: string }[] };
  const models = raw.models.map((m) => ({ ...m, id: aliases[m.id] ?? m.id }));
  return Registry.fromObject({ models }, Object.keys(aliases).length === 0 ? 'router file registry' : 'router file registry (aliased)');
}

function disposedError(): RoutecoreError {
  return new RoutecoreError('ERR_ROUTECORE_DISPOSED', 'this router has been disposed; load a new one');
}

function checkInt(v: unknown, name: string, lo: number, hi: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || (v as number) < lo || (v as number) > hi) throw invalidArgument(name, `an integer from ${lo} to ${hi}`, v);
  return v as number;
}

/** A metadata entry that holds JSON text; a router file whose entry does not parse is a bad artifact. */
function metadataJson(meta: Record<string, string>, key: string): unknown {
  try {
    return JSON.parse(meta[key]!);
  } catch {
    throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', `router file metadata "${key}" is not JSON: ${meta[key]!.slice(0, 80)}`);
  }
}

function parseModelIds(raw: string | undefined, outputs: number): string[] {
  if (raw === undefined) {
    throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', `router file metadata has no "${META.models}" (the model ids)`);
  }
  let ids: unknown;
  try {
    ids = JSON.parse(raw);
  } catch {
    ids = undefined;
  }
  if (!Array.isArray(ids) || ids.length !== outputs || !ids.every((x) => typeof x === 'string' && x !== '')) {
    throw new RoutecoreError(
      'ERR_ROUTECORE_BAD_ARTIFACT',
      `router file metadata "${META.models}" must be a JSON array of ${outputs} model ids, got ${raw.slice(0, 80)}`,
    );
  }
  return ids as string[];
}

/** Path of the embedded default router inside the package. */
export function defaultRouterPath(): string {
  return join(packageRoot(), 'models', 'default.router');
}
