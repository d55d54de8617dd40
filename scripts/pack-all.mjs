#!/usr/bin/env node
// `npm run pack:all`: writes the installable tarballs into dist/pack/: the main package, and every
// platform package this machine can build: its own napi target CPU-only (build-pack/<triple>/),
// and on linux-x64-gnu with nvcc on the PATH the CUDA variant (build-pack/<triple>-cuda/). The
// other platforms come from .github/workflows/prebuild.yml.
//
// The platform package dirs (npm/<triple>/) are made by `napi create-npm-dirs` and filled by
// `napi artifacts`; `napi version` keeps their versions at the main package's. cmake-js builds.
//
// Environment: ROUTECORE_PACK_CUDA=OFF skips the CUDA variant even where nvcc is present;
// ROUTECORE_CUDA_ARCHITECTURES overrides the CUDA architecture list (CMakeLists.txt's default).
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { parseTriple } from '@napi-rs/cli';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const out = join(root, 'dist', 'pack');
// Both packages' `exports` hide their bin files, so find them next to their package.json.
const napiCli = join(dirname(require.resolve('@napi-rs/cli/package.json')), 'dist', 'cli.js');
const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');

function run(cmd, args, options = {}) {
  console.log(`pack:all: ${[cmd === process.execPath ? 'node' : cmd, ...args].join(' ')}`);
  const res = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...options });
  if (res.status !== 0) {
    console.error(`pack:all: failed (exit ${res.status ?? res.signal})`);
    process.exit(res.status || 1);
  }
}

function onPath(name) {
  return (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, name)));
}

function triple() {
  if (process.platform === 'linux') {
    const glibc = typeof process.report?.getReport()?.header?.glibcVersionRuntime === 'string';
    return `linux-${process.arch}-${glibc ? 'gnu' : 'musl'}`;
  }
  if (process.platform === 'win32') return `win32-${process.arch}-msvc`;
  return `${process.platform}-${process.arch}`;
}

function mib(path) {
  return `${(statSync(path).size / 1048576).toFixed(2)} MiB`;
}

/**
 * Builds the addon into build-pack/<dir> (tests off), output in build-pack/<dir>.log, and resolves
 * to the .node file. The CPU and CUDA builds run at the same time: nvcc compiles its one file for
 * every architecture on one core, which leaves the other core to the CPU build.
 */
function buildAddon(dir, cuda) {
  const args = [cmakeJs, 'compile', '--out', join('build-pack', dir), '--CDROUTECORE_TESTS=OFF', `--CDROUTECORE_CUDA=${cuda}`, '--CDROUTECORE_STATIC_RUNTIME=ON'];
  if (cuda === 'ON' && process.env.ROUTECORE_CUDA_ARCHITECTURES) args.push(`--CDCMAKE_CUDA_ARCHITECTURES=${process.env.ROUTECORE_CUDA_ARCHITECTURES}`);
  mkdirSync(join(root, 'build-pack'), { recursive: true });
  const logPath = join(root, 'build-pack', `${dir}.log`);
  console.log(`pack:all: node ${args.join(' ')}  (log: build-pack/${dir}.log)`);
  const log = openSync(logPath, 'w');
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', log, log] });
  return new Promise((resolvePromise) => {
    child.on('exit', (code, signal) => {
      closeSync(log);
      const file = join(root, 'build-pack', dir, 'Release', 'routecore.node');
      if (code !== 0 || !existsSync(file)) {
        const tail = readFileSync(logPath, 'utf8').split('\n').slice(-40).join('\n');
        console.error(`${tail}\npack:all: the ${dir} build failed (exit ${code ?? signal}); full log: ${logPath}`);
        process.exit(code || 1);
      }
      console.log(`pack:all: built ${file.slice(root.length + 1)}`);
      resolvePromise(file);
    });
  });
}

const here = triple();
const targets = new Set(readdirSync(join(root, 'npm')).filter((d) => existsSync(join(root, 'npm', d, 'package.json'))));
if (!targets.has(here)) {
  console.error(`pack:all: this machine is ${here}, which has no platform package dir in npm/ (have: ${[...targets].join(', ')})`);
  process.exit(1);
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

// Versions of the napi-managed dirs follow package.json.
run(process.execPath, [napiCli, 'version', '--npm-dir', 'npm']);

// CPU-only binary for this machine's target, moved into npm/<triple>/ by `napi artifacts`.
const cudaDir = `${here}-cuda`;
const wantCuda = targets.has(cudaDir) && onPath('nvcc') && (process.env.ROUTECORE_PACK_CUDA ?? '').toUpperCase() !== 'OFF';
const [cpuBuilt, cudaBuilt] = await Promise.all([buildAddon(here, 'OFF'), wantCuda ? buildAddon(cudaDir, 'ON') : undefined]);
const artifacts = join(root, 'build-pack', 'artifacts');
rmSync(artifacts, { recursive: true, force: true });
mkdirSync(artifacts, { recursive: true });
copyFileSync(cpuBuilt, join(artifacts, `${pkg.napi.binaryName}.${here}.node`));
// `napi artifacts` insists on every configured target; give it a config naming only this one.
const target = pkg.napi.targets.find((t) => parseTriple(t).platformArchABI === here);
const oneTarget = join(root, 'build-pack', `napi.${here}.json`);
writeFileSync(oneTarget, JSON.stringify({ ...pkg.napi, targets: [target] }, null, 2) + '\n');
run(process.execPath, [napiCli, 'artifacts', '--config-path', oneTarget, '--output-dir', 'build-pack/artifacts', '--npm-dir', 'npm']);
const binaries = [join(root, 'npm', here, `${pkg.napi.binaryName}.${here}.node`)];

// The CUDA variant: a dir of its own (napi-rs has no notion of it), same version.
if (wantCuda) {
  const manifestPath = join(root, 'npm', cudaDir, 'package.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  manifest.version = pkg.version;
  manifest.engines = pkg.engines;
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
  const dest = join(root, 'npm', cudaDir, manifest.main);
  copyFileSync(cudaBuilt, dest);
  binaries.push(dest);
} else if (targets.has(cudaDir)) {
  console.log(`pack:all: skipping ${cudaDir} (${onPath('nvcc') ? 'ROUTECORE_PACK_CUDA=OFF' : 'no nvcc on the PATH'})`);
}

// Tarballs. dist/ was just built by `npm run build:ts`, so the main pack skips `prepare`.
run(process.execPath, [join(root, 'scripts', 'pack-main.mjs'), out]);
run('npm', ['pack', '--pack-destination', out, `./npm/${here}`]);
if (wantCuda) run('npm', ['pack', '--pack-destination', out, `./npm/${cudaDir}`]);

console.log('pack:all: wrote');
for (const f of readdirSync(out).sort()) console.log(`  dist/pack/${f}  ${mib(join(out, f))}`);
console.log('pack:all: binaries');
for (const b of binaries) console.log(`  ${b.slice(root.length + 1)}  ${mib(b)}`);
