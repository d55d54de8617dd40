/**
 * The `threshold` (RouteLLM strong/weak) and `subset` (SelectLLM) policies, and the majority vote
 * that combines a subset's answers. Like policy.ts they work on one prompt's row of predicted
 * scores and a {@link CandidateTable}.
 * @module
 */
import { RoutecoreError, invalidArgument } from '../errors.js';
import { rankBest, type CandidateTable } from './policy.js';

/**
 * P(strong answer is better than weak answer) from the two models' scores.
 *
 * For routers trained on per-model outcomes (`objective` `'scores'`, the default) the scores are
 * predicted success probabilities: counting a tie (both right or both wrong) as half a win and
 * treating the two outcomes as independent gives q_s(1−q_w) + ½[q_s q_w + (1−q_s)(1−q_w)] =
 * (1 + q_s − q_w) / 2, which orders prompts exactly like q_s − q_w, the score RouteLLM-style APGR
 * is measured with. For routers trained on pairwise battles (`'pairwise'`) the scores are
 * Bradley–Terry strengths through a sigmoid, and the win probability is
 * sigmoid(logit q_s − logit q_w) = q_s(1−q_w) / (q_s(1−q_w) + q_w(1−q_s)).
 */
export function strongWinProbability(qStrong: number, qWeak: number, objective: 'scores' | 'pairwise' = 'scores'): number {
  if (objective === 'scores') return (1 + qStrong - qWeak) / 2;
  const s = qStrong * (1 - qWeak), w = qWeak * (1 - qStrong);
  return s + w > 0 ? s / (s + w) : 0.5;
}

/**
 * Policy `threshold`: the strong model when its win probability reaches `threshold`, else the
 * weak one; the other eligible models follow as fallbacks in `best` order. When one of the pair
 * is not eligible (unregistered, disabled, marked unavailable) the other leads.
 * @returns the number of ranked models and the win probability
 */
export function rankThreshold(
  scores: Float32Array,
  offset: number,
  table: CandidateTable,
  strong: number,
  weak: number,
  threshold: number,
  ranked: number[],
  objective: 'scores' | 'pairwise' = 'scores',
): { count: number; winProbability: number } {
  const p = strongWinProbability(scores[offset + strong]!, scores[offset + weak]!, objective);
  const count = rankBest(scores, offset, table, ranked);
  const first = p >= threshold ? strong : weak;
  const second = first === strong ? weak : strong;
  // Move the pair to the front in decision order, keeping the rest in best order.
  let w = 0;
  for (const lead of [first, second]) {
    const at = ranked.indexOf(lead, w);
    if (at < 0) continue;
    for (let i = at; i > w; i--) ranked[i] = ranked[i - 1]!;
    ranked[w++] = lead;
  }
  return { count, winProbability: p };
}

/**
 * The threshold that sends `strongShare` of these prompts to the strong model: the
 * ⌈share·n⌉-th largest win probability (so exactly that many prompts reach it when there are no
 * ties). share 0 gives a threshold above every probability, share 1 the smallest probability.
 */
export function calibrateThreshold(winProbabilities: ArrayLike<number>, strongShare: number): number {
  if (typeof strongShare !== 'number' || !(strongShare >= 0 && strongShare <= 1)) {
    throw invalidArgument('strongShare', 'a number in [0, 1]', strongShare);
  }
  const n = winProbabilities.length;
  if (n === 0) throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', 'calibration needs at least one prompt');
  const sorted = Float64Array.from(winProbabilities).sort().reverse();
  const k = Math.ceil(strongShare * n);
  // Just above the largest probability (win probabilities lie in [0,1]).
  if (k === 0) return sorted[0]! + 1e-9;
  return sorted[k - 1]!;
}

/** Knobs of the `subset` policy (SelectLLM). */
export interface SubsetOptions {
  /** Most models to call in parallel; default 3. */
  k?: number;
  /** Joint predicted success 1 − Π(1 − q) to reach; default 0.9. */
  target?: number;
  /** Latency budget: the slowest model of the set counts (calls run in parallel). Unknown latency is excluded when set. */
  maxLatencyMs?: number;
  /** Cost budget: the set's summed expected USD per query. Unknown cost is excluded when set. */
  maxCost?: number;
}

/** What {@link selectSubset} chose. */
export interface SubsetChoice {
  /** Model indices, highest predicted score first. */
  members: number[];
  /** 1 − Π(1 − q) over the members. */
  jointSuccess: number;
  /** Whether `jointSuccess` reaches the target; when no set does, the best set within the limits is returned. */
  reachedTarget: boolean;
}

/** Checks subset options, naming `argName.field` in errors. */
export function validateSubsetOptions(options: unknown, argName: string): SubsetOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) throw invalidArgument(argName, 'an object of subset options', options);
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!['k', 'target', 'maxLatencyMs', 'maxCost'].includes(key)) throw invalidArgument(`${argName}.${key}`, 'one of k, target, maxLatencyMs, maxCost', key);
  }
  if (o.k !== undefined && (!Number.isInteger(o.k) || (o.k as number) < 1 || (o.k as number) > 8)) throw invalidArgument(`${argName}.k`, 'an integer from 1 to 8', o.k);
  if (o.target !== undefined && (typeof o.target !== 'number' || !(o.target >= 0 && o.target <= 1))) throw invalidArgument(`${argName}.target`, 'a number in [0, 1]', o.target);
  if (o.maxLatencyMs !== undefined && (typeof o.maxLatencyMs !== 'number' || !(o.maxLatencyMs > 0))) throw invalidArgument(`${argName}.maxLatencyMs`, 'a number > 0 (milliseconds)', o.maxLatencyMs);
  if (o.maxCost !== undefined && (typeof o.maxCost !== 'number' || !(o.maxCost >= 0) || o.maxCost === Infinity)) throw invalidArgument(`${argName}.maxCost`, 'a finite number >= 0 (USD per query)', o.maxCost);
  return o as SubsetOptions;
}

/**
 * Policy `subset` (SelectLLM): the smallest set of at most k eligible models whose joint predicted
 * success reaches the target within the latency or cost budget. Among sets of that size the one
 * with the highest joint success wins, then the cheaper. When no set reaches the target, the set
 * with the highest joint success within the limits. Exhaustive over sets of size ≤ k: C(11,3) =
 * 165 sets for RouterBench's pool, microseconds.
 */
export function selectSubset(scores: Float32Array, offset: number, table: CandidateTable, options: SubsetOptions): SubsetChoice {
  const k = options.k ?? 3;
  const target = options.target ?? 0.9;
  const m = table.ids.length;
  const usable: number[] = [];
  for (let i = 0; i < m; i++) {
    if (table.eligible[i] === 0) continue;
    if (options.maxLatencyMs !== undefined && !(table.latencyMs[i]! <= options.maxLatencyMs)) continue;
    if (options.maxCost !== undefined && !(table.cost[i]! <= options.maxCost)) continue;
    usable.push(i);
  }
  let best: { members: number[]; joint: number; cost: number } | undefined;
  let bestReaching: { members: number[]; joint: number; cost: number } | undefined;
  const current: number[] = [];
  const visit = (start: number, failAll: number, cost: number, latencyOk: boolean): void => {
    if (current.length > 0 && latencyOk) {
      const joint = 1 - failAll;
      const candidate = { members: current.slice(), joint, cost };
      const better = (a: typeof candidate, b: typeof candidate | undefined) =>
        !b || a.joint > b.joint + 1e-12 || (Math.abs(a.joint - b.joint) <= 1e-12 && a.cost < b.cost);
      if (better(candidate, best)) best = candidate;
      if (joint >= target && (!bestReaching || candidate.members.length < bestReaching.members.length || (candidate.members.length === bestReaching.members.length && better(candidate, bestReaching)))) {
        bestReaching = candidate;
      }
    }
    if (current.length === k) return;
    for (let u = start; u < usable.length; u++) {
      const i = usable[u]!;
      const q = Math.min(1, Math.max(0, scores[offset + i]!));
      const c = table.cost[i]!;
      const nextCost = cost + (Number.isNaN(c) ? 0 : c);
      if (options.maxCost !== undefined && nextCost > options.maxCost * (1 + 1e-9)) continue;
      current.push(i);
      visit(u + 1, failAll * (1 - q), nextCost, latencyOk);
      current.pop();
    }
  };
  visit(0, 1, 0, true);
  const chosen = bestReaching ?? best;
  if (!chosen) return { members: [], jointSuccess: 0, reachedTarget: false };
  const members = chosen.members.sort((a, b) => scores[offset + b]! - scores[offset + a]! || a - b);
  return { members, jointSuccess: chosen.joint, reachedTarget: bestReaching !== undefined };
}

/** Result of {@link majorityVote}. */
export interface VoteResult<T> {
  /** The winning answer (the first answer given with the winning key). */
  answer: T;
  /** How many answers share its key. */
  votes: number;
  /** Index of `answer` in the input. */
  index: number;
}

/**
 * Combines the answers of a subset by majority. Answers are compared by `key` (default: the
 * string, trimmed and lower-cased). Tie rule: among keys with the most votes, the one whose first
 * answer comes earliest in `answers` wins — pass answers in the subset's order (highest predicted
 * score first) so a tie goes to the model the router trusted most.
 */
export function majorityVote<T>(answers: readonly T[], options: { key?: (answer: T) => string } = {}): VoteResult<T> {
  if (!Array.isArray(answers) || answers.length === 0) throw invalidArgument('answers', 'a non-empty array', answers);
  const key = options.key ?? ((a: T) => String(a).trim().toLowerCase());
  const counts = new Map<string, { votes: number; first: number }>();
  answers.forEach((a, i) => {
    const k = key(a);
    const e = counts.get(k);
    if (e) e.votes++;
    else counts.set(k, { votes: 1, first: i });
  });
  let win: { votes: number; first: number } | undefined;
  for (const e of counts.values()) if (!win || e.votes > win.votes || (e.votes === win.votes && e.first < win.first)) win = e;
  return { answer: answers[win!.first]!, votes: win!.votes, index: win!.first };
}
