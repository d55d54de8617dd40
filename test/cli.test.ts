import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const built = existsSync(cli);
if (!built) console.warn(`skipping CLI tests: ${cli} is missing (run \`npm run build:ts\`)`);
const tmp = mkdtempSync(join(tmpdir(), 'routecore-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function run(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', input, timeout: 60_000, env: { ...process.env, ROUTECORE_BACKEND: 'cpu' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(!built)('routecore CLI', () => {
  it('routes a prompt with the embedded default router', () => {
    const r = run(['route', 'A train leaves at 3pm at 60 mph. How far has it gone by 5:30pm?']);
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(['strong', 'weak']).toContain(d.model);
    expect(d.fallbacks).toHaveLength(1);
    expect(Object.keys(d.scores).sort()).toEqual(['strong', 'weak']);
    expect(d.policy).toBe('threshold'); // the embedded router's default, as Router.load and serve (README)
    expect(d.expectedCost).toBeGreaterThan(0); // the default router ships list prices
    expect(d.micros).toBeGreaterThan(0);
  });

  it('trains knn and mf (on pairwise battles) routers from the command line', () => {
    const data = join(tmp, 'knn-train.jsonl');
    const battles = join(tmp, 'battles.jsonl');
    const lines = [], pairs = [];
    for (let i = 0; i < 60; i++) {
      lines.push(JSON.stringify({ id: `m${i}`, prompt: `compute ${i} plus ${i * 3} and divide by 2`, scores: { a: 1, b: 0 } }));
      lines.push(JSON.stringify({ id: `h${i}`, prompt: `which king ruled the empire in year ${1000 + i}`, scores: { a: 0, b: 1 } }));
      pairs.push(JSON.stringify({ prompt: `compute ${i} plus ${i * 3} and divide by 2`, model_a: 'a', model_b: 'b', winner: i % 5 ? 'model_a' : 'tie' }));
      pairs.push(JSON.stringify({ prompt: `which king ruled the empire in year ${1000 + i}`, model_a: 'b', model_b: 'a', winner: i % 5 ? 'model_a' : 'tie' }));
    }
    writeFileSync(data, lines.join('\n') + '\n');
    writeFileSync(battles, pairs.join('\n') + '\n');
    const knn = join(tmp, 'knn.router');
    const t = run(['train', '--data', data, '--out', knn, '--predictor', 'knn', '--k', '5', '--dim', '64', '--buckets', '12', '--half']);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stderr).toMatch(/^trained knn on 120 prompts x 2 models in [0-9.]+ s; wrote .*knn\.router\n$/);
    const r = run(['route', '--router', knn, 'compute 7 plus 21 and divide by 2']);
    expect(JSON.parse(r.stdout).model).toBe('a');
    const mf = join(tmp, 'mf.router');
    const m = run(['train', '--data', battles, '--out', mf, '--predictor', 'mf', '--dim', '8', '--buckets', '12', '--learning-rate', '0.01']);
    expect(m.code, m.stderr).toBe(0);
    expect(m.stderr).toMatch(/\ntrained mf on 120 battles x 2 models in [0-9.]+ s: best epoch/);
    expect(JSON.parse(run(['route', '--router', mf, 'which king ruled the empire in year 1931']).stdout).model).toBe('b');
    const bad = run(['train', '--data', data, '--out', knn, '--predictor', 'svm']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--predictor expects mlp, linear, mf, knn, kmeans, got "svm"');
  });

  it('info reports the backends compiled in and the one chosen', () => {
    const r = run(['info', '--json']);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.backend.compiled).toContain('cpu');
    expect(info.backend.chosen).toBe('cpu');
    expect(info.backend.reason).toMatch(/cpu/);
    expect(info.defaultRouter.models).toEqual(['strong', 'weak']);
  });

  it('trains a router and routes every record of a file, keeping ids; the cost policy takes its knobs', () => {
    const data = join(tmp, 'train.jsonl');
    const lines = [];
    for (let i = 0; i < 60; i++) {
      lines.push(JSON.stringify({ id: `m${i}`, prompt: `compute ${i} plus ${i * 3} and divide by 2`, scores: { a: 1, b: 0 }, costs: { a: 0.01, b: 0.0001 } }));
      lines.push(JSON.stringify({ id: `h${i}`, prompt: `which king ruled the empire in year ${1000 + i}`, scores: { a: 0, b: 1 }, costs: { a: 0.01, b: 0.0001 } }));
    }
    writeFileSync(data, lines.join('\n') + '\n');
    const out = join(tmp, 'r.router');
    const t = run(['train', '--data', data, '--out', out, '--hidden', '8', '--epochs', '5', '--buckets', '12']);
    expect(t.code).toBe(0);
    expect(t.stderr).toMatch(/^epoch: 1\/5 \(20%\): train loss [\d.]+, validation loss [\d.]+$/m);
    expect(t.stderr).toMatch(/trained mlp on 120 prompts x 2 models/);
    const r = run(['route', '--router', out, '--data', data]);
    expect(r.code).toBe(0);
    const decisions = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(decisions).toHaveLength(120);
    expect(decisions[0].id).toBe('m0');
    const mathToA = decisions.filter((d) => d.id.startsWith('m') && d.model === 'a').length;
    expect(mathToA).toBeGreaterThan(50);
    const cheap = JSON.parse(run(['route', '--router', out, '--policy', 'cost', '--lambda', '1000', 'compute 5 plus 7']).stdout);
    expect(cheap.model).toBe('b');
    expect(cheap.policy).toBe('cost');
    const piped = run(['route', '--router', out], 'compute 1 plus 1\nwhich king ruled\n');
    expect(piped.stdout.trim().split('\n')).toHaveLength(2);
  });

  it('usage errors exit 2 with one line and a hint; routecore errors exit 1 with their code', () => {
    const u = run(['route', '--policy', 'fastest', 'x']);
    expect(u.code).toBe(2);
    expect(u.stderr).toBe('routecore: --policy expects best, cost, threshold or subset, got "fastest"\nRun "routecore route --help" for its options.\n');
    const unknown = run(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"/);
    const missing = run(['route', '--router', join(tmp, 'nope.router'), 'x']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read router file .*nope\.router.*\[ERR_ROUTECORE_IO\]/);
    const badReg = join(tmp, 'bad.json');
    writeFileSync(badReg, JSON.stringify({ models: [{ id: 'strong', latencyMs: 'fast' }] }));
    const reg = run(['route', '--registry', badReg, 'x']);
    expect(reg.code).toBe(1);
    expect(reg.stderr).toMatch(/bad\.json: model "strong": field "latencyMs" must be a non-negative number, got string "fast" \[ERR_ROUTECORE_BAD_REGISTRY\]/);
    const badData = run(['train', '--data', join(root, 'test', 'fixtures', 'bad-outcomes.jsonl'), '--out', join(tmp, 'x.router')]);
    expect(badData.code).toBe(1);
    expect(badData.stderr).toMatch(/bad-outcomes\.jsonl:\d+: .*\[ERR_ROUTECORE_BAD_DATA\]/);
    const env = spawnSync(process.execPath, [cli, 'info'], { encoding: 'utf8', env: { ...process.env, ROUTECORE_BACKEND: 'gpu' } });
    expect(env.status).toBe(1);
    expect(env.stderr).toMatch(/ROUTECORE_BACKEND="gpu" is not a backend: expected one of auto, cpu, cuda \[ERR_ROUTECORE_BAD_BACKEND\]/);
  });
});
