/**
 * The common reporter: one readable table on stdout (machine, setup, every figure next to its
 * docs/ARCHITECTURE.md target and whether it is met) and, with `--json FILE`, the same figures machine-readably.
 * @module
 */
import { writeFileSync } from 'node:fs';

import type { Figure, SuiteResult } from './common.js';

export interface Report {
  schema: 1;
  startedAt: string;
  command: string[];
  machine: Record<string, unknown>;
  setup: Record<string, unknown>;
  suites: Record<string, SuiteResult>;
  /** Every figure as `SUITE.key` -> value, for scripts and the smoke test. */
  summary: Record<string, number>;
}

export function formatValue(value: number, unit: string): string {
  if (Number.isNaN(value) || value === null) return 'not measured';
  if (!Number.isFinite(value)) return String(value);
  if (unit === 'prompts/s' || unit === 'ops/s') return Math.round(value).toLocaleString('en-US');
  if (unit === 'ratio') return value.toFixed(3);
  if (unit === 's') return value.toFixed(2);
  return value.toFixed(value < 10 ? 2 : 1);
}

function targetText(f: Figure): string {
  if (!f.target) return '';
  return `${f.target.id} ${f.target.op === '<=' ? '≤' : '≥'} ${formatValue(f.target.value, f.unit)}`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => [...(r[c] ?? '')].length)));
  const line = (r: string[]): string => r.map((cell, c) => (c === 2 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd();
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

export function printHeader(machine: Record<string, unknown>): void {
  console.log(`routecore bench — ${machine.cpu}, ${machine.cores} cores (availableParallelism ${machine.availableParallelism}), ${machine.memoryGiB} GiB, node ${machine.node}, ${machine.platform}`);
  console.log(`load average (1 min) at start: ${machine.loadavg1}`);
}

export function printSuite(r: SuiteResult): void {
  console.log(`\n${r.id}: ${r.title}   (${r.seconds.toFixed(1)} s; load avg ${r.load.before} → ${r.load.after})`);
  const rows: string[][] = [['figure', 'unit', 'value', 'target', 'met', 'note']];
  for (const f of r.figures) rows.push([f.label, f.unit, formatValue(f.value, f.unit), targetText(f), f.met === undefined ? '' : f.met ? 'yes' : 'NO', f.note ?? '']);
  console.log(table(rows));
}

export function summarize(suites: Record<string, SuiteResult>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of Object.values(suites)) for (const f of s.figures) out[`${s.id}.${f.key}`] = f.value;
  return out;
}

export function printVerdict(suites: Record<string, SuiteResult>): void {
  const targeted = Object.values(suites).flatMap((s) => s.figures.filter((f) => f.target).map((f) => ({ s: s.id, f })));
  if (targeted.length === 0) return;
  console.log('\ntargets:');
  for (const { s, f } of targeted) {
    console.log(`  ${f.met ? 'met    ' : 'NOT met'}  ${s} ${f.label}: ${formatValue(f.value, f.unit)} ${f.unit} (${targetText(f)} ${f.unit})`);
  }
}

export function writeJson(path: string, report: Report): void {
  writeFileSync(path, JSON.stringify(report, null, 2) + '\n');
}
