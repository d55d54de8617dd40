/**
 * P7: wall-clock time of training the mlp (train()'s defaults: hidden 32, 2^16 buckets, up to 30
 * epochs with early stopping, patience 4) on 20,000 prompts with 2 threads.
 *
 * Data: the open7 outcome files of `../shared/data` (all 16, in name order: 20,600 real prompts,
 * 7 models), the first 20,000 records; the seeded synthetic corpus (11 models) when they are absent
 * or with `--synthetic`. The records are read before the clock starts; the time is `train()`'s own:
 * labels, feature hashing, IDF, epochs, building the router. Epoch timestamps split it into
 * "before the first epoch" (encoding) and the epochs. The same seed every run, so every run does the
 * same epochs; the figure is the median over runs.
 * @module
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import { readOutcomes, train, type OutcomeRecord } from '../src/index.js';
import { median, met, settle, type Figure, type SetupInfo, type Suite } from './common.js';
import { syntheticCorpus } from './corpus.js';

const ROWS = 20_000;

function open7(dataDir: string | null | undefined, rows: number): { records: OutcomeRecord[]; source: string; files: string[] } | undefined {
  if (!dataDir || !existsSync(dataDir)) return undefined;
  const files = readdirSync(dataDir).filter((n) => /^open7-.*\.jsonl$/.test(n)).sort();
  const records: OutcomeRecord[] = [];
  for (const f of files) {
    if (records.length >= rows) break;
    for (const r of readOutcomes(join(dataDir, f)).records) if (records.length < rows) records.push(r);
  }
  if (records.length < rows) return undefined;
  return { records, source: 'open7 (real)', files };
}

export const p7: Suite = {
  id: 'P7',
  title: 'train mlp on 20k prompts, 2 threads',
  async run(setup: SetupInfo) {
    const rows = setup.quick ? 1000 : ROWS;
    const data = open7(setup.dataDir, rows) ?? { records: syntheticCorpus(rows, 0).trainData as OutcomeRecord[], source: 'synthetic', files: [] };
    const models = new Set(data.records.flatMap((r) => Object.keys(r.scores))).size;
    const chars = data.records.reduce((s, r) => s + r.prompt.length, 0);
    const runs = setup.quick ? 1 : 3;
    const perRun: { seconds: number; epochs: number; bestEpoch: number; stoppedEarly: boolean; beforeFirstEpochS: number; epochS: number[] }[] = [];
    for (let i = 0; i < runs; i++) {
      settle();
      const stamps: number[] = [];
      const t0 = performance.now();
      const result = await train(data.records, {
        predictor: 'mlp',
        backend: 'cpu',
        threads: setup.threads,
        seed: 1,
        ...(setup.quick ? { maxEpochs: 1 } : {}),
        onEpoch: () => stamps.push(performance.now()),
      });
      const seconds = (performance.now() - t0) / 1000;
      const epochS = stamps.map((t, k) => (t - (k === 0 ? t0 : stamps[k - 1]!)) / 1000);
      // The first interval also holds encoding; estimate it with the median of the other epochs.
      const typical = epochS.length > 1 ? median(epochS.slice(1)) : 0;
      perRun.push({
        seconds,
        epochs: result.report.epochs,
        bestEpoch: result.report.bestEpoch,
        stoppedEarly: result.report.stoppedEarly,
        beforeFirstEpochS: epochS.length > 1 ? epochS[0]! - typical : NaN,
        epochS,
      });
      result.router.dispose();
    }
    const secs = median(perRun.map((r) => r.seconds));
    const epochs = perRun[0]!.epochs;
    const figures: Figure[] = [
      met({ key: 'seconds', label: `train() on ${rows} prompts (${data.source})`, value: secs, unit: 's', target: { id: 'P7', op: '<=', value: 30 }, note: `median of ${runs} runs; ${perRun.map((r) => r.seconds.toFixed(2)).join(', ')}` }),
      { key: 'epochs', label: 'epochs run', value: epochs, unit: 'epochs', note: `best ${perRun[0]!.bestEpoch}${perRun[0]!.stoppedEarly ? ', stopped early' : ''}` },
      { key: 'secondsPerEpoch', label: 'seconds per epoch (median, after the first)', value: median(perRun.flatMap((r) => r.epochS.slice(1))), unit: 's' },
      { key: 'encodeSeconds', label: 'before the first epoch (hashing, IDF), estimated', value: median(perRun.map((r) => r.beforeFirstEpochS)), unit: 's' },
    ];
    return {
      id: 'P7',
      title: p7.title,
      figures,
      details: { rows, models, promptChars: chars, source: data.source, files: data.files, threads: setup.threads, options: 'train() defaults: mlp, hidden 32, log2Buckets 16, maxEpochs 30, patience 4, batch 64, seed 1', runs: perRun },
    };
  },
};
