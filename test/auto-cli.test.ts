/**
 * `routecore train --auto`, `info --router`, and what `eval` adds for calibration: the ECE, the
 * reliability panel, the zero-router hull sampled on the log cost axis, and the cost model option.
 * The CLI tests run the built CLI (dist/) and skip with a message when it is missing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import type { OutcomeRecord } from '../src/training/data.js';
import { evaluateScores } from '../src/evaluation/eval.js';
import { renderSvg } from '../src/evaluation/plot.js';
import { Registry } from '../src/routing/registry.js';

const root = resolve(__dirname, '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const built = existsSync(cli) && existsSync(join(root, 'dist', 'src', 'training', 'auto-worker.js'));
if (!built) console.warn(`skipping train --auto CLI tests: ${cli} or the auto worker is missing (run \`npm run build:ts\`)`);
const tmp = mkdtempSync(join(tmpdir(), 'routecore-auto-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Sized for a loaded 2-core machine: a healthy run takes seconds. */
const T = 300_000;

function run(args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: T, env: { ...process.env, ROUTECORE_BACKEND: 'cpu' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function fixture(): { data: string; log: string } {
  const data = join(tmp, 'bench.jsonl');
  const log = join(tmp, 'traffic.jsonl');
  const lines: string[] = [], logLines: string[] = [];
  for (let i = 0; i < 60; i++) {
    lines.push(JSON.stringify({ id: `m${i}`, prompt: `compute ${i} plus ${i * 3} and divide by 2`, scores: { a: i % 7 ? 1 : 0, b: i % 3 ? 0 : 1 } }));
    lines.push(JSON.stringify({ id: `h${i}`, prompt: `which king ruled the empire in year ${1000 + i}`, scores: { a: i % 4 ? 0 : 1, b: i % 6 ? 1 : 0 } }));
    logLines.push(JSON.stringify({ id: `t${i}`, ts: '2026-12-01T12:00:00Z', messages: [{ role: 'user', content: `compute ${i} times ${i}` }], routed: 'a', model: 'a', attempts: [{ model: 'a', status: 200, ms: 12 }], costUsd: 0.001, ...(i % 4 ? { score: 1 } : {}) }));
  }
  writeFileSync(data, lines.join('\n') + '\n');
  writeFileSync(log, logLines.join('\n') + '\n');
  return { data, log };
}

describe.skipIf(!built)('routecore train --auto', () => {
  it('trains on benchmark data mixed with a weighted outcome log, says what it chose, and info shows it', () => {
    const { data, log } = fixture();
    const out = join(tmp, 'auto.router');
    const r = run(['train', '--auto', '--data', data, '--data', log, '--weight', '0.5', '--out', out, '--folds', '3', '--workers', '2', '--objective', 'quality']);
    expect(r.stderr).toMatch(/traffic\.jsonl: outcome-log, 45 records \(\+15 log lines without a score, skipped\), weight 0\.5 → \d+ used/);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^cross-validation: \d+\/\d+ jobs \(\d+%\): \d+ s/m);
    expect(r.stdout).toMatch(/^objective: mean quality \(policy best\); 3-fold CV on \d+ records/m);
    expect(r.stdout).toMatch(/^chosen: /m);
    // Every figure says what it is, and they add up: the listed folds' mean is printed as such.
    const pooled = /^ {2}pooled out-of-fold mean quality \(policy best\): (\d\.\d{3}) \(all held-out rows scored together\); per fold ([\d., ]+) \(their mean (\d\.\d{3})\)$/m.exec(r.stdout);
    expect(pooled).not.toBeNull();
    const folds = pooled![2]!.split(', ').map(Number);
    expect(folds).toHaveLength(3);
    expect(Math.abs(folds.reduce((a, b) => a + b, 0) / 3 - Number(pooled![3]))).toBeLessThanOrEqual(0.0015);
    const gain = /^gain of the best candidate \(.*\) above always calling [ab]: per-fold differences ([-+\d., ]+), mean ([-+]\d\.\d{3}) ± \d\.\d{3} \(se; sd \d\.\d{3}\); pooled difference (\d\.\d{3}) − (\d\.\d{3}) = ([-+]\d\.\d{3})$/m.exec(r.stdout);
    expect(gain).not.toBeNull();
    const diffs = gain![1]!.split(', ').map(Number);
    expect(Math.abs(diffs.reduce((a, b) => a + b, 0) / diffs.length - Number(gain![2]))).toBeLessThanOrEqual(0.0015);
    expect(Math.abs(Number(gain![3]) - Number(gain![4]) - Number(gain![5]))).toBeLessThanOrEqual(0.0015);
    expect(r.stdout).toMatch(/^guard \(selection bias removed\): gain of the selection procedure above always calling [ab], each fold read with the candidate chosen on the other folds: .*mean [-+]\d\.\d{3} ± \d\.\d{3} \(se from a bootstrap of each fold's test rows; \d\.\d{3} from the spread of the folds\) → (gain|no gain)/m);
    expect(r.stdout).toMatch(/^calibration: Platt|^why: no router gain/m);
    const info = run(['info', '--router', out]);
    expect(info.code).toBe(0);
    expect(info.stdout).toMatch(/^auto chosen: /m);
    expect(info.stdout).toMatch(/^auto gain of the best candidate .* above always calling/m);
    expect(info.stdout).toMatch(/^auto guard \(selection bias removed\): gain of the selection procedure/m);
    expect(info.stdout).toMatch(/^scoring: \d network\(s\) averaged, prior blend β=/m);
    const json = JSON.parse(run(['info', '--router', out, '--json']).stdout);
    expect(json.auto.version).toBe(1);
    expect(json.postprocess.prior).toHaveLength(2);
    // eval on the router: ECE in the Markdown and the reliability panel in the plot.
    const svg = join(tmp, 'auto.svg');
    const ev = run(['eval', '--router', out, '--data', data, '--svg', svg, '--train', data]);
    expect(ev.code).toBe(0);
    // The TF-IDF references on the same rows, and a recommended operating point in the headline.
    expect(ev.stdout).toMatch(/^- Reference TF-IDF ridge \(same rows\): quality \d\.\d{3} at \$/m);
    expect(ev.stdout).toMatch(/^- Reference TF-IDF kNN \(k=20\) \(same rows\): quality \d\.\d{3} at \$/m);
    expect(ev.stdout).toMatch(/^\*\*Recommended operating point: .*\*\*, quality \d\.\d{3} at .* \(the cheapest point within one standard error, \d\.\d{3}, of the best quality here, \d\.\d{3}\)\.$/m);
    expect(ev.stdout).not.toMatch(/-\d+% cheaper/);
    expect(run(['eval', '--cv', '2', '--data', data, '--train', data]).stderr).toMatch(/--train \(the TF-IDF references' training data\) applies to eval --router/);
    expect(ev.stdout).toMatch(/Calibration: ECE \d\.\d{3} over 240 \(prompt, model\) pairs/);
    expect(readFileSync(svg, 'utf8')).toMatch(/Reliability \(ECE \d\.\d{3}\)/);
  }, T);

  it('refuses bad flags with a usage error naming them', () => {
    const { data } = fixture();
    const out = join(tmp, 'x.router');
    let r = run(['train', '--auto', '--weight', '2', '--data', data, '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--weight W must follow the --data F\.jsonl it weighs/);
    r = run(['train', '--auto', '--data', data, '--out', out, '--objective', 'speed']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--objective expects quality, aiq or apgr, got "speed"/);
    r = run(['train', '--auto', '--data', data, '--out', out, '--budget-s', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--budget-s expects a number of seconds > 0/);
    r = run(['train', '--auto', '--data', `${data}:-1`, '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/a weight >= 0 after the colon/);
    r = run(['train', '--auto', '--data', data]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs --out R\.router/);
  }, T);
});

describe('eval: calibration, hull and cost model', () => {
  const recs: OutcomeRecord[] = [
    { id: '1', prompt: 'short', scores: { cheap: 0, dear: 1 }, costs: { cheap: 0.001, dear: 0.01 } },
    { id: '2', prompt: 'also short', scores: { cheap: 1, dear: 1 }, costs: { cheap: 0.001, dear: 0.01 } },
    { id: '3', prompt: 'x'.repeat(4000), scores: { cheap: 1, dear: 1 }, costs: { cheap: 0.001, dear: 1 } },
    { id: '4', prompt: 'y'.repeat(4000), scores: { cheap: 0, dear: 1 }, costs: { cheap: 0.001, dear: 1 } },
  ];
  const scores = new Float32Array([0.3, 0.9, 0.5, 0.9, 0.6, 0.95, 0.2, 0.95]);

  it('reports the ECE of the predicted scores', () => {
    const r = evaluateScores(['cheap', 'dear'], scores, recs, { lambdas: [0] });
    expect(r.calibration.pairs).toBe(8);
    let manual = 0;
    // Hand-computed: bins 2 (0.2, y 0), 3 (0.3, y 0), 5 (0.5, y 1), 6 (0.6, y 1), 9 (0.9 ×2, 0.95 ×2, y 1).
    manual += (1 / 8) * 0.2 + (1 / 8) * 0.3 + (1 / 8) * 0.5 + (1 / 8) * 0.4;
    manual += (4 / 8) * Math.abs(1 - (0.9 * 2 + 0.95 * 2) / 4);
    expect(r.calibration.ece).toBeCloseTo(manual, 6);
  });

  it('prices decisions with the cost model by prompt length', () => {
    const base = evaluateScores(['cheap', 'dear'], scores, recs, { lambdas: [1], targets: [0.5], expectedCost: (id) => (id === 'dear' ? 0.8 : 0.001) });
    const withModel = evaluateScores(['cheap', 'dear'], scores, recs, {
      lambdas: [1],
      targets: [0.5],
      expectedCost: (id) => (id === 'dear' ? 0.8 : 0.001),
      costModel: { dear: { base: 0.01, perToken: 0.001 }, cheap: { base: 0.001, perToken: 0 } },
    });
    const at = (r: typeof base) => r.router.sweep.find((p) => p.param === 'lambda' && p.knob === 1)!;
    // Mean pricing ($0.80) makes "dear" too dear everywhere at λ=1; by length it is cheap on short prompts.
    expect(at(base).shares['dear'] ?? 0).toBe(0);
    expect(at(withModel).shares['dear']).toBe(0.5);
    expect(() => evaluateScores(['cheap', 'dear'], scores, recs, { costModel: { dear: { base: -1, perToken: 0 } } })).toThrow(/options\.costModel\["dear"\]/);
  });

  it('prices decisions with predicted per-query costs where the registry does not price the model', () => {
    // Predicted: "dear" is cheap on rows 1 and 3 only; mean pricing ($0.80) never calls it at λ=1.
    const predicted = Float32Array.from([0.001, 0.001, 0.001, 0.8, 0.001, 0.001, 0.001, 0.8]);
    const opts = { lambdas: [1], targets: [0.5], expectedCost: (id: string) => (id === 'dear' ? 0.8 : 0.001) };
    const r = evaluateScores(['cheap', 'dear'], scores, recs, { ...opts, predictedCosts: predicted });
    const at = r.router.sweep.find((p) => p.param === 'lambda' && p.knob === 1)!;
    expect(at.shares['dear']).toBe(0.5);
    // A registry price wins over the prediction.
    const reg = Registry.fromObject({ models: [{ id: 'cheap', inputCostPer1M: 1, outputCostPer1M: 1 }, { id: 'dear', inputCostPer1M: 1e5, outputCostPer1M: 1e5 }] }, 'test');
    const priced = evaluateScores(['cheap', 'dear'], scores, recs, { ...opts, registry: reg, predictedCosts: predicted });
    expect(priced.router.sweep.find((p) => p.param === 'lambda' && p.knob === 1)!.shares['dear'] ?? 0).toBe(0);
    expect(() => evaluateScores(['cheap', 'dear'], scores, recs, { predictedCosts: [1, 2] as never })).toThrow(/options\.predictedCosts/);
    expect(() => evaluateScores(['cheap', 'dear'], scores, recs, { predictedCosts: new Float32Array(3) })).toThrow(/4 records x 2 models = 8 floats for options\.predictedCosts/);
  });

  it('draws the zero-router hull as a curve on the log cost axis (linear in cost between models)', () => {
    const r = evaluateScores(['cheap', 'dear'], scores, recs, { lambdas: [0] });
    const svg = renderSvg(r);
    const m = /<polyline points="([^"]+)" fill="none" stroke="#777777"/.exec(svg);
    expect(m).not.toBeNull();
    const pts = m![1]!.split(' ').map((p) => p.split(',').map(Number) as [number, number]);
    expect(pts.length).toBeGreaterThan(40);
    const hull = r.zeroRouter.hull;
    expect(hull).toHaveLength(2);
    // At the pixel midpoint between the two models (the geometric mean cost on a log axis), mixing
    // is linear in cost, so the hull lies below (larger y) the straight chord between the dots.
    const [a, b] = [pts[0]!, pts[pts.length - 2]!];
    const midX = (a[0] + b[0]) / 2;
    const near = pts.reduce((best, p) => (Math.abs(p[0] - midX) < Math.abs(best[0] - midX) ? p : best));
    expect(near[1]).toBeGreaterThan((a[1] + b[1]) / 2 + 5);
    expect(svg).toMatch(/Reliability \(ECE \d\.\d{3}\)/);
  });
});
