/**
 * The TF-IDF reference routers beside a router's evaluation (`routecore eval --train F.jsonl`):
 * TF-IDF ridge and TF-IDF kNN (`training/baselines.ts`) trained on the given training records and
 * evaluated on the very rows, options and conventions of the router's report, so the report says
 * whether the router beats the baselines a router worth shipping must beat.
 * @module
 */
import { invalidArgument } from '../errors.js';
import { baselineScores } from '../training/baselines.js';
import { modelIdsOf, type OutcomeRecord } from '../training/data.js';
import { evaluateScores, type EvalOptions, type EvalReport } from './eval.js';

/**
 * Adds `references` (TF-IDF ridge, TF-IDF kNN) to `report`, trained on `train` and evaluated on
 * `test` (the rows `report` was computed on) with `options` (registry, λ and target grids); cost
 * decisions of the references use the training records' mean cost per model, as a trained router's
 * do. Models of the report that the training records never score are left out, with a warning.
 */
export async function addReferences(report: EvalReport, train: OutcomeRecord[], test: OutcomeRecord[], options: EvalOptions = {}): Promise<EvalReport> {
  if (!Array.isArray(train) || train.length === 0) throw invalidArgument('train', 'a non-empty array of training outcome records', train);
  const known = new Set(modelIdsOf(train));
  const models = report.models.filter((id) => known.has(id));
  const missing = report.models.filter((id) => !known.has(id));
  if (models.length === 0) throw invalidArgument('train', `records that score at least one of the evaluated models (${report.models.join(', ')})`, [...known]);
  if (missing.length) report.warnings.push(`the training records for the references score no ${missing.join(', ')}: the references leave them out`);
  const sums = new Map<string, [number, number]>();
  for (const r of train) {
    for (const [id, c] of Object.entries(r.costs ?? {})) {
      const e = sums.get(id) ?? [0, 0];
      e[0] += c;
      e[1]++;
      sums.set(id, e);
    }
  }
  const expectedCost = (id: string): number | undefined => {
    const e = sums.get(id);
    return e ? e[0] / e[1] : undefined;
  };
  const b = await baselineScores(train, test.map((r) => r.prompt), models);
  report.references = [
    ['TF-IDF ridge', b.ridge],
    ['TF-IDF kNN (k=20)', b.knn],
  ].map(([name, scores]) => {
    const r = evaluateScores(models, scores as Float32Array, test, { ...options, expectedCost, onProgress: undefined });
    return { name: name as string, quality: r.router.best.quality, cost1k: r.router.best.cost1k, aiq: r.aiq.router, apgr: r.apgr };
  });
  return report;
}
