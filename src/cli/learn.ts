/**
 * `routecore learn` (for cron): one guarded learning round over outcome logs (src/learning/learn.ts),
 * or `--rollback` to the previous router. A running gateway that watches the router file picks a
 * swapped router up by itself (hot reload).
 * @module
 */
import { parseArgs } from 'node:util';

import { learnOnce, rollback, type LearnDecision } from '../learning/learn.js';
import { parseDataSpec } from '../training/auto-data.js';
import { ProgressBar } from './progress.js';

/** A wrong flag: main.ts prints it with the usage text and exits 2. */
export class LearnUsageError extends Error {}

export const LEARN_USAGE = `  learn --log LOG [--log LOG2] --router R.router --registry M.json [--alias ID=REGISTRY_ID]
                             train a candidate on the logs' judged pairs (+ feedback, + --prior F.jsonl[:W]) and
                             replace R only when it beats R on newer held-out judged pairs (one-sided 95%)
      --holdout S (default 0.3) --min-pairs N (default 200) --predictor P --seed N --dry-run --json
  learn --rollback --router R.router   put the previous router back (R.router.prev)`;

function aliases(values: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of values ?? []) {
    const eq = a.indexOf('=');
    if (eq <= 0 || eq === a.length - 1) throw new LearnUsageError(`--alias expects ROUTER_ID=REGISTRY_ID, got "${a}"`);
    out[a.slice(0, eq)] = a.slice(eq + 1);
  }
  return out;
}

function num(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new LearnUsageError(`${flag} expects a number, got "${v}"`);
  return n;
}

/** Prints a decision: one line per figure, or JSON. */
export function renderDecision(d: LearnDecision): string {
  const lines = [`learn: ${d.action}: ${d.reason}`];
  if (d.pairs) lines.push(`  judged pairs ${d.pairs.judged} (${d.pairs.withPrompt} with a prompt): trained on ${d.pairs.train} older, compared on ${d.pairs.heldOut} newer`);
  const fig = (f: LearnDecision['before']) => (f && f.apgr !== null ? `${f.apgr.toFixed(3)}${f.interval ? ` (95% ${f.interval[0].toFixed(3)}–${f.interval[1].toFixed(3)})` : ''}` : 'n/a');
  if (d.before || d.after) lines.push(`  held-out APGR: serving ${fig(d.before)}, candidate ${fig(d.after)}${d.pair ? ` (${d.pair.strong} vs ${d.pair.weak})` : ''}`);
  if (d.difference) lines.push(`  difference ${d.difference.value.toFixed(3)}, one-sided 95% lower bound ${d.difference.lower95.toFixed(3)} (${d.difference.resamples} paired bootstrap resamples)`);
  if (d.backup) lines.push(`  previous router kept as ${d.backup} (routecore learn --rollback --router ${d.router})`);
  return lines.join('\n') + '\n';
}

/** `routecore learn`. */
export async function cmdLearn(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      log: { type: 'string', multiple: true },
      router: { type: 'string' },
      registry: { type: 'string' },
      alias: { type: 'string', multiple: true },
      prior: { type: 'string', multiple: true },
      holdout: { type: 'string' },
      'min-pairs': { type: 'string' },
      predictor: { type: 'string' },
      seed: { type: 'string' },
      'dry-run': { type: 'boolean' },
      rollback: { type: 'boolean' },
      json: { type: 'boolean' },
    },
  });
  if (values.router === undefined) throw new LearnUsageError('learn needs --router R.router (the serving router\'s file)');
  let decision: LearnDecision;
  if (values.rollback) {
    decision = rollback(values.router);
  } else {
    if (!values.log?.length) throw new LearnUsageError('learn needs --log LOG (repeatable: one per replica)');
    if (values.registry === undefined) throw new LearnUsageError('learn needs --registry M.json (the prices decide which model of a pair is the strong one)');
    const predictor = values.predictor;
    if (predictor !== undefined && !['mlp', 'linear', 'mf', 'knn', 'kmeans'].includes(predictor)) throw new LearnUsageError(`--predictor expects mlp, linear, mf, knn or kmeans, got "${predictor}"`);
    // The candidate's training is the long part: a bar of its epochs (closed when it stops early).
    const epochs = new ProgressBar('learn: candidate training', { unit: 'epochs' });
    decision = await learnOnce({
      logs: values.log,
      router: values.router,
      registry: values.registry,
      aliases: aliases(values.alias),
      ...(values.prior ? { prior: values.prior.map((p) => parseDataSpec(p)) } : {}),
      ...(values.holdout !== undefined ? { holdout: num(values.holdout, '--holdout')! } : {}),
      ...(values['min-pairs'] !== undefined ? { minPairs: num(values['min-pairs'], '--min-pairs')! } : {}),
      ...(predictor !== undefined ? { predictor: predictor as 'mlp' } : {}),
      ...(values.seed !== undefined ? { seed: num(values.seed, '--seed')! } : {}),
      dryRun: values['dry-run'] === true,
      onProgress: (l) => {
        epochs.end();
        process.stderr.write(`learn: ${l}\n`);
      },
      onEpoch: (e) => epochs.update(e.epoch, e.maxEpochs, `validation loss ${e.validationLoss.toFixed(4)}`),
    }).finally(() => epochs.end());
  }
  process.stdout.write(values.json ? JSON.stringify(decision) + '\n' : renderDecision(decision));
}
