#!/usr/bin/env node
// routecore's `install` step. It downloads nothing and, on a platform with a prebuilt package,
// compiles nothing:
//
// - in the development checkout (.git and test/ next to package.json) it builds the addon CPU-only,
//   without native tests, its compiler output kept in build/install.log (printed only when the build
//   fails): a newcomer's `npm install` takes about a minute and prints one line. ROUTECORE_DEV=full
//   (what .ci/run sets) builds what CI needs too: the native tests and fuzz-corpus replayers that
//   `npm test` runs with ctest, and the CUDA backend when nvcc is found, with the output streamed;
// - in an installed copy it returns at once when a usable binary is there (the platform package
//   npm installed as an optional dependency, or an earlier local build);
// - otherwise it builds from source with cmake-js, CPU-only and without the native tests, unless
//   ROUTECORE_CUDA=ON asks for the CUDA backend.
//
// Environment: ROUTECORE_DEV=full (development checkout only, above); ROUTECORE_BUILD_FROM_SOURCE=1 (or `npm install --build-from-source`) builds even
// when a prebuilt fits; ROUTECORE_CUDA=ON|OFF|AUTO; ROUTECORE_CUDA_ARCHITECTURES="80-real;90-real"
// overrides CMake's CUDA architecture list (default: 75-real;80-real;86-real;89-real;90-real;90-virtual).
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);
const env = process.env;

function say(message) {
  console.log(`routecore: ${message}`);
}

function truthy(value) {
  return value !== undefined && /^(1|true|on|yes)$/i.test(value.trim());
}

/** The napi-rs name of this platform (`linux-x64-gnu`, `darwin-arm64`, `win32-x64-msvc`); as src/addon/native.ts. */
function platformTriple() {
  if (process.platform === 'linux') {
    const glibc = typeof process.report?.getReport()?.header?.glibcVersionRuntime === 'string';
    return `linux-${process.arch}-${glibc ? 'gnu' : 'musl'}`;
  }
  if (process.platform === 'win32') return `win32-${process.arch}-msvc`;
  return `${process.platform}-${process.arch}`;
}

/** The .node file of an installed platform package, or undefined. */
function packageBinary(name) {
  let manifestPath;
  try {
    manifestPath = require.resolve(`${name}/package.json`);
  } catch {
    return undefined;
  }
  const main = JSON.parse(readFileSync(manifestPath, 'utf8')).main;
  const file = join(dirname(manifestPath), main ?? '');
  return main && existsSync(file) ? file : undefined;
}

/** Loads a CPU binary in this process and asks it for a CPU backend: the proof it is usable here. */
function usable(path) {
  try {
    const report = require(path).backendInfo('cpu', 1);
    return report && report.chosen === 'cpu' ? true : 'it loaded but reported no CPU backend';
  } catch (err) {
    return String(err?.message ?? err).split('\n')[0];
  }
}

function onPath(names) {
  const dirs = (env.PATH ?? '').split(delimiter).filter(Boolean);
  const exts = process.platform === 'win32' ? ['.exe', '.cmd', ''] : [''];
  return names.find((n) => dirs.some((d) => exts.some((e) => existsSync(join(d, n + e)))));
}

function cudaSetting() {
  const raw = (env.ROUTECORE_CUDA ?? '').trim().toUpperCase();
  if (raw === '') return undefined;
  if (!['ON', 'OFF', 'AUTO'].includes(raw)) {
    console.error(`routecore: ROUTECORE_CUDA="${env.ROUTECORE_CUDA}" must be ON, OFF or AUTO`);
    process.exit(1);
  }
  return raw;
}

/** ROUTECORE_DEV: '' (the light developer build) or 'full'; anything else stops the install with a clear line. */
function devSetting() {
  const raw = (env.ROUTECORE_DEV ?? '').trim().toLowerCase();
  if (raw !== '' && raw !== 'full') {
    console.error(`routecore: ROUTECORE_DEV="${env.ROUTECORE_DEV}" must be "full" (native tests, fuzz replayers, CUDA when nvcc is found) or unset (CPU addon only)`);
    process.exit(1);
  }
  return raw;
}

/**
 * Runs cmake-js. `log`: a file that takes the compiler's output (shown only if the build fails), so a
 * newcomer's install is one line; without it the output streams (CI, source builds of the package).
 */
function build({ tests, cuda, why, log }) {
  if (!log) say(`building the native addon from source (${why}): tests ${tests}, CUDA ${cuda}`);
  const missing = [];
  if (!onPath(['cmake'])) missing.push('CMake >= 3.18 (`cmake` on the PATH)');
  if (process.platform !== 'win32' && !onPath(['c++', 'g++', 'clang++'])) missing.push('a C++17 compiler (g++ or clang++)');
  if (process.platform !== 'win32' && !onPath(['ninja', 'make'])) missing.push('a build tool (make or ninja)');
  if (cuda === 'ON' && !onPath(['nvcc'])) missing.push('the CUDA toolkit (`nvcc` on the PATH), because ROUTECORE_CUDA=ON');
  if (missing.length > 0) {
    console.error(
      `routecore: cannot build the native addon from source on ${platformTriple()}: missing ${missing.join('; ')}.\n` +
        `routecore: prebuilt binaries exist for linux-x64-gnu, linux-arm64-gnu, darwin-arm64, darwin-x64 and win32-x64-msvc; ` +
        `install without --omit=optional to get them, or install the tools above and run \`npm rebuild routecore\`.`,
    );
    process.exit(1);
  }
  let cmakeJs;
  try {
    cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
  } catch {
    console.error('routecore: cmake-js (a dependency of routecore, used only to build from source) is not installed; reinstall routecore');
    process.exit(1);
  }
  const args = [cmakeJs, 'compile', '--out', 'build', `--CDROUTECORE_TESTS=${tests}`, `--CDROUTECORE_CUDA=${cuda}`];
  if (env.ROUTECORE_CUDA_ARCHITECTURES) args.push(`--CDCMAKE_CUDA_ARCHITECTURES=${env.ROUTECORE_CUDA_ARCHITECTURES}`);
  const started = Date.now();
  let res;
  if (log) {
    mkdirSync(dirname(log), { recursive: true });
    const fd = openSync(log, 'w');
    try {
      res = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
  } else {
    res = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  }
  if (res.status !== 0) {
    if (log) process.stderr.write(readFileSync(log, 'utf8').split('\n').slice(-60).join('\n') + '\n');
    console.error(`routecore: the source build failed (cmake-js exit ${res.status ?? res.signal}); ${log ? `the end of ${log} above says why` : 'the output above says why'}`);
    process.exit(res.status || 1);
  }
  return (Date.now() - started) / 1000;
}

const cuda = cudaSetting();
const force = truthy(env.ROUTECORE_BUILD_FROM_SOURCE) || truthy(env.npm_config_build_from_source);

if (existsSync(join(root, '.git')) && existsSync(join(root, 'test'))) {
  if (devSetting() === 'full') {
    build({ tests: 'ON', cuda: cuda ?? 'AUTO', why: 'development checkout, ROUTECORE_DEV=full' });
  } else {
    const cudaHere = cuda ?? 'OFF';
    const log = join(root, 'build', 'install.log');
    const seconds = build({ tests: 'OFF', cuda: cudaHere, why: 'development checkout', log });
    say(
      `built the ${cudaHere === 'OFF' ? 'CPU' : `CPU+CUDA (ROUTECORE_CUDA=${cudaHere})`} addon in ${seconds.toFixed(0)} s (log: build/install.log). ` +
        'Native tests, fuzz replayers and CUDA: ROUTECORE_DEV=full npm install',
    );
  }
  process.exit(0);
}

if (!force && cuda !== 'ON') {
  const triple = platformTriple();
  const tried = [];
  const local = join(root, 'build', 'Release', 'routecore.node');
  for (const [label, path] of [
    ['local build', existsSync(local) ? local : undefined],
    [`routecore-${triple}`, packageBinary(`routecore-${triple}`)],
  ]) {
    if (path === undefined) {
      tried.push(`${label}: not present`);
      continue;
    }
    const verdict = usable(path);
    if (verdict === true) {
      // The CUDA package, when present, is test-loaded at run time (src/addon/native.ts), not here.
      say(`using the prebuilt binary ${path}; nothing to build`);
      process.exit(0);
    }
    tried.push(`${label} (${path}): ${verdict}`);
  }
  say(`no usable prebuilt binary (${tried.join('; ')})`);
  build({ tests: 'OFF', cuda: cuda ?? 'OFF', why: 'no prebuilt binary fits this machine' });
} else {
  build({ tests: 'OFF', cuda: cuda ?? 'OFF', why: cuda === 'ON' ? 'ROUTECORE_CUDA=ON' : 'ROUTECORE_BUILD_FROM_SOURCE' });
}
