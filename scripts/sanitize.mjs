#!/usr/bin/env node
// npm run test:sanitize: the native tests and the addon under AddressSanitizer + UBSan.
//  1. builds build-asan/ (cmake-js, ROUTECORE_SANITIZE=ON, CUDA off) with the system g++;
//  2. runs ctest there (the unit tests and the fuzz-corpus replays), leaks checked by LSan;
//  3. runs scripts/sanitize-stress.mjs on build-asan/Release/routecore.node with libasan
//     preloaded into Node (Node itself is not instrumented; LSan is off there, as Node's own
//     allocations at exit would drown it: the leak check below covers the addon's API);
//  4. runs scripts/leak-check.mjs (10^6 routeSync calls, RSS before and after) on the normal build.
// Any sanitizer report halts the step with a non-zero exit, and this script fails.
// Options: --skip-build, --rounds N (stress rounds per thread, default 6), --calls N (leak check).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { 'skip-build': { type: 'boolean' }, rounds: { type: 'string', default: '6' }, calls: { type: 'string', default: '1000000' } } });
const SAN_ENV = {
  ASAN_OPTIONS: 'halt_on_error=1:abort_on_error=0:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1',
  UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
};

function step(title, cmd, args, env = {}) {
  console.log(`\n== ${title}\n$ ${Object.entries(env).map(([k, v]) => `${k}=${v} `).join('')}${cmd} ${args.join(' ')}`);
  const started = Date.now();
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    console.error(`\ntest:sanitize FAILED at "${title}" (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
  console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s)`);
}

if (!values['skip-build']) {
  step('build build-asan/ with ASan+UBSan', 'npx', ['cmake-js', 'compile', '--out', 'build-asan', '--CDROUTECORE_CUDA=OFF', '--CDROUTECORE_SANITIZE=ON']);
}
step('native tests under ASan+UBSan', 'ctest', ['--test-dir', 'build-asan', '--output-on-failure'], SAN_ENV);
const libasan = spawnSync(process.env.CXX ?? 'g++', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).stdout.trim();
step('Node stress on the sanitized addon', process.execPath, [join(root, 'scripts', 'sanitize-stress.mjs'), '--rounds', values.rounds], {
  ...SAN_ENV,
  ASAN_OPTIONS: SAN_ENV.ASAN_OPTIONS.replace('detect_leaks=1', 'detect_leaks=0'),
  LD_PRELOAD: libasan,
});
step('leak check: RSS over routeSync calls (normal build)', process.execPath, ['--expose-gc', join(root, 'scripts', 'leak-check.mjs'), '--calls', values.calls]);
console.log('\ntest:sanitize: clean');
