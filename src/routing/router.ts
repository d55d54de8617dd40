/**
 * The Router: loads a trained `.router` file, scores prompts in the native addon and turns the
 * scores into decisions with a policy and the deployment's registry.
 * @module
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { resolveBackend, type BackendRequest } from '../addon/backend.js';
import { RoutecoreError, didYouMean, invalidArgument } from '../errors.js';
import { binding, packageRoot, rethrowNative, type NativeRouterHandle } from '../addon/native.js';
import { buildCandidates, rankBest, rankCost, validateCostOptions, type CandidateTable, type CostOptions } from './policy.js';
import { Registry } from './registry.js';
import { calibrateThreshold, rankThreshold, selectSubset, strongWinProbability, validateSubsetOptions, type SubsetOptions } from './selection.js';
import { StaticModel, routerFileMetadata, staticModelFor } from '../encoders/static.js';
import { AUTO_KEY, COST_KEY, POSTPROCESS_KEY, ScorePostprocess, costFromShare, memberKey, parsePostprocess, type PostprocessSpec } from './postprocess.js';

/** The policies this version implements. */
export type PolicyName = 'best' | 'cost' | 'threshold' | 'subset';
const POLICIES: readonly PolicyName[] = ['best', 'cost', 'threshold', 'subset'];

/** Per-call routing options: a policy and its knobs (`cost`: {@link CostOptions}). */
export interface RouteOptions extends CostOptions {
  /** Overrides the router's default policy for this call. */
  policy?: PolicyName;
  /** `threshold` policy: strong when P(strong better) ≥ this; overrides the calibrated value. */
  threshold?: number;
  /** `subset` policy knobs. */
  subset?: SubsetOptions;
}

/** The strong/weak pair of the `threshold` policy. */
export interface ThresholdOptions {
  /** The strong model's id (after aliases). Default for a two-model router: the one with the higher mean training score. */
  strong?: string;
  /** The weak model's id. */
  weak?: string;
  /** τ: strong when P(strong better) ≥ τ. Default: the calibrated value stored in the router, else 0.5. */
  value?: number;
}

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
}

/** One routing decision. */
export interface Decision {
  /** The model to call (a registry id when a registry or aliases are set). */
  model: string;
  /** The other eligible models in the order to try if `model` fails. */
  fallbacks: string[];
  /** Predicted score in [0,1] of every model the router knows, by id. */
  scores: Record<string, number>;
  /**
   * Expected USD cost of calling `model` for this prompt; null when unknown. Under the `cost` policy
   * of a router with a cost network (`train --auto`, cost by prompt text) it is the network's
   * prediction for this prompt; otherwise the registry's price or the training mean.
   */
  expectedCost: number | null;
  /** The policy that decided. */
  policy: PolicyName;
  /** `subset`: every model to call in parallel (`model` is the first), and their joint predicted success. */
  models?: string[];
  jointSuccess?: number;
  /** `threshold`: the predicted probability that the strong model's answer is better. */
  winProbability?: number;
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
/**
 * Batches with more text than this (UTF-16 units) are scored on the addon's thread even when small:
 * hashing a 256 KiB prompt takes milliseconds, which `route()` must not spend on the event loop.
 */
const SYNC_TEXT_LIMIT = 16 * 1024;
/** Rough tokens per UTF-8 byte of English text, used to price prompts when no tokenizer is at hand. */
const BYTES_PER_TOKEN = 4;

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

/** Checks an array of prompts, naming `prompts[i]` in errors. */
function checkPrompts(prompts: unknown): asserts prompts is readonly string[] {
  if (!Array.isArray(prompts)) throw invalidArgument('prompts', 'an array of strings', prompts);
  for (let i = 0; i < prompts.length; i++) checkPrompt(prompts[i], `prompts[${i}]`);
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

/**
 * Routes prompts to models: the routing half of the public `Router` (src/app/router.ts), which adds
 * what the serving faces share (chat requests, metrics, outcomes, feedback). Nothing here knows of
 * chat bodies, upstreams or telemetry, so every face can build on it without an import circle.
 * Construct it through `Router.load()` or `train()`; share it across requests and
 * {@link RouterCore.dispose} it when done.
 */
export class RouterCore {
  #native: NativeRouterHandle | undefined;
  readonly #modelIds: readonly string[]; // router's own ids, in score-column order
  readonly #ids: readonly string[]; // after aliases: what decisions name
  readonly #scoreMap: ScoreMapFactory; // builds a decision's `scores` object for #ids
  readonly #registry: Registry | undefined;
  readonly #policy: PolicyName;
  readonly #cost: CostOptions;
  readonly #maxBatch: number;
  readonly #maxWait: number;
  readonly #training: TrainingSummary | undefined;
  readonly #subset: SubsetOptions;
  #strong = -1;
  #weak = -1;
  // What the scores mean: success probabilities, or Bradley–Terry strengths (pairwise training).
  readonly #objective: 'scores' | 'pairwise';
  #tau = 0.5;
  #table: CandidateTable;
  // markUnavailable(): model index -> time (ms, Date.now) it comes back; eligibility saved beside.
  readonly #down = new Map<number, { until: number; eligible: number }>();
  readonly #packer = new PromptPacker();
  readonly #ranked: number[] = [];
  #queue: Pending[] = [];
  #scheduled = false;
  #stats: RouterStats = { routed: 0, batches: 0, largestBatch: 0, queued: 0 };
  #syncOut = new Float32Array(0);
  // The per-call cost policy with an unpriced model warns once per router (see #decide).
  #unpricedWarned = false;
  // `train --auto` routers: extra ensemble members, and blend/calibration applied after scoring.
  readonly #members: NativeRouterHandle[] = [];
  readonly #post: ScorePostprocess | undefined;
  readonly #postSpec: PostprocessSpec | undefined;
  #memberOut = new Float32Array(0);
  // Cost by prompt text (`train --auto`): a network predicting each model's cost share, the training
  // mean cost it is relative to, and which models use it (those the registry does not price).
  #costNet: NativeRouterHandle | undefined;
  #costMean = new Float64Array(0);
  #costUse = new Uint8Array(0);
  #syncCost = new Float32Array(0);

  /** @internal Use `Router.load()` or `train()`. `embedded`: this is the shipped default router. */
  constructor(native: NativeRouterHandle, options: RouterOptions = {}, embedded = false) {
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object', options);
    checkOptionNames(options);
    this.#native = native;
    const meta = native.metadata();
    this.#modelIds = parseModelIds(meta[META.models], native.outputs);
    this.#training = meta[META.training] ? (metadataJson(meta, META.training) as TrainingSummary) : undefined;
    this.#objective = meta['predictor.objective'] === 'pairwise' ? 'pairwise' : 'scores';
    if (meta[POSTPROCESS_KEY] !== undefined) {
      const spec = parsePostprocess(meta[POSTPROCESS_KEY]!, native.outputs);
      const { threads } = resolveBackend({ threads: options.threads });
      for (let k = 1; k <= spec.members; k++) {
        const raw = meta[memberKey(k)];
        if (raw === undefined) throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', `router file metadata has no "${memberKey(k)}" (ensemble member ${k} of ${spec.members})`);
        let member: NativeRouterHandle;
        try {
          member = binding().NativeRouter.load(Buffer.from(raw, 'base64'), `ensemble member ${k}`, native.backend, threads);
        } catch (err) {
          for (const m of this.#members) m.dispose();
          rethrowNative(err); // the native message already names the member
        }
        this.#members.push(member);
        if (member.outputs !== native.outputs || member.encoder !== native.encoder) {
          for (const m of this.#members) m.dispose();
          throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', `ensemble member ${k} scores ${member.outputs} models with a ${member.encoder} encoder, not ${native.outputs} with ${native.encoder}`);
        }
      }
      if (spec.costNetwork) {
        const raw = meta[COST_KEY];
        const fail = (message: string): never => {
          for (const m of this.#members) m.dispose();
          this.#costNet?.dispose();
          throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', message);
        };
        if (raw === undefined) fail(`router file metadata has no "${COST_KEY}" (the cost network its "${POSTPROCESS_KEY}" names)`);
        try {
          this.#costNet = binding().NativeRouter.load(Buffer.from(raw!, 'base64'), 'cost network', native.backend, threads);
        } catch (err) {
          for (const m of this.#members) m.dispose();
          rethrowNative(err); // the native message already names the cost network
        }
        if (this.#costNet!.outputs !== native.outputs) fail(`the cost network predicts ${this.#costNet!.outputs} models, not ${native.outputs}`);
        this.#costMean = Float64Array.from(spec.costNetwork.mean);
      }
      this.#postSpec = spec;
      this.#post = new ScorePostprocess(spec, native.outputs);
    }

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
    this.#scoreMap = scoreMapFactory(this.#ids);

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
    // The shipped default router saves by default: `threshold` at a measured τ (README, "Defaults").
    const policy = options.policy ?? (embedded ? 'threshold' : 'best');
    if (!POLICIES.includes(policy)) throw invalidArgument('options.policy', '"best", "cost", "threshold" or "subset"', policy);
    this.#policy = policy;
    this.#cost = options.cost === undefined ? {} : validateCostOptions(options.cost, 'options.cost');
    this.#subset = validateSubsetOptions(options.subset, 'options.subset');
    this.#setupThreshold(options.threshold, meta[META.calibration], embedded ? DEFAULT_ROUTER_TAU : 0.5);
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
    if (this.#costNet) {
      // The predicted per-query cost (by prompt text) replaces the training mean where the registry has no price.
      this.#costUse = new Uint8Array(this.#ids.length);
      for (let i = 0; i < this.#ids.length; i++) if (!this.#registry?.prices(this.#ids[i]!)) this.#costUse[i] = 1;
    }
    const costModel = this.#postSpec?.cost;
    if (costModel) {
      // The predicted per-query cost (by prompt length) replaces the training mean where the registry has no price.
      for (let i = 0; i < this.#ids.length; i++) {
        if (this.#registry?.prices(this.#ids[i]!)) continue;
        this.#table.fixedCost[i] = costModel.base[i]!;
        this.#table.inputCostPerToken[i] = costModel.perToken[i]!;
        this.#table.cost[i] = costModel.base[i]!;
      }
    }
    if (this.#policy === 'cost') {
      const unpriced = this.#unpriced();
      if (unpriced.length > 0) {
        throw new RoutecoreError(
          'ERR_ROUTECORE_BAD_REGISTRY',
          `the cost policy needs a price for every model it may choose, and ${unpriced.join(', ')} ${unpriced.length === 1 ? 'has' : 'have'} none: set inputCostPer1M and outputCostPer1M in the registry${this.#registry ? ` (${this.#registry.source})` : ''}, or disable ${unpriced.length === 1 ? 'it' : 'them'}`,
        );
      }
      this.#unpricedWarned = true;
    }
    if (this.#registry && !this.#table.eligible.some((e) => e === 1)) {
      throw new RoutecoreError(
        'ERR_ROUTECORE_NO_ELIGIBLE_MODEL',
        `none of the router's models (${this.#ids.join(', ')}) is registered and enabled in the registry; map them with options.aliases`,
      );
    }
  }

  /** Model ids as decisions name them (after aliases), in score-column order. */
  get models(): readonly string[] {
    return this.#ids;
  }

  /** The predictor kind (`mlp`, `linear`, `mf`, `knn`, `kmeans`). */
  get predictor(): string {
    return this.#live().predictor;
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
   * `hashing`: the router reads prompt text. `precomputed`: it takes embeddings of
   * {@link RouterCore.inputDim} floats from your own embedding service.
   */
  get encoder(): 'hashing' | 'static' | 'mixed' | 'precomputed' {
    return this.#live().encoder;
  }

  /** Feature dimension: hash buckets, or the embedding size of a `precomputed` router. */
  get inputDim(): number {
    return this.#live().inputDim;
  }

  /**
   * The backend this router computes on (`cpu` or `cuda`). A router made on `cuda` reads `cpu`
   * from the moment a CUDA error moved it to the CPU backend (`backendInfo().fallback` says why).
   */
  get backend(): string {
    return this.#live().backend;
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
    const raw = this.#live().metadata()[AUTO_KEY];
    if (raw === undefined) return undefined;
    try {
      return JSON.parse(raw) as Record<string, unknown>;
    } catch {
      throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', `router file metadata "${AUTO_KEY}" is not JSON`);
    }
  }

  /** The blend, calibration and cost model applied after the native scores (`train --auto`); undefined when none. */
  get postprocess(): PostprocessSpec | undefined {
    return this.#postSpec;
  }

  /** Raw artifact metadata (string -> string). */
  metadata(): Record<string, string> {
    return this.#live().metadata();
  }

  /**
   * Sets the `threshold` policy's τ so that `strongShare` of these prompts (a sample of your own
   * traffic) go to the strong model, stores it in the router (kept by save()), and returns it.
   */
  async calibrate(prompts: readonly string[], options: { strongShare: number }): Promise<number> {
    this.#live();
    if (this.#strong < 0) {
      throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', 'calibrate() needs a strong/weak pair: pass options.threshold.strong and .weak when loading a router with more than two models');
    }
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object with strongShare', options);
    if (!Array.isArray(prompts) || prompts.length === 0) throw invalidArgument('prompts', 'a non-empty array of prompts', prompts);
    const scores = await this.scores(prompts);
    const m = this.#ids.length;
    const p = new Float64Array(prompts.length);
    for (let i = 0; i < prompts.length; i++) p[i] = strongWinProbability(scores[i * m + this.#strong]!, scores[i * m + this.#weak]!, this.#objective);
    const tau = calibrateThreshold(p, options.strongShare);
    this.#tau = tau;
    this.#live().setMetadata(
      META.calibration,
      JSON.stringify({ threshold: tau, strongShare: options.strongShare, prompts: prompts.length, strong: this.#modelIds[this.#strong], weak: this.#modelIds[this.#weak] }),
    );
    return tau;
  }

  /** The `threshold` policy's current τ and pair (ids after aliases); pair null when not set up. */
  get threshold(): { value: number; strong: string | null; weak: string | null } {
    return { value: this.#tau, strong: this.#strong < 0 ? null : this.#ids[this.#strong]!, weak: this.#weak < 0 ? null : this.#ids[this.#weak]! };
  }

  /**
   * Takes a model out of decisions for `ms` milliseconds (an upstream outage) without reloading;
   * it comes back by itself. Calling again extends or shortens the window; `ms` 0 restores it now.
   */
  markUnavailable(id: string, ms: number): void {
    this.#live();
    const i = this.#ids.indexOf(id);
    if (i < 0) throw invalidArgument('id', `one of the router's models (${this.#ids.join(', ')})`, id);
    if (typeof ms !== 'number' || !(ms >= 0) || ms === Infinity) throw invalidArgument('ms', 'a finite number of milliseconds >= 0', ms);
    const prev = this.#down.get(i);
    const eligible = prev ? prev.eligible : this.#table.eligible[i]!;
    if (ms === 0) {
      this.#table.eligible[i] = eligible;
      this.#down.delete(i);
      return;
    }
    this.#down.set(i, { until: Date.now() + ms, eligible });
    this.#table.eligible[i] = 0;
  }

  /** The registry decisions are made against (given, or shipped in the router file); undefined when none. */
  get registry(): Registry | undefined {
    return this.#registry;
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
    const costNet = this.#costFor(opts) ? this.#costNet : undefined;
    if (costNet && this.#syncCost.length < m) this.#syncCost = new Float32Array(m);
    try {
      native.scoreSync(text, offsets, 1, this.#syncOut);
      if (this.#post) this.#postSync(text, offsets, 1, this.#syncOut);
      if (costNet) {
        costNet.scoreSync(text, offsets, 1, this.#syncCost);
        this.#toCost(this.#syncCost, 1, true);
      }
    } catch (err) {
      rethrowNative(err);
    }
    return this.#decide(this.#syncOut, 0, text.length, opts, (performance.now() - start) * 1000, costNet ? this.#syncCost : undefined);
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
    checkPrompts(prompts);
    const opts = options === undefined ? undefined : this.#checkRouteOptions(options, 'options');
    if (prompts.length === 0) return [];
    const start = performance.now();
    const { scores, costs } = await this.#score(native, prompts, (i) => `prompts[${i}]`, this.#costFor(opts) ? 'route' : 'none');
    const micros = ((performance.now() - start) * 1000) / prompts.length;
    const m = this.#ids.length;
    const out: Decision[] = new Array(prompts.length);
    for (let i = 0; i < prompts.length; i++) out[i] = this.#decide(scores, i * m, Buffer.byteLength(prompts[i]!), opts, micros, costs);
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
    checkPrompts(prompts);
    return (await this.#score(native, prompts, (i) => `prompts[${i}]`, 'none')).scores;
  }

  /**
   * Predicted USD per query of every model for each prompt (prompts x models, row-major), from the
   * cost network a `train --auto` router keeps when cost by prompt text won its cross-validation;
   * null for a router without one. The `cost` policy uses these for models the registry does not price.
   */
  async predictedCosts(prompts: readonly string[]): Promise<Float32Array | null> {
    const native = this.#live();
    checkPrompts(prompts);
    if (!this.#costNet) return null;
    const { costs } = await this.#score(native, prompts, (i) => `prompts[${i}]`, 'only');
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
    for (const m of this.#members) m.dispose();
    this.#members.length = 0;
    this.#costNet?.dispose();
    this.#costNet = undefined;
  }

  #live(): NativeRouterHandle {
    if (!this.#native) throw disposedError();
    return this.#native;
  }

  /**
   * Scores prompts, and on a router with a cost network predicts their costs in USD per query:
   * `none` scores only; `route` scores, and costs for routing (NaN where the registry prices the
   * model, see #toCost); `only` the costs of every model, unscored ({@link RouterCore.predictedCosts}).
   */
  async #score(native: NativeRouterHandle, prompts: readonly string[], names: (i: number) => string, costMode: 'none' | 'route' | 'only'): Promise<{ scores: Float32Array; costs: Float32Array | undefined }> {
    const m = this.#ids.length;
    const scoring = costMode !== 'only';
    const out = new Float32Array(scoring ? prompts.length * m : 0);
    const costNet = costMode === 'none' ? undefined : this.#costNet;
    const costs = costNet ? new Float32Array(prompts.length * m) : undefined;
    try {
      if (prompts.length <= SYNC_BATCH_LIMIT && totalLength(prompts) <= SYNC_TEXT_LIMIT) {
        const { text, offsets } = this.#packer.pack(prompts, names);
        if (scoring) {
          native.scoreSync(text, offsets, prompts.length, out);
          if (this.#post) this.#postSync(text, offsets, prompts.length, out);
        }
        if (costNet) costNet.scoreSync(text, offsets, prompts.length, costs!);
      } else {
        const { text, offsets } = this.#packer.packOwned(prompts, names);
        const costsDone = costNet ? costNet.score(text, offsets, prompts.length, costs!) : undefined;
        // Awaited below; marked handled now so a scoring error first does not leave it unhandled.
        costsDone?.catch(() => undefined);
        if (scoring) await native.score(text, offsets, prompts.length, out);
        if (scoring && this.#post) {
          if (this.#members.length > 0) {
            const parts = await Promise.all(this.#members.map(async (mh) => {
              const part = new Float32Array(out.length);
              await mh.score(text, offsets, prompts.length, part);
              return part;
            }));
            const k = this.#members.length + 1;
            for (let i = 0; i < out.length; i++) {
              let s = out[i]!;
              for (const p of parts) s += p[i]!;
              out[i] = s / k;
            }
          }
          this.#post.apply(out, prompts.length);
        }
        await costsDone;
      }
    } catch (err) {
      rethrowNative(err);
    }
    if (costs) this.#toCost(costs, prompts.length, costMode === 'route');
    return { scores: out, costs };
  }

  /**
   * Whether a decision under these options runs the cost network: only the `cost` policy weighs
   * cost per query, so the other policies skip its native call (their `expectedCost` is the table's).
   */
  #costFor(options: RouteOptions | undefined): boolean {
    return this.#costNet !== undefined && (options?.policy ?? this.#policy) === 'cost';
  }

  /**
   * Cost network outputs (cost shares) to USD per query, in place. `forRouting`: NaN for the models
   * the registry prices, whose registry price stands (rankCost reads NaN as "the table's cost").
   */
  #toCost(costs: Float32Array, rows: number, forRouting: boolean): void {
    const m = this.#ids.length, mean = this.#costMean, use = this.#costUse;
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < m; j++) costs[i * m + j] = forRouting && use[j] === 0 ? NaN : costFromShare(costs[i * m + j]!, mean[j]!);
    }
  }

  /** Members' mean and blend/calibration on the calling thread (small batches). */
  #postSync(text: Uint8Array, offsets: Uint32Array, count: number, out: Float32Array): void {
    const n = count * this.#ids.length;
    if (this.#members.length > 0) {
      if (this.#memberOut.length < n) this.#memberOut = new Float32Array(n);
      const part = this.#memberOut.length === n ? this.#memberOut : this.#memberOut.subarray(0, n);
      for (const mh of this.#members) {
        mh.scoreSync(text, offsets, count, part);
        for (let i = 0; i < n; i++) out[i] = out[i]! + part[i]!;
      }
      const k = this.#members.length + 1;
      for (let i = 0; i < n; i++) out[i] = out[i]! / k;
    }
    this.#post!.apply(out, count);
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
    this.#score(native, prompts, (i) => `prompt (batched, #${i})`, batch.some((p) => this.#costFor(p.options)) ? 'route' : 'none').then(
      ({ scores, costs }) => {
        const micros = ((performance.now() - start) * 1000) / batch.length;
        const m = this.#ids.length;
        for (let i = 0; i < batch.length; i++) {
          const p = batch[i]!;
          try {
            p.resolve(this.#decide(scores, i * m, Buffer.byteLength(p.prompt), p.options, micros, costs && this.#costFor(p.options) ? costs : undefined));
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
    const { policy, threshold, subset, ...rest } = options as RouteOptions;
    if (policy !== undefined && !POLICIES.includes(policy)) throw invalidArgument(`${name}.policy`, '"best", "cost", "threshold" or "subset"', policy);
    if (threshold !== undefined && (typeof threshold !== 'number' || !(threshold >= 0 && threshold <= 1))) {
      throw invalidArgument(`${name}.threshold`, 'a number in [0, 1]', threshold);
    }
    if ((policy ?? this.#policy) === 'threshold' && this.#strong < 0) {
      throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', 'the threshold policy needs a strong/weak pair: pass options.threshold.strong and .weak when loading this router');
    }
    const out: RouteOptions = { ...validateCostOptions(rest, name) };
    if (policy !== undefined) out.policy = policy;
    if (threshold !== undefined) out.threshold = threshold;
    if (subset !== undefined) out.subset = validateSubsetOptions(subset, `${name}.subset`);
    return out;
  }

  #setupThreshold(options: ThresholdOptions | undefined, calibration: string | undefined, fallbackTau: number): void {
    if (options !== undefined && (typeof options !== 'object' || options === null)) throw invalidArgument('options.threshold', 'an object { strong, weak, value }', options);
    let stored: { threshold?: number; strong?: string; weak?: string } = {};
    if (calibration) {
      try {
        stored = JSON.parse(calibration) as typeof stored;
      } catch {
        throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', `router file metadata "${META.calibration}" is not JSON`);
      }
    }
    const find = (id: string | undefined, field: string): number => {
      if (id === undefined) return -1;
      const i = this.#ids.indexOf(id);
      if (i < 0) throw invalidArgument(`options.threshold.${field}`, `one of the router's models (${this.#ids.join(', ')})`, id);
      return i;
    };
    this.#strong = find(options?.strong, 'strong');
    this.#weak = find(options?.weak, 'weak');
    if ((this.#strong < 0) !== (this.#weak < 0)) throw invalidArgument('options.threshold', 'both strong and weak, or neither', options);
    if (this.#strong < 0 && stored.strong !== undefined && stored.weak !== undefined) {
      this.#strong = this.#modelIds.indexOf(stored.strong);
      this.#weak = this.#modelIds.indexOf(stored.weak);
    }
    if (this.#strong < 0 && this.#ids.length === 2) {
      // The model that did better in training is the strong one.
      const mean = (j: number) => this.#training?.models[this.#modelIds[j]!]?.meanScore ?? 0;
      this.#strong = mean(0) >= mean(1) ? 0 : 1;
      this.#weak = 1 - this.#strong;
    }
    if (this.#strong >= 0 && this.#strong === this.#weak) throw invalidArgument('options.threshold', 'two different models', options);
    const value = options?.value ?? stored.threshold ?? fallbackTau;
    if (typeof value !== 'number' || !(value >= 0 && value <= 1.000001)) throw invalidArgument('options.threshold.value', 'a number in [0, 1]', value);
    this.#tau = value;
  }

  /**
   * `costs`: predicted USD per query for routing (rows as `scores`, NaN where the table's cost
   * stands), from the cost network; see #toCost.
   */
  #decide(scores: Float32Array, offset: number, promptBytes: number, options: RouteOptions | undefined, micros: number, costs?: Float32Array): Decision {
    const policy = options?.policy ?? this.#policy;
    const ranked = this.#ranked;
    const promptTokens = Math.ceil(promptBytes / BYTES_PER_TOKEN);
    if (this.#down.size > 0) this.#restoreExpired();
    let count: number;
    let extra: Partial<Decision> | undefined;
    if (policy === 'best') {
      count = rankBest(scores, offset, this.#table, ranked);
    } else if (policy === 'threshold') {
      const r = rankThreshold(scores, offset, this.#table, this.#strong, this.#weak, options?.threshold ?? this.#tau, ranked, this.#objective);
      count = r.count;
      extra = { winProbability: r.winProbability };
    } else if (policy === 'subset') {
      const choice = selectSubset(scores, offset, this.#table, options?.subset ?? this.#subset);
      count = rankBest(scores, offset, this.#table, ranked);
      if (choice.members.length > 0) {
        // Members first (in score order), the other eligible models after them as fallbacks.
        const rest = ranked.slice(0, count).filter((i) => !choice.members.includes(i));
        ranked.length = 0;
        ranked.push(...choice.members, ...rest);
        extra = { models: choice.members.map((i) => this.#ids[i]!), jointSuccess: choice.jointSuccess };
      }
    } else {
      if (!this.#unpricedWarned) this.#warnUnpriced();
      const merged: CostOptions = options ? { ...this.#cost, ...stripPolicy(options) } : this.#cost;
      count = rankCost(scores, offset, this.#table, { ...merged, promptTokens: merged.promptTokens ?? promptTokens }, ranked, costs);
    }
    if (count === 0) {
      throw new RoutecoreError('ERR_ROUTECORE_NO_ELIGIBLE_MODEL', `no model passes the ${policy} policy's filters for this prompt`);
    }
    const ids = this.#ids;
    const chosen = ranked[0]!;
    const fallbacks = new Array<string>(count - 1);
    for (let i = 1; i < count; i++) fallbacks[i - 1] = ids[ranked[i]!]!;
    const scoreMap = this.#scoreMap(scores, offset);
    const t = this.#table;
    const costOfModel = (i: number) => {
      const p = costs !== undefined ? costs[offset + i]! : NaN;
      return p === p ? p : t.fixedCost[i]! + promptTokens * t.inputCostPerToken[i]!;
    };
    let cost = costOfModel(chosen);
    // A subset calls all its members: its cost is theirs together.
    if (extra?.models) for (let i = 1; i < extra.models.length; i++) cost += costOfModel(ranked[i]!);
    const decision: Decision = {
      model: ids[chosen]!,
      fallbacks,
      scores: scoreMap,
      expectedCost: Number.isNaN(cost) ? null : cost,
      policy,
      micros,
    };
    return extra ? Object.assign(decision, extra) : decision;
  }

  /** Eligible models whose cost is unknown (the cost policy would count them as free). */
  #unpriced(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.#ids.length; i++) if (this.#table.eligible[i] === 1 && Number.isNaN(this.#table.fixedCost[i]!)) out.push(this.#ids[i]!);
    return out;
  }

  #warnUnpriced(): void {
    this.#unpricedWarned = true;
    const unpriced = this.#unpriced();
    if (unpriced.length === 0) return;
    process.emitWarning(
      `routecore: the cost policy counts ${unpriced.join(', ')} as free: ${unpriced.length === 1 ? 'it has' : 'they have'} no price in the registry or the training data. Set inputCostPer1M/outputCostPer1M (this warning is shown once per router).`,
      { code: 'ROUTECORE_UNPRICED_MODEL' },
    );
  }

  #restoreExpired(): void {
    const now = Date.now();
    for (const [i, d] of this.#down) {
      if (d.until > now) continue;
      this.#table.eligible[i] = d.eligible;
      this.#down.delete(i);
    }
  }
}

/**
 * τ of the shipped default router's default `threshold` policy. Chosen on held-out folds of the
 * RouteLLM data (scripts/chat-experiments.ts, grid step 0.02) as the largest weak share whose quality
 * stays within 2% of always-strong: τ = 0.52 sent 19.4% of held-out prompts to the weak model at
 * 98.4% of always-strong's quality and 81.7% of its cost. The shipped router itself sends 28.6% of
 * prompts from other data sets to the weak model at this τ (docs/CHAT.md, "The default policy").
 */
export const DEFAULT_ROUTER_TAU = 0.52;

const OPTION_NAMES: readonly string[] = ['registry', 'aliases', 'policy', 'cost', 'threshold', 'subset', 'backend', 'threads', 'maxBatchSize', 'maxWaitMs', 'staticModel'];

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

function totalLength(prompts: readonly string[]): number {
  let n = 0;
  for (const p of prompts) n += p.length;
  return n;
}

type ScoreMapFactory = (scores: Float32Array, offset: number) => Record<string, number>;

/**
 * A function returning `{[ids[j]]: scores[offset + j]}` for every j. It is generated as one object
 * literal, so every decision's `scores` object has the same hidden class from birth: filling a `{}`
 * key by key was a megamorphic keyed store per model, ~0.5 µs for 11 models against ~0.08 µs
 * (measured in Node 20). The keys go in through JSON.stringify, which makes any string a valid,
 * inert string literal. Beyond a few hundred models the plain loop is used.
 */
function scoreMapFactory(ids: readonly string[]): ScoreMapFactory {
  const loop: ScoreMapFactory = (scores, offset) => {
    const m: Record<string, number> = {};
    for (let j = 0; j < ids.length; j++) Object.defineProperty(m, ids[j]!, { value: scores[offset + j]!, enumerable: true, writable: true, configurable: true });
    return m;
  };
  if (ids.length > 256 || ids.includes('__proto__')) return loop;
  const body = `return {${ids.map((id, j) => `${JSON.stringify(id)}: s[o + ${j}]`).join(', ')}};`;
  try {
    return new Function('s', 'o', body) as ScoreMapFactory;
  } catch {
    // Node run with --disallow-code-generation-from-strings: the same objects, built key by key.
    return loop;
  }
}

function stripPolicy(o: RouteOptions): CostOptions {
  const { policy: _p, threshold: _t, subset: _s, ...rest } = o;
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

/** A metadata entry that holds JSON text; a router file whose entry does not parse is a bad artifact. */
function metadataJson(meta: Record<string, string>, key: string): unknown {
  try {
    return JSON.parse(meta[key]!);
  } catch {
    throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', `router file metadata "${key}" is not JSON: ${meta[key]!.slice(0, 80)}`);
  }
}

/** The registry a router file ships (list prices of its own models); a malformed one is a bad artifact. */
function embeddedRegistry(meta: Record<string, string>): Registry {
  const value = metadataJson(meta, META.registry);
  try {
    return Registry.fromObject(value, 'router file registry');
  } catch (err) {
    throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', `router file metadata "${META.registry}": ${(err as Error).message}`, { cause: err });
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
