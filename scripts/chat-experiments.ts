/**
 * The measurements behind the chat text rule (src/chat/messages.ts) and the default router's default
 * policy (src/routing/router.ts, DEFAULT_ROUTER_TAU), on RouteLLM's public outcome data
 * (../shared/data/routellm-{gsm8k,mmlu}.jsonl, GPT-4 vs Mixtral).
 *
 * Run: npm run build:ts && nice -n 10 node dist/scripts/chat-experiments.js [--data-dir DIR] [--folds 5]
 *
 * Protocol: records split into folds by the same stable id hash as the default router's own
 * cross-validation (scripts/train-default-router.ts, same fixed hyper-parameters); each fold is
 * routed by a router trained on the other folds. Everything below is measured on held-out folds.
 *
 * 1. Which text to encode. The held-out prompt is presented as a chat would present it:
 *    (a) the user turn alone; (b) a typical system prompt prepended; (c) an earlier, unrelated user
 *    turn prepended (what "encode the whole conversation" does to a topic change); APGR of each.
 * 2. How to cut. Prompts over 2×M characters cut to M characters: head only, tail only, head-and-
 *    tail 1/4 + 3/4, and 1/2 + 1/2; APGR on that subset.
 * 3. The default policy. `threshold` τ swept on held-out win probabilities: the share sent to the
 *    weak model, quality (mean score) and cost per query (shipped list prices, prompt tokens =
 *    UTF-8 bytes / 4, 256 output tokens) against always-strong.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { packageRoot } from '../src/addon/native.js';
import { apgr, pgrCurve } from '../src/evaluation/metrics.js';
import { readOutcomes, type OutcomeRecord } from '../src/training/data.js';
import { train } from '../src/training/train.js';
import { headAndTail } from '../src/chat/messages.js';
import { estimateTokens } from '../src/routing/prompt.js';
import { DEFAULT_ROUTER_OPTIONS, foldOf } from './train-default-router.js';

const STRONG = 'gpt-4-1106-preview';
const WEAK = 'mistralai/Mixtral-8x7B-Instruct-v0.1';
const FILES = ['routellm-gsm8k.jsonl', 'routellm-mmlu.jsonl'];
const SYSTEM = 'You are a helpful assistant. Answer the user accurately and concisely, and explain your reasoning when it helps.';
/** Shipped list prices of the default router (USD per 1M tokens), as in scripts/train-default-router.ts. */
const PRICES = { strong: { input: 10, output: 30 }, weak: { input: 0.6, output: 0.6 } };
const OUTPUT_TOKENS = 256;
const CUT = 400;

interface Row {
  strong: number;
  weak: number;
  prompt: string;
  /** P(strong better) per condition. */
  p: Record<string, number>;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'data-dir': { type: 'string' }, folds: { type: 'string' } } });
  const dataDir = resolve(values['data-dir'] ?? join(packageRoot(), '..', 'shared', 'data'));
  if (!existsSync(join(dataDir, FILES[0]!))) {
    console.error(`routellm data not found in ${dataDir}: pass --data-dir`);
    process.exit(2);
  }
  const folds = Number(values.folds ?? 5);
  const records: OutcomeRecord[] = FILES.flatMap((f) =>
    readOutcomes(join(dataDir, f)).records.map((r) => ({ ...r, scores: { strong: r.scores[STRONG]!, weak: r.scores[WEAK]! } })),
  );
  const rows: Row[] = [];
  const t0 = performance.now();
  for (let f = 0; f < folds; f++) {
    const trainSet = records.filter((r) => foldOf(r.id, folds) !== f);
    const testSet = records.filter((r) => foldOf(r.id, folds) === f);
    const { router } = await train(trainSet, DEFAULT_ROUTER_OPTIONS);
    const s = router.models.indexOf('strong');
    const w = router.models.indexOf('weak');
    const n = testSet.length;
    const variants: Record<string, string[]> = {
      alone: testSet.map((r) => r.prompt),
      system: testSet.map((r) => `${SYSTEM}\n${r.prompt}`),
      // The turn before is another held-out prompt (a topic change), fixed by a stride so it never is the prompt itself.
      history: testSet.map((r, i) => `${testSet[(i + 7919) % n]!.prompt}\n${r.prompt}`),
      head: testSet.map((r) => r.prompt.slice(0, CUT)),
      tail: testSet.map((r) => r.prompt.slice(-CUT)),
      headTail: testSet.map((r) => headAndTail(r.prompt, CUT)),
      half: testSet.map((r) => (r.prompt.length <= CUT ? r.prompt : r.prompt.slice(0, CUT / 2 - 1) + '\n…\n' + r.prompt.slice(-(CUT / 2 - 2)))),
    };
    const probs: Record<string, Float32Array> = {};
    for (const [k, prompts] of Object.entries(variants)) probs[k] = await router.scores(prompts);
    testSet.forEach((r, i) => {
      const p: Record<string, number> = {};
      for (const k of Object.keys(variants)) p[k] = (1 + probs[k]![i * 2 + s]! - probs[k]![i * 2 + w]!) / 2;
      rows.push({ strong: r.scores['strong']!, weak: r.scores['weak']!, prompt: r.prompt, p });
    });
    router.dispose();
    console.error(`fold ${f + 1}/${folds} done (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }

  const apgrOf = (subset: Row[], k: string) => apgr(pgrCurve(subset.map((r) => r.strong), subset.map((r) => r.weak), subset.map((r) => r.p[k]!)));
  const textRule = Object.fromEntries(['alone', 'system', 'history'].map((k) => [k, round(apgrOf(rows, k))]));
  const long = rows.filter((r) => r.prompt.length > 2 * CUT);
  const cutRule = { rows: long.length, maxChars: CUT, full: round(apgrOf(long, 'alone')), ...Object.fromEntries(['head', 'tail', 'headTail', 'half'].map((k) => [k, round(apgrOf(long, k))])) };

  const cost = (r: Row, m: 'strong' | 'weak') => {
    const tokens = estimateTokens(Buffer.byteLength(r.prompt));
    return (tokens * PRICES[m].input + OUTPUT_TOKENS * PRICES[m].output) / 1e6;
  };
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  const strongQuality = mean(rows.map((r) => r.strong));
  const strongCost = mean(rows.map((r) => cost(r, 'strong')));
  const sweep = [];
  for (let tau = 0.3; tau <= 0.7001; tau += 0.02) {
    const toStrong = rows.map((r) => r.p['alone']! >= tau);
    const quality = mean(rows.map((r, i) => (toStrong[i] ? r.strong : r.weak)));
    const c = mean(rows.map((r, i) => cost(r, toStrong[i] ? 'strong' : 'weak')));
    sweep.push({ tau: round(tau), weakShare: round(1 - mean(toStrong.map(Number))), quality: round(quality), qualityVsStrong: round(quality / strongQuality), costVsStrong: round(c / strongCost) });
  }
  console.log(
    JSON.stringify(
      {
        rows: rows.length,
        folds,
        always: { strong: { quality: round(strongQuality), cost: strongCost }, weak: { quality: round(mean(rows.map((r) => r.weak))), cost: mean(rows.map((r) => cost(r, 'weak'))) } },
        textRule,
        cutRule,
        sweep,
        seconds: Math.round((performance.now() - t0) / 1000),
      },
      null,
      2,
    ),
  );
}

function round(x: number): number {
  return Math.round(x * 10000) / 10000;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
