/**
 * Routing quality with each text encoder (hashing, static, mixed) on shared train -> test
 * settings, under the protocol of docs/RESULTS.md: for each encoder, the predictor is chosen from a
 * small fixed grid by 5-fold cross-validation on the training split only (folds by fnv1a32(id) as
 * `crossValidate`), trained once on the whole training split and evaluated once on the test split.
 *
 *   npm run build:ts && node dist/scripts/build-static-use.js /tmp/use-static
 *   node dist/scripts/encoder-quality.js /tmp/use-static [--data ../shared/data] [--settings gsm8k,mmlu]
 *
 * The static model is the one scripts/build-static-use.ts distils from Universal Sentence Encoder
 * lite (the one real sentence encoder reachable here). Prints a Markdown table and writes JSON
 * beside it when --json FILE is given.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { StaticModel } from '../src/encoders/static.js';
import type { EncoderChoice } from '../src/encoders/spec.js';
import { crossValidate } from '../src/evaluation/cross-validate.js';
import { evaluate } from '../src/evaluation/eval.js';
import { readOutcomes, type OutcomeRecord } from '../src/training/data.js';
import { train, type TrainOptions } from '../src/training/train.js';

/** The predictor grid (fixed before the first run): a subset of docs/RESULTS.md's members. */
const GRID: Record<string, TrainOptions> = {
  'lin-lr.005': { predictor: 'linear', learningRate: 0.005 },
  mlp32: { predictor: 'mlp', hidden: 32 },
  knn20: { predictor: 'knn', k: 20 },
};

const SETTINGS: Record<string, { train: string; test: string }> = {
  gsm8k: { train: 'open7-gsm8k_train.jsonl', test: 'open7-gsm8k_test.jsonl' },
  mmlu: { train: 'open7-mmlu_train.jsonl', test: 'open7-mmlu_test.jsonl' },
  arc: { train: 'routerbench-arc_challenge_train.jsonl', test: 'routerbench-arc_challenge_test.jsonl' },
};

interface Row {
  setting: string;
  encoder: string;
  chosen: string;
  cv: Record<string, number>;
  test: number;
  bestSingle: { model: string; quality: number };
  oracle: number;
  seconds: number;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const modelDir = args.find((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1]!.startsWith('--')));
  if (!modelDir) {
    console.error('usage: node dist/scripts/encoder-quality.js STATIC_MODEL_DIR [--data DIR] [--settings gsm8k,mmlu,arc] [--json FILE]');
    process.exit(2);
  }
  const dataDir = resolve(flag('--data') ?? '../shared/data');
  const settings = (flag('--settings') ?? 'gsm8k').split(',');
  const model = StaticModel.loadSync(modelDir);
  const encoders: Array<[string, EncoderChoice | undefined]> = [
    ['hashing', undefined],
    [`static (${model.rows} x ${model.dim})`, { kind: 'static', model }],
    ['mixed', { kind: 'mixed', model }],
  ];
  const rows: Row[] = [];
  for (const s of settings) {
    const spec = SETTINGS[s];
    if (!spec) throw new Error(`unknown setting ${s}: ${Object.keys(SETTINGS).join(', ')}`);
    const trainRecs: OutcomeRecord[] = readOutcomes(join(dataDir, spec.train)).records;
    const testRecs: OutcomeRecord[] = readOutcomes(join(dataDir, spec.test)).records;
    for (const [name, encoder] of encoders) {
      const started = performance.now();
      const cv: Record<string, number> = {};
      for (const [member, opts] of Object.entries(GRID)) {
        const trainOptions: TrainOptions = { ...opts, seed: 1, ...(encoder ? { encoder } : {}) };
        const report = await crossValidate(trainRecs, { folds: 5, trainOptions });
        cv[member] = report.router.best.quality;
      }
      // Highest CV quality; ties to the earlier (simpler) member.
      const chosen = Object.keys(GRID).reduce((a, b) => (cv[b]! > cv[a]! ? b : a));
      const { router } = await train(trainRecs, { ...GRID[chosen], seed: 1, ...(encoder ? { encoder } : {}) });
      const report = await evaluate(router, testRecs);
      router.dispose();
      const row: Row = {
        setting: `${spec.train} -> ${spec.test}`,
        encoder: name,
        chosen,
        cv,
        test: report.router.best.quality,
        bestSingle: { model: report.bestSingle, quality: report.singles[report.bestSingle]!.quality },
        oracle: report.oracle.quality,
        seconds: (performance.now() - started) / 1000,
      };
      rows.push(row);
      process.stderr.write(`${s} ${name}: chose ${chosen} (CV ${cv[chosen]!.toFixed(3)}), test ${row.test.toFixed(3)} in ${row.seconds.toFixed(0)} s\n`);
    }
  }
  console.log('| setting | encoder | chosen by CV | CV quality (lin-lr.005 / mlp32 / knn20) | test quality (`best`) | best single (test) | oracle |');
  console.log('| --- | --- | --- | --- | ---: | --- | ---: |');
  for (const r of rows) {
    console.log(
      `| ${r.setting} | ${r.encoder} | ${r.chosen} | ${Object.values(r.cv).map((v) => v.toFixed(3)).join(' / ')} | ${r.test.toFixed(3)} | ${r.bestSingle.quality.toFixed(3)} (${r.bestSingle.model.split('/').pop()}) | ${r.oracle.toFixed(3)} |`,
    );
  }
  const json = flag('--json');
  if (json) writeFileSync(json, JSON.stringify({ staticModel: model.dir, rows }, null, 2));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
