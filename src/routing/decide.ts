/**
 * Decisions: from one row of predicted scores (and, under `cost`, predicted costs) to a
 * {@link Decision}, by the router's policies — `best` and `cost` (policy.ts), `threshold` and
 * `subset` (selection.ts). Everything fixed per router (ids, the candidate table, default knobs,
 * the strong/weak pair and τ) is resolved once here; {@link Decider.decide} is then a loop over
 * typed arrays that touches no I/O and no native code. Models marked unavailable (an upstream
 * outage) leave the candidate table until their window ends.
 * @module
 */
import { RoutecoreError, invalidArgument } from '../errors.js';
import { POLICIES, POLICY_CHOICES, buildCandidates, rankBest, rankCost, validateCostOptions, type CandidateTable, type CostOptions, type PolicyName } from './policy.js';
import type { CostModel } from './postprocess.js';
import { estimateTokens } from './prompt.js';
import type { Registry } from './registry.js';
import { rankThreshold, selectSubset, validateSubsetOptions, type SubsetOptions } from './selection.js';

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

/** What a {@link Decider} is built from: the router's models and its decision-related options. */
export interface DeciderSetup {
  /** Model ids as decisions name them (after aliases), in score-column order. */
  ids: readonly string[];
  /** The router's own ids, same order (the calibration record names these). */
  modelIds: readonly string[];
  registry: Registry | undefined;
  /** Mean training score and cost per own id (pair default, cost fallback). */
  training: { models: Record<string, { meanScore: number; meanCost: number | null }> } | undefined;
  objective: 'scores' | 'pairwise';
  policy: PolicyName;
  cost: CostOptions | undefined;
  subset: SubsetOptions | undefined;
  threshold: ThresholdOptions | undefined;
  /** The calibration record stored in the router file (JSON), if any. */
  calibration: string | undefined;
  /** τ when neither the options nor the file give one. */
  fallbackTau: number;
  /** The length-based cost model of a `train --auto` router, for models the registry does not price. */
  costModel: CostModel | undefined;
  /** Whether the scorer has a cost network (cost by prompt text). */
  costNetwork: boolean;
  /** Metadata key of the calibration record, for error messages. */
  calibrationKey: string;
}

/** The router's decision policies over one candidate table. */
export class Decider {
  readonly #ids: readonly string[];
  readonly #modelIds: readonly string[];
  readonly #scoreMap: ScoreMapFactory;
  readonly #policy: PolicyName;
  readonly #cost: CostOptions;
  readonly #subset: SubsetOptions;
  readonly #objective: 'scores' | 'pairwise';
  readonly #table: CandidateTable;
  readonly #ranked: number[] = [];
  // markUnavailable(): model index -> time (ms, Date.now) it comes back; eligibility saved beside.
  readonly #down = new Map<number, { until: number; eligible: number }>();
  // Which models' cost the cost network predicts (1) — those the registry does not price.
  readonly #costKeep: Uint8Array | undefined;
  readonly #costNetwork: boolean;
  #strong = -1;
  #weak = -1;
  #tau = 0.5;
  // The per-call cost policy with an unpriced model warns once per router (see decide).
  #unpricedWarned = false;

  constructor(s: DeciderSetup) {
    this.#ids = s.ids;
    this.#modelIds = s.modelIds;
    this.#scoreMap = scoreMapFactory(s.ids);
    this.#objective = s.objective;
    if (!POLICIES.includes(s.policy)) throw invalidArgument('options.policy', POLICY_CHOICES, s.policy);
    this.#policy = s.policy;
    this.#cost = s.cost === undefined ? {} : validateCostOptions(s.cost, 'options.cost');
    this.#subset = validateSubsetOptions(s.subset, 'options.subset');
    this.#setupThreshold(s);
    this.#costNetwork = s.costNetwork;

    const training = s.training;
    this.#table = buildCandidates(
      s.ids,
      s.registry,
      (id) => {
        const own = s.modelIds[s.ids.indexOf(id)]!;
        return training?.models[own]?.meanCost ?? undefined;
      },
      0,
    );
    if (s.costNetwork) {
      // The predicted per-query cost (by prompt text) replaces the training mean where the registry has no price.
      this.#costKeep = new Uint8Array(s.ids.length);
      for (let i = 0; i < s.ids.length; i++) if (!s.registry?.prices(s.ids[i]!)) this.#costKeep[i] = 1;
    }
    if (s.costModel) {
      // The predicted per-query cost (by prompt length) replaces the training mean where the registry has no price.
      for (let i = 0; i < s.ids.length; i++) {
        if (s.registry?.prices(s.ids[i]!)) continue;
        this.#table.fixedCost[i] = s.costModel.base[i]!;
        this.#table.inputCostPerToken[i] = s.costModel.perToken[i]!;
        this.#table.cost[i] = s.costModel.base[i]!;
      }
    }
    if (this.#policy === 'cost') {
      const unpriced = this.#unpriced();
      if (unpriced.length > 0) {
        throw new RoutecoreError(
          'ERR_ROUTECORE_BAD_REGISTRY',
          `the cost policy needs a price for every model it may choose, and ${unpriced.join(', ')} ${unpriced.length === 1 ? 'has' : 'have'} none: set inputCostPer1M and outputCostPer1M in the registry${s.registry ? ` (${s.registry.source})` : ''}, or disable ${unpriced.length === 1 ? 'it' : 'them'}`,
        );
      }
      this.#unpricedWarned = true;
    }
    if (s.registry && !this.#table.eligible.some((e) => e === 1)) {
      throw new RoutecoreError(
        'ERR_ROUTECORE_NO_ELIGIBLE_MODEL',
        `none of the router's models (${s.ids.join(', ')}) is registered and enabled in the registry; map them with options.aliases`,
      );
    }
  }

  /** The default policy. */
  get policy(): PolicyName {
    return this.#policy;
  }

  /** The `threshold` pair as column indexes (-1 when not set up) and the current τ. */
  get pair(): { strong: number; weak: number; tau: number } {
    return { strong: this.#strong, weak: this.#weak, tau: this.#tau };
  }

  /** Sets τ (after calibration). */
  set tau(value: number) {
    this.#tau = value;
  }

  /** The `threshold` policy's τ and pair (ids after aliases); pair null when not set up. */
  get threshold(): { value: number; strong: string | null; weak: string | null } {
    return { value: this.#tau, strong: this.#strong < 0 ? null : this.#ids[this.#strong]!, weak: this.#weak < 0 ? null : this.#ids[this.#weak]! };
  }

  /**
   * Which models the cost network's predictions apply to (1), for {@link Scorer.toCost}: NaN marks
   * the others, whose registry price stands (rankCost reads NaN as "the table's cost").
   */
  get costKeep(): Uint8Array | undefined {
    return this.#costKeep;
  }

  /**
   * Whether a decision under these options needs the cost network: only the `cost` policy weighs
   * cost per query, so the other policies skip its native call (their `expectedCost` is the table's).
   */
  costFor(options: RouteOptions | undefined): boolean {
    return this.#costNetwork && (options?.policy ?? this.#policy) === 'cost';
  }

  /** Validates per-call options (`name` is the argument named in errors). */
  checkRouteOptions(options: unknown, name: string): RouteOptions {
    if (typeof options !== 'object' || options === null) throw invalidArgument(name, 'an object', options);
    const { policy, threshold, subset, ...rest } = options as RouteOptions;
    if (policy !== undefined && !POLICIES.includes(policy)) throw invalidArgument(`${name}.policy`, POLICY_CHOICES, policy);
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

  /**
   * Takes a model out of decisions for `ms` milliseconds (an upstream outage); `ms` 0 restores it.
   * Calling again extends or shortens the window.
   */
  markUnavailable(id: string, ms: number): void {
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

  /**
   * The decision for the score row at `offset` of a prompt of `promptBytes` UTF-8 bytes. `costs`:
   * predicted USD per query for routing (rows as `scores`, NaN where the table's cost stands), from
   * the cost network; see {@link Decider.costKeep}.
   */
  decide(scores: Float32Array, offset: number, promptBytes: number, options: RouteOptions | undefined, micros: number, costs?: Float32Array): Decision {
    const policy = options?.policy ?? this.#policy;
    const ranked = this.#ranked;
    const promptTokens = estimateTokens(promptBytes);
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
      return !Number.isNaN(p) ? p : t.fixedCost[i]! + promptTokens * t.inputCostPerToken[i]!;
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

  #setupThreshold(s: DeciderSetup): void {
    const options = s.threshold;
    if (options !== undefined && (typeof options !== 'object' || options === null)) throw invalidArgument('options.threshold', 'an object { strong, weak, value }', options);
    let stored: { threshold?: number; strong?: string; weak?: string } = {};
    if (s.calibration) {
      try {
        stored = JSON.parse(s.calibration) as typeof stored;
      } catch {
        throw new RoutecoreError('ERR_ROUTECORE_BAD_ARTIFACT', `router file metadata "${s.calibrationKey}" is not JSON`);
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
      const mean = (j: number) => s.training?.models[this.#modelIds[j]!]?.meanScore ?? 0;
      this.#strong = mean(0) >= mean(1) ? 0 : 1;
      this.#weak = 1 - this.#strong;
    }
    if (this.#strong >= 0 && this.#strong === this.#weak) throw invalidArgument('options.threshold', 'two different models', options);
    const value = options?.value ?? stored.threshold ?? s.fallbackTau;
    if (typeof value !== 'number' || !(value >= 0 && value <= 1.000001)) throw invalidArgument('options.threshold.value', 'a number in [0, 1]', value);
    this.#tau = value;
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

  /** Milliseconds until the first model taken out by {@link markUnavailable} comes back; undefined when none is out. */
  cooldownLeftMs(): number | undefined {
    let first: number | undefined;
    for (const d of this.#down.values()) if (first === undefined || d.until < first) first = d.until;
    return first === undefined ? undefined : Math.max(0, first - Date.now());
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

function stripPolicy(o: RouteOptions): CostOptions {
  const { policy: _p, threshold: _t, subset: _s, ...rest } = o;
  return rest;
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
