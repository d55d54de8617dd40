/**
 * The benchmark corpus: RouterBench outcome records from `../shared/data` (11 models, as P1 asks),
 * or, when that directory is absent, a seeded synthetic corpus with realistic prompt lengths. The
 * data is read in place and never copied into the repository.
 * @module
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import { readOutcomes, type OutcomeRecord } from '../src/index.js';
import { BYTES_PER_TOKEN } from '../src/routing/prompt.js';
import { distribution, type Distribution } from './common.js';

export interface Corpus {
  /** `routerbench` (real) or `synthetic`. */
  source: 'routerbench' | 'synthetic';
  /** Training input for `train()`: file paths (real data) or records (synthetic). */
  trainData: string[] | OutcomeRecord[];
  trainRows: number;
  models: number;
  /** Query prompts (the test split). */
  testPrompts: string[];
  files: { train: string[]; test: string[] };
}

/** mulberry32: a small seeded PRNG, so every run (and every child process) sees the same corpus. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Loads the RouterBench train/test files from `dataDir`, or returns undefined when they are absent. */
export function loadRouterBench(dataDir: string): Corpus | undefined {
  if (!existsSync(dataDir)) return undefined;
  const names = readdirSync(dataDir).sort();
  const train = names.filter((n) => /^routerbench-.*_train\.jsonl$/.test(n)).map((n) => join(dataDir, n));
  const test = names.filter((n) => /^routerbench-.*_test\.jsonl$/.test(n)).map((n) => join(dataDir, n));
  if (train.length === 0 || test.length === 0) return undefined;
  let trainRows = 0;
  const models = new Set<string>();
  for (const f of train) {
    const { records } = readOutcomes(f);
    trainRows += records.length;
    for (const r of records) for (const id in r.scores) models.add(id);
  }
  const testPrompts: string[] = [];
  for (const f of test) for (const r of readOutcomes(f).records) testPrompts.push(r.prompt);
  return { source: 'routerbench', trainData: train, trainRows, models: models.size, testPrompts, files: { train, test } };
}

const TOPICS: Record<string, string[]> = {
  math: ['integer', 'sum', 'product', 'triangle', 'angle', 'probability', 'equation', 'solve', 'divisible', 'prime', 'fraction', 'percent', 'area', 'radius', 'median'],
  code: ['function', 'return', 'list', 'string', 'array', 'python', 'index', 'loop', 'sorted', 'dictionary', 'recursion', 'tuple', 'regex', 'class', 'integer'],
  science: ['energy', 'cell', 'molecule', 'gravity', 'temperature', 'plant', 'electron', 'climate', 'organism', 'reaction', 'mass', 'velocity', 'photosynthesis', 'mineral', 'orbit'],
  commonsense: ['because', 'kitchen', 'friend', 'umbrella', 'school', 'morning', 'bought', 'window', 'garden', 'borrowed', 'tired', 'forgot', 'heavy', 'neighbour', 'happy'],
};
const COMMON = ['the', 'a', 'of', 'to', 'and', 'in', 'is', 'that', 'which', 'what', 'for', 'it', 'with', 'as', 'was', 'on', 'be', 'by', 'this', 'are', 'answer', 'question', 'following', 'choose', 'correct', 'option'];
const MODEL_IDS = Array.from({ length: 11 }, (_, j) => `synthetic-model-${String(j + 1).padStart(2, '0')}`);

/**
 * A seeded synthetic corpus: prompt lengths log-normal around a 500-character median (clamped to
 * 40–4,000), words drawn from a topic vocabulary plus function words and numbers; each of 11 models
 * has a per-topic success rate, so the router has something real to learn.
 */
export function syntheticCorpus(trainRows = 2400, testRows = 1000, seed = 7): Corpus {
  const rand = rng(seed);
  const topics = Object.keys(TOPICS);
  const skill = MODEL_IDS.map(() => topics.map(() => 0.2 + 0.75 * rand()));
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const make = (i: number): OutcomeRecord => {
    const t = Math.floor(rand() * topics.length);
    const vocab = TOPICS[topics[t]!]!;
    const target = Math.min(4000, Math.max(40, Math.round(500 * Math.exp(0.6 * gauss()))));
    const words: string[] = [];
    let len = 0;
    while (len < target) {
      const r = rand();
      const w = r < 0.35 ? vocab[Math.floor(rand() * vocab.length)]! : r < 0.9 ? COMMON[Math.floor(rand() * COMMON.length)]! : String(Math.floor(rand() * 1000));
      words.push(rand() < 0.06 ? w + '.' : w);
      len += w.length + 1;
    }
    const prompt = words.join(' ').slice(0, target);
    const scores: Record<string, number> = {};
    const costs: Record<string, number> = {};
    MODEL_IDS.forEach((id, j) => {
      scores[id] = rand() < skill[j]![t]! ? 1 : 0;
      costs[id] = (prompt.length / BYTES_PER_TOKEN) * 1e-6 * (j + 1);
    });
    return { id: `synthetic-${i}`, task: topics[t]!, prompt, scores, costs };
  };
  const train = Array.from({ length: trainRows }, (_, i) => make(i));
  const testPrompts = Array.from({ length: testRows }, (_, i) => make(trainRows + i).prompt);
  return { source: 'synthetic', trainData: train, trainRows, models: MODEL_IDS.length, testPrompts, files: { train: [], test: [] } };
}

/** Cuts `s` at `i`, moving the cut off the middle of a surrogate pair (a lone half is refused). */
function cutIndex(s: string, i: number): number {
  const c = s.charCodeAt(i);
  return c >= 0xdc00 && c <= 0xdfff ? i + 1 : i;
}

/**
 * The P1 prompt set: every test prompt brought to a length drawn uniformly from 450–550 characters.
 * Long prompts keep their *tail* (RouterBench prompts are few-shot: the shared preamble comes first,
 * the question last), starting at a word boundary; short prompts are concatenated in order until
 * long enough, then cut at a word boundary.
 */
export function p1PromptSet(testPrompts: readonly string[], seed = 11): string[] {
  const rand = rng(seed);
  const target = (): number => 450 + Math.floor(rand() * 101);
  const out: string[] = [];
  let acc = '';
  for (const p of testPrompts) {
    const want = target();
    if (p.length >= 450) {
      let start = cutIndex(p, p.length - want);
      const space = p.indexOf(' ', start);
      if (space !== -1 && p.length - (space + 1) >= 450) start = space + 1;
      out.push(p.slice(start));
      continue;
    }
    acc = acc === '' ? p : `${acc}\n${p}`;
    if (acc.length >= 450) {
      let end = Math.min(acc.length, want);
      const space = acc.lastIndexOf(' ', end);
      if (space >= 450) end = space;
      out.push(acc.slice(0, cutIndex(acc, end)));
      acc = '';
    }
  }
  return out.filter((p) => p.length >= 450 && p.length <= 550);
}

export function lengths(prompts: readonly string[]): Distribution {
  return distribution(prompts.map((p) => p.length));
}
