/**
 * Server processes for the HTTP benchmarks (gateway, shadow, ab-trees): a Node script started as a
 * child, optionally pinned to CPUs, and its port read from what it prints once it listens.
 * @module
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A started server: its name in the tables, its process and the port it listens on. */
export interface Server {
  name: string;
  child: ChildProcess;
  port: number;
}

/** `taskset -c CPUS` in front of a Node command when pinning (`cpuList` undefined: not pinned). */
export function pinned(cpuList: string | undefined, cmd: string[]): [string, string[]] {
  return cpuList === undefined ? [process.execPath, cmd] : ['taskset', ['-c', cpuList, process.execPath, ...cmd]];
}

/**
 * Runs this script again pinned to `cpuList`, unless it already is (the load generator of a `--pin`
 * benchmark: on the mock's CPU, away from the gateway's). Returns true when it ran the pinned copy,
 * whose exit code is now this process's: the caller then stops.
 */
export function rerunPinned(cpuList: string): boolean {
  if (process.env['ROUTECORE_BENCH_PINNED'] === '1') return false;
  const [exe, argv] = pinned(cpuList, process.argv.slice(1));
  const r = spawnSync(exe, argv, { stdio: 'inherit', env: { ...process.env, ROUTECORE_BENCH_PINNED: '1' } });
  process.exitCode = r.status ?? 1;
  return true;
}

/**
 * The runs of a benchmark: `rounds` times each connection level, the targets in an order rotated one
 * step per level, so that no target always runs first on a machine warming up or loaded by others.
 */
export function* rotatingRuns<T>(rounds: number, levels: readonly number[], targets: readonly T[]): Generator<{ round: number; connections: number; target: T }> {
  let turn = 0;
  for (let round = 0; round < rounds; round++) {
    for (const connections of levels) {
      for (let i = 0; i < targets.length; i++) yield { round, connections, target: targets[(i + turn) % targets.length]! };
      turn++;
    }
  }
}

/** How {@link startServer} starts and waits. */
export interface StartOptions {
  /** CPUs to pin the process to (taskset's list syntax). */
  cpuList?: string;
  /** The port when the server's ready line does not print one (`portFrom` then only says it is ready). */
  fixedPort?: number;
  /** How long to wait for the ready line; 60 s by default. */
  timeoutMs?: number;
}

/**
 * Starts `node cmd...` with `env` added, and resolves once its stdout or stderr matches `portFrom`
 * (group 1: the port). Fails with everything it printed when it exits first or is not ready in time.
 */
export async function startServer(name: string, cmd: string[], env: Record<string, string>, portFrom: RegExp, options: StartOptions = {}): Promise<Server> {
  const [exe, argv] = pinned(options.cpuList, cmd);
  const child = spawn(exe, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    const m = portFrom.exec(out);
    if (m) return { name, child, port: options.fixedPort ?? Number(m[1]) };
    if (child.exitCode !== null) throw new Error(`${name} exited: ${out}`);
    if (Date.now() > deadline) throw new Error(`${name} did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Writes the registry the gateway benchmarks serve: models `big` and `small` on one mock upstream
 * (`mockBase`, e.g. http://127.0.0.1:PORT/v1), priced like a strong and a weak model, keyed by the
 * environment variable BENCH_KEY. Returns the file's path (`DIR/models.json`).
 */
export function writeBenchRegistry(dir: string, mockBase: string): string {
  const registry = join(dir, 'models.json');
  const models = [
    { id: 'big', baseUrl: mockBase, apiKeyEnv: 'BENCH_KEY', inputCostPer1M: 10, outputCostPer1M: 30 },
    { id: 'small', baseUrl: mockBase, apiKeyEnv: 'BENCH_KEY', inputCostPer1M: 0.5, outputCostPer1M: 1.5 },
  ];
  writeFileSync(registry, JSON.stringify({ models }));
  return registry;
}
