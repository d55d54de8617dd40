/**
 * Guarded learning (`routecore learn`, `routecore serve --learn`): train a candidate router on the
 * judged pairs of the outcome log (plus feedback scores and an optional prior data file), and swap it
 * in only when it beats the serving router on judged pairs it was not trained on.
 *
 * The rule (docs/LEARNING.md, "Learning"):
 * 1. The judged pairs with a stored prompt are put in time order; the newest `holdout` share (default
 *    30%, at least 30 pairs) is held out, the rest trains the candidate (with the feedback scores of
 *    requests not held out, and the prior file at its weight).
 * 2. Both routers are scored on the held-out pairs of the most judged (strong, weak) model pair: the
 *    APGR of their P(strong better) against the judged verdicts, each pair weighted by the inverse of
 *    the probability it was sampled with (so uncertainty-sampled pairs do not tilt the figure).
 * 3. The candidate is swapped in only when the one-sided 95% lower bound of the paired bootstrap
 *    difference APGR(candidate) − APGR(serving) (1,000 resamples of the held-out pairs, the same
 *    resample for both routers) is above 0. Otherwise the serving router stays.
 * 4. A swapped-in candidate is first calibrated (threshold policy) to send the same share of the
 *    held-out prompts to the strong model as the serving router does, so the swap changes which
 *    prompts go to the strong model, not how many (cost stays where the operator put it).
 * The previous router is kept as `<router>.prev` (`learn --rollback` swaps it back), and every
 * decision is appended, with its before/after figures, to `<router>.learn.jsonl`.
 * @module
 */
import { appendFileSync, copyFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

import { RoutecoreError, invalidArgument } from '../errors.js';
import { Registry } from '../routing/registry.js';
import { Router } from '../app/router.js';
import { strongWinProbability } from '../routing/selection.js';
import { battlesToOutcomes, loadTrainingData, type DataSpec } from '../training/auto-data.js';
import type { OutcomeRecord } from '../training/data.js';
import { judgedBattles, readLearningLog, type Judgment, type LogContents } from '../training/judged-pairs.js';
import { train, type EpochInfo, type PredictorKind } from '../training/train.js';
import { dominantPair, pairScores, seededRandom, sortedApgr } from './stats.js';

/** Options of {@link learnOnce}. */
export interface LearnOptions {
  /** Outcome logs (JSONL or the gateway's SQLite), one per replica. */
  logs: readonly string[];
  /** The serving router's file; replaced on a swap. */
  router: string;
  /** The deployment's registry (file or object): prices decide which model of a pair is the strong one. */
  registry: string | Registry;
  /** Router model id → registry id, as the gateway loads the router. */
  aliases?: Record<string, string>;
  /** Share of the newest judged pairs held out. Default 0.3. */
  holdout?: number;
  /** Judged pairs (with prompts) needed before anything is trained. Default 200. */
  minPairs?: number;
  /** Prior data files (outcome, pairwise or log) with weights, trained on with the log. */
  prior?: readonly DataSpec[];
  /** Predictor of the candidate. Default `mlp`. */
  predictor?: PredictorKind;
  /** Seed of training and of the bootstrap. Default 1. */
  seed?: number;
  /** Decide and report, but write nothing. */
  dryRun?: boolean;
  /** Messages while it works. */
  onProgress?: (line: string) => void;
  /** After every epoch of the candidate's training (iterative predictors), as `train`'s `onEpoch`. */
  onEpoch?: (info: EpochInfo) => void;
}

/** One router's figure on the held-out pairs. */
export interface HeldOutFigure {
  apgr: number | null;
  /** 95% percentile-bootstrap interval. */
  interval: [number, number] | null;
}

/** What one learning round decided, as appended to `<router>.learn.jsonl`. */
export interface LearnDecision {
  ts: string;
  action: 'swap' | 'keep' | 'skip' | 'rollback';
  /** Why, in a sentence. */
  reason: string;
  router: string;
  pairs?: { judged: number; withPrompt: number; train: number; heldOut: number; trainedOn: number };
  /** The (strong, weak) pair the comparison is made on. */
  pair?: { strong: string; weak: string };
  before?: HeldOutFigure;
  after?: HeldOutFigure;
  /** APGR(candidate) − APGR(serving): the point value and the one-sided 95% lower bound. */
  difference?: { value: number; lower95: number; resamples: number };
  /** Strong share both routers are held to on the held-out prompts. */
  strongShare?: number;
  /** The file the replaced router was kept as. */
  backup?: string;
  dryRun?: boolean;
}

const RESAMPLES = 1000;
const MIN_HELD_OUT = 30;

/** Where decisions are logged, and the previous router kept. */
export function learnPaths(router: string): { decisions: string; previous: string; next: string } {
  return { decisions: `${router}.learn.jsonl`, previous: `${router}.prev`, next: `${router}.next` };
}

/** The decisions logged so far for a router file (oldest first; an unreadable line is skipped). */
export function readDecisions(router: string): LearnDecision[] {
  const path = learnPaths(router).decisions;
  if (!existsSync(path)) return [];
  const out: LearnDecision[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as LearnDecision);
    } catch {
      // a torn line from a crash mid-append
    }
  }
  return out;
}

function record(router: string, d: LearnDecision): LearnDecision {
  if (!d.dryRun) appendFileSync(learnPaths(router).decisions, JSON.stringify(d) + '\n');
  return d;
}

/** One learning round (see the module notes). Never replaces the router unless the rule says so. */
export async function learnOnce(options: LearnOptions): Promise<LearnDecision> {
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object with logs, router and registry', options);
  if (!Array.isArray(options.logs) || options.logs.length === 0) throw invalidArgument('options.logs', 'at least one outcome log', options.logs);
  if (typeof options.router !== 'string' || options.router === '' || options.router === 'default') throw invalidArgument('options.router', 'the path of the serving .router file (it is replaced on a swap)', options.router);
  if (!existsSync(options.router)) throw new RoutecoreError('ERR_ROUTECORE_IO', `the router file ${options.router} does not exist`);
  const holdout = options.holdout ?? 0.3;
  if (typeof holdout !== 'number' || !(holdout >= 0.05 && holdout <= 0.95)) throw invalidArgument('options.holdout', 'a share from 0.05 to 0.95', holdout);
  const minPairs = options.minPairs ?? 200;
  if (typeof minPairs !== 'number' || !Number.isInteger(minPairs) || minPairs < 10) throw invalidArgument('options.minPairs', 'an integer >= 10', minPairs);
  const say = options.onProgress ?? (() => undefined);
  const registry = typeof options.registry === 'string' ? Registry.fromFile(options.registry) : options.registry;
  const aliases = options.aliases ?? {};
  const seed = options.seed ?? 1;
  const ts = new Date().toISOString();
  const base = { ts, router: options.router, ...(options.dryRun ? { dryRun: true } : {}) };

  // 1. The pairs, in time order, and the split.
  const logs: LogContents[] = options.logs.map((p) => readLearningLog(p));
  const all = logs.flatMap((l) => l.judgments).sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
  const usable = all.filter((j) => j.prompt !== null && j.prompt !== '');
  const judged = all.length;
  if (usable.length < minPairs) {
    return record(options.router, { ...base, action: 'skip', reason: `${usable.length} judged pairs with a stored prompt; a round needs ${minPairs}`, pairs: { judged, withPrompt: usable.length, train: 0, heldOut: 0, trainedOn: 0 } });
  }
  const nHeld = Math.max(MIN_HELD_OUT, Math.round(usable.length * holdout));
  const trainPairs = usable.slice(0, usable.length - nHeld);
  const heldOut = usable.slice(usable.length - nHeld);
  const pair = dominantPair(heldOut);
  if (!pair) return record(options.router, { ...base, action: 'skip', reason: 'the held-out pairs have no priced (strong, weak) pair with a route score', pairs: { judged, withPrompt: usable.length, train: trainPairs.length, heldOut: nHeld, trainedOn: 0 } });
  const test = heldOut.filter((j) => j.strong === pair.strong && (j.served === pair.weak || j.comparison === pair.weak));

  // 2. The candidate, trained on the older pairs (+ feedback not held out, + prior), in the serving router's own model ids.
  const serving = Router.loadSync(options.router, { registry, aliases });
  let candidate: Router | undefined;
  try {
    const toRouterId = new Map<string, string>();
    const own = serving.models;
    const names = serving.metadata()['routecore.models'];
    const modelIds: string[] = names ? (JSON.parse(names) as string[]) : [...own];
    own.forEach((id, i) => {
      toRouterId.set(id, modelIds[i] ?? id);
    });
    const rename = (rec: OutcomeRecord): OutcomeRecord | null => {
      const scores: Record<string, number> = {};
      for (const [m, v] of Object.entries(rec.scores)) {
        const r = toRouterId.get(m);
        if (r === undefined) return null;
        scores[r] = v;
      }
      return { id: rec.id, prompt: rec.prompt, scores };
    };
    const heldIds = new Set(heldOut.map((j) => j.id));
    const records: OutcomeRecord[] = [];
    for (const r of battlesToOutcomes(judgedBattles(trainPairs))) {
      const x = rename(r);
      if (x) records.push(x);
    }
    for (const l of logs) for (const f of l.feedback) if (!heldIds.has(f.id)) {
      const x = rename(f);
      if (x) records.push(x);
    }
    if (options.prior?.length) {
      for (const r of loadTrainingData(options.prior).records) {
        const x = rename(r);
        if (x) records.push(x);
      }
    }
    say(`training a candidate on ${records.length} records (${trainPairs.length} judged pairs, older than the ${nHeld} held out)`);
    const trained = await train(records, { predictor: options.predictor ?? 'mlp', seed, router: { registry, aliases }, ...(options.onEpoch ? { onEpoch: options.onEpoch } : {}) });
    candidate = trained.router;
    const [sServing, sCandidate] = [await preference(serving, test, pair), await preference(candidate, test, pair)];

    // 3. The comparison.
    const n = test.length;
    if (n < MIN_HELD_OUT) {
      return record(options.router, { ...base, action: 'skip', reason: `${n} held-out pairs of ${pair.strong}/${pair.weak}; the comparison needs ${MIN_HELD_OUT}`, pair, pairs: { judged, withPrompt: usable.length, train: trainPairs.length, heldOut: nHeld, trainedOn: records.length } });
    }
    const cmp = compareOnHeldOut(test, pair.strong, sServing, sCandidate, seed);
    const pairs = { judged, withPrompt: usable.length, train: trainPairs.length, heldOut: n, trainedOn: records.length };
    if (cmp.before.apgr === null || cmp.after.apgr === null) {
      return record(options.router, { ...base, action: 'keep', reason: `the held-out pairs show no quality gap between ${pair.strong} and ${pair.weak} (the judge prefers neither), so no router can gain on them`, pair, pairs, before: cmp.before, after: cmp.after });
    }
    const difference = { value: round(cmp.after.apgr - cmp.before.apgr), lower95: round(cmp.lower95), resamples: RESAMPLES };
    const better = difference.lower95 > 0;
    if (!better) {
      return record(options.router, { ...base, action: 'keep', reason: `the candidate is not better on held-out judged pairs (APGR ${cmp.after.apgr.toFixed(3)} vs ${cmp.before.apgr.toFixed(3)}; the one-sided 95% lower bound of the difference, ${difference.lower95.toFixed(3)}, is not above 0)`, pair, pairs, before: cmp.before, after: cmp.after, difference });
    }

    // 4. Calibrate to the serving router's strong share, save, swap.
    const prompts = heldOut.map((j) => j.prompt!);
    const share = await strongShare(serving, prompts, pair.strong);
    const strongId = toRouterId.get(pair.strong)!;
    const weakId = toRouterId.get(pair.weak)!;
    const calibrated = Router.loadSync(candidate.serialize(), { registry, aliases, threshold: { strong: aliasOf(strongId, aliases), weak: aliasOf(weakId, aliases) } });
    candidate.dispose();
    candidate = calibrated;
    await candidate.calibrate(prompts, { strongShare: Math.min(0.999, Math.max(0.001, share)) });
    const decision: LearnDecision = {
      ...base,
      action: 'swap',
      reason: `the candidate beats the serving router on ${n} held-out judged pairs (APGR ${cmp.after.apgr.toFixed(3)} vs ${cmp.before.apgr.toFixed(3)}, one-sided 95% lower bound of the difference ${difference.lower95.toFixed(3)} > 0)`,
      pair,
      pairs,
      before: cmp.before,
      after: cmp.after,
      difference,
      strongShare: round(share),
    };
    if (!options.dryRun) {
      const paths = learnPaths(options.router);
      writeFileSync(paths.next, candidate.serialize());
      copyFileSync(options.router, paths.previous);
      // rename() replaces the file in one step: a reload never reads half a router.
      renameSync(paths.next, options.router);
      decision.backup = paths.previous;
    }
    say(decision.reason);
    return record(options.router, decision);
  } finally {
    serving.dispose();
    candidate?.dispose();
  }
}

/** `learn --rollback`: swaps `<router>.prev` back in (the current one becomes `.prev`, so a second rollback redoes). */
export function rollback(router: string): LearnDecision {
  const paths = learnPaths(router);
  if (!existsSync(paths.previous)) throw new RoutecoreError('ERR_ROUTECORE_IO', `nothing to roll back to: ${paths.previous} does not exist (no swap has happened for ${router})`);
  const tmp = `${router}.rollback`;
  copyFileSync(router, tmp);
  renameSync(paths.previous, router);
  renameSync(tmp, paths.previous);
  return record(router, { ts: new Date().toISOString(), action: 'rollback', reason: `restored the previous router; the replaced one is kept as ${paths.previous}`, router, backup: paths.previous });
}

function aliasOf(id: string, aliases: Record<string, string>): string {
  return aliases[id] ?? id;
}

/** P(strong better) of a router on each pair's prompt, for the (strong, weak) registry ids. */
async function preference(router: Router, pairs: readonly (Judgment & { prompt: string | null })[], pair: { strong: string; weak: string }): Promise<Float64Array> {
  const out = new Float64Array(pairs.length);
  if (pairs.length === 0) return out;
  const s = router.models.indexOf(pair.strong);
  const w = router.models.indexOf(pair.weak);
  if (s < 0 || w < 0) throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `the router's models (${router.models.join(', ')}) do not include the judged pair ${pair.strong}/${pair.weak}; pass the gateway's --alias mappings`);
  const m = router.models.length;
  const scores = await router.scores(pairs.map((p) => p.prompt!));
  for (let i = 0; i < pairs.length; i++) out[i] = strongWinProbability(scores[i * m + s]!, scores[i * m + w]!, router.objective);
  return out;
}

/** Share of prompts a router sends to `strong` under its own policy. */
async function strongShare(router: Router, prompts: readonly string[], strong: string): Promise<number> {
  let k = 0;
  for (const d of await Promise.all(prompts.map((p) => router.route(p)))) if (d.model === strong) k++;
  return prompts.length === 0 ? 0 : k / prompts.length;
}

/**
 * APGR of two routers' preferences on the same held-out pairs (inverse-probability weighted), with a
 * percentile interval each and the paired bootstrap's one-sided 95% lower bound of the difference.
 */
export function compareOnHeldOut(pairs: readonly Judgment[], strong: string, before: Float64Array, after: Float64Array, seed = 1): { before: HeldOutFigure; after: HeldOutFigure; lower95: number } {
  const n = pairs.length;
  const s = new Float64Array(n), w = new Float64Array(n), ipw = new Float64Array(n);
  pairs.forEach((j, i) => {
    const p = pairScores(j, strong);
    s[i] = p.strong;
    w[i] = p.weak;
    ipw[i] = 1 / j.probability;
  });
  const orderOf = (score: Float64Array) => Array.from({ length: n }, (_, i) => i).sort((a, b) => score[b]! - score[a]! || a - b);
  const ob = orderOf(before), oa = orderOf(after);
  const permute = (x: Float64Array, o: number[]) => Float64Array.from(o, (i) => x[i]!);
  const sb = permute(s, ob), wb = permute(w, ob), sa = permute(s, oa), wa = permute(w, oa);
  const weights = new Float64Array(n);
  const apgrOf = (ss: Float64Array, ww: Float64Array, o: number[], mult: Float64Array | null) => {
    for (let i = 0; i < n; i++) weights[i] = ipw[o[i]!]! * (mult ? mult[o[i]!]! : 1);
    return sortedApgr(ss, ww, weights);
  };
  const pointB = apgrOf(sb, wb, ob, null);
  const pointA = apgrOf(sa, wa, oa, null);
  const rand = seededRandom(seed);
  const mult = new Float64Array(n);
  const vb: number[] = [], va: number[] = [], diffs: number[] = [];
  for (let b = 0; b < RESAMPLES; b++) {
    mult.fill(0);
    for (let i = 0; i < n; i++) mult[Math.floor(rand() * n)]!++;
    const x = apgrOf(sb, wb, ob, mult);
    const y = apgrOf(sa, wa, oa, mult);
    if (x === null || y === null) continue;
    vb.push(x);
    va.push(y);
    diffs.push(y - x);
  }
  const pct = (v: number[], q: number) => {
    const sorted = [...v].sort((p, r) => p - r);
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.floor(q * (sorted.length - 1))))]!;
  };
  const enough = diffs.length >= RESAMPLES / 2;
  return {
    before: { apgr: pointB === null ? null : round(pointB), interval: enough ? [round(pct(vb, 0.025)), round(pct(vb, 0.975))] : null },
    after: { apgr: pointA === null ? null : round(pointA), interval: enough ? [round(pct(va, 0.025)), round(pct(va, 0.975))] : null },
    lower95: enough ? pct(diffs, 0.05) : -Infinity,
  };
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
