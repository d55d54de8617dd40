/**
 * Smoke test of the benchmark harness: runs the built bench in --quick mode as a child process and
 * checks that it produces every headline figure. No timing thresholds: benchmarks are never tests
 * (DESIGN.md, "Performance targets").
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runJs = path.join(repoRoot, 'dist', 'bench', 'run.js');
const addon = path.join(repoRoot, 'build', 'Release', 'routecore.node');
const missing = !existsSync(runJs) ? `${runJs} is missing (run \`npx tsc -p .\`)` : !existsSync(addon) ? `${addon} is missing (run \`npm run build:native\`)` : '';
if (missing) console.warn(`[bench-smoke] skipping: ${missing}`);

describe.skipIf(missing !== '')('bench --quick', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'routecore-bench-smoke-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs P1 and P2 and writes positive latency and throughput figures', () => {
    const jsonFile = path.join(dir, 'bench.json');
    const child = spawnSync(process.execPath, [runJs, '--quick', '--json', jsonFile], { cwd: repoRoot, encoding: 'utf8', timeout: 170_000 });
    expect(child.error).toBeUndefined();
    expect(child.status, `bench exited ${child.status}\nstdout:\n${child.stdout}\nstderr:\n${child.stderr}`).toBe(0);
    expect(child.stdout).toContain('P1:');
    expect(child.stdout).toContain('P2:');

    const report = JSON.parse(readFileSync(jsonFile, 'utf8')) as {
      machine: { cpu: string; cores: number; node: string };
      suites: Record<string, { figures: { key: string; value: number; target?: unknown; met?: boolean }[] }>;
      summary: Record<string, number>;
    };
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.machine.node).toBe(process.version);
    for (const key of ['P1.routeSync.p50', 'P1.routeSync.p90', 'P1.routeSync.p99', 'P1.native.p50', 'P1.routeSync.hz', 'P2.routeBatch.1', 'P2.routeBatch.16', 'P2.routeBatch.1024', 'P2.scores.1024']) {
      expect(report.summary[key], key).toBeGreaterThan(0);
    }
    expect(report.summary['P1.routeSync.p99']).toBeGreaterThanOrEqual(report.summary['P1.routeSync.p50']!);
    // Every figure with a target carries a verdict, whatever it is.
    for (const s of Object.values(report.suites)) {
      for (const f of s.figures) if (f.target) expect(typeof f.met, f.key).toBe('boolean');
    }
  }, 180_000);
});
