#!/usr/bin/env node
// npm run fuzz -- [--seconds N] [--runs N] [--only artifact,json,encoder,lines] [--sanitize address|undefined|none]
//
// Builds the libFuzzer harnesses in fuzz/ with clang (Debian: `apt-get install clang
// libclang-rt-14-dev`; any clang with the libFuzzer runtime works, set CXX to pick one) and
// ASan+UBSan (by default) into build-fuzz/<sanitizer>/, then runs each for --seconds (default 60) or --runs executions,
// whichever ends first. Each fuzzer works on a copy of its committed seed corpus
// (build-fuzz/corpus/<name>) so the repository's corpus only grows by hand: copy a crash input
// (build-fuzz/crash-*) into fuzz/corpus/<name>/ with the fix, and the g++ replay in ctest keeps it fixed.
// The outcome/pairwise line parsers are TypeScript; fuzz/lines.fuzz.mjs fuzzes them in Node.
// Prints one line per fuzzer: executions, seconds, and exec/s.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    runs: { type: 'string' },
    only: { type: 'string', default: 'artifact,json,encoder,lines' },
    jobs: { type: 'string', default: '1' },
    // address: ASan+UBSan (the default, -O1); undefined: UBSan only at -O2, ~5x the executions,
    // for long runs that count; none: libFuzzer alone.
    sanitize: { type: 'string', default: 'address' },
  },
  strict: true,
});
const seconds = Number(values.seconds);
if (!Number.isInteger(seconds) || seconds < 1) throw new Error(`--seconds expects a positive integer, got ${values.seconds}`);
const runs = values.runs === undefined ? undefined : Number(values.runs);
if (runs !== undefined && (!Number.isInteger(runs) || runs < 1)) throw new Error(`--runs expects a positive integer, got ${values.runs}`);
const only = values.only.split(',');
const cxx = process.env.CXX_FUZZ ?? process.env.CXX ?? 'clang++';

const SANITIZERS = {
  address: ['-fsanitize=address,undefined', '-fno-sanitize-recover=undefined', '-O1'],
  undefined: ['-fsanitize=undefined', '-fno-sanitize-recover=undefined', '-O2'],
  none: ['-O2'],
};
if (!(values.sanitize in SANITIZERS)) throw new Error(`--sanitize expects address, undefined or none, got ${values.sanitize}`);
const out = join(root, 'build-fuzz', values.sanitize);
const objDir = join(out, 'obj');
mkdirSync(objDir, { recursive: true });

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}${cmd.includes('clang') ? ' (install clang and libclang-rt-14-dev, or set CXX)' : ''}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.slice(-3).join(' ')} exited with ${r.status}`);
  return r;
}

const SAN = [...SANITIZERS[values.sanitize], '-fno-omit-frame-pointer', '-g', '-std=c++17'];
const native = C => C.endsWith('.cc') && C !== 'cuda_backend.cc';
const coreSources = readdirSync(join(root, 'native')).filter(native);
const objects = [];
for (const src of coreSources) {
  const obj = join(objDir, src.replace(/\.cc$/, '.o'));
  const srcPath = join(root, 'native', src);
  if (!existsSync(obj) || statSync(obj).mtimeMs < statSync(srcPath).mtimeMs || newestHeader() > statSync(obj).mtimeMs) {
    sh(cxx, [...SAN, '-fsanitize=fuzzer-no-link', `-I${join(root, 'native')}`, '-c', srcPath, '-o', obj]);
  }
  objects.push(obj);
}
function newestHeader() {
  return Math.max(...readdirSync(join(root, 'native')).filter((f) => f.endsWith('.h') || f.endsWith('.inc')).map((f) => statSync(join(root, 'native', f)).mtimeMs));
}

const results = [];
// (report() is hoisted: each fuzzer's line is printed as soon as it finishes.)
for (const name of only) {
  if (name === 'lines') {
    const r = spawnSync(process.execPath, [join(root, 'fuzz', 'lines.fuzz.mjs'), '--seconds', String(seconds), ...(runs ? ['--runs', String(runs)] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    process.stdout.write(r.stdout);
    if (r.status !== 0) throw new Error(`the lines fuzzer failed (exit ${r.status})`);
    const m = /executions: (\d+) in ([\d.]+) s/.exec(r.stdout);
    results.push({ name, executions: m ? Number(m[1]) : NaN, seconds: m ? Number(m[2]) : NaN });
    report(results.at(-1));
    continue;
  }
  const harness = join(root, 'fuzz', `fuzz_${name}.cc`);
  if (!existsSync(harness)) throw new Error(`no fuzzer named ${name} (fuzz/fuzz_${name}.cc)`);
  const bin = join(out, `fuzz_${name}`);
  sh(cxx, [...SAN, '-fsanitize=fuzzer', `-I${join(root, 'native')}`, harness, ...objects, '-lpthread', '-o', bin]);
  const work = join(out, 'corpus', name);
  rmSync(work, { recursive: true, force: true });
  cpSync(join(root, 'fuzz', 'corpus', name), work, { recursive: true });
  const args = [work, `-max_total_time=${seconds}`, '-print_final_stats=1', `-artifact_prefix=${out}/crash-${name}-`, '-max_len=8192', '-timeout=10', '-rss_limit_mb=2048'];
  if (runs) args.push(`-runs=${runs}`);
  if (Number(values.jobs) > 1) args.push(`-fork=${values.jobs}`);
  const started = Date.now();
  const r = spawnSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'inherit', 'pipe'], env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1', UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1' } });
  const stderr = r.stderr ?? '';
  const tail = stderr.split('\n').slice(-40).join('\n');
  const m = /stat::number_of_executed_units:\s*(\d+)/.exec(stderr);
  if (r.status !== 0) {
    process.stderr.write(tail + '\n');
    throw new Error(`fuzzer ${name} found a problem (exit ${r.status}); the input is under ${out}/crash-${name}-*`);
  }
  results.push({ name, executions: m ? Number(m[1]) : NaN, seconds: (Date.now() - started) / 1000 });
  report(results.at(-1));
}
function report(r) {
  console.log(`fuzz ${r.name}: ${r.executions} executions in ${r.seconds.toFixed(0)} s (${Math.round(r.executions / r.seconds)} exec/s), no findings`);
}
