import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { Router } from '../src/app/router.js';
import { strongWinProbability } from '../src/routing/selection.js';
import { train, type PredictorKind } from '../src/training/train.js';
import type { PairwiseRecord } from '../src/training/data.js';

// Two topics with disjoint vocabularies; "algebra-model" solves one, "history-model" the other.
const MATH = ['integral', 'derivative', 'equation', 'polynomial', 'fraction', 'algebra', 'matrix', 'sum'];
const HIST = ['emperor', 'dynasty', 'treaty', 'revolution', 'kingdom', 'medieval', 'empire', 'pharaoh'];
const pick = (w: string[], i: number) => `${w[i % 8]} ${w[Math.floor(i / 8) % 8]} ${w[(i * 3 + 1) % 8]}`;
function records() {
  const out = [];
  for (let i = 0; i < 120; i++) {
    out.push({ id: `m${i}`, prompt: pick(MATH, i), scores: { 'algebra-model': 1, 'history-model': 0 } });
    out.push({ id: `h${i}`, prompt: pick(HIST, i), scores: { 'algebra-model': 0, 'history-model': 1 } });
  }
  return out;
}

// Battles between three models drawn from a Bradley–Terry model whose strengths depend on the
// topic: on algebra a > b > c, on history b > a > c (strength gaps of 1.5 logits).
function battles(): PairwiseRecord[] {
  let seed = 7;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const strength: Record<string, Record<string, number>> = { math: { a: 1.5, b: 0, c: -1.5 }, hist: { a: 0, b: 1.5, c: -1.5 } };
  const pairs = [['a', 'b'], ['b', 'c'], ['a', 'c']] as const;
  const out: PairwiseRecord[] = [];
  for (let i = 0; i < 1200; i++) {
    const topic = i % 2 ? 'hist' : 'math';
    const [x, y] = pairs[Math.floor(i / 2) % 3]!;
    const p = 1 / (1 + Math.exp(-(strength[topic]![x]! - strength[topic]![y]!)));
    const u = rand();
    const winner = u < 0.1 ? 'tie' : u < 0.1 + 0.9 * p ? 'model_a' : 'model_b';
    out.push({ id: `b${i}`, prompt: pick(topic === 'math' ? MATH : HIST, i), modelA: x, modelB: y, winner });
  }
  return out;
}

const SMALL = { encoder: { log2Buckets: 12 } };

describe('knn and mf predictors', () => {
  for (const predictor of ['knn', 'mf', 'mlp', 'linear'] as PredictorKind[]) {
    it(`${predictor} routes each topic to the model that solves it, and round-trips exactly`, async () => {
      const { router } = await train(records(), { ...SMALL, predictor, k: predictor === 'knn' ? 5 : undefined, dim: predictor === 'knn' || predictor === 'mf' ? 32 : undefined, learningRate: predictor === 'mf' ? 0.01 : undefined });
      expect(router.predictor).toBe(predictor);
      expect(router.objective).toBe('scores');
      expect(router.routeSync('matrix equation sum').model).toBe('algebra-model');
      expect(router.routeSync('treaty of the medieval kingdom').model).toBe('history-model');
      const prompts = Array.from({ length: 9 }, (_, i) => (i % 2 ? 'dynasty empire' : 'fraction polynomial'));
      const batch = await router.routeBatch(prompts);
      expect(batch.map((d) => d.model)).toEqual(prompts.map((_, i) => (i % 2 ? 'history-model' : 'algebra-model')));
      const again = Router.loadSync(router.serialize());
      expect(again.predictor).toBe(predictor);
      for (const p of prompts) expect(again.routeSync(p).scores).toEqual(router.routeSync(p).scores);
      again.dispose();
      router.dispose();
    });
  }

  it('knn stores its references in float16 when asked, at half the size', async () => {
    const { router } = await train(records(), { ...SMALL, predictor: 'knn', k: 5, dim: 64 });
    const full = router.serialize();
    const half = router.serialize({ halfPrecision: true });
    // The references are 240 x 64 floats; F16 saves 2 bytes on each.
    expect(full.length - half.length).toBe(240 * 64 * 2);
    const again = Router.loadSync(half);
    expect(again.metadata()['predictor.k']).toBe('5');
    expect(again.routeSync('matrix equation sum').model).toBe('algebra-model');
    again.dispose();
    router.dispose();
  });

  it('knn on precomputed embeddings', async () => {
    const recs = records();
    const dim = 4;
    const x = new Float32Array(recs.length * dim);
    recs.forEach((r, i) => {
      x[i * dim + (r.id.startsWith('m') ? 0 : 1)] = 1;
      x[i * dim + 2] = (i % 7) / 20;
    });
    const { router } = await train(recs, { predictor: 'knn', k: 3, embeddings: x });
    expect(router.routeEmbeddingSync(new Float32Array([0.9, 0.1, 0, 0])).model).toBe('algebra-model');
    expect(router.routeEmbeddingSync(new Float32Array([0.1, 0.9, 0, 0])).model).toBe('history-model');
    router.dispose();
  });
});

describe('pairwise (Bradley–Terry) training', () => {
  for (const predictor of ['mf', 'knn'] as PredictorKind[]) {
    it(`${predictor} recovers each topic's known ranking from battles`, async () => {
      const { router, summary } = await train(battles(), { ...SMALL, predictor, k: 60, dim: 32, learningRate: 0.01 });
      expect(router.objective).toBe('pairwise');
      expect(summary['objective']).toBe('pairwise');
      expect(router.models.slice().sort()).toEqual(['a', 'b', 'c']);
      const m = router.routeSync('matrix equation sum').scores;
      const h = router.routeSync('treaty of the medieval kingdom').scores;
      expect(m['a']!).toBeGreaterThan(m['b']!);
      expect(m['b']!).toBeGreaterThan(m['c']!);
      expect(h['b']!).toBeGreaterThan(h['a']!);
      expect(h['a']!).toBeGreaterThan(h['c']!);
      const again = Router.loadSync(router.serialize());
      expect(again.objective).toBe('pairwise');
      expect(again.routeSync('matrix equation sum').scores).toEqual(m);
      again.dispose();
      router.dispose();
    });
  }

  it('reads pairwise JSONL files (format recognised from the first line) and refuses mixed formats', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'routecore-pairwise-'));
    try {
      const file = join(dir, 'battles.jsonl');
      writeFileSync(file, battles().map((b) => JSON.stringify({ id: b.id, prompt: b.prompt, model_a: b.modelA, model_b: b.modelB, winner: b.winner })).join('\n') + '\n');
      const { router, files } = await train(file, { ...SMALL, predictor: 'mf', dim: 16 });
      expect(files[0]!.records).toBe(1200);
      expect(router.objective).toBe('pairwise');
      router.dispose();
      const outcomes = join(dir, 'outcomes.jsonl');
      writeFileSync(outcomes, records().map((r) => JSON.stringify(r)).join('\n'));
      await expect(train([file, outcomes], SMALL)).rejects.toThrow(/outcomes\.jsonl holds outcome records but .*battles\.jsonl holds pairwise records/);
      await expect(train(file, { ...SMALL, predictor: 'kmeans' })).rejects.toThrow(/mf, knn, mlp or linear for pairwise data/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the threshold policy reads a pairwise router\'s scores as Bradley–Terry strengths', async () => {
    expect(strongWinProbability(0.8, 0.5, 'pairwise')).toBeCloseTo(0.8, 12);
    expect(strongWinProbability(0.9, 0.6, 'pairwise')).toBeCloseTo((0.9 * 0.4) / (0.9 * 0.4 + 0.6 * 0.1), 12);
    expect(strongWinProbability(0.9, 0.6)).toBeCloseTo(0.65, 12);
    const { router } = await train(battles(), { ...SMALL, predictor: 'mf', dim: 16, learningRate: 0.01, router: { policy: 'threshold', threshold: { strong: 'a', weak: 'b' } } });
    const d = router.routeSync('matrix equation sum');
    const q = d.scores;
    expect(d.winProbability).toBeCloseTo(strongWinProbability(q['a']!, q['b']!, 'pairwise'), 6);
    expect(d.model).toBe('a');
    expect(router.routeSync('treaty of the medieval kingdom').model).toBe('b');
    router.dispose();
  });

  it('refuses bad battles with the record named', async () => {
    const bad = battles().slice(0, 10);
    bad[4] = { ...bad[4]!, modelB: bad[4]!.modelA };
    await expect(train(bad, SMALL)).rejects.toThrow('data[4] (id "b4"): modelA and modelB must be two different model ids');
    const badWinner = battles().slice(0, 10);
    badWinner[2] = { ...badWinner[2]!, winner: 'draw' as never };
    await expect(train(badWinner, SMALL)).rejects.toThrow('data[2] (id "b2"): winner must be "model_a", "model_b" or "tie", got "draw"');
  });
});
