/**
 * `routecore report --log FILE`: the judged-quality figures of `GET /v1/stats` (shares with Wilson
 * intervals, APGR and saving with bootstrap intervals, each with its n) computed from outcome logs
 * (the gateway's SQLite or JSONL, the in-process JSONL; several replicas' logs together).
 * @module
 */
import { parseArgs } from 'node:util';

import { Registry } from '../routing/registry.js';
import { qualityReport, type Estimate, type QualityReport } from '../learning/stats.js';
import { strongestModel } from '../learning/shadow.js';
import { readLearningLog, type Judgment } from '../training/judged-pairs.js';

/** A wrong flag: main.ts prints it with the usage text and exits 2. */
export class ReportUsageError extends Error {}

export const REPORT_USAGE = `  report --log LOG [--log LOG2] [--registry M.json] [--json]
                             judged quality from shadow judging's pairs in outcome logs: shares (Wilson),
                             APGR and saving vs the priciest model (bootstrap), each with its 95% interval and n`;

/** The report of some logs; `strongest` defaults to the registry's priciest model, else the logs' most frequent strong model. */
export function reportFromLogs(logs: readonly string[], registry?: Registry): QualityReport & { logs: string[] } {
  const judgments: Judgment[] = logs.flatMap((p) => readLearningLog(p, { withPrompts: false }).judgments).sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
  let strongest = registry ? strongestModel(registry) : null;
  if (strongest === null) {
    const count = new Map<string, number>();
    for (const j of judgments) if (j.strong !== null) count.set(j.strong, (count.get(j.strong) ?? 0) + 1);
    strongest = [...count.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
  }
  return { logs: [...logs], ...qualityReport(judgments, strongest) };
}

function line(label: string, e: Estimate, pct = true): string {
  if (e.value === null) return `${label}: not enough judged pairs (n = ${e.n})`;
  const f = (x: number) => (pct ? `${(x * 100).toFixed(1)}%` : x.toFixed(3));
  return `${label}: ${f(e.value)} (95% ${e.method} interval ${f(e.interval![0])}–${f(e.interval![1])}, n = ${e.n})`;
}

/** The report as text lines. */
export function renderReport(r: ReturnType<typeof reportFromLogs>): string {
  const out = [
    `judged pairs: ${r.judged} (${r.uniform} in the uniform sample the estimates use); verdicts: served better ${r.verdicts.served}, comparison better ${r.verdicts.comparison}, tie ${r.verdicts.tie}`,
    line('the cheaper answer was as good', r.cheaperAsGood),
    line("the router's choice was as good as its counterpart", r.routerAsGood),
    r.apgr.strong ? line(`router APGR on this traffic (${r.apgr.strong} vs ${r.apgr.weak})`, r.apgr, false) : 'router APGR: no judged strong/weak pair with route scores',
    r.saving.strongest
      ? `${line(`saving vs always ${r.saving.strongest}`, r.saving)}${r.saving.usdPer1k !== null ? `; $${r.saving.usdPer1k.toFixed(4)} per 1k requests` : ''}`
      : 'saving: no priced strongest model',
    `shadow calls cost $${r.shadowSpendUsd.toFixed(6)}`,
  ];
  return out.join('\n') + '\n';
}

/** `routecore report`. */
export async function cmdReport(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, strict: true, options: { log: { type: 'string', multiple: true }, registry: { type: 'string' }, json: { type: 'boolean' } } });
  if (!values.log?.length) throw new ReportUsageError('report needs --log LOG (the gateway\'s SQLite or JSONL log, or an in-process JSONL log; repeatable)');
  const registry = values.registry === undefined ? undefined : Registry.fromFile(values.registry);
  const r = reportFromLogs(values.log, registry);
  process.stdout.write(values.json ? JSON.stringify(r) + '\n' : renderReport(r));
}
