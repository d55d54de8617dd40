/**
 * The one progress display of the long commands (`train`, `train --auto`, `eval --cv`, `eval`,
 * `learn`, `scripts/results.ts`): on a terminal a bar redrawn in place on stderr; elsewhere (a log
 * file, CI, a pipe) plain lines, so logs stay readable and never fill with carriage returns.
 * @module
 */
import type { AutoProgress } from '../training/auto.js';

/** The part of a stream a progress display needs (process.stderr, or a test double). */
export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

/** How a {@link ProgressBar} is drawn. */
export interface ProgressBarOptions {
  /** Where it draws. Default process.stderr. */
  stream?: ProgressStream;
  /** What the steps are, after the count: `12/30 jobs`. Default none. */
  unit?: string;
  /**
   * When not on a terminal: `decile` writes a line when the share done enters a new tenth (and at the
   * end), `step` a line per update (for few steps each worth reading, such as epochs with their loss).
   * Default `decile`.
   */
  lines?: 'decile' | 'step';
}

const WIDTH = 30;

/**
 * A progress bar for one phase of work.
 *
 * On a terminal: `label [########......] 12/30 jobs  40% detail`, redrawn with `\r`, ended with a
 * newline when the count reaches the total (or by {@link end}, for work that stops early).
 * Elsewhere: `label: 12/30 jobs (40%): detail` lines, as {@link ProgressBarOptions.lines} says.
 */
export class ProgressBar {
  readonly #label: string;
  readonly #stream: ProgressStream;
  readonly #unit: string;
  readonly #everyStep: boolean;
  readonly #tty: boolean;
  #lastDecile = -1;
  /** A redrawn line is on the terminal, not yet ended by a newline. */
  #open = false;
  #ended = false;
  #started = false;

  constructor(label: string, options: ProgressBarOptions = {}) {
    this.#label = label;
    this.#stream = options.stream ?? process.stderr;
    this.#unit = options.unit ? ` ${options.unit}` : '';
    this.#everyStep = options.lines === 'step';
    this.#tty = this.#stream.isTTY === true;
  }

  /** `done` of `total` steps are finished; `detail` says what (or how long), shown after the count. */
  update(done: number, total: number, detail?: string): void {
    if (this.#ended) return;
    this.#started = true;
    const frac = total > 0 ? Math.min(1, Math.max(0, done / total)) : 1;
    const pct = (frac * 100).toFixed(0);
    const finished = done >= total;
    if (this.#tty) {
      const fill = Math.round(frac * WIDTH);
      this.#stream.write(`\r\x1b[K${this.#label} [${'#'.repeat(fill)}${'.'.repeat(WIDTH - fill)}] ${done}/${total}${this.#unit} ${pct.padStart(3)}%${detail ? ` ${detail}` : ''}`);
      this.#open = true;
      if (finished) this.end();
      return;
    }
    const decile = Math.floor(frac * 10);
    if (this.#everyStep || decile > this.#lastDecile) {
      this.#lastDecile = decile;
      this.#stream.write(`${this.#label}: ${done}/${total}${this.#unit} (${pct}%)${detail ? `: ${detail}` : ''}\n`);
    }
    if (finished) this.#ended = true;
  }

  /**
   * The work shown so far is over (all of it, or it stopped early): ends the redrawn line, and later
   * updates are ignored. Before the first update it does nothing, so it can be called on any path.
   */
  end(): void {
    if (!this.#started) return;
    if (this.#open) this.#stream.write('\n');
    this.#open = false;
    this.#ended = true;
  }
}

/** A `(done, total)` callback, as `evaluate` and `crossValidate` take, drawing one {@link ProgressBar}. */
export function progressCallback(label: string, options: ProgressBarOptions = {}): (done: number, total: number) => void {
  const bar = new ProgressBar(label, options);
  return (done, total) => bar.update(done, total);
}

/**
 * Progress of `train --auto` on stderr, one {@link ProgressBar} per phase (cross-validation, scoring
 * candidates, final training). `prefix` names the run where several share one log (scripts/results.ts).
 */
export function autoProgress(stream: ProgressStream = process.stderr, prefix = ''): (p: AutoProgress) => void {
  let phase: AutoProgress['phase'] | undefined;
  let bar: ProgressBar | undefined;
  return (p) => {
    if (p.phase !== phase) {
      bar?.end();
      phase = p.phase;
      const what = p.phase === 'cv' ? 'cross-validation' : p.phase === 'select' ? 'scoring candidates' : 'final training';
      bar = new ProgressBar(prefix + what, { stream, unit: p.phase === 'select' ? 'candidates' : 'jobs' });
    }
    const eta = p.done > 0 && p.phase === 'cv' ? `, eta ${Math.max(0, (p.elapsedS / p.done) * (p.total - p.done)).toFixed(0)} s` : '';
    bar!.update(p.done, p.total, `${p.elapsedS.toFixed(0)} s${eta}, ${p.label.slice(0, 60)}`);
  };
}
