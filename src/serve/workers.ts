/**
 * `routecore serve --workers N|auto`: one gateway per core with node:cluster. The primary forks the
 * workers (each a whole gateway: router, executor, fastify) and shares one listening socket among them
 * (cluster's round-robin hand-off on Linux); it serves nothing itself. Workers are replicas on one
 * machine: what replicas share through Redis (cool-downs, budgets, rate limits, sessions, calibration
 * counters) workers share through Redis too, and without `--redis` each worker keeps its own — the
 * startup line says so. The outcome log is one file all workers append to (SQLite in WAL mode waits
 * for the write lock; JSONL lines are appended whole).
 *
 * Signals: SIGTERM/SIGINT on the primary asks every worker to drain (as a single gateway does: 503 to
 * new requests, in-flight ones finish within `drainMs`) and exits once all have; SIGHUP reloads every
 * worker's router. A worker that dies unexpectedly is replaced (at most 5 times a minute).
 *
 * Also here: {@link watchParent}, which makes a server stop when the process that started it goes away.
 * That is what `npx routecore serve` needs: npm runs the bin through `sh -c`, forwards SIGTERM to
 * that shell only, and the shell (dash) dies without passing it on, leaving node orphaned and serving.
 * @module
 */
import cluster, { type Worker } from 'node:cluster';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Registry } from 'prom-client';

import { RoutecoreError } from '../errors.js';

/** Messages between the primary and its workers. */
type WorkerMessage =
  | { type: 'listening'; url: string; pid: number }
  | { type: 'shutdown' }
  | { type: 'reload' }
  /** A worker asks for every worker's metrics (a scrape of its /metrics); the primary answers with the same type and `text`. */
  | { type: 'routecore:metrics'; id: number; text?: string; error?: string };

/** How long a worker waits for the aggregated metrics before answering with its own. */
const METRICS_TIMEOUT_MS = 5_000;

/** Most replacements of crashed workers per minute before the primary gives up. */
const MAX_RESTARTS_PER_MINUTE = 5;

/** Most workers `--workers` takes. */
const MAX_WORKERS = 1024;

/**
 * The CPUs a cgroup quota grants this process (`cpu.max` of cgroup v2, or v1's `cfs_quota_us` /
 * `cfs_period_us`), rounded up; undefined when there is no quota. A container limited to 2 CPUs on a
 * 64-core node sees 64 in `os.availableParallelism()` on Node 20 (which counts the CPUs it may run on).
 */
export function cgroupCpuQuota(read: (path: string) => string | undefined = readText): number | undefined {
  const v2 = read('/sys/fs/cgroup/cpu.max')?.trim().split(/\s+/);
  if (v2 && v2.length === 2 && v2[0] !== 'max') return quota(Number(v2[0]), Number(v2[1]));
  const q = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us'));
  const p = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_period_us'));
  return q > 0 ? quota(q, p) : undefined;
}

function quota(q: number, p: number): number | undefined {
  return Number.isFinite(q) && Number.isFinite(p) && q > 0 && p > 0 ? Math.max(1, Math.ceil(q / p)) : undefined;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Parses `--workers`: a positive integer, or `auto` (one per CPU this process may use:
 * `os.availableParallelism()`, at most the cgroup's CPU quota); undefined = 1.
 */
export function parseWorkers(value: string | undefined, cpuQuota: () => number | undefined = cgroupCpuQuota): number {
  if (value === undefined) return 1;
  if (value === 'auto') return Math.max(1, Math.min(availableParallelism(), cpuQuota() ?? Infinity));
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1 || n > MAX_WORKERS) {
    throw new RoutecoreError('ERR_ROUTECORE_INVALID_ARGUMENT', `--workers expects an integer from 1 to ${MAX_WORKERS} or "auto", got "${value}"`);
  }
  return n;
}

/** Whether this process is a worker forked by {@link runPrimary}. */
export function isWorker(): boolean {
  return cluster.isWorker;
}

/** What the primary needs to know. */
export interface PrimaryOptions {
  workers: number;
  /** Most ms a worker may take to drain after the primary asks (then it is killed). */
  drainMs: number;
  /** Whether the workers share state through Redis (for the startup line). */
  redis: boolean;
  /** One operational line. */
  say: (line: string) => void;
  /** The version string for the startup line. */
  version: string;
  /** Stop (drain) when the process that started this one exits: only when run by npm (see {@link watchParent}). */
  watchParent: boolean;
}

/**
 * Runs the primary: forks the workers (they re-run this command and serve), prints one startup line
 * when all listen, forwards SIGHUP, drains all on SIGTERM/SIGINT (or when its own parent goes away),
 * replaces crashed workers. Resolves when every worker has exited after a shutdown.
 */
export async function runPrimary(options: PrimaryOptions): Promise<void> {
  const { workers, say } = options;
  let stopping = false;
  /** Whether every worker has listened once: a worker that exits before that failed to start. */
  let started = false;
  let url = '';
  const restarts: number[] = [];
  const listening = new Set<number>();
  let announce!: () => void;
  const ready = new Promise<void>((resolve) => (announce = resolve));

  // One scrape of /metrics on any worker covers them all: prom-client's cluster aggregation, asked by the worker that was scraped.
  // Loaded here, not at the top: every CLI command imports this module, only `serve --workers` needs it.
  const { AggregatorRegistry } = await import('prom-client');
  const aggregator = new AggregatorRegistry();
  const fork = (): Worker => {
    const w = cluster.fork({ ROUTECORE_WORKER: '1' });
    // A message to a worker that has just exited fails (EPIPE) as an 'error' event; its exit is handled below.
    w.on('error', () => undefined);
    w.on('message', (m: WorkerMessage) => {
      if (m?.type === 'routecore:metrics') {
        aggregator.clusterMetrics().then(
          (text) => w.isConnected() && w.send({ type: 'routecore:metrics', id: m.id, text } satisfies WorkerMessage),
          (err: Error) => w.isConnected() && w.send({ type: 'routecore:metrics', id: m.id, error: err.message } satisfies WorkerMessage),
        );
        return;
      }
      if (m?.type !== 'listening') return;
      // Asked to stop while it started: a shutdown sent then found no listener yet; it has one now.
      if (stopping) {
        w.send({ type: 'shutdown' } satisfies WorkerMessage);
        return;
      }
      url = m.url;
      listening.add(w.id);
      if (listening.size === workers) announce();
    });
    return w;
  };

  cluster.on('exit', (w, code, signal) => {
    const listened = listening.delete(w.id);
    if (stopping) return;
    if (!listened && !started) {
      // It failed to start (it said why: no alias, the port taken, Redis unreachable): so would a
      // replacement. Stop the others and exit non-zero, as a single gateway would.
      say(`worker ${w.process.pid} exited (${signal ?? `code ${code}`}) before it listened; stopping`);
      void shutdown('a worker failed to start', 1);
      return;
    }
    const now = Date.now();
    while (restarts.length > 0 && now - restarts[0]! > 60_000) restarts.shift();
    if (restarts.length >= MAX_RESTARTS_PER_MINUTE) {
      say(`worker ${w.process.pid} exited (${signal ?? `code ${code}`}); ${MAX_RESTARTS_PER_MINUTE} restarts within a minute, giving up`);
      void shutdown('too many worker crashes', 1);
      return;
    }
    restarts.push(now);
    say(`worker ${w.process.pid} exited (${signal ?? `code ${code}`}); starting a replacement`);
    fork();
  });

  let done!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (done = resolve));

  async function shutdown(why: string, code = 0): Promise<void> {
    if (stopping) {
      say(`${why} again: killing the workers now`);
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      return;
    }
    stopping = true;
    const alive = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    say(`${why}: draining ${alive.length} worker(s) (up to ${options.drainMs} ms)`);
    // A message, not a signal: a terminal's Ctrl-C already signals the whole process group, and a
    // second signal would make a worker skip its drain.
    for (const w of alive) {
      try {
        w.send({ type: 'shutdown' } satisfies WorkerMessage);
      } catch {
        w.process.kill('SIGTERM');
      }
    }
    const deadline = setTimeout(() => {
      for (const w of Object.values(cluster.workers ?? {})) {
        if (w && !w.isDead()) {
          say(`worker ${w.process.pid} did not stop within ${options.drainMs} ms; killing it`);
          w.process.kill('SIGKILL');
          code ||= 1;
        }
      }
    }, options.drainMs + 5_000);
    deadline.unref();
    await Promise.all(alive.map((w) => (w.isDead() ? undefined : new Promise((r) => w.once('exit', r)))));
    clearTimeout(deadline);
    done(code);
  }

  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGHUP', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.send({ type: 'reload' } satisfies WorkerMessage);
  });
  const unwatch = options.watchParent ? watchParent((why) => void shutdown(why)) : () => undefined;

  for (let i = 0; i < workers; i++) fork();
  await Promise.race([ready, finished]);
  started = true;
  if (!stopping) {
    say(
      `routecore ${options.version} listening on ${url} with ${workers} workers (pids ${Object.values(cluster.workers ?? {})
        .map((w) => w?.process.pid)
        .join(', ')}); ` +
        (options.redis
          ? 'cool-downs, budgets (the shadow-judging one too), rate limits, sessions and calibration counters are shared through Redis'
          : 'no --redis: each worker keeps its own cool-downs, budgets, rate limits, sessions and calibration counters (a key\'s limits and the shadow-judging budget apply per worker; a failing model is avoided by each worker after it fails there)'),
    );
  }
  const code = await finished;
  unwatch();
  say('stopped');
  if (code !== 0) process.exitCode = code;
}

/**
 * Ends a worker whose command failed (its gateway could not start) with `code`, once the error has been
 * said: the channel to the primary would otherwise keep it alive (it stays referenced while the gateway
 * starts, since cluster's `listen` waits on it for the shared socket), and closing the channel instead
 * would exit with 0. The primary sees the exit before the worker listened and stops the others.
 */
export function exitFailedWorker(code: number): void {
  if (cluster.isWorker && code !== 0) process.exit(code);
}

/**
 * In a worker: tells the primary where it listens, and turns the primary's messages into the same
 * actions as signals (`shutdown` drains, `reload` reloads). The primary going away (disconnect) drains
 * too. Returns the worker's way to get every worker's metrics (for `/metrics`), or undefined outside a cluster.
 */
export function workerLink(url: string, actions: { stop: (why: string) => void; reload: (why: string) => void }, metrics?: { registry: Registry; local: () => Promise<string> }): (() => Promise<string>) | undefined {
  if (!cluster.isWorker || !process.send) return undefined;
  let clusterMetrics: (() => Promise<string>) | undefined;
  const waiting = new Map<number, (m: WorkerMessage & { type: 'routecore:metrics' }) => void>();
  if (metrics) {
    // Answers the primary's requests for this worker's families (prom-client installs the listener).
    void import('prom-client').then(({ AggregatorRegistry }) => {
      new AggregatorRegistry();
      AggregatorRegistry.setRegistries([metrics.registry]);
    });
    let next = 0;
    clusterMetrics = () =>
      new Promise<string>((resolve) => {
        const id = next++;
        const timer = setTimeout(() => {
          waiting.delete(id);
          void metrics.local().then((t) => resolve(`# routecore: the other workers did not answer within ${METRICS_TIMEOUT_MS} ms; this worker's metrics only\n${t}`));
        }, METRICS_TIMEOUT_MS);
        waiting.set(id, (m) => {
          clearTimeout(timer);
          if (m.text !== undefined) resolve(m.text);
          else void metrics.local().then((t) => resolve(`# routecore: aggregating the workers' metrics failed (${m.error ?? 'unknown'}); this worker's metrics only\n${t}`));
        });
        process.send!({ type: 'routecore:metrics', id } satisfies WorkerMessage);
      });
  }
  process.send({ type: 'listening', url, pid: process.pid } satisfies WorkerMessage);
  // The channel must not keep a drained worker alive: the gateway's server does while it serves.
  (process.channel as { unref?: () => void } | undefined)?.unref?.();
  process.on('message', (m: WorkerMessage) => {
    if (m?.type === 'routecore:metrics') {
      const settle = waiting.get(m.id);
      waiting.delete(m.id);
      settle?.(m);
    } else if (m?.type === 'shutdown') actions.stop('shutdown requested by the primary');
    else if (m?.type === 'reload') actions.reload('SIGHUP (via the primary)');
  });
  process.on('disconnect', () => actions.stop('the primary process is gone'));
  return clusterMetrics;
}

/**
 * Calls `onGone` once when this process's parent exits (its parent pid changes: the orphan is
 * re-parented to init or a subreaper). Polls every `intervalMs` (default 500); a no-op when the parent
 * is already init (pid 1: a container's entrypoint, or a daemon). Returns the stop function.
 */
export function watchParent(onGone: (why: string) => void, intervalMs = 500): () => void {
  const parent = process.ppid;
  if (parent <= 1) return () => undefined;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      onGone(`the parent process ${parent} exited`);
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
