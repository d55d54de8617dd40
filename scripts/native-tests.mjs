#!/usr/bin/env node
// `npm test`'s native half: ctest over build/ when the native tests were built (ROUTECORE_DEV=full
// at install, as .ci/run does), otherwise one line saying they were skipped and how to build them.
// Under ROUTECORE_DEV=full a build without the tests is an error, so CI cannot skip them silently.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const cache = join(root, 'build', 'CMakeCache.txt');
const full = (process.env.ROUTECORE_DEV ?? '').trim().toLowerCase() === 'full';
const built = existsSync(cache) && /^ROUTECORE_TESTS:BOOL=ON$/m.test(readFileSync(cache, 'utf8'));
const howTo = 'ROUTECORE_DEV=full npm install (or ROUTECORE_DEV=full node scripts/install.mjs) builds them';

if (!built) {
  if (full) {
    console.error(`native tests: ROUTECORE_DEV=full but build/ has no native tests; ${howTo}`);
    process.exit(1);
  }
  console.log(`native tests: skipped, not built (the default install builds the addon only; ${howTo})`);
  process.exit(0);
}
const res = spawnSync('ctest', ['--test-dir', 'build', '--output-on-failure', '--no-tests=error'], { cwd: root, stdio: 'inherit' });
if (res.error) {
  console.error(`native tests: cannot run ctest: ${res.error.message}`);
  process.exit(1);
}
process.exit(res.status ?? 1);
