/**
 * The import rules of .dependency-cruiser.cjs (scripts/check-deps.mjs): no cycles in src/, and
 * src/routing/ importing none of the faces. The fixture breaks both rules, so a check that stopped
 * seeing violations (a parser that skips .ts files, a rule gone stale) fails here.
 */
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

// @ts-expect-error: a plain ES module without type declarations
import { checkDependencies } from '../scripts/check-deps.mjs';

type Check = (where?: { root?: string; paths?: string[] }) => Promise<{ modules: string[]; violations: string[] }>;
const check = checkDependencies as Check;

const REPO = join(import.meta.dirname, '..');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(REPO, join(e.parentPath, e.name)));
}

describe('import architecture', () => {
  it('src/ has no import cycles and src/routing/ imports no face', async () => {
    const { modules, violations } = await check();
    expect(violations).toEqual([]);
    // Every source file was parsed, so the empty list above means something.
    for (const f of tsFiles(join(REPO, 'src'))) expect(modules).toContain(f);
  });

  it('reports a cycle (type-only included) and routing/ importing chat/', async () => {
    const { violations } = await check({ root: join(REPO, 'test/fixtures/architecture'), paths: ['src'] });
    expect(violations).toContain('routing-knows-no-faces: src/routing/scorer.ts -> src/chat/body.ts');
    expect(violations.some((v) => v.startsWith('no-circular: ') && v.includes('src/chat/body.ts') && v.includes('src/routing/scorer.ts'))).toBe(true);
  });
});
