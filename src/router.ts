/**
 * The Router: loads a trained `.router` file, scores prompts in the native addon and turns the
 * scores into decisions with a policy and the deployment's registry.
 * @module
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { resolveBackend, type BackendRequest } from './backend.js';
import { RoutecoreError, invalidArgument } from './errors.js';
import { binding, packageRoot, rethrowNative, type NativeRouterHandle } from './native.js';
import { buildCandidates, rankBest, rankCost, validateCostOptions, type CandidateTable, type CostOptions } from './policy.js';
import { Registry } from './registry.js';

/** The policies this version implements. */
export type PolicyName = 'best' | 'cost';

/** Per-call routing options: a policy and, for `cost`, its knobs (see {@link CostOptions}). */
export interface RouteOptions extends CostOptions {
  /** Overrides the router's default policy for this call. */
  policy?: PolicyName;
}

/** Options of {@link Router.load}. */
export interface RouterOptions {
  /** The deployment's models (a Registry or a path to JSON/YAML). Only registered, enabled models are chosen. */
  registry?: Registry | string;
  /** Maps the router's model ids to registry ids, e.g. `{ strong: 'gpt-4o', weak: 'gpt-4o-mini' }`. */
  aliases?: Record<string, string>;
  /** Default policy; `best` unless given. */
  policy?: PolicyName;
  /** Default knobs of the `cost` policy. */
  cost?: CostOptions;
  /** Compute backend; default from ROUTECORE_BACKEND, else `auto`. */
  backend?: BackendRequest;
  /** CPU threads; default from ROUTECORE_THREADS, else all hardware threads. */
  threads?: number;
  /** Most prompts coalesced into one native call by {@link Router.route}; default 256. */
  maxBatchSize?: number;
  /** How long {@link Router.route} waits to fill a batch: 0 (default) = until the event loop's next turn. */
  maxWaitMs?: number;
}

/** One routing decision. */
export interface Decision {
  /** The model to call (a registry id when a registry or aliases are set). */
  model: string;
  /** The other eligible models in the order to try if `model` fails. */
  fallbacks: string[];
  /** Predicted score in [0,1] of every model the router knows, by id. */
  scores: Record<string, number>;
  /** Expected USD cost of calling `model` for this prompt; null when unknown. */
  expectedCost: number | null;
  /** The policy that decided. */
  policy: PolicyName;
  /** Microseconds the decision took inside routecore (for async calls: the whole batch's share). */
  micros: number;
}

/** Counters of the micro-batcher, for monitoring. */
export interface RouterStats {
  /** Prompts routed through `route()`. */
  routed: number;
  /** Native calls made for them. */
  batches: number;
  /** The largest batch so far. */
  largestBatch: number;
  /** Prompts waiting for the next batch now. */
  queued: number;
}

/** Prompts are refused above this size (UTF-8 bytes); the native core enforces the same bound. */
export const MAX_PROMPT_BYTES = 256 * 1024;
/** Batches at most this size are scored on the calling thread; larger ones on the addon's thread. */
const SYNC_BATCH_LIMIT = 8;
/** Rough tokens per UTF-8 byte of English text, used to price prompts when no tokenizer is at hand. */
const BYTES_PER_TOKEN = 4;

/** Metadata keys of the TypeScript layer inside a `.router` file. */
export const META = {
  models: 'routecore.models',
  training: 'routecore.training',
  registry: 'routecore.registry',
  description: 'routecore.description',
} as const;

/** Summary of the data a router was trained on, stored in the artifact. */
export interface TrainingSummary {
  rows: number;
  files: string[];
  models: Record<string, { meanScore: number; meanCost: number | null; rows: number }>;
  [extra: string]: unknown;
}

interface Pending {
  prompt: string;
  options: RouteOptions | undefined;
  resolve: (d: Decision) => void;
  reject: (e: unknown) => void;
}

/** Checks one prompt; `name` is the argument named in errors. */
function checkPrompt(prompt: unknown, name: string): asserts prompt is string {
  if (typeof prompt !== 'string' || prompt.length === 0) throw invalidArgument(name, 'a non-empty string', prompt);
  if (prompt.length > MAX_PROMPT_BYTES) {
    throw new RoutecoreError(
      'ERR_ROUTECORE_INVALID_ARGUMENT',
      `${name} is ${prompt.length} characters, over the limit of ${MAX_PROMPT_BYTES} UTF-8 bytes`,
    );
  }
  // A UTF-16 unit is at most 3 UTF-8 bytes, so only long prompts need their bytes counted here;
  // checking before queueing keeps one oversized prompt from failing its whole micro-batch.
  if (prompt.length * 3 > MAX_PROMPT_BYTES) {
    const bytes = Buffer.byteLength(prompt, 'utf8');
    if (bytes > MAX_PROMPT_BYTES) {
      throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', `${name} is ${bytes} bytes of UTF-8, over the limit of ${MAX_PROMPT_BYTES}`);
    }
  }
  if (!prompt.isWellFormed()) {
    let at = 0;
    for (; at < prompt.length; at++) {
      const c = prompt.charCodeAt(at);
      if (c >= 0xd800 && c <= 0xdbff && at + 1 < prompt.length) {
        const d = prompt.charCodeAt(at + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          at++;
          continue;
        }
      }
      if (c >= 0xd800 && c <= 0xdfff) break;
    }
    throw new RoutecoreError(
      'ERR_ROUTECORE_INVALID_ARGUMENT',
      `${name} contains a lone UTF-16 surrogate (0x${prompt.charCodeAt(at).toString(16)}) at index ${at}: it is not valid Unicode text`,
    );
  }
}

/** Reusable UTF-8 packing of prompts into one buffer plus offsets (the addon's input format). */
class PromptPacker {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private offsets = new Uint32Array(257);

  pack(prompts: readonly string[], names: (i: number) => string): { text: Buffer; offsets: Uint32Array } {
    let capacity = 0;
    for (const p of prompts) capacity += p.length * 3; // UTF-16 unit -> at most 3 UTF-8 bytes
    if (capacity > this.buf.length) this.buf = Buffer.allocUnsafe(Math.max(capacity, this.buf.length * 2));
    if (prompts.length + 1 > this.offsets.length) this.offsets = new Uint32Array(Math.max(prompts.length + 1, this.offsets.length * 2));
    let pos = 0;
    this.offsets[0] = 0;
    for (let i = 0; i < prompts.length; i++) {
      const written = this.buf.write(prompts[i]!, pos, 'utf8');
      if (written > MAX_PROMPT_BYTES) {
        throw new RoutecoreError(
          'ERR_ROUTECORE_INVALID_ARGUMENT',
          `${names(i)} is ${written} bytes of UTF-8, over the limit of ${MAX_PROMPT_BYTES}`,
        );
      }
      pos += written;
      this.offsets[i + 1] = pos;
    }
    return { text: this.buf.subarray(0, pos), offsets: this.offsets };
  }

  /** A private copy for async calls, whose buffers must outlive the next pack(). */
  packOwned(prompts: readonly string[], names: (i: number) => string): { text: Buffer; offsets: Uint32Array } {
    const { text, offsets } = this.pack(prompts, names);
    return { text: Buffer.from(text), offsets: offsets.slice(0, prompts.length + 1) };
  }
}

/**
 * Routes prompts to models. Create one with {@link Router.load} (or `train()`), share it across
 * requests, and {@link Router.dispose} it when done.
 *
 * ```ts
 * const router = await Router.load('default', { aliases: { strong: 'gpt-4o', weak: 'gpt-4o-mini' } });
 * const d = await router.route('Prove that there are infinitely many primes.');
 * console.log(d.model, d.fallbacks, d.scores);
 * ```
 */
export class Router {
  #native: NativeRouterHandle | undefined;
  readonly #modelIds: readonly string[]; // router's own ids, in score-column order
  readonly #ids: readonly string[]; // after aliases: what decisions name
  readonly #registry: Registry | undefined;
  readonly #policy: PolicyName;
  readonly #cost: CostOptions;
  readonly #maxBatch: number;
  readonly #maxWait: number;
  readonly #training: TrainingSummary | undefined;
  #table: CandidateTable;
  readonly #packer = new PromptPacker();
  readonly #ranked: number[] = [];
  #queue: Pending[] = [];
  #scheduled = false;
  #stats: RouterStats = { routed: 0, batches: 0, largestBatch: 0, queued: 0 };
  #syncOut = new Float32Array(0);

  /** @internal Use {@link Router.load} or `train()`. */
  constructor(native: NativeRouterHandle, options: RouterOptions = {}) {
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object', options);
    this.#native = native;
    const meta = native.metadata();
    this.#modelIds = parseModelIds(meta[META.models], native.outputs);
    this.#training = meta[META.training] ? (JSON.parse(meta[META.training]!) as TrainingSummary) : undefined;

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
      // A router may ship list prices for its own models (the default router does).
      this.#registry = meta[META.registry] && Object.keys(aliases).length === 0 ? Registry.fromObject(JSON.parse(meta[META.registry]!), 'router file registry') : undefined;
    } else if (typeof options.registry === 'string') {
      this.#registry = Registry.fromFile(options.registry);
    } else if (options.registry instanceof Registry) {
      this.#registry = options.registry;
    } else {
      throw invalidArgument('options.registry', 'a Registry or a path to a JSON/YAML registry', options.registry);
    }

    const policy = options.policy ?? 'best';
    if (policy !== 'best' && policy !== 'cost') throw invalidArgument('options.policy', '"best" or "cost"', policy);
    this.#policy = policy;
    this.#cost = options.cost === undefined ? {} : validateCostOptions(options.cost, 'options.cost');
    this.#maxBatch = checkInt(options.maxBatchSize, 'options.maxBatchSize', 1, 65536, 256);
    this.#maxWait = checkInt(options.maxWaitMs, 'options.maxWaitMs', 0, 10_000, 0);

    const training = this.#training;
    this.#table = buildCandidates(
      this.#ids,
      this.#registry,
      (id) => {
        const own = this.#modelIds[this.#ids.indexOf(id)]!;
        return training?.models[own]?.meanCost ?? undefined;
      },
      0,
    );
    if (this.#registry && !this.#table.eligible.some((e) => e === 1)) {
      throw new RoutecoreError(
        'ERR_ROUTECORE_NO_ELIGIBLE_MODEL',
        `none of the router's models (${this.#ids.join(', ')}) is registered and enabled in the registry; map them with options.aliases`,
      );
    }
  }

  /**
   * Loads a router. `source`: `'default'` (the embedded strong/weak router), a path to a `.router`
   * file, or its bytes.
   */
  static async load(source: string | Uint8Array = 'default', options: RouterOptions = {}): Promise<Router> {
    return Router.loadSync(source, options);
  }

  /** Synchronous {@link Router.load}, for start-up code. */
  static loadSync(source: string | Uint8Array = 'default', options: RouterOptions = {}): Router {
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
    let native: NativeRouterHandle;
    try {
      native = binding().NativeRouter.load(bytes, name, backend, threads);
    } catch (err) {
      rethrowNative(err);
    }
    return new Router(native, options);
  }

  /** Model ids as decisions name them (after aliases), in score-column order. */
  get models(): readonly string[] {
    return this.#ids;
  }

  /** The predictor kind (`mlp`, `linear`). */
  get predictor(): string {
    return this.#live().predictor;
  }

  /**
   * `hashing`: the router reads prompt text. `precomputed`: it takes embeddings of
   * {@link Router.inputDim} floats from your own embedding service.
   */
  get encoder(): 'hashing' | 'precomputed' {
    return this.#live().encoder;
  }

  /** Feature dimension: hash buckets, or the embedding size of a `precomputed` router. */
  get inputDim(): number {
    return this.#live().inputDim;
  }

  /** The backend this router computes on (`cpu` or `cuda`). */
  get backend(): string {
    return this.#live().backend;
  }

  /** What the router was trained on, when the file says. */
  get training(): TrainingSummary | undefined {
    return this.#training;
  }

  /** Raw artifact metadata (string -> string). */
  metadata(): Record<string, string> {
    return this.#live().metadata();
  }

  /** Micro-batching counters. */
  stats(): RouterStats {
    return { ...this.#stats, queued: this.#queue.length };
  }

  /** Routes one prompt on the calling thread: the lowest-latency path for a single decision. */
  routeSync(prompt: string, options?: RouteOptions): Decision {
    const start = performance.now();
    const native = this.#live();
    checkPrompt(prompt, 'prompt');
    const opts = options === undefined ? undefined : this.#checkRouteOptions(options, 'options');
    const m = this.#ids.length;
    if (this.#syncOut.length < m) this.#syncOut = new Float32Array(m);
    const { text, offsets } = this.#packer.pack([prompt], () => 'prompt');
    try {
      native.scoreSync(text, offsets, 1, this.#syncOut);
    } catch (err) {
      rethrowNative(err);
    }
    return this.#decide(this.#syncOut, 0, text.length, opts, (performance.now() - start) * 1000);
  }

  /**
   * Routes one prompt. Concurrent calls are coalesced into one native call (up to
   * `maxBatchSize`, within one event-loop turn or `maxWaitMs`).
   */
  route(prompt: string, options?: RouteOptions): Promise<Decision> {
    try {
      this.#live();
      checkPrompt(prompt, 'prompt');
      const opts = options === undefined ? undefined : this.#checkRouteOptions(options, 'options');
      return new Promise<Decision>((resolve, reject) => {
        this.#queue.push({ prompt, options: opts, resolve, reject });
        if (this.#queue.length >= this.#maxBatch) {
          this.#flush();
        } else if (!this.#scheduled) {
          this.#scheduled = true;
          if (this.#maxWait > 0) setTimeout(() => this.#flush(), this.#maxWait);
          else setImmediate(() => this.#flush());
        }
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Routes many prompts in one native call, scored off the JS thread when the batch is large. */
  async routeBatch(prompts: readonly string[], options?: RouteOptions): Promise<Decision[]> {
    const native = this.#live();
    if (!Array.isArray(prompts)) throw invalidArgument('prompts', 'an array of strings', prompts);
    for (let i = 0; i < prompts.length; i++) checkPrompt(prompts[i], `prompts[${i}]`);
    const opts = options === undefined ? undefined : this.#checkRouteOptions(options, 'options');
    if (prompts.length === 0) return [];
    const start = performance.now();
    const scores = await this.#score(native, prompts, (i) => `prompts[${i}]`);
    const micros = ((performance.now() - start) * 1000) / prompts.length;
    const m = this.#ids.length;
    const out: Decision[] = new Array(prompts.length);
    for (let i = 0; i < prompts.length; i++) out[i] = this.#decide(scores, i * m, Buffer.byteLength(prompts[i]!), opts, micros);
    return out;
  }

  /**
   * Routes one precomputed embedding (a `precomputed` router only), on the calling thread.
   * `promptTokens` in the options prices the prompt; it defaults to 0 (output cost only).
   */
  routeEmbeddingSync(embedding: Float32Array, options?: RouteOptions): Decision {
    const start = performance.now();
    const native = this.#live();
    if (!(embedding instanceof Float32Array)) throw invalidArgument('embedding', 'a Float32Array', embedding);
    const opts = options === undefined ? undefined : this.#checkRouteOptions(options, 'options');
    const m = this.#ids.length;
    if (this.#syncOut.length < m) this.#syncOut = new Float32Array(m);
    try {
      native.scoreEmbeddingsSync(embedding, 1, embedding.length, this.#syncOut);
    } catch (err) {
      rethrowNative(err, 'embedding');
    }
    return this.#decide(this.#syncOut, 0, 0, opts, (performance.now() - start) * 1000);
  }

  /**
   * Routes a batch of precomputed embeddings, row-major `count x inputDim` in one Float32Array,
   * scored off the JS thread.
   */
  async routeEmbeddings(embeddings: Float32Array, options?: RouteOptions): Promise<Decision[]> {
    const native = this.#live();
    if (!(embeddings instanceof Float32Array)) throw invalidArgument('embeddings', 'a Float32Array (count x inputDim, row-major)', embeddings);
    const dim = native.inputDim;
    if (embeddings.length === 0 || embeddings.length % dim !== 0) {
      throw invalidArgument('embeddings', `a non-empty Float32Array whose length is a multiple of ${dim}`, embeddings);
    }
    const opts = options === undefined ? undefined : this.#checkRouteOptions(options, 'options');
    const count = embeddings.length / dim;
    const m = this.#ids.length;
    const out = new Float32Array(count * m);
    const start = performance.now();
    try {
      await native.scoreEmbeddings(embeddings, count, dim, out);
    } catch (err) {
      rethrowNative(err, 'embeddings');
    }
    const micros = ((performance.now() - start) * 1000) / count;
    const decisions: Decision[] = new Array(count);
    for (let i = 0; i < count; i++) decisions[i] = this.#decide(out, i * m, 0, opts, micros);
    return decisions;
  }

  /** Predicted scores of every model for each prompt: a prompts x models Float32Array, row-major. */
  async scores(prompts: readonly string[]): Promise<Float32Array> {
    const native = this.#live();
    if (!Array.isArray(prompts)) throw invalidArgument('prompts', 'an array of strings', prompts);
    for (let i = 0; i < prompts.length; i++) checkPrompt(prompts[i], `prompts[${i}]`);
    return this.#score(native, prompts, (i) => `prompts[${i}]`);
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
    const native = this.#live();
    try {
      return native.serialize(options.halfPrecision === true);
    } catch (err) {
      rethrowNative(err);
    }
  }

  /** Frees the native router. Queued `route()` calls are rejected; later calls throw ERR_ROUTECORE_DISPOSED. */
  dispose(): void {
    const native = this.#native;
    if (!native) return;
    this.#native = undefined;
    const queued = this.#queue;
    this.#queue = [];
    for (const p of queued) p.reject(disposedError());
    native.dispose();
  }

  #live(): NativeRouterHandle {
    if (!this.#native) throw disposedError();
    return this.#native;
  }

  async #score(native: NativeRouterHandle, prompts: readonly string[], names: (i: number) => string): Promise<Float32Array> {
    const m = this.#ids.length;
    const out = new Float32Array(prompts.length * m);
    try {
      if (prompts.length <= SYNC_BATCH_LIMIT) {
        const { text, offsets } = this.#packer.pack(prompts, names);
        native.scoreSync(text, offsets, prompts.length, out);
      } else {
        const { text, offsets } = this.#packer.packOwned(prompts, names);
        await native.score(text, offsets, prompts.length, out);
      }
    } catch (err) {
      rethrowNative(err);
    }
    return out;
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#queue;
    if (batch.length === 0) return;
    this.#queue = [];
    this.#stats.routed += batch.length;
    this.#stats.batches += 1;
    if (batch.length > this.#stats.largestBatch) this.#stats.largestBatch = batch.length;
    const native = this.#native;
    if (!native) {
      for (const p of batch) p.reject(disposedError());
      return;
    }
    const start = performance.now();
    const prompts = batch.map((p) => p.prompt);
    this.#score(native, prompts, (i) => `prompt (batched, #${i})`).then(
      (scores) => {
        const micros = ((performance.now() - start) * 1000) / batch.length;
        const m = this.#ids.length;
        for (let i = 0; i < batch.length; i++) {
          const p = batch[i]!;
          try {
            p.resolve(this.#decide(scores, i * m, Buffer.byteLength(p.prompt), p.options, micros));
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

  #checkRouteOptions(options: unknown, name: string): RouteOptions {
    if (typeof options !== 'object' || options === null) throw invalidArgument(name, 'an object', options);
    const { policy, ...rest } = options as RouteOptions;
    if (policy !== undefined && policy !== 'best' && policy !== 'cost') throw invalidArgument(`${name}.policy`, '"best" or "cost"', policy);
    const cost = validateCostOptions(rest, name);
    return policy === undefined ? cost : { ...cost, policy };
  }

  #decide(scores: Float32Array, offset: number, promptBytes: number, options: RouteOptions | undefined, micros: number): Decision {
    const policy = options?.policy ?? this.#policy;
    const ranked = this.#ranked;
    const promptTokens = Math.ceil(promptBytes / BYTES_PER_TOKEN);
    let count: number;
    if (policy === 'best') {
      count = rankBest(scores, offset, this.#table, ranked);
    } else {
      const merged: CostOptions = options ? { ...this.#cost, ...stripPolicy(options) } : this.#cost;
      count = rankCost(scores, offset, this.#table, { ...merged, promptTokens: merged.promptTokens ?? promptTokens }, ranked);
    }
    if (count === 0) {
      throw new RoutecoreError('ERR_ROUTECORE_NO_ELIGIBLE_MODEL', `no model passes the ${policy} policy's filters for this prompt`);
    }
    const ids = this.#ids;
    const chosen = ranked[0]!;
    const fallbacks = new Array<string>(count - 1);
    for (let i = 1; i < count; i++) fallbacks[i - 1] = ids[ranked[i]!]!;
    const scoreMap: Record<string, number> = {};
    for (let j = 0; j < ids.length; j++) scoreMap[ids[j]!] = scores[offset + j]!;
    const t = this.#table;
    const cost = t.fixedCost[chosen]! + promptTokens * t.inputCostPerToken[chosen]!;
    return {
      model: ids[chosen]!,
      fallbacks,
      scores: scoreMap,
      expectedCost: Number.isNaN(cost) ? null : cost,
      policy,
      micros,
    };
  }
}

function stripPolicy(o: RouteOptions): CostOptions {
  const { policy: _p, ...rest } = o;
  return rest;
}

function disposedError(): RoutecoreError {
  return new RoutecoreError('ERR_ROUTECORE_DISPOSED', 'this router has been disposed; load a new one');
}

function checkInt(v: unknown, name: string, lo: number, hi: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || (v as number) < lo || (v as number) > hi) throw invalidArgument(name, `an integer from ${lo} to ${hi}`, v);
  return v as number;
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
