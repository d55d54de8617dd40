#!/usr/bin/env node
/**
 * The architecture check of `npm test`: no import cycles in src/, and src/routing/ importing none
 * of the faces (rules in .dependency-cruiser.cjs). It calls dependency-cruiser's API rather than its
 * CLI because the CLI refuses Node 20, which routecore supports; the API runs there.
 *
 *   node scripts/check-deps.mjs [dir ...]        (default: src; exit 1 on a violation)
 *
 * `checkDependencies({ root, paths })` is what test/architecture.test.ts calls, on src/ and on a
 * fixture that must fail.
 */
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise } from 'dependency-cruiser';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const config = createRequire(import.meta.url)(join(REPO, '.dependency-cruiser.cjs'));

/**
 * Cruises `paths` (relative to `root`, where a tsconfig.json must be) under the repository's rules.
 * @param {{ root?: string, paths?: string[] }} [where]
 * @returns {Promise<{ modules: string[], violations: string[] }>} the modules cruised (paths relative
 *   to `root`, packages and built-ins included) and one line per violation
 */
export async function checkDependencies({ root = REPO, paths = ['src'] } = {}) {
  const tsConfigFile = join(root, 'tsconfig.json');
  const result = await cruise(
    paths,
    { ...config.options, baseDir: root, tsConfig: { fileName: tsConfigFile }, validate: true, ruleSet: { forbidden: config.forbidden } },
    undefined,
    { tsConfig: extractTSConfig(tsConfigFile) },
  );
  const out = result.output;
  const violations = out.summary.violations.map((v) =>
    v.cycle && v.cycle.length > 0
      ? `${v.rule.name}: ${v.from} -> ${v.cycle.map((c) => c.name).join(' -> ')}`
      : `${v.rule.name}: ${v.from} -> ${v.to}`,
  );
  return { modules: out.modules.map((m) => m.source), violations };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const paths = process.argv.slice(2);
  const { modules, violations } = await checkDependencies(paths.length > 0 ? { paths } : {});
  // A parser that silently skipped every .ts file would pass any rule: refuse a cruise without them.
  if (!modules.some((m) => m.endsWith('.ts'))) {
    console.error('check-deps: no module was cruised (is @swc/core installed?)');
    process.exit(1);
  }
  for (const v of violations) console.error(v);
  console.log(`check-deps: ${modules.length} modules, ${violations.length} violation(s)`);
  process.exit(violations.length > 0 ? 1 : 0);
}
