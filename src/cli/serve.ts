/**
 * `routecore serve` (the gateway) and `routecore log export` (training records from its log).
 * main.ts dispatches here; this file parses flags, wires signals and prints what an operator needs.
 * @module
 */
import { parseArgs } from 'node:util';

import { packageRoot } from '../addon/native.js';
import { RoutecoreError } from '../errors.js';
import { Registry } from '../routing/registry.js';
import { Router } from '../app/router.js';
import type { Encoder } from '../routing/router.js';
import { POLICIES } from '../routing/policy.js';
import { applyLogFallback, describeLog, resolveServeConfig, type ServeConfig, type ServeFlags } from '../serve/config.js';
import { configJsonSchema } from '../serve/config-schema.js';
import { loadSqlite } from '../serve/outcome-log.js';
import { writeExport, type ExportFormat } from '../serve/log-export.js';
import { isWorker, parseWorkers, runPrimary, watchParent, workerLink } from '../serve/workers.js';
import { loadTextEncoder } from './text-encoder.js';

/** A wrong flag: main.ts prints it with the usage text and exits 2. */
export class ServeUsageError extends Error {}

export const SERVE_USAGE = `  serve --registry M.json     the OpenAI-compatible routing gateway (docs/DEPLOY.md)
      --router R             a .router file (default: the embedded router); reloaded on SIGHUP or when it changes
      --alias ID=REGISTRY_ID map a router model id to a registry id (repeatable)
      --policy ${POLICIES.join('|')}   the policy of model "routecore"
      --port N (default 4000) --host H (default 127.0.0.1 without client keys, else 0.0.0.0)
      --config F.yaml        client keys (sha256), per-key models/budgets/rate limits, log, CORS, upstream retries
      --config-schema        print the config file's JSON Schema (for an editor's $schema) and exit
      --redis URL            share cool-downs, budgets and rate limits with other replicas (redis://host:6379)
      --timeout-ms N         per upstream attempt (default 60000)
      --log sqlite:PATH|jsonl:PATH|none   where decisions and outcomes go (default sqlite:routecore-log.sqlite,
                             JSONL when better-sqlite3 is not installed); the startup line says what and where
      --log-content prompts|none   keep prompt text in the log (default prompts; answers are never kept)
      --workers N|auto       serve on N processes (auto: one per core); workers share state only through --redis
      --text-encoder onnx:DIR   the encoder of a router trained on embeddings (its rows' model)
      --log-level L          request log on stdout, JSON with request ids: trace|debug|info|warn|error|fatal|silent (default warn)
      --shadow RATE --judge ID   judge a share (0-1) of answered requests against --compare ID (default: the
                             priciest model) with the judge model; sends those prompts and answers to both
      --shadow-budget-usd N  USD per day for shadow calls, all replicas (default 1); --judge-template F.json
      --learn [--learn-every MIN]   retrain on judged pairs, swap --router R only when better (docs/LEARNING.md)
                             client keys also from ROUTECORE_API_KEYS=key1,key2; upstream keys from each model's apiKeyEnv
  log export --db LOG.sqlite [--db B.sqlite] --format outcomes|pairwise|log [--out F.jsonl]
                             the gateway's log as training records for routecore train (feedback joined by id)`;

/** Parses `--alias A=B` flags. */
function aliases(values: string[] | undefined): Record<string, string> | undefined {
  if (!values?.length) return undefined;
  const out: Record<string, string> = {};
  for (const a of values) {
    const eq = a.indexOf('=');
    if (eq <= 0 || eq === a.length - 1) throw new ServeUsageError(`--alias expects ROUTER_ID=REGISTRY_ID, got "${a}"`);
    out[a.slice(0, eq)] = a.slice(eq + 1);
  }
  return out;
}

/** Why the default SQLite log cannot be used here (`is not installed`), or undefined when it can. */
function sqliteProblem(): string | undefined {
  try {
    loadSqlite();
    return undefined;
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    if (cause?.code === 'MODULE_NOT_FOUND' || cause?.code === 'ERR_MODULE_NOT_FOUND') return 'is not installed';
    return `could not be loaded (${String(cause?.message ?? (err as Error).message).split('\n')[0]})`;
  }
}

/**
 * The registry lacks the router's model ids and no --alias maps them: say which flags to pass. The
 * router is loaded the way the gateway loads it (`Router.load`, which reads every kind: a `.router`
 * file, the embedded router, an onnx predictor directory), without a registry so its own ids remain.
 */
async function aliasHint(config: ServeConfig, encoder: Encoder | undefined): Promise<string> {
  const router = await Router.load(config.router ?? 'default', { backend: 'cpu', ...(encoder ? { encoder } : {}) });
  const ids = router.models;
  router.dispose();
  const registry = Registry.fromFile(config.registry);
  const have = registry.ids();
  const example = ids.map((id, i) => `--alias ${id}=${have[i] ?? have[0] ?? 'ID'}`).join(' ');
  return (
    `the router's models (${ids.join(', ')}) are not in the registry ${config.registry} (${have.join(', ')}): ` +
    `map each to a registry id, e.g. ${example}`
  );
}

/** `routecore serve`: runs until SIGTERM/SIGINT (drains), reloads on SIGHUP. */
export async function cmdServe(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      registry: { type: 'string' },
      router: { type: 'string' },
      alias: { type: 'string', multiple: true },
      policy: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      config: { type: 'string' },
      redis: { type: 'string' },
      'timeout-ms': { type: 'string' },
      log: { type: 'string' },
      'log-content': { type: 'string' },
      'log-level': { type: 'string' },
      shadow: { type: 'string' },
      judge: { type: 'string' },
      compare: { type: 'string' },
      'shadow-budget-usd': { type: 'string' },
      'judge-template': { type: 'string' },
      learn: { type: 'boolean' },
      'learn-every': { type: 'string' },
      workers: { type: 'string' },
      'text-encoder': { type: 'string' },
      'config-schema': { type: 'boolean' },
    },
  });
  if (values['config-schema']) {
    process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    return;
  }
  const flags: ServeFlags = {
    registry: values.registry,
    router: values.router,
    aliases: aliases(values.alias),
    policy: values.policy,
    port: values.port,
    host: values.host,
    config: values.config,
    redis: values.redis,
    timeoutMs: values['timeout-ms'],
    log: values.log,
    logContent: values['log-content'],
    logLevel: values['log-level'],
    shadow: values.shadow,
    judge: values.judge,
    compare: values.compare,
    shadowBudgetUsd: values['shadow-budget-usd'],
    judgeTemplate: values['judge-template'],
    learn: values.learn,
    learnEvery: values['learn-every'],
  };
  if (flags.registry === undefined && flags.config === undefined) throw new ServeUsageError('serve needs --registry M.json (or --config F.yaml naming one)');
  const config = resolveServeConfig(flags);
  const worker = isWorker();
  const say = (line: string) => process.stderr.write(`routecore serve${worker ? ` [worker ${process.pid}]` : ''}: ${line}\n`);
  let workers: number;
  try {
    workers = parseWorkers(values.workers);
  } catch (err) {
    throw new ServeUsageError((err as Error).message);
  }
  // Each worker would retrain and swap the same router file on its own: one learner per deployment.
  if (workers > 1 && config.learn) throw new ServeUsageError('--learn runs one learner per process and would race with --workers N; serve with --workers and run `routecore learn` (e.g. from cron) against the shared log instead');
  if (config.learn) await prepareLearning(config);
  const fallback = applyLogFallback(config, sqliteProblem);
  if (fallback) say(fallback);
  if (config.hostForcedLocal) say(`no client keys are configured, so the gateway listens on 127.0.0.1 only (--host ${values.host ?? ''} ignored); set ROUTECORE_API_KEYS or "keys:" in the config to listen elsewhere`);
  else if (config.keys.length === 0) say(`no client keys are configured: listening on ${config.host} only, without authentication`);
  // Loaded here so that other commands do not pay for fastify and undici at start.
  const { Gateway, packageVersion } = await import('../serve/gateway.js');
  if (workers > 1 && !worker) {
    await runPrimary({ workers, drainMs: config.drainMs, redis: config.redis !== undefined, say, version: packageVersion(packageRoot()), watchParent: process.env['npm_lifecycle_event'] !== undefined });
    return;
  }
  let gateway: Awaited<ReturnType<typeof Gateway.start>>;
  const encoder = await loadTextEncoder(values['text-encoder']);
  try {
    gateway = await Gateway.start(config, encoder ? { encoder } : {});
  } catch (err) {
    // The router's models are not in the registry: name the flag that maps them, with the ids on both sides.
    if ((err as { code?: string }).code === 'ERR_ROUTECORE_NO_ELIGIBLE_MODEL' && config.aliases === undefined) {
      throw new ServeUsageError(await aliasHint(config, encoder));
    }
    throw err;
  }
  const models = gateway.router.models.join(', ');
  say(
    `routecore ${packageVersion(packageRoot())} listening on ${gateway.url} (router ${config.router ?? 'default'}: ${models}; ` +
      `state ${config.redis ? 'redis' : 'in-process'}; ${config.keys.length} client key(s))`,
  );
  say(describeLog(config.log));
  for (const line of gateway.learning.describe()) say(line);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        say(`${signal} again: exiting now`);
        process.exit(1);
      }
      stopping = true;
      say(`${signal}: draining ${gateway.inflight} in-flight request(s) (up to ${config.drainMs} ms)`);
      gateway.close().then(
        () => {
          say('stopped');
          resolve();
        },
        (err: unknown) => {
          say(`shutdown error: ${(err as Error).message}`);
          resolve();
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => void gateway.reload('SIGHUP'));
    const request = (why: string) => {
      if (!stopping) stop(why);
    };
    gateway.clusterMetrics = workerLink(gateway.url, { stop: request, reload: (why) => void gateway.reload(why) }, { registry: gateway.metrics.registry, local: () => gateway.metrics.prometheus() });
    // Run by npm (npx, an npm script), the server's parent is `sh -c`, which dies on SIGTERM without
    // passing it on: stop (drain) when the parent goes, instead of serving on as an orphan.
    if (!worker && process.env['npm_lifecycle_event'] !== undefined) watchParent(request);
  });
}

/**
 * `--learn` replaces the router file on a swap, so it needs one: `--router R.router` (created from the
 * embedded default router when it does not exist yet). A learned router is held to the serving
 * router's strong share by the threshold policy, which is the default policy under `--learn`.
 */
async function prepareLearning(config: import('../serve/config.js').ServeConfig): Promise<void> {
  if (config.router === undefined || config.router === 'default') throw new ServeUsageError('--learn needs --router R.router: the file a better router is swapped into (it is created from the default router when it does not exist)');
  if (!config.shadow) throw new ServeUsageError('--learn learns from judged pairs: it needs --shadow RATE --judge ID');
  if (config.log.kind === 'none') throw new ServeUsageError('--learn reads the judged pairs from the outcome log: the log cannot be "none"');
  if (!config.log.storePrompts) throw new ServeUsageError('--learn trains on the prompts of judged requests: the log must keep them (--log-content prompts, or log.storePrompts: true)');
  const { existsSync, copyFileSync } = await import('node:fs');
  if (!existsSync(config.router)) {
    const { defaultRouterPath } = await import('../routing/router.js');
    copyFileSync(defaultRouterPath(), config.router);
  }
  config.policy ??= 'threshold';
}

/** `routecore log export`. */
export async function cmdLog(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'export') throw new ServeUsageError(`log expects the subcommand "export", got ${sub === undefined ? 'nothing' : `"${sub}"`}`);
  const { values } = parseArgs({ args: rest, strict: true, options: { db: { type: 'string', multiple: true }, format: { type: 'string' }, out: { type: 'string' } } });
  if (!values.db?.length) throw new ServeUsageError('log export needs --db LOG.sqlite (repeatable: one per replica)');
  const format = values.format;
  if (format !== 'outcomes' && format !== 'pairwise' && format !== 'log') throw new ServeUsageError(`--format expects outcomes, pairwise or log, got ${format === undefined ? 'nothing' : `"${format}"`}`);
  const { text, summary } = writeExport(values.db, format as ExportFormat, values.out);
  if (values.out === undefined) process.stdout.write(text);
  const skipped = format === 'log' ? '' : `; skipped ${summary.unanswered} unanswered, ${summary.withoutPrompt} without a stored prompt, ${summary.withoutScore} without feedback`;
  process.stderr.write(`routecore log export: ${summary.records} ${format} records from ${summary.rows} rows (${summary.scored} scored${skipped})${values.out ? `; wrote ${values.out}` : ''}\n`);
  if (summary.records === 0 && format !== 'log') {
    throw new RoutecoreError('ERR_ROUTECORE_BAD_DATA', `no ${format} records: training needs answered requests with feedback (POST /v1/feedback {"id", "score"})`);
  }
}
