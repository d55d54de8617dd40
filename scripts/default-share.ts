/**
 * What the default router's default policy does on open-ended chat: the share of prompts it sends to
 * the strong model, and on the chat data that has both models' grades, its quality and cost against
 * always-strong. The README's "The default policy" quotes this.
 *
 * Run: npm run build:ts && node dist/scripts/default-share.js [--data-dir DIR]
 *
 * Protocol: `Router.load('default')` with no options (the default every face uses: `threshold` at
 * DEFAULT_ROUTER_TAU), each file's prompts routed once, as the library routes a single-turn prompt
 * (`route(prompt)`). None of these prompts is in the router's training data (RouteLLM GSM8K, MMLU,
 * MT-Bench turn 1 — chat-mtbench-2turn's turn-1 rows are MT-Bench turn 1, so that file is listed with
 * and without them). Quality and cost only for chat-mtbench-2turn, whose two models are the router's
 * own pair (GPT-4 = strong, Mixtral = weak; grade (g-1)/9); cost at the shipped list prices, prompt
 * tokens = UTF-8 bytes / 4, 256 output tokens. `best` is shown for comparison.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { packageRoot } from '../src/addon/native.js';
import { Router } from '../src/app/router.js';
import { BYTES_PER_TOKEN } from '../src/routing/prompt.js';

const STRONG = 'gpt-4-1106-preview';
const WEAK = 'Mixtral-8x7B-Instruct-v0.1';
/** Shipped list prices of the default router (USD per 1M tokens), as in scripts/train-default-router.ts. */
const PRICES = { strong: { input: 10, output: 30 }, weak: { input: 0.6, output: 0.6 } };
const OUTPUT_TOKENS = 256;

interface Row {
  id: string;
  prompt: string;
  scores?: Record<string, number>;
}

function readRows(path: string): Row[] {
  const seen = new Set<string>();
  const rows: Row[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    const r = JSON.parse(line) as Row;
    // Pairwise files repeat a prompt per battle: route each prompt once.
    if (seen.has(r.prompt)) continue;
    seen.add(r.prompt);
    rows.push(r);
  }
  return rows;
}

function cost(prompt: string, model: 'strong' | 'weak'): number {
  const p = PRICES[model];
  return ((Buffer.byteLength(prompt, 'utf8') / BYTES_PER_TOKEN) * p.input + OUTPUT_TOKENS * p.output) / 1e6;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'data-dir': { type: 'string' } } });
  const dir = resolve(values['data-dir'] ?? join(packageRoot(), '..', 'shared', 'data'));
  const files = ['chat-arena-hard-v0.1.jsonl', 'chat-mtbench-2turn.jsonl', 'chat-llmfao-pairwise.jsonl'].filter((f) => existsSync(join(dir, f)));
  if (files.length === 0) {
    console.error(`no chat-*.jsonl files in ${dir} (--data-dir DIR)`);
    process.exit(1);
  }
  const router = Router.loadSync('default', { backend: 'cpu' });
  const t = router.threshold;
  console.log(`default router, default policy: threshold τ = ${t.value} (strong ${t.strong}, weak ${t.weak})\n`);
  console.log('| file | prompts | to strong (default) | to strong (`best`) |');
  console.log('| --- | --- | --- | --- |');
  let all = 0;
  let allStrong = 0;
  const sets: [string, Row[]][] = [];
  for (const f of files) {
    const rows = readRows(join(dir, f));
    sets.push([f, rows]);
    if (f === 'chat-mtbench-2turn.jsonl') sets.push([`${f}, turn-2 rows only (unseen in training)`, rows.filter((r) => r.id.endsWith('/turn2'))]);
  }
  const picks = new Map<string, string[]>();
  for (const [name, rows] of sets) {
    const prompts = rows.map((r) => r.prompt);
    const dflt = await router.routeBatch(prompts);
    const best = await router.routeBatch(prompts, { policy: 'best' });
    const strong = dflt.filter((d) => d.model === 'strong').length;
    picks.set(name, dflt.map((d) => d.model));
    if (!name.includes('turn-2 rows only')) {
      all += rows.length;
      allStrong += strong;
    }
    console.log(`| ${name} | ${rows.length} | ${pct(strong / rows.length)} | ${pct(best.filter((d) => d.model === 'strong').length / rows.length)} |`);
  }
  console.log(`| all three files | ${all} | ${pct(allStrong / all)} | |\n`);

  for (const [name, rows] of sets) {
    if (!name.startsWith('chat-mtbench-2turn.jsonl')) continue;
    const models = picks.get(name)!;
    let q = 0, qs = 0, qw = 0, c = 0, cs = 0;
    rows.forEach((r, i) => {
      const s = r.scores![STRONG]!, w = r.scores![WEAK]!;
      const m = models[i] as 'strong' | 'weak';
      q += m === 'strong' ? s : w;
      qs += s;
      qw += w;
      c += cost(r.prompt, m);
      cs += cost(r.prompt, 'strong');
    });
    const n = rows.length;
    console.log(`${name} (${n} rows): default policy quality ${(q / n).toFixed(3)} = ${pct(q / qs)} of always-strong (${(qs / n).toFixed(3)}; always-weak ${(qw / n).toFixed(3)}), cost ${pct(c / cs)} of always-strong`);
  }
  router.dispose();
}

await main();
