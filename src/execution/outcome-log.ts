/**
 * The in-process outcome log: one JSON object per line, the format of DESIGN.md ("Outcome log"),
 * plus one `{"id", "ts", "score"}` line per `router.feedback(id, score)`. `routecore train` reads
 * such a file directly: each answered request with a score becomes an outcome record
 * `{ prompt, scores: { <model>: score }, costs: { <model>: costUsd } }` (src/training/data.ts).
 *
 * Writes go through one append stream, so logging never waits on the disk in the request path.
 * The log holds the routed text of each prompt (not the whole conversation, never a key); treat
 * the file as you would any log of user input.
 * @module
 */
import { createWriteStream, type WriteStream } from 'node:fs';

import { RoutecoreError, invalidArgument } from '../errors.js';
import type { Feedback, Outcome } from '../app/hub.js';
import type { Router } from '../app/router.js';
import type { Judgment } from '../training/judged-pairs.js';

/**
 * A JSONL file of a router's outcome records and feedback lines (what `routecore train` reads); the
 * gateway's request log is another thing (src/serve/outcome-log.ts, `GatewayLog` there).
 */
export class OutcomeFile {
  readonly path: string;
  readonly #stream: WriteStream;
  readonly #unsubscribe: (() => void)[] = [];
  #error: Error | undefined;
  #written = 0;

  /**
   * Opens (appending) `path` and, when `router` is given, subscribes to its outcomes and feedback.
   * @throws ERR_ROUTECORE_INVALID_ARGUMENT for a bad path; write errors surface on {@link close}.
   */
  constructor(path: string, router?: Router) {
    if (typeof path !== 'string' || path === '') throw invalidArgument('path', 'a file path', path);
    this.path = path;
    this.#stream = createWriteStream(path, { flags: 'a', encoding: 'utf8' });
    this.#stream.on('error', (err) => {
      this.#error ??= err;
    });
    if (router !== undefined) {
      this.#unsubscribe.push(router.onOutcome((o) => this.write(o)));
      this.#unsubscribe.push(router.hub.onFeedback((f) => this.feedback(f)));
    }
  }

  /** Lines written so far. */
  get lines(): number {
    return this.#written;
  }

  /** Appends one outcome record. */
  write(outcome: Outcome): void {
    this.#line(outcome);
  }

  /** Appends one judged pair of shadow judging (`{"type":"judgment", ...}`, docs/LEARNING.md). */
  judgment(j: Judgment): void {
    this.#line(j);
  }

  /** Appends one feedback line. */
  feedback(f: Feedback): void {
    this.#line({ id: f.id, ts: f.ts, score: f.score });
  }

  #line(value: object): void {
    if (this.#error || this.#stream.writableEnded) return;
    this.#stream.write(JSON.stringify(value) + '\n');
    this.#written++;
  }

  /** Unsubscribes, flushes and closes the file. */
  async close(): Promise<void> {
    for (const u of this.#unsubscribe.splice(0)) u();
    if (!this.#stream.writableEnded) await new Promise<void>((resolve) => this.#stream.end(resolve));
    if (this.#error) throw new RoutecoreError('ERR_ROUTECORE_IO', `cannot write outcome log "${this.path}": ${this.#error.message}`, { cause: this.#error });
  }
}
