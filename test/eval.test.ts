import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { readOutcomes, type OutcomeRecord } from '../src/training/data.js';
import { evaluate, evaluateScores, fnv1a32, renderMarkdown, type EvalReport } from '../src/evaluation/eval.js';
import { crossValidate } from '../src/evaluation/cross-validate.js';
import { aiq } from '../src/evaluation/metrics.js';
import { renderSvg } from '../src/evaluation/plot.js';
import { Registry } from '../src/routing/registry.js';
import { train } from '../src/training/train.js';

const root = resolve(__dirname, '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const built = existsSync(cli);
if (!built) console.warn(`skipping the eval CLI test: ${cli} is missing (run \`npm run build:ts\`)`);
const dataDir = resolve(root, '../shared/data');
const mtbench = join(dataDir, 'routellm-mtbench.jsonl');
const haveData = existsSync(mtbench);
if (!haveData) console.warn(`skipping eval tests on real data: ${mtbench} is absent (see ../shared/data/README.md)`);
const tmp = mkdtempSync(join(tmpdir(), 'routecore-eval-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// Hand-made example: 2 models, 4 prompts, every number computable by hand.
//   truth  A = [1, 1, 0, 1]  (mean .75, $0.01 per query  -> $10 per 1k)  strong
//          B = [0, 1, 0, 0]  (mean .25, $0.001 per query -> $1 per 1k)   weak
//   predicted [A, B]: p1 [.8,.3]  p2 [.7,.4]  p3 [.3,.5]  p4 [.6,.5]
//   routing score A − B = [.5, .3, −.2, .1] -> order p1, p2, p4, p3 with gains 1, 0, 1, 0 (gap 2)
//   PGR at share 0, .25, .5, .75, 1 = 0, .5, .5, 1, 1 -> APGR = .25 × (.25 + .5 + .75 + 1) = .625
//   CPT(50%) = .25, CPT(80%) = .75
//   best: A, A, B, A -> quality (1+1+0+1)/4 = .75, cost (3 × .01 + .001)/4 -> $7.75 per 1k
//   oracle: p1 A; p2 tie -> B (cheaper); p3 tie -> B; p4 A -> quality .75, $5.50 per 1k
//   cost policy: p4 leaves A for B when .1 < λ(.01 − .001), i.e. λ > 11.1; p2 when λ > 33.3; p1 when λ > 55.6
const IDS = ['A', 'B'];
const TRUTH_A = [1, 1, 0, 1];
const TRUTH_B = [0, 1, 0, 0];
const PRED = new Float32Array([0.8, 0.3, 0.7, 0.4, 0.3, 0.5, 0.6, 0.5]);
function tiny(): OutcomeRecord[] {
  return TRUTH_A.map((a, i) => ({
    id: `p${i + 1}`,
    prompt: `prompt number ${i + 1}`,
    scores: { A: a, B: TRUTH_B[i]! },
    costs: { A: 0.01, B: 0.001 },
  }));
}

describe('evaluateScores on a hand-made example', () => {
  const r = evaluateScores(IDS, PRED, tiny(), { lambdas: [0, 10, 20, 40, 100], targets: [0.5, 0.7] });

  it('single models', () => {
    expect(r.rows).toBe(4);
    expect(r.models).toEqual(['A', 'B']);
    expect(r.singles['A']!.quality).toBeCloseTo(0.75, 12);
    expect(r.singles['A']!.cost1k).toBeCloseTo(10, 12);
    expect(r.singles['B']!.quality).toBeCloseTo(0.25, 12);
    expect(r.singles['B']!.cost1k).toBeCloseTo(1, 12);
    expect(r.bestSingle).toBe('A');
    expect(r.costSources['A']).toEqual({ record: 4, registry: 0, training: 0, none: 0 });
  });

  it('oracle: best model per prompt, cheapest among ties', () => {
    expect(r.oracle.quality).toBeCloseTo(0.75, 12);
    expect(r.oracle.cost1k).toBeCloseTo(5.5, 12);
    expect(r.oracle.shares).toEqual({ A: 0.5, B: 0.5 });
  });

  it('best policy and the λ sweep', () => {
    expect(r.router.best.quality).toBeCloseTo(0.75, 12);
    expect(r.router.best.cost1k).toBeCloseTo(7.75, 12);
    expect(r.router.best.shares).toEqual({ A: 0.75, B: 0.25 });
    const lam = (x: number) => r.router.sweep.find((p) => p.param === 'lambda' && p.knob === x)!;
    expect(lam(10).cost1k).toBeCloseTo(7.75, 12); // nothing switches below 11.1
    expect(lam(20).quality).toBeCloseTo(0.5, 12); // p4 -> B
    expect(lam(20).cost1k).toBeCloseTo(5.5, 12);
    expect(lam(40).quality).toBeCloseTo(0.5, 12); // p2 -> B too: A on p1 only; B scores 1 on p2 as well
    expect(lam(40).cost1k).toBeCloseTo(3.25, 12);
    expect(lam(100).shares).toEqual({ B: 1 });
    expect(lam(100).quality).toBeCloseTo(0.25, 12);
    expect(lam(20).lambdaNorm).toBeCloseTo(20 * 0.009, 12);
    // target 0.7: cheapest model predicted >= .7: p1 A (.8), p2 A (.7), p3 none -> best score B, p4 none -> A (.6 > .5)
    const t7 = r.router.sweep.find((p) => p.param === 'targetScore' && p.knob === 0.7)!;
    expect(t7.shares).toEqual({ A: 0.75, B: 0.25 });
    // target 0.5: p1 B? .3 < .5 -> A; p2 A (.7, B .4); p3 B (.5); p4 B (.5, cheaper) -> A, A, B, B
    const t5 = r.router.sweep.find((p) => p.param === 'targetScore' && p.knob === 0.5)!;
    expect(t5.quality).toBeCloseTo(0.5, 12);
  });

  it('two models: PGR, APGR, CPT from metrics.ts with strong = higher mean quality', () => {
    expect(r.pgr!.strong).toBe('A');
    expect(r.pgr!.weak).toBe('B');
    expect(r.apgr).toBeCloseTo(0.625, 12);
    expect(r.cpt50).toBeCloseTo(0.25, 12);
    expect(r.cpt80).toBeCloseTo(0.75, 12);
    const th = r.router.sweep.filter((p) => p.policy === 'threshold');
    expect(th.map((p) => p.knob)).toEqual([0, 0, 0.25, 0.25, 0.5, 0.5, 0.5, 0.75, 0.75, 1, 1]);
    expect(th[4]!.quality).toBeCloseTo(0.5, 12); // p1, p2 strong
    expect(th[4]!.cost1k).toBeCloseTo(5.5, 12);
    expect(th[4]!.threshold).toBeCloseTo(0.3, 6);
    expect(th[0]!.threshold).toBeNull();
  });

  it('random at matched cost, zero-router, AIQ, cheapest point reaching the best single', () => {
    expect(r.random.cheap).toBe('B');
    expect(r.random.expensive).toBe('A');
    // best costs 7.75: p = (7.75 − 1) / 9 = .75 -> .25 + .75 × .5 = .625
    expect(r.router.sweep[0]!.randomQuality).toBeCloseTo(0.625, 12);
    expect(r.random.points[0]!.p).toBeCloseTo(0.75, 12);
    expect(r.zeroRouter.hull.map((h) => h.model)).toEqual(['B', 'A']);
    expect(r.aiq.costRange).toEqual([1, 10]);
    expect(r.aiq.zeroRouter).toBeCloseTo(0.5, 12); // the chord from (1, .25) to (10, .75)
    expect(r.aiq.router).toBeCloseTo(aiq(r.router.sweep.map((p) => ({ cost: p.cost1k, quality: p.quality })), [1, 10]), 12);
    expect(r.cheapestReachingBestSingle!.quality).toBeCloseTo(0.75, 12);
    expect(r.cheapestReachingBestSingle!.cost1k).toBeCloseTo(7.75, 12);
    expect(r.cheapestReachingBestSingle!.savings).toBeCloseTo(0.225, 12);
  });

  it('has the JSON shape of docs/ARCHITECTURE.md', () => {
    const j = JSON.parse(JSON.stringify(r)) as typeof r;
    for (const k of ['rows', 'models', 'singles', 'oracle', 'router', 'aiq', 'apgr', 'cpt50', 'cpt80', 'random', 'cheapestReachingBestSingle']) {
      expect(j).toHaveProperty(k);
    }
    expect(Object.keys(j['singles']['A']).sort()).toEqual(expect.arrayContaining(['quality', 'cost1k']));
    expect(j['oracle']).toMatchObject({ quality: expect.any(Number), cost1k: expect.any(Number) });
    expect(j['router']['best']).toMatchObject({ quality: expect.any(Number), cost1k: expect.any(Number) });
    for (const p of j['router']['sweep']) expect(p).toMatchObject({ policy: expect.any(String), quality: expect.any(Number), cost1k: expect.any(Number), shares: expect.any(Object) });
    expect(j['router']['sweep'].some((p) => typeof p.knob === 'number')).toBe(true);
    expect(j['aiq']).toMatchObject({ router: expect.any(Number), zeroRouter: expect.any(Number) });
  });

  it('renders Markdown with a header and tables, and a well-formed SVG', () => {
    const md = renderMarkdown(r);
    expect(md.startsWith('# routecore evaluation\n')).toBe(true);
    expect(md).toContain('| baseline | quality | $ per 1k queries |');
    expect(md).toContain('| policy | knob | quality |');
    expect(md).toMatch(/APGR 0\.625/);
    const svg = renderSvg(r);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toMatch(/<polyline points="[\d.]+,[\d.]+ /);
    expect(svg).toContain('>oracle</text>');
    expect(svg).toContain('log scale');
    // XML-ish: tags balance, no raw ampersands, no NaN coordinates.
    const body = svg.replace(/<[a-z]+\b[^>]*\/>/g, ''); // drop self-closing elements
    for (const tag of ['svg', 'g', 'text', 'title', 'circle', 'path']) {
      const opened = body.match(new RegExp(`<${tag}[\\s>]`, 'g'))?.length ?? 0;
      const closed = body.match(new RegExp(`</${tag}>`, 'g'))?.length ?? 0;
      expect(opened, tag).toBe(closed);
    }
    expect(body).not.toMatch(/<(line|rect|polyline)\b/);
    expect(svg).not.toMatch(/&(?!amp;|lt;|gt;|quot;|#39;)/);
    expect(svg).not.toContain('NaN');
  });
});

describe('evaluateScores edge cases', () => {
  it('PGR undefined (equal means) gives null APGR/CPT and a warning, not a crash', () => {
    const recs: OutcomeRecord[] = [
      { id: 'a', prompt: 'x', scores: { A: 1, B: 0 }, costs: { A: 0.01, B: 0.001 } },
      { id: 'b', prompt: 'y', scores: { A: 0, B: 1 }, costs: { A: 0.01, B: 0.001 } },
    ];
    const r = evaluateScores(IDS, new Float32Array([0.9, 0.1, 0.1, 0.9]), recs);
    expect(r.apgr).toBeNull();
    expect(r.cpt50).toBeNull();
    expect(r.cpt80).toBeNull();
    expect(r.warnings.join('\n')).toMatch(/PGR is undefined/);
    expect(r.router.best.quality).toBe(1);
    // B is cheaper at the same quality: the best single model and the cheapest point reaching it.
    expect(r.bestSingle).toBe('B');
    expect(r.cheapestReachingBestSingle).not.toBeNull();
  });

  it('recommends the cheapest point within one standard error of the best quality, and never says "-1% cheaper"', () => {
    // 100 rows: A (dear) right on 90, B (cheap) right on 88 — within sqrt(.9·.1/100) = 0.03 of A.
    const recs: OutcomeRecord[] = Array.from({ length: 100 }, (_, i) => ({ id: `r${i}`, prompt: `q${i}`, scores: { A: i < 90 ? 1 : 0, B: i < 88 ? 1 : 0 }, costs: { A: 0.01, B: 0.0003 } }));
    const r = evaluateScores(['A', 'B'], new Float32Array(200).map((_, x) => (x % 2 === 0 ? 0.9 : 0.1)), recs, { lambdas: [0] });
    expect(r.recommended).not.toBeNull();
    expect(r.recommended!.label).toBe('always B');
    expect(r.recommended!.tolerance).toBeCloseTo(0.03, 6);
    expect(r.recommended!.bestQuality).toBeCloseTo(0.9, 9);
    const md = renderMarkdown(r);
    expect(md).toMatch(/^\*\*Recommended operating point: always B\*\*, quality 0\.880 at \$0\.30 per 1k queries — 33\.3× cheaper than the router's `best` \(\$10\.00\)/m);
    // A point dearer than the best single model is called dearer, not "-N% cheaper".
    const dear = { ...r, cheapestReachingBestSingle: { ...r.router.sweep[0]!, savings: -0.01 } };
    expect(renderMarkdown(dear)).toMatch(/\(1% dearer than /);
    expect(renderMarkdown(dear)).not.toMatch(/-1% cheaper/);
  });

  it('three models: no APGR/CPT, AIQ of router vs zero-router; null cheapest point when nothing reaches the best single', () => {
    const ids = ['cheap', 'mid', 'top'];
    const recs: OutcomeRecord[] = [];
    const pred: number[] = [];
    for (let i = 0; i < 6; i++) {
      recs.push({ id: `r${i}`, prompt: `q${i}`, scores: { cheap: i < 2 ? 1 : 0, mid: i < 4 ? 1 : 0, top: 1 }, costs: { cheap: 0.001, mid: 0.002, top: 0.004 } });
      pred.push(0.9, 0.1, 0.1); // a bad router that always prefers `cheap`
    }
    const r = evaluateScores(ids, new Float32Array(pred), recs, { lambdas: [0, 1] });
    expect(r.apgr).toBeNull();
    expect(r.cpt50).toBeNull();
    expect(r.pgr).toBeNull();
    expect(r.router.sweep.some((p) => p.policy === 'threshold')).toBe(false);
    // singles: cheap (1, 1/3), mid (2, 2/3), top (4, 1); mid lies above the chord, so all three are on the hull
    expect(r.zeroRouter.hull.map((h) => h.model)).toEqual(['cheap', 'mid', 'top']);
    // area over [1, 4]: 1 × (1/3 + 2/3)/2 + 2 × (2/3 + 1)/2 = 1/2 + 5/3 = 13/6, divided by 3 -> 13/18
    expect(r.aiq.zeroRouter).toBeCloseTo(13 / 18, 12);
    // every router point is (1, 1/3): the hull is flat at 1/3 over [1, 4]
    expect(r.aiq.router).toBeCloseTo(1 / 3, 12);
    expect(r.cheapestReachingBestSingle).toBeNull();
    expect(renderMarkdown(r)).toMatch(/No sweep point reaches/);
    expect(renderSvg(r)).toContain('<polyline');
  });

  it('rows missing a model: excluded from its single baseline; routing considers only the models present', () => {
    const recs = tiny();
    delete (recs[0]!.scores as Record<string, number>)['A'];
    delete recs[0]!.costs!['A'];
    const r = evaluateScores(IDS, PRED, recs, { lambdas: [0] });
    expect(r.singles['A']!.rows).toBe(3);
    expect(r.singles['A']!.quality).toBeCloseTo(2 / 3, 12);
    expect(r.singles['B']!.rows).toBe(4);
    // p1 prefers A but A is missing there: routed to B (0)
    expect(r.router.best.shares).toEqual({ A: 0.5, B: 0.5 });
    expect(r.router.best.quality).toBeCloseTo(0.5, 12);
    expect(r.warnings.join('\n')).toMatch(/lack some models' scores/);
  });

  it('costs: record, then registry price × token estimate, then training mean, else 0 with a warning', () => {
    const recs: OutcomeRecord[] = [
      { id: 'a', prompt: 'x'.repeat(40), scores: { A: 1, B: 0, C: 1 } }, // 10 tokens
      { id: 'b', prompt: 'y'.repeat(41), scores: { A: 0, B: 1, C: 1 } }, // 11 tokens
    ];
    const registry = Registry.fromObject({ models: [{ id: 'A', inputCostPer1M: 1000, outputCostPer1M: 2000, expectedOutputTokens: 100 }, { id: 'B' }, { id: 'C' }] });
    const r = evaluateScores(['A', 'B', 'C'], new Float32Array(6).fill(0.5), recs, {
      registry,
      expectedCost: (id) => (id === 'B' ? 0.002 : undefined),
    });
    // A: (10 × 1000 + 100 × 2000) / 1e6 = 0.21 and (11 × 1000 + 200000) / 1e6 = 0.211 -> mean 0.2105 -> $210.5 per 1k
    expect(r.singles['A']!.cost1k).toBeCloseTo(210.5, 9);
    expect(r.costSources['A']!.registry).toBe(2);
    expect(r.singles['B']!.cost1k).toBeCloseTo(2, 12);
    expect(r.costSources['B']!.training).toBe(2);
    expect(r.singles['C']!.cost1k).toBe(0);
    expect(r.costSources['C']!.none).toBe(2);
    expect(r.warnings.join('\n')).toMatch(/no cost known for model "C" on 2 of 2 rows.*counted as \$0/);
  });

  it('a registry limits the evaluated models to registered, enabled ones', () => {
    const registry = Registry.fromObject({ models: [{ id: 'A', inputCostPer1M: 1, outputCostPer1M: 1 }, { id: 'B', enabled: false }] });
    const r = evaluateScores(IDS, PRED, tiny(), { registry });
    expect(r.models).toEqual(['A']);
    expect(r.router.best.shares).toEqual({ A: 1 });
    expect(r.warnings.join('\n')).toMatch(/"B" is not registered and enabled/);
  });

  it('without cost differences AIQ is null and random matches the share of calls', () => {
    const recs = tiny().map(({ costs: _c, ...rest }) => rest);
    const r = evaluateScores(IDS, PRED, recs);
    expect(r.aiq).toEqual({ router: null, zeroRouter: null, costRange: null });
    expect(r.apgr).toBeCloseTo(0.625, 12);
    // best sends 3 of 4 to A: .25 + .75 × (.75 − .25)
    expect(r.router.sweep[0]!.randomQuality).toBeCloseTo(0.625, 12);
    expect(renderSvg(r)).toContain('linear scale');
  });

  it('rejects bad arguments', () => {
    expect(() => evaluateScores(IDS, new Float32Array(3), tiny())).toThrow(/8 floats/);
    expect(() => evaluateScores(IDS, PRED, [])).toThrow(/non-empty array/);
    expect(() => evaluateScores(IDS, PRED, tiny(), { lambdas: [-1] })).toThrow(/options\.lambdas\[0\]/);
    expect(() => evaluateScores(['X', 'Y'], PRED, tiny())).toThrow(/none of the router's models/);
  });
});

describe('fold hashing', () => {
  it('is 32-bit FNV-1a over UTF-8', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });
});

function synthetic(n: number): OutcomeRecord[] {
  const out: OutcomeRecord[] = [];
  for (let i = 0; i < n; i++) {
    const math = i % 2 === 0;
    out.push({
      id: `s${i}`,
      prompt: math ? `compute ${i} plus ${i * 3} and divide the sum by two` : `which king ruled the old empire in the year ${1000 + i}`,
      scores: { big: math ? 1 : i % 3 === 0 ? 0 : 1, small: math ? 0 : 1 },
      costs: { big: 0.01, small: 0.0005 },
    });
  }
  return out;
}

describe('evaluate and crossValidate with trained routers', () => {
  it('evaluate scores every prompt through the router and reports progress', async () => {
    const recs = synthetic(40);
    const { router } = await train(recs, { predictor: 'linear', maxEpochs: 3, encoder: { log2Buckets: 12 }, backend: 'cpu' });
    try {
      const progress: [number, number][] = [];
      const r = await evaluate(router, recs, { onProgress: (d, t) => progress.push([d, t]) });
      expect(r.rows).toBe(40);
      expect(r.models.sort()).toEqual(['big', 'small']);
      expect(progress.at(-1)).toEqual([40, 40]);
      expect(r.apgr).not.toBeNull();
      expect(r.aiq.router).not.toBeNull();
    } finally {
      router.dispose();
    }
  });

  it('crossValidate pools held-out predictions of every fold', async () => {
    const recs = synthetic(40);
    const progress: number[] = [];
    const r = await crossValidate(recs, {
      folds: 3,
      trainOptions: { predictor: 'linear', maxEpochs: 3, encoder: { log2Buckets: 12 }, backend: 'cpu' },
      onProgress: (d) => progress.push(d),
    });
    expect(r.rows).toBe(40);
    expect(r.cv!.folds).toBe(3);
    expect(r.cv!.foldRows.reduce((a, b) => a + b, 0)).toBe(40);
    expect(r.cv!.foldRows).toEqual([0, 1, 2].map((f) => recs.filter((x) => fnv1a32(x.id) % 3 === f).length));
    expect(progress).toEqual([1, 2, 3]);
    expect(r.singles['big']!.cost1k).toBeCloseTo(10, 9);
    await expect(crossValidate(recs, { folds: 1 })).rejects.toThrow(/options\.folds/);
  });

  it.skipIf(!haveData)('cross-validates on RouteLLM MT-Bench (real data, 80 rows)', async () => {
    const { records } = readOutcomes(mtbench);
    const r = await crossValidate(records, { folds: 2, trainOptions: { predictor: 'linear', maxEpochs: 5, backend: 'cpu' } });
    expect(r.rows).toBe(records.length);
    expect(r.models).toHaveLength(2);
    expect(r.apgr === null || Number.isFinite(r.apgr)).toBe(true);
  });
});

describe.skipIf(!built)('routecore eval CLI', () => {
  it('eval --cv 2 on a small synthetic file prints the JSON report', () => {
    const data = join(tmp, 'cv.jsonl');
    writeFileSync(data, synthetic(40).map((r) => JSON.stringify(r)).join('\n') + '\n');
    const svg = join(tmp, 'cv.svg');
    const md = join(tmp, 'cv.md');
    const p = spawnSync(process.execPath, [cli, 'eval', '--cv', '2', '--data', data, '--predictor', 'linear', '--epochs', '3', '--buckets', '12', '--json', '--svg', svg, '--md', md], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, ROUTECORE_BACKEND: 'cpu' },
    });
    expect(p.stderr).toMatch(/^folds: 2\/2 \(100%\)$/m);
    expect(p.status).toBe(0);
    const r = JSON.parse(p.stdout) as EvalReport;
    expect(r.rows).toBe(40);
    expect(Object.keys(r.singles).sort()).toEqual(['big', 'small']);
    for (const k of ['oracle', 'router', 'aiq', 'apgr', 'cpt50', 'cpt80']) expect(r).toHaveProperty(k);
    expect(r.router.sweep.length).toBeGreaterThan(1);
    expect(existsSync(svg) && existsSync(md)).toBe(true);
  });

  it('eval refuses --router together with --cv, and needs --data', () => {
    const a = spawnSync(process.execPath, [cli, 'eval', '--cv', '2', '--router', 'x', '--data', 'y'], { encoding: 'utf8' });
    expect(a.status).toBe(2);
    expect(a.stderr).toMatch(/either --router or --cv/);
    const b = spawnSync(process.execPath, [cli, 'eval', '--router', 'x'], { encoding: 'utf8' });
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/at least one --data/);
  });
});
