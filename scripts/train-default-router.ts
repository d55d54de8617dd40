/**
 * Trains the embedded default router (models/default.router) from RouteLLM's public outcome data
 * in ../shared/data, and measures it first with 5-fold cross-validation (APGR, CPT).
 *
 * Run: npm run build:ts && node dist/scripts/train-default-router.js [--data-dir DIR] [--skip-cv]
 *
 * Protocol: each file's records are split into 5 folds by a stable hash of the record id; for each
 * fold a router is trained on the other 4 (all hyper-parameters fixed in advance, below, never
 * tuned on the held-out fold) and the held-out fold is routed. The routing score for "call the
 * strong model" is predicted P(strong correct) - P(weak correct). PGR/APGR/CPT follow RouteLLM.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import { readOutcomes, type OutcomeRecord } from '../src/training/data.js';
import { apgr, cpt, pgrCurve } from '../src/evaluation/metrics.js';
import { packageRoot } from '../src/addon/native.js';
import { train, type TrainOptions } from '../src/training/train.js';

const STRONG = 'gpt-4-1106-preview';
const WEAK = 'mistralai/Mixtral-8x7B-Instruct-v0.1';
const FILES = ['routellm-gsm8k.jsonl', 'routellm-mmlu.jsonl', 'routellm-mtbench.jsonl'];

/** Fixed before looking at any fold; hidden 32 x 2^16 buckets in float16 keeps the file ~4 MB. */
export const DEFAULT_ROUTER_OPTIONS: TrainOptions = {
  predictor: 'mlp',
  hidden: 32,
  maxEpochs: 20,
  patience: 3,
  seed: 1,
};

/** FNV-1a of the id: folds that do not move when files are reordered or grow. */
export function foldOf(id: string, folds: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % folds;
}

function rename(r: OutcomeRecord): OutcomeRecord {
  return { ...r, scores: { strong: r.scores[STRONG]!, weak: r.scores[WEAK]! } };
}

async function crossValidate(records: OutcomeRecord[], folds: number) {
  const strong: number[] = [], weak: number[] = [], routeScore: number[] = [];
  for (let f = 0; f < folds; f++) {
    const trainSet = records.filter((r) => foldOf(r.id, folds) !== f);
    const testSet = records.filter((r) => foldOf(r.id, folds) === f);
    const { router } = await train(trainSet, DEFAULT_ROUTER_OPTIONS);
    const scores = await router.scores(testSet.map((r) => r.prompt));
    const s = router.models.indexOf('strong'), w = router.models.indexOf('weak');
    testSet.forEach((r, i) => {
      strong.push(r.scores.strong!);
      weak.push(r.scores.weak!);
      routeScore.push(scores[i * 2 + s]! - scores[i * 2 + w]!);
    });
    router.dispose();
  }
  const curve = pgrCurve(strong, weak, routeScore);
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  return { rows: strong.length, strongQuality: mean(strong), weakQuality: mean(weak), apgr: apgr(curve), cpt50: cpt(curve, 0.5), cpt80: cpt(curve, 0.8) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'data-dir': { type: 'string' }, 'skip-cv': { type: 'boolean' } } });
  const root = packageRoot();
  const dataDir = resolve(values['data-dir'] ?? join(root, '..', 'shared', 'data'));
  if (!existsSync(join(dataDir, FILES[0]!))) {
    console.error(`routellm data not found in ${dataDir}: pass --data-dir`);
    process.exit(2);
  }
  const perFile = FILES.map((f) => ({ file: f, records: readOutcomes(join(dataDir, f)).records.map(rename) }));
  const all = perFile.flatMap((p) => p.records);

  const results: Record<string, unknown> = {};
  if (!values['skip-cv']) {
    for (const { file, records } of perFile) {
      if (records.length < 500) continue; // MT-Bench's 80 prompts are too few for 5 folds to mean much
      const t0 = performance.now();
      const r = await crossValidate(records, 5);
      results[file] = r;
      console.error(`${file}: ${JSON.stringify(r)} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    }
  }

  // List prices (USD per 1M tokens) of the two models the data comes from, so the cost policy
  // has something to weigh out of the box; a registry passed at load time replaces them.
  const registry = {
    models: [
      { id: 'strong', provider: 'openai (gpt-4-1106-preview list price)', inputCostPer1M: 10, outputCostPer1M: 30 },
      { id: 'weak', provider: 'mixtral-8x7b-instruct (typical hosted price)', inputCostPer1M: 0.6, outputCostPer1M: 0.6 },
    ],
  };
  const t0 = performance.now();
  const { router, report } = await train(all, {
    ...DEFAULT_ROUTER_OPTIONS,
    description:
      'Default strong/weak router: hashing encoder + mlp trained on RouteLLM outcome data (GSM8K, MMLU, MT-Bench turn 1) ' +
      `for ${STRONG} (as "strong") vs ${WEAK} (as "weak"). Map "strong" and "weak" to your own pair with aliases.`,
    metadata: { 'routecore.registry': JSON.stringify(registry), 'routecore.evaluation': JSON.stringify(results) },
  });
  const trainSeconds = (performance.now() - t0) / 1000;
  const out = join(root, 'models', 'default.router');
  mkdirSync(join(root, 'models'), { recursive: true });
  const bytes = router.serialize({ halfPrecision: true });
  writeFileSync(out, bytes);
  const meta = router.metadata();
  console.error(`trained on ${all.length} prompts in ${trainSeconds.toFixed(1)} s (best epoch ${report.bestEpoch}/${report.epochs}); wrote ${out} (${bytes.length} bytes); models ${meta['routecore.models']}`);
  console.log(JSON.stringify({ rows: all.length, trainSeconds, bytes: bytes.length, crossValidation: results }, null, 2));
  router.dispose();
}

// Run only as a script: chat-experiments.ts imports the fold rule and options from here.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
