/**
 * Upstreams for the shadow-judging and learning tests: `big` (the strong model), `small` (the weak
 * one) and `judge`, whose verdict follows a hidden rule of the prompt: prompts with code are better
 * answered by the strong model, every other prompt is a tie. A seeded generator makes the traffic
 * (about 30% code prompts), so every run sees the same prompts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { seededRandom } from '../../src/learning/stats.js';
import { startMockUpstream, type MockUpstream } from './mock-upstream.js';

/** Share of generated prompts that contain code (the rate the rule implies for "the cheaper answer was as good": 1 − this). */
export const CODE_SHARE = 0.3;

const WORDS = ['river', 'garden', 'invoice', 'planet', 'violin', 'harbor', 'recipe', 'winter', 'museum', 'bicycle', 'lantern', 'meadow', 'copper', 'falcon', 'canyon', 'orchard', 'pillow', 'saddle', 'thunder', 'velvet'];
const CHAT = ['Write a short poem about the {w} and the {v}.', 'What should I pack for a trip to the {w}?', 'Give me three names for a {w} shop near the {v}.', 'Describe a quiet morning at the {w}.', 'Why do people like the {w} more than the {v}?', 'Suggest a weekend plan involving a {w}.'];
const CODE = [
  'Fix the bug in this function:\n```js\nfunction {w}(items) {\n  for (let i = 0; i <= items.length; i++) total += items[i].{v};\n  return total;\n}\n```',
  'What does this Python code print?\n```python\ndef {w}(n):\n    return [x * x for x in range(n) if x % 2]\nprint({w}(7))\n```',
  'Refactor this TypeScript:\n```ts\nconst {w} = (a: number[]) => a.map((x) => x * 2).filter((x) => x > {n});\n```',
  'Why does this SQL fail?\n```sql\nSELECT {w}, COUNT(*) FROM {v} GROUP BY 1 HAVING COUNT(*) > {n}\n```',
];

/** Whether the rule counts a prompt as code. */
export function hasCode(text: string): boolean {
  return text.includes('```');
}

/** `n` prompts from a seeded generator; about {@link CODE_SHARE} of them with code. */
export function makePrompts(n: number, seed = 7): string[] {
  const rand = seededRandom(seed);
  const pick = <T>(a: readonly T[]) => a[Math.floor(rand() * a.length)]!;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const t = rand() < CODE_SHARE ? pick(CODE) : pick(CHAT);
    out.push(t.replaceAll('{w}', pick(WORDS)).replaceAll('{v}', pick(WORDS)).replaceAll('{n}', String(Math.floor(rand() * 100))) + ` (#${i})`);
  }
  return out;
}

/** How the judge mock decides. */
export type JudgeMode = 'rule' | 'coin' | 'garbage';

/** The question and which position holds the strong model's answer, read from a default-template judge request. */
function readJudgeRequest(body: Record<string, unknown> | undefined): { question: string; bigIsA: boolean } | undefined {
  const messages = body?.['messages'] as { role: string; content: string }[] | undefined;
  const user = messages?.find((m) => m.role === 'user')?.content;
  if (typeof user !== 'string') return undefined;
  const q = user.indexOf('[User request]\n');
  const a = user.indexOf("[Start of assistant A's answer]");
  const b = user.indexOf("[Start of assistant B's answer]");
  if (q < 0 || a < 0 || b < 0) return undefined;
  return { question: user.slice(q, a), bigIsA: user.slice(a, b).includes('Answer from big.') };
}

export interface LearningFixture {
  dir: string;
  registryPath: string;
  big: MockUpstream;
  small: MockUpstream;
  judge: MockUpstream;
  /** How the judge decides now (switchable between tests). */
  mode: JudgeMode;
  close(): Promise<void>;
}

export async function startLearningFixture(): Promise<LearningFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'routecore-learn-'));
  const big = await startMockUpstream({ name: 'big' });
  const small = await startMockUpstream({ name: 'small' });
  let coin = seededRandom(99);
  const fixture = {
    mode: 'rule' as JudgeMode,
  } as LearningFixture;
  const judge = await startMockUpstream({
    name: 'judge',
    answer: (body) => {
      const r = readJudgeRequest(body);
      if (fixture.mode === 'garbage' || !r) return 'Both answers have merits; I would rather not pick one.';
      if (fixture.mode === 'coin') return coin() < 0.5 ? 'A reads better. [[A]]' : 'B reads better. [[B]]';
      if (!hasCode(r.question)) return 'Both answer the request equally well.\n[[C]]';
      return r.bigIsA ? 'Assistant A fixes the code; B does not. Options were [[A]], [[B]], [[C]].\n[[A]]' : 'Assistant B is correct.\n[[B]]';
    },
  });
  const registryPath = join(dir, 'models.json');
  writeFileSync(
    registryPath,
    JSON.stringify({
      models: [
        { id: 'big', provider: 'mock', baseUrl: big.baseUrl, inputCostPer1M: 10, outputCostPer1M: 30 },
        { id: 'small', provider: 'mock', baseUrl: small.baseUrl, inputCostPer1M: 0.5, outputCostPer1M: 1.5 },
        { id: 'judge', provider: 'mock', baseUrl: judge.baseUrl, inputCostPer1M: 1, outputCostPer1M: 2 },
      ],
    }),
  );
  Object.assign(fixture, {
    dir,
    registryPath,
    big,
    small,
    judge,
    async close() {
      await big.close();
      await small.close();
      await judge.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
  coin = seededRandom(99);
  return fixture;
}
