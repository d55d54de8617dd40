/**
 * Smoke test of the benchmark harness: runs the built bench in --quick mode as a child process and
 * checks that it produces every headline figure. No timing thresholds: benchmarks are never tests
 * (docs/ARCHITECTURE.md, "Performance targets").
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

  it('runs every suite and writes their figures', () => {
    const jsonFile = path.join(dir, 'bench.json');
    const child = spawnSync(process.execPath, [runJs, '--quick', '--json', jsonFile], { cwd: repoRoot, encoding: 'utf8', timeout: 540_000 });
    expect(child.error).toBeUndefined();
    expect(child.status, `bench exited ${child.status}\nstdout:\n${child.stdout}\nstderr:\n${child.stderr}`).toBe(0);
    expect(child.stdout).toContain('P1:');
    expect(child.stdout).toContain('P2:');
    for (const id of ['PP', 'P3', 'P4', 'P5', 'P6', 'P7', 'P8']) expect(child.stdout).toContain(`${id}:`);

    const report = JSON.parse(readFileSync(jsonFile, 'utf8')) as {
      machine: { cpu: string; cores: number; node: string };
      suites: Record<string, { figures: { key: string; value: number; target?: unknown; met?: boolean }[]; details: Record<string, unknown> }>;
      summary: Record<string, number>;
    };
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.machine.node).toBe(process.version);
    for (const key of ['P1.routeSync.p50', 'P1.routeSync.p90', 'P1.routeSync.p99', 'P1.native.p50', 'P1.routeSync.hz', 'P2.routeBatch.1', 'P2.routeBatch.16', 'P2.routeBatch.1024', 'P2.scores.1024']) {
      expect(report.summary[key], key).toBeGreaterThan(0);
    }
    expect(report.summary['P1.routeSync.p99']).toBeGreaterThanOrEqual(report.summary['P1.routeSync.p50']!);
    const newKeys = [
      // P3: the concurrency sweep, what batching buys, what a lone caller pays, the open loop.
      ...[1, 10, 100, 1000].flatMap((c) => [`P3.route.${c}.throughput`, `P3.route.${c}.p50`, `P3.route.${c}.p99`, `P3.route.${c}.avgBatch`, `P3.unbatched.${c}.throughput`, `P3.batchingGain.${c}`]),
      'P3.lone.routeSync.p50', 'P3.lone.route.p50', 'P3.lone.cost', 'P3.open.50000.achieved', 'P3.open.50000.p99',
      // P4: routecore vs onnxruntime per batch size.
      ...[1, 16, 64, 256].flatMap((n) => [`P4.routecore.${n}`, `P4.ort.${n}`, `P4.ratio.${n}`]), 'P4.routeEmbeddingSync.1',
      // P5: TypeScript reference vs routecore.
      ...[1, 256].flatMap((n) => [`P5.dense.speedup.${n}`, `P5.hashing.speedup.${n}`, `P5.hashing.equalWork.${n}`, `P5.dense.ts.${n}`, `P5.hashing.routecore.${n}`]),
      // PP: P1 and P2 for every predictor.
      ...['mlp', 'linear', 'mf', 'knn', 'kmeans'].flatMap((p) => [`PP.${p}.p50`, `PP.${p}.p99`, `PP.${p}.batch.1`, `PP.${p}.batch.64`]),
      'P7.seconds', 'P7.epochs',
      'P8.default.fileMB', 'P8.default.loadFresh', 'P8.default.loadWarm', 'P8.default.loadSyncFresh', 'P8.rss.0.peak', 'P8.rss.3.peak',
    ];
    for (const key of newKeys) expect(report.summary[key], key).toBeGreaterThan(0);
    expect(report.summary['P3.route.1000.avgBatch']).toBeGreaterThan(1); // 1,000 callers do get coalesced
    // Both sides of P4 and P5 compute the same scores.
    expect(report.suites.P4!.details.maxAbsScoreDiff as number).toBeLessThanOrEqual(1e-4);
    const p5diff = report.suites.P5!.details.maxAbsScoreDiff as { dense: number; hashing: number };
    expect(p5diff.dense).toBeLessThanOrEqual(1e-5);
    expect(p5diff.hashing).toBeLessThanOrEqual(1e-5);
    // P6 measures the CPU knn; without a GPU its CUDA ratio is no number, only why.
    expect(report.summary['P6.cpuBatchMs']).toBeGreaterThan(0);
    expect(report.summary['P6.cpuPromptsPerSecond']).toBeGreaterThan(0);
    const p6 = report.suites.P6!.details as { references: number; batch: number; gpu: string; cudaMs: number[] | null };
    expect(p6.references).toBe(2000);
    expect(p6.batch).toBe(64);
    if (p6.cudaMs === null) {
      expect(report.summary['P6.cudaSpeedup']).toBeNull();
      expect(p6.gpu).toMatch(/^no usable GPU/);
    }
    // Every figure with a target carries a verdict, whatever it is.
    for (const s of Object.values(report.suites)) {
      for (const f of s.figures) if (f.target) expect(typeof f.met, f.key).toBe('boolean');
    }
  }, 600_000);
});
