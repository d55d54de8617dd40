/**
 * Ceilings for the results page: score tables built from information a router does not have at
 * routing time (each test prompt's task label, its difficulty, or the test split's own means), fed
 * through the same evaluation as the routers. They are not routers and choose nothing for the
 * routers; they bound what recognising a prompt's task (or its difficulty) perfectly could reach,
 * which tells whether a target is within reach of a text router at all.
 */
import type { OutcomeRecord } from '../src/training/data.js';

/** Per-model mean score of the records in each group; NaN where a model has no score in a group. */
export function groupMeans(records: readonly OutcomeRecord[], models: readonly string[], key: (r: OutcomeRecord) => string): Map<string, Float64Array> {
  const sums = new Map<string, { s: Float64Array; n: Float64Array }>();
  for (const r of records) {
    const k = key(r);
    let g = sums.get(k);
    if (!g) {
      g = { s: new Float64Array(models.length), n: new Float64Array(models.length) };
      sums.set(k, g);
    }
    models.forEach((id, j) => {
      const v = r.scores[id];
      if (typeof v === 'number') {
        g!.s[j] += v;
        g!.n[j]++;
      }
    });
  }
  return new Map([...sums].map(([k, { s, n }]) => [k, s.map((x, j) => (n[j] ? x / n[j]! : NaN))]));
}

/**
 * An n × M score matrix: each record gets its group's row of `table`, and where the group is
 * missing or a model has no mean there, the value from `fallback` (its group in that table, or a
 * flat row).
 */
export function scoresFromTable(
  records: readonly OutcomeRecord[],
  models: readonly string[],
  key: (r: OutcomeRecord) => string,
  table: Map<string, Float64Array>,
  fallback: (r: OutcomeRecord) => Float64Array,
): Float32Array {
  const M = models.length;
  const out = new Float32Array(records.length * M);
  records.forEach((r, i) => {
    const row = table.get(key(r));
    const fb = fallback(r);
    for (let j = 0; j < M; j++) {
      const v = row?.[j];
      out[i * M + j] = v !== undefined && Number.isFinite(v) ? v : fb[j]!;
    }
  });
  return out;
}

/** The record's mean score over `models` (its difficulty: 1 = every model gets it right). */
export function rowMean(r: OutcomeRecord, models: readonly string[]): number {
  let s = 0, n = 0;
  for (const id of models) {
    const v = r.scores[id];
    if (typeof v === 'number') {
      s += v;
      n++;
    }
  }
  return n ? s / n : 0;
}

/** Which of `bins` equal-width difficulty bins over [0, 1] the record falls in. */
export function difficultyBin(r: OutcomeRecord, models: readonly string[], bins: number): number {
  return Math.min(bins - 1, Math.floor(rowMean(r, models) * bins));
}

export interface Ceiling {
  name: string;
  /** What it knows that a router does not. */
  knows: string;
  scores: Float32Array;
}

const taskOf = (r: OutcomeRecord): string => r.task ?? '';

/**
 * Ceilings for a train → test setting:
 * - known task: each test prompt gets its task's per-model means on the training split;
 * - known task and difficulty: the same per (task, decile of the prompt's mean score over the
 *   models), also from the training split (the prompt's own decile is read from its test outcomes);
 * - task oracle: each task's per-model means on the test split itself.
 */
export function splitCeilings(train: readonly OutcomeRecord[], test: readonly OutcomeRecord[], models: readonly string[], bins = 10): Ceiling[] {
  const overall = groupMeans(train, models, () => '').get('')!;
  const byTask = groupMeans(train, models, taskOf);
  const taskRow = (r: OutcomeRecord) => byTask.get(taskOf(r)) ?? overall;
  const cellKey = (r: OutcomeRecord) => `${taskOf(r)}\u0000${difficultyBin(r, models, bins)}`;
  const byCell = groupMeans(train, models, cellKey);
  const testByTask = groupMeans(test, models, taskOf);
  return [
    {
      name: 'known task',
      knows: "each test prompt's task label; per-model means of that task on the training split",
      scores: scoresFromTable(test, models, taskOf, byTask, () => overall),
    },
    {
      name: `known task and difficulty (${bins} bins)`,
      knows: `each test prompt's task and its mean score over the ${models.length} models (read from its test outcomes); per-model means of that (task, bin) cell on the training split`,
      scores: scoresFromTable(test, models, cellKey, byCell, taskRow),
    },
    {
      name: 'task oracle',
      knows: "each test prompt's task label; per-model means of that task on the test split itself",
      scores: scoresFromTable(test, models, taskOf, testByTask, () => overall),
    },
  ];
}

/**
 * Known-task ceiling under k-fold CV (for the one-file RouteLLM settings): each record gets its
 * task's per-model means over the other folds' records. `fold[i]` is record i's fold.
 */
export function cvKnownTask(records: readonly OutcomeRecord[], models: readonly string[], fold: Int32Array, k: number): Ceiling {
  const M = models.length;
  const scores = new Float32Array(records.length * M);
  for (let f = 0; f < k; f++) {
    const tr = records.filter((_, i) => fold[i] !== f);
    const overall = groupMeans(tr, models, () => '').get('') ?? new Float64Array(M);
    const byTask = groupMeans(tr, models, taskOf);
    records.forEach((r, i) => {
      if (fold[i] !== f) return;
      const row = byTask.get(taskOf(r)) ?? overall;
      for (let j = 0; j < M; j++) scores[i * M + j] = Number.isFinite(row[j]!) ? row[j]! : overall[j]!;
    });
  }
  return {
    name: 'known task',
    knows: "each prompt's task label (here the MMLU subject); per-model means of that task over the other folds",
    scores,
  };
}
