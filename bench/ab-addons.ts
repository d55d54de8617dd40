/**
 * Two (or more) builds of the addon in one process, on the same router and prompts: native
 * `scoreSync` time per prompt, builds alternating round by round, so that a shared machine's
 * changing speed hits every build alike. For judging a native change when absolute timings drift
 * between runs by more than the change itself.
 *
 *   node dist/bench/ab-addons.js --setup DIR ADDON_A.node ADDON_B.node [--router FILE] [--rounds N]
 *
 * DIR is a setup kept by `node dist/bench/run.js --keep` (its router and ≈500-character P1 prompts);
 * --router scores another router file on the same prompts. Reports each build's median and
 * minimum µs per prompt and the median of the per-round ratios to the first build.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

interface RawRouter {
  scoreSync(text: Uint8Array, offsets: Uint32Array, count: number, out: Float32Array): void;
  outputs: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

function main(): void {
  const { values, positionals } = parseArgs({
    options: { setup: { type: 'string' }, router: { type: 'string' }, rounds: { type: 'string' } },
    allowPositionals: true,
  });
  if (!values.setup || positionals.length < 2) {
    console.error('usage: node dist/bench/ab-addons.js --setup DIR ADDON_A.node ADDON_B.node [...] [--router FILE] [--rounds N]');
    process.exit(2);
  }
  const setup = JSON.parse(readFileSync(join(values.setup, 'setup.json'), 'utf8')) as { routerPath: string; p1Prompts: string[] };
  const routerPath = values.router ?? setup.routerPath;
  const rounds = Number(values.rounds ?? 40);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got ${values.rounds}`);
  const packed = setup.p1Prompts.map((p) => Buffer.from(p, 'utf8'));
  const offsets = packed.map((b) => Uint32Array.of(0, b.length));
  const bytes = readFileSync(routerPath);
  // Each build is its own shared object: dlopen without RTLD_GLOBAL keeps their symbols apart.
  const routers = positionals.map((path) => {
    const mod = { exports: {} as { NativeRouter: { load(b: Uint8Array, name: string, backend: string, threads: number): RawRouter } } };
    process.dlopen(mod, path);
    return mod.exports.NativeRouter.load(bytes, routerPath, 'cpu', 1);
  });
  const out = new Float32Array(routers[0]!.outputs);
  const times = routers.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    routers.forEach((raw, a) => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < packed.length; i++) raw.scoreSync(packed[i]!, offsets[i]!, 1, out);
      times[a]!.push(Number(process.hrtime.bigint() - t0) / 1000 / packed.length);
    });
  }
  console.log(`${packed.length} prompts, ${rounds} rounds, router ${routerPath}`);
  positionals.forEach((path, a) => {
    const ratio = median(times[a]!.map((t, r) => t / times[0]![r]!));
    console.log(`${path}: median ${median(times[a]!).toFixed(2)} µs, min ${Math.min(...times[a]!).toFixed(2)} µs per prompt; per-round ratio to the first ${ratio.toFixed(3)}`);
  });
}

main();
