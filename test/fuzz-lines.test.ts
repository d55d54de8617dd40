// A short, seeded run of the line-parser fuzzer (fuzz/lines.fuzz.mjs) in the normal test run:
// the same 20,000 mutants of the committed seed lines every time. The long runs are `npm run fuzz`.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');
const built = existsSync(join(root, 'dist', 'src', 'training', 'data.js'));
if (!built) console.warn('skipping the line-parser fuzz replay: dist/ is missing (run `npm run build:ts`)');

describe.skipIf(!built)('outcome/pairwise line parsers under mutation', () => {
  it('20,000 seeded mutants: each parses to a valid record or throws ERR_ROUTECORE_BAD_DATA naming file:line', async () => {
    const { fuzzLines, checkLine } = (await import('../fuzz/lines.fuzz.mjs')) as {
      fuzzLines: (seeds: string[], o: { seconds: number; runs?: number; seed: number }) => { executions: number };
      checkLine: (line: string) => void;
    };
    const dir = join(root, 'fuzz', 'corpus', 'lines');
    const seeds = readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8').trim());
    for (const s of seeds) checkLine(s);
    // A wall-clock cap far above the time this takes; the run count is what is fixed.
    expect(fuzzLines(seeds, { seconds: 600, runs: 20_000, seed: 14 }).executions).toBe(20_000);
  });
});
