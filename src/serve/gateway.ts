/**
 * `routecore serve`: an OpenAI-compatible HTTP face over the one executor (src/execution). The gateway
 * parses, authenticates, limits, formats and logs; routing, retries, fallbacks, cool-downs and
 * streaming are the executor's. Endpoints:
 *
 * | route | what |
 * | --- | --- |
 * | `POST /v1/chat/completions` | routed (`routecore`, `routecore:<policy>[:<knob>]`) or explicit (a registry id, with fallbacks); JSON or SSE |
 * | `GET /v1/models`, `GET /v1/models/{id}` | `routecore`, each `routecore:<policy>`, every registry id (those the key may use); Anthropic's shape for Anthropic clients (models-route.ts) |
 * | `POST /v1/messages/count_tokens` | Anthropic's token count: the upstream's own for an Anthropic model, else routecore's estimate (count-tokens-route.ts) |
 * | `POST /v1/route` | the decision only, no upstream call |
 * | `POST /v1/feedback` | `{id, score}`: a score in [0,1] for an answered request |
 * | `GET /healthz`, `GET /readyz`, `GET /metrics` | liveness, readiness (503 while draining), Prometheus |
 *
 * Every answer to `/v1/chat/completions` carries `x-routecore-model` (the model that answered, `none`
 * when none did), `x-routecore-routed` (the router's first choice), `x-routecore-policy` and
 * `x-routecore-attempts` (upstream calls made), plus `x-request-id` (the id feedback refers to).
 * @module
 */
import { readFileSync, statSync, unwatchFile, watchFile } from 'node:fs';
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { fastify as Fastify, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Agent } from 'undici';

import { RoutecoreError, describe, isRoutecoreError, isPlainObject } from '../errors.js';
import type { Attempt, Outcome } from '../app/hub.js';
import { chatText, checkChatRequest, type ChatRequest } from '../chat/messages.js';
import { parseModelName, ROUTED_MODEL } from '../chat/model-name.js';
import { Canceller, Executor, UpstreamError, type ChatStream, type ExecuteOptions } from '../execution/executor.js';
import { requestId } from '../execution/request-id.js';
import { DEFAULT_ATTEMPT_TIMEOUT_MS } from '../execution/runner.js';
import { Registry } from '../routing/registry.js';
import { defaultRouterPath, type Encoder, type RouteOptions } from '../routing/router.js';
import { Router } from '../app/router.js';
import { MemoryState } from '../state/memory.js';
import { expandReferences, keepItems } from './stored-items.js';
import { MAX_BODY_DEPTH, nestsDeeperThan } from './json-depth.js';
import type { SharedState } from '../state/shared-state.js';
import { DECISION_HEADERS, OpenAIErrorAnswer, answerFor, badRequest, decisionHeaders, internalError, typeForStatus } from '../wire/openai.js';
import type { ClientKey, LogLevel, ServeConfig } from './config.js';
import { hashKey } from './config.js';
import { GatewayMetrics } from './metrics.js';
import { ChatBody, FeedbackBody, RouteBody, feedbackProblem, validatorCompiler } from './schemas.js';
import { openGatewayLog, type GatewayLog, type LogRow } from './outcome-log.js';
import { WireError, inClientTerms, type Json } from '../wire/common.js';
import { WIRE_FACES, faceOf, messagesFace, type Face } from './wire-faces.js';
import { discardBytesFor, discardRequestBody } from './body-drain.js';
import { LearningService } from '../learning/service.js';
import { registerStatsRoutes } from './stats-routes.js';
import { errorFaceOf, modelAllowed, type RouteContext } from './route-context.js';
import { registerModelRoutes } from './models-route.js';
import { TOKEN_COUNT_HEADER, registerCountTokensRoute } from './count-tokens-route.js';

export { modelAllowed };

/** Options of {@link Gateway.start} beyond the configuration. */
export interface GatewayOptions {
  /** Where upstream keys (`apiKeyEnv`) are read. Default process.env. */
  env?: Record<string, string | undefined>;
  /** Shared state; default: a RedisState when `config.redis` is set, else a MemoryState. Closed by the gateway only when it created it. */
  state?: SharedState;
  /** The outcome log; default from `config.log`. */
  log?: GatewayLog;
  /**
   * Where the gateway's log goes (pino JSON lines; default stdout): the request log at `config.logLevel`,
   * and its operational events (start warnings, reloads, drain, learning rounds, lost log rows) with
   * `event` set, at `info` and above unless the level is quieter than `warn` ({@link operationalLevel}).
   */
  logStream?: { write(line: string): void };
  /**
   * The text encoder of a router trained on embeddings (`config.router` reads `precomputed`), used
   * for it and for every reload (src/routing/encoder.ts).
   */
  encoder?: Encoder;
}

/** At the drain deadline, how long cancelled requests get to write their 503 before the connections close. */
const CUT_ANSWER_MS = 250;

/** How often this replica's decision counts are added to the shared calibration counters. */
const CALIBRATION_FLUSH_MS = 1000;

/** One router with its executor; replaced whole on reload while requests that started on it finish. */
interface Generation {
  router: Router;
  registry: Registry;
  executor: Executor;
  inflight: number;
  retired: boolean;
}

/** What the gateway knows about one request while it is answered. */
interface RequestContext {
  id: string;
  started: number;
  /** Date.now() at the start; written as the row's ISO time only for a row without an outcome (refusals). */
  startedAt: number;
  route: string;
  key: ClientKey | null;
  requested: string | null;
  stream: boolean;
  outcome: Outcome | undefined;
  /** Settles when the executor is done with the request (its outcome has been emitted). */
  running: Promise<unknown> | undefined;
  /** Set when the answer failed before the executor (refusals) or the error to log. */
  error: string | undefined;
  routed: string | null;
  policy: string | null;
  generation: Generation | undefined;
  done: boolean;
  /** The wire the route answers in when it is not chat completions (`/v1/responses`, `/v1/messages`). */
  face: Face | undefined;
  /** Time inside upstream attempts (ms) of a non-streamed answer; its overhead is measured when the answer has left. */
  upstreamMs: number | undefined;
  /** A stream's overhead (ms), fixed when its headers leave: the rest of a stream is upstream pace. */
  overheadMs: number | undefined;
  /** Cancels the executor's work for the request when the client goes away before its answer. */
  canceller: Canceller | undefined;
}

declare module 'fastify' {
  interface FastifyRequest {
    rc: RequestContext;
  }
}

/**
 * `/v1/route` also takes `{"prompt": "..."}` (the library's `router.route(prompt)`), read as one user
 * turn; every other body is a chat-completions body, checked as such.
 */
function routeBody(body: unknown): unknown {
  if (!isPlainObject(body) || body['prompt'] === undefined) return body;
  if (body['messages'] !== undefined) throw badRequest('invalid_body', 'give "prompt" or "messages", not both', 'prompt');
  const prompt = body['prompt'];
  if (typeof prompt !== 'string') throw badRequest('invalid_prompt', `body.prompt must be a string, got ${describe(prompt)}`, 'prompt');
  const { prompt: _prompt, ...rest } = body;
  return { ...rest, messages: [{ role: 'user', content: prompt }] };
}

/** An operational event: level, name (the log line's `event`), message, extra fields. */
type OperationalEvent = [level: 'info' | 'warn' | 'error', event: string, message: string, fields?: Record<string, unknown>];

/**
 * The level of the gateway's operational events: `info` under the default `warn` (a reload, a drain, a
 * learning round are rare and worth a line, where every request's line is not), the configured level
 * when it is more verbose (`debug`, `trace`) or quieter (`error`, `fatal`, `silent`: the operator asked
 * for less).
 */
export function operationalLevel(level: LogLevel): LogLevel {
  return level === 'warn' ? 'info' : level;
}

/** The answer to a request Node's HTTP parser refused (fastify's clientErrorHandler), in the OpenAI shape; the connection is closed after it. */
function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] =
    err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'request_headers_too_large', 'the request headers (or URL) are over the size this gateway reads']
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'request_timeout', 'the request did not arrive in time']
    : [400, 'bad_http_request', `the request could not be read as HTTP (${err.code ?? err.message})`];
  const body = JSON.stringify({ error: { message, type: 'invalid_request_error', code, param: null } });
  if (socket.writable) socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  socket.destroy();
}

/** A running gateway. */
export class Gateway {
  readonly app: FastifyInstance;
  readonly config: ServeConfig;
  readonly state: SharedState;
  readonly log: GatewayLog;
  /** The gateway's one metrics registry (its families, the process's, the current router's). */
  readonly metrics: GatewayMetrics;
  /** Live statistics, shadow judging and learning (src/learning), reached through a few hooks below. */
  readonly learning: LearningService;
  readonly #env: Record<string, string | undefined>;
  readonly #encoder: Encoder | undefined;
  /** The logger of operational events: a child of fastify's, at {@link operationalLevel}. */
  #events: FastifyBaseLogger | undefined;
  /** Events said while the constructor runs, before the logger exists. */
  readonly #early: OperationalEvent[] = [];
  readonly #ownState: boolean;
  readonly #ownLog: boolean;
  readonly #dispatcher: Agent;
  readonly #keys: Map<string, ClientKey>;
  readonly #contexts = new Map<string, RequestContext>();
  #gen: Generation;
  #draining = false;
  #closed: Promise<void> | undefined;
  #reloading: Promise<boolean> | undefined;
  #watched: string | undefined;
  #routerMtime = 0;
  /** Decisions per first-choice model since the last flush to the shared state (calibration counters). */
  readonly #decided = new Map<string, number>();
  #calibrationTimer: NodeJS.Timeout | undefined;
  #url = '';

  private constructor(config: ServeConfig, gen: Generation, state: SharedState, ownState: boolean, log: GatewayLog, ownLog: boolean, dispatcher: Agent, options: GatewayOptions) {
    this.config = config;
    this.#gen = gen;
    this.state = state;
    this.#ownState = ownState;
    this.log = log;
    this.#ownLog = ownLog;
    this.#dispatcher = dispatcher;
    this.#env = options.env ?? process.env;
    this.#encoder = options.encoder;
    this.#keys = new Map(config.keys.map((k) => [k.sha256, k]));
    this.metrics = new GatewayMetrics({
      log: () => ({ written: this.log.written, queued: this.log.queued }),
      stateErrors: () => (this.state as { errors?: number }).errors ?? 0,
      cooldowns: () => this.state.cooldowns().then((c) => c.length, () => 0),
      redisUp: () => {
        const up = (this.state as { connected?: boolean }).connected;
        return up === undefined ? null : up ? 1 : 0;
      },
      draining: () => this.#draining,
      fleetDecisions: () => this.#fleetDecisions(),
      coverage: () => this.#gen.router.recentCoverage(),
    });
    this.metrics.useRouter(gen.router.hub.metrics);
    this.learning = new LearningService({
      ...(config.shadow ? { shadow: config.shadow } : {}),
      ...(config.learn ? { learn: config.learn } : {}),
      router: () => this.#gen.router,
      registry: () => this.#gen.registry,
      state,
      env: this.#env,
      dispatcher,
      ...(config.timeoutMs !== undefined ? { timeoutMs: config.timeoutMs } : {}),
      optOutKeys: config.keys.filter((k) => k.shadow === false).map((k) => k.name),
      writeJudgment: (j) => this.log.judgment(j),
      ...(config.log.kind === 'none' ? {} : { logPath: config.log.path }),
      flushLog: () => this.log.flush(),
      ...(config.router !== undefined && config.router !== 'default' ? { routerPath: config.router } : {}),
      ...(config.aliases ? { aliases: config.aliases } : {}),
      registryPath: config.registry,
      // With the file watched, the swap's rename is picked up by the watcher; otherwise reload here.
      onSwap: () => {
        if (!this.#watched) void this.reload('learning round swapped the router');
      },
      print: (line, level = 'info') => this.#event(level, 'learning', line),
    });
    this.learning.registerMetrics(this.metrics.registry);
    this.app = this.#build(options.logStream);
    this.#events = this.app.log.child({}, { level: operationalLevel(config.logLevel) });
    for (const e of this.#early.splice(0)) this.#event(...e);
    // A full disk or a dead writer thread loses rows: said through the same logger.
    log.onProblem = (message) => this.#event('error', 'outcome_log', message);
  }

  /** Loads the registry and router, connects the state, opens the log, and listens. */
  static async start(config: ServeConfig, options: GatewayOptions = {}): Promise<Gateway> {
    const env = options.env ?? process.env;
    const box: { gateway?: Gateway } = {};
    const dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: 512, pipelining: 1 });
    let state = options.state;
    let ownState = false;
    if (!state) {
      ownState = true;
      if (config.redis !== undefined) {
        const { RedisState } = await import('../state/redis.js');
        state = await RedisState.connect({ url: config.redis });
      } else {
        state = new MemoryState();
      }
    }
    let log: GatewayLog;
    let ownLog = false;
    let gen: Generation;
    try {
      log = options.log ?? openGatewayLog(config.log);
      ownLog = options.log === undefined;
      // The executor reports outcomes to the gateway, which does not exist yet: forward through a box.
      gen = await Gateway.#generation(config, state, dispatcher, env, options.encoder, (o) => {
        if (box.gateway) box.gateway.#onOutcome(o);
      });
    } catch (err) {
      // The log may have started its writer thread: close it too, or the process cannot exit.
      if (ownLog) await log!.close().catch(() => undefined);
      if (ownState) await state.close();
      await dispatcher.close();
      throw err;
    }
    let gw: Gateway;
    try {
      gw = new Gateway(config, gen, state, ownState, log, ownLog, dispatcher, options);
    } catch (err) {
      // A bad shadow setting (an unknown judge, an unpriced model) is found here, before listening.
      await gen.executor.close().catch(() => undefined);
      gen.router.dispose();
      if (ownLog) await log.close().catch(() => undefined);
      if (ownState) await state.close();
      await dispatcher.close();
      throw err;
    }
    box.gateway = gw;
    try {
      await gw.app.listen({ port: config.port, host: config.host });
    } catch (err) {
      await gw.#teardown();
      throw new RoutecoreError('ERR_ROUTECORE_IO', `cannot listen on ${config.host}:${config.port}: ${(err as Error).message}`, { cause: err });
    }
    const addr = gw.app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.port;
    gw.#url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
    gw.#watchRouter();
    // A missing upstream key would otherwise surface only as a failed request; say so at start.
    for (const e of gen.registry.entries()) {
      if (e.enabled !== false && e.apiKeyEnv !== undefined && !env[e.apiKeyEnv]) {
        gw.#event('warn', 'upstream_key_missing', `${e.apiKeyEnv} (apiKeyEnv of ${e.id}) is not set: every call to ${e.id} counts as a failed attempt (the next model is tried) until it is`, { model: e.id, apiKeyEnv: e.apiKeyEnv });
      }
    }
    gw.#calibrationTimer = setInterval(() => gw.#flushCalibration(), CALIBRATION_FLUSH_MS);
    gw.#calibrationTimer.unref();
    gw.learning.startLearning();
    return gw;
  }

  /** `http://host:port` the gateway listens on. */
  get url(): string {
    return this.#url;
  }

  /**
   * Set by `serve --workers` in each worker: the metrics of every worker, aggregated by the primary
   * (src/serve/workers.ts), so one scrape of `/metrics` covers the whole server. Unset: this gateway's.
   */
  clusterMetrics: (() => Promise<string>) | undefined;

  /** The router answering new requests now. */
  get router(): Router {
    return this.#gen.router;
  }

  /** The executor answering new requests now. */
  get executor(): Executor {
    return this.#gen.executor;
  }

  /** Requests being answered. */
  get inflight(): number {
    return this.metrics.inflight;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Builds a router + executor from the config's files. */
  static async #generation(config: ServeConfig, state: SharedState, dispatcher: Agent, env: Record<string, string | undefined>, encoder: Encoder | undefined, onOutcome: ((o: Outcome) => void) | undefined): Promise<Generation> {
    const registry = Registry.fromFile(config.registry);
    const router = await Router.load(config.router ?? 'default', { registry, aliases: config.aliases, policy: config.policy, ...(encoder ? { encoder } : {}) });
    try {
      // Marks set before this router existed (another replica, or the router this one replaces).
      for (const m of await state.cooldowns().catch(() => [])) {
        if (router.models.includes(m.model) && m.until > Date.now()) router.markUnavailable(m.model, m.until - Date.now());
      }
      const executor = new Executor({ router, registry, state, dispatcher, env, timeoutMs: config.timeoutMs, ...config.upstream, onOutcome });
      return { router, registry, executor, inflight: 0, retired: false };
    } catch (err) {
      router.dispose();
      throw err;
    }
  }

  /**
   * Loads the router (and registry) again and switches new requests to it; requests already running
   * finish on the old one, which is disposed when the last of them ends. A file that does not load
   * (half-written, corrupt) leaves the current router in place; returns whether the switch happened.
   */
  reload(why = 'reload requested'): Promise<boolean> {
    if (this.#reloading) return this.#reloading;
    this.#reloading = (async () => {
      try {
        const next = await Gateway.#generation(this.config, this.state, this.#dispatcher, this.#env, this.#encoder, (o) => this.#onOutcome(o));
        const old = this.#gen;
        this.#gen = next;
        this.metrics.useRouter(next.router.hub.metrics);
        old.retired = true;
        if (old.inflight === 0) void this.#dispose(old);
        this.metrics.reload('ok');
        this.#event('info', 'reload', `${why}: router ${this.config.router ?? defaultRouterPath()} reloaded (models: ${next.router.models.join(', ')})`, { ok: true });
        return true;
      } catch (err) {
        this.metrics.reload('failed');
        this.#event('error', 'reload', `${why}: reload failed, the current router stays in place: ${(err as Error).message}`, { ok: false });
        return false;
      } finally {
        this.#reloading = undefined;
      }
    })();
    return this.#reloading;
  }

  /**
   * Graceful shutdown: `/readyz` turns 503 and new requests get 503 at once, requests in flight
   * (streams included) finish for up to `drainMs`, then what is left is cut; the log is flushed and
   * everything closed.
   */
  close(): Promise<void> {
    if (this.#closed) return this.#closed;
    this.#draining = true;
    this.#closed = (async () => {
      if (this.#watched) unwatchFile(this.#watched);
      if (this.#calibrationTimer) clearInterval(this.#calibrationTimer);
      let closed = false;
      const closing = this.app.close().then(() => {
        closed = true;
      });
      const deadline = Date.now() + this.config.drainMs;
      const server = this.app.server;
      // Keep-alive connections that finish their last request during the drain are closed as they go idle.
      while (!closed && this.metrics.inflight > 0 && Date.now() < deadline) {
        server.closeIdleConnections();
        await new Promise((r) => setTimeout(r, 25));
      }
      if (this.metrics.inflight > 0) {
        this.#event('warn', 'drain', `drain: ${this.metrics.inflight} requests still running after ${this.config.drainMs} ms; closing them`, { cut: this.metrics.inflight });
        // Cancel them first, so that each client reads why (a 503 shutting_down, or that error as the
        // stream's last event) before its connection goes: a cut socket alone says nothing.
        for (const ctx of this.#contexts.values()) ctx.canceller?.abort();
        const answered = Date.now() + CUT_ANSWER_MS;
        while (this.metrics.inflight > 0 && Date.now() < answered) await new Promise((r) => setTimeout(r, 5));
        server.closeAllConnections();
      } else {
        server.closeIdleConnections();
      }
      await closing;
      // Rows of requests cut just now are written when their close events run; give them that turn.
      await new Promise((r) => setImmediate(r));
      await this.#teardown();
    })();
    return this.#closed;
  }

  async #teardown(): Promise<void> {
    await this.learning.close();
    await this.#dispose(this.#gen);
    await this.#dispatcher.close().catch(() => undefined);
    if (this.#ownLog) await this.log.close();
    else this.log.flush();
    if (this.#ownState) await this.state.close();
  }

  async #dispose(gen: Generation): Promise<void> {
    await gen.executor.close().catch(() => undefined);
    gen.router.dispose();
  }

  #watchRouter(): void {
    const path = this.config.router;
    if (!this.config.watchRouter || path === undefined || path === 'default') return;
    try {
      this.#routerMtime = statSync(path).mtimeMs;
    } catch {
      return;
    }
    this.#watched = path;
    // Polling survives editors and deploy tools that replace the file (rename) rather than write it.
    watchFile(path, { interval: 500, persistent: false }, (cur) => {
      if (cur.mtimeMs === 0 || cur.mtimeMs === this.#routerMtime) return;
      this.#routerMtime = cur.mtimeMs;
      void this.reload(`${path} changed`);
    });
  }

  #countDecision(model: string): void {
    this.#decided.set(model, (this.#decided.get(model) ?? 0) + 1);
  }

  /**
   * Adds this replica's decisions per first-choice model to the shared hourly counters, once a second
   * rather than once per request (one Redis round trip per model per second, not per request).
   */
  #flushCalibration(): void {
    if (this.#decided.size === 0) return;
    const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    for (const [model, n] of this.#decided) this.state.increment(`calibration:${hour}:${model}`, n, 2 * 3_600_000).catch(() => undefined);
    this.#decided.clear();
  }

  /** The fleet's decisions per first-choice model this hour (every replica sharing the state). */
  async #fleetDecisions(): Promise<Map<string, number>> {
    this.#flushCalibration();
    const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    const out = new Map<string, number>();
    for (const model of this.#gen.registry.ids()) {
      const n = await this.state.counter(`calibration:${hour}:${model}`).catch(() => NaN);
      if (!Number.isNaN(n)) out.set(model, n);
    }
    return out;
  }

  #acquire(ctx: RequestContext): Generation {
    const gen = this.#gen;
    gen.inflight++;
    ctx.generation = gen;
    return gen;
  }

  #release(ctx: RequestContext): void {
    const gen = ctx.generation;
    if (!gen) return;
    ctx.generation = undefined;
    gen.inflight--;
    if (gen.retired && gen.inflight === 0) void this.#dispose(gen);
  }

  #onOutcome(o: Outcome): void {
    const ctx = this.#contexts.get(o.id);
    if (ctx) ctx.outcome = o;
    this.learning.outcome(o);
  }

  /** The client key of a request, or a 401. */
  #authenticate(request: FastifyRequest): ClientKey | null {
    if (this.#keys.size === 0) return null;
    const header = request.headers.authorization;
    let token: string | undefined;
    if (typeof header === 'string' && header.startsWith('Bearer ')) token = header.slice(7).trim();
    else if (typeof request.headers['x-api-key'] === 'string') token = request.headers['x-api-key'];
    if (token === undefined || token === '') {
      this.metrics.refused('auth');
      throw new OpenAIErrorAnswer(401, 'authentication_error', 'missing_api_key', 'no API key: send "Authorization: Bearer <key>" (or "x-api-key: <key>")');
    }
    const key = this.#keys.get(hashKey(token));
    if (!key) {
      this.metrics.refused('auth');
      // The key is never echoed: it may be a real key for another service, pasted by mistake.
      throw new OpenAIErrorAnswer(401, 'authentication_error', 'invalid_api_key', 'the API key is not valid for this gateway');
    }
    return key;
  }

  /** Rate limit and budget of a key, against the shared state (so every replica counts the same). */
  async #limits(key: ClientKey): Promise<void> {
    const now = Date.now();
    if (key.requestsPerMinute !== undefined) {
      const start = Math.floor(now / 60_000) * 60_000;
      let n: number;
      try {
        n = await this.state.increment(`rate:${key.name}:${start}`, 1, 60_000);
      } catch {
        n = 0; // state unreachable: fail open (counted in routecore_state_errors_total)
      }
      if (n > key.requestsPerMinute) {
        this.metrics.refused('rate_limit');
        const retry = Math.max(1, Math.ceil((start + 60_000 - now) / 1000));
        throw new OpenAIErrorAnswer(429, 'rate_limit_error', 'rate_limit_exceeded', `key "${key.name}" is over its limit of ${key.requestsPerMinute} requests per minute; retry in ${retry} s`, {
          headers: { 'retry-after': String(retry) },
        });
      }
    }
    if (key.budgetUsd !== undefined) {
      const start = Math.floor(now / key.budgetWindowMs) * key.budgetWindowMs;
      let spent: number;
      try {
        spent = await this.state.counter(`budget:${key.name}:${start}`);
      } catch {
        spent = 0;
      }
      if (spent >= key.budgetUsd) {
        this.metrics.refused('budget');
        const retry = Math.max(1, Math.ceil((start + key.budgetWindowMs - now) / 1000));
        throw new OpenAIErrorAnswer(429, 'rate_limit_error', 'budget_exceeded', `key "${key.name}" has spent its budget of $${key.budgetUsd} for this window ($${spent.toFixed(4)}); it resets in ${retry} s`, {
          headers: { 'retry-after': String(retry) },
        });
      }
    }
  }

  #charge(key: ClientKey | null, costUsd: number | null): void {
    if (!key || key.budgetUsd === undefined || costUsd === null || !(costUsd > 0)) return;
    const start = Math.floor(Date.now() / key.budgetWindowMs) * key.budgetWindowMs;
    this.state.increment(`budget:${key.name}:${start}`, costUsd, key.budgetWindowMs).catch(() => undefined);
  }

  /** Validates a chat body and reads its model name into executor options; throws the 400/403/404. */
  #parseChat(body: unknown, ctx: RequestContext, gen: Generation): { request: Record<string, unknown> & { messages: unknown[] }; options: ExecuteOptions } {
    if (!isPlainObject(body)) throw badRequest('invalid_body', 'the request body must be a JSON object (a chat-completions request with messages)');
    ctx.requested = typeof body['model'] === 'string' ? body['model'] : body['model'] === undefined ? ROUTED_MODEL : null;
    ctx.stream = body['stream'] === true;
    if (typeof body['messages'] === 'string') {
      // A common first try; say what the field must look like, with the client's own text.
      const example = JSON.stringify([{ role: 'user', content: body['messages'].slice(0, 40) }]);
      throw badRequest('invalid_messages', `body.messages must be an array of {"role", "content"} messages, not a string: ${example}`, 'messages', 'ERR_ROUTECORE_INVALID_ARGUMENT');
    }
    try {
      checkChatRequest(body, 'body');
    } catch (err) {
      const messages = body['messages'];
      const missing = messages === undefined || messages === null || (Array.isArray(messages) && messages.length === 0);
      throw badRequest(missing ? 'missing_messages' : 'invalid_messages', (err as Error).message, 'messages', (err as RoutecoreError).code);
    }
    if (body['stream'] !== undefined && typeof body['stream'] !== 'boolean') throw badRequest('invalid_stream', `body.stream must be true or false`, 'stream');
    let choice: ReturnType<typeof parseModelName>;
    try {
      choice = parseModelName(body['model'], gen.registry, 'model');
    } catch (err) {
      if (isRoutecoreError(err, 'ERR_ROUTECORE_UNKNOWN_MODEL')) {
        throw new OpenAIErrorAnswer(404, 'invalid_request_error', 'model_not_found', err.message, { param: 'model', routecoreCode: err.code });
      }
      throw badRequest('invalid_model', (err as Error).message, 'model', (err as RoutecoreError).code);
    }
    const name = typeof body['model'] === 'string' ? body['model'] : ROUTED_MODEL;
    if (ctx.key && !modelAllowed(ctx.key.models, name)) {
      this.metrics.refused('model_not_allowed');
      throw new OpenAIErrorAnswer(403, 'permission_error', 'model_not_allowed', `key "${ctx.key.name}" may not use model "${name}" (allowed: ${ctx.key.models!.join(', ')})`, { param: 'model' });
    }
    const options: ExecuteOptions = { id: ctx.id };
    if (choice.kind === 'explicit') options.model = choice.model;
    else options.route = choice.route as RouteOptions;
    return { request: body as Record<string, unknown> & { messages: unknown[] }, options };
  }

  /** The decision headers; `x-routecore-attempts` counts the upstream calls made (a model skipped without a call, a `config` attempt, is not one). */
  #decisionHeaders(reply: FastifyReply | ServerResponse, ctx: RequestContext, model: string | null, attempts: readonly Attempt[]): void {
    let calls = 0;
    for (const a of attempts) if (a.status !== 'config') calls++;
    const headers = decisionHeaders({ model, routed: ctx.routed ?? ctx.outcome?.routed ?? null, policy: ctx.policy ?? ctx.outcome?.policy ?? null, attempts: calls });
    if ('raw' in reply) reply.headers(headers);
    else for (const [k, v] of Object.entries(headers)) reply.setHeader(k, v);
  }

  /**
   * The answer to a body its route's schema refused: the same precise answer the handler's own checks
   * give (field, message, code), so the schema changes when a bad body is refused, not what the
   * client reads. A refusal the checks do not explain (the schema is stricter) names the schema's path.
   */
  #schemaAnswer(request: FastifyRequest, err: FastifyError): OpenAIErrorAnswer {
    const body = request.body;
    const route = request.routeOptions.url;
    try {
      if (route === '/v1/feedback') {
        const problem = feedbackProblem(body);
        if (problem) return problem;
      } else {
        // Sets the log row's requested model and stream flag too, as for any other refusal.
        const chat = route === '/v1/route' ? routeBody(body) : body;
        this.#parseChat(chat, request.rc, this.#gen);
        chatText(chat as ChatRequest);
      }
    } catch (e) {
      return this.#toErrorAnswer(e, request.log);
    }
    const first = err.validation?.[0];
    const path = first?.instancePath ? `body${first.instancePath.replace(/\/(\d+)/g, '[$1]').replace(/\//g, '.')}` : 'body';
    return badRequest('invalid_body', `${path} ${first?.message ?? 'does not match the schema'}`, path === 'body' ? undefined : path.slice(5));
  }

  /** The error answer for anything thrown while serving a request. */
  /**
   * One operational event (start warning, reload, drain, learning round, lost log rows) as a log line
   * with `event` naming it, through fastify's logger so that it carries the process's bindings, obeys
   * the level and goes wherever the request log goes.
   */
  #event(...e: OperationalEvent): void {
    const [level, event, message, fields] = e;
    if (this.#events === undefined) this.#early.push(e);
    else this.#events[level]({ event, ...fields }, message);
  }

  #toErrorAnswer(err: unknown, log: FastifyBaseLogger = this.app.log): OpenAIErrorAnswer {
    // Cancelled at the drain deadline (close()): the client is still there and reads why.
    if (this.#draining && isRoutecoreError(err, 'ERR_ROUTECORE_ABORTED')) {
      return new OpenAIErrorAnswer(503, 'server_error', 'shutting_down', `the gateway is shutting down and cut this request at its drain deadline (${this.config.drainMs} ms); retry on another replica`, { routecoreCode: err.code });
    }
    const known = answerFor(err);
    if (known) return known;
    const e = err as { code?: string; statusCode?: number; message?: string };
    switch (e.code) {
      case 'FST_ERR_CTP_INVALID_JSON':
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      case 'ERR_ROUTECORE_BAD_JSON':
        return badRequest('invalid_json', `the request body is not valid JSON: ${e.message ?? ''}`);
      case 'ERR_ROUTECORE_BODY_TOO_DEEP':
        return badRequest('body_too_deep', e.message ?? 'the request body nests too deeply');
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return new OpenAIErrorAnswer(413, 'invalid_request_error', 'body_too_large', `the request body is over this gateway's limit of ${this.config.bodyLimitBytes} bytes`);
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
        return badRequest('invalid_content_length', 'the Content-Length header does not match the body');
      default:
        break;
    }
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      return new OpenAIErrorAnswer(e.statusCode, typeForStatus(e.statusCode), 'invalid_request', e.message ?? 'bad request');
    }
    log.error({ err }, 'internal error while answering');
    return internalError('the gateway failed while answering; see its log', isRoutecoreError(err) ? err.code : undefined);
  }

  /** Writes the request's one log row (chat completions only), once the executor is done with it. */
  #logRow(ctx: RequestContext, res: ServerResponse): void {
    if (ctx.done) return;
    ctx.done = true;
    const httpStatus = res.writableFinished ? res.statusCode : 499;
    const write = () => {
      this.#contexts.delete(ctx.id);
      const o = ctx.outcome;
      const row: LogRow = o
        ? {
            id: ctx.id,
            ts: o.ts,
            prompt: o.prompt,
            routed: o.routed,
            model: o.model,
            attempts: o.attempts,
            usage: o.usage,
            costUsd: o.costUsd,
            latencyMs: o.latencyMs,
            status: o.status,
            httpStatus,
            policy: o.policy,
            stream: o.stream,
            key: ctx.key?.name ?? null,
            requested: ctx.requested,
          }
        : {
            id: ctx.id,
            ts: new Date(ctx.startedAt).toISOString(),
            prompt: null,
            routed: ctx.routed,
            model: null,
            attempts: [],
            usage: null,
            costUsd: null,
            latencyMs: Math.round((performance.now() - ctx.started) * 1000) / 1000,
            status: httpStatus === 499 ? 'aborted' : 'refused',
            httpStatus,
            policy: ctx.policy,
            stream: ctx.stream,
            key: ctx.key?.name ?? null,
            requested: ctx.requested,
          };
      const error = o?.error ?? ctx.error;
      if (error !== undefined) row.error = error;
      if (o?.session !== undefined) row.session = o.session;
      this.log.write(row);
    };
    if (ctx.running) ctx.running.then(write, write);
    else write();
  }

  async #chat(request: FastifyRequest, reply: FastifyReply, face?: Face): Promise<unknown> {
    const ctx = request.rc;
    const gen = this.#acquire(ctx);
    // A face's body as chat messages, kept to name the client's own fields in a fault found in them.
    let translated: { messages?: unknown } | undefined;
    try {
      // Items of earlier answers the client refers back to (Responses' item_reference), put back in place.
      const clientBody = face?.items ? await expandReferences(face.items, request.body, this.state, (err) => this.#itemsProblem(request.log, err)) : request.body;
      const { request: body, options } = this.#parseChat(face ? this.#translate(face, clientBody, request.headers) : clientBody, ctx, gen);
      if (face) translated = body;
      if (ctx.key) await this.#limits(ctx.key);
      const session = request.headers['x-routecore-session'];
      if (typeof session === 'string' && session !== '') options.session = session;
      // Aborted by the request's close listener (onRequest) when the client leaves before the answer.
      // A Canceller, not an AbortController: no EventTarget per request (src/execution/cancellation.ts).
      const canceller = new Canceller();
      ctx.canceller = canceller;
      options.cancellation = canceller;
      if (ctx.stream) return await this.#stream(gen, body, options, ctx, reply, face, clientBody as Json);
      const running = gen.executor.complete(body as never, options);
      ctx.running = running;
      const result = await running;
      ctx.routed = result.routed;
      this.#countDecision(result.routed);
      ctx.policy = result.decision.policy;
      this.#charge(ctx.key, result.costUsd);
      const shadowed = this.learning.sample(ctx.id, result.decision, ctx.key?.name ?? null);
      // Judged only once the client has the whole answer ('finish': the response left this process).
      if (shadowed) reply.raw.once('finish', () => this.learning.answered(shadowed, body, result.model, result.costUsd, result.response));
      this.#decisionHeaders(reply, ctx, result.model, result.attempts);
      // The upstream's own id stays in `id`; routecore's id (for feedback) is in the header.
      const answer = face ? face.answer(result.response, clientBody as Json, result.model) : result.response;
      if (face?.items) keepItems(face.items.minted(result.response, answer, clientBody as Json), this.state, (err) => this.#itemsProblem(request.log, err));
      ctx.upstreamMs = result.upstreamMs;
      // The gateway's own time so far, upstream wait excluded (serialising and writing the answer follow; the metric includes them).
      reply.header('x-routecore-overhead-us', String(Math.max(0, Math.round((performance.now() - ctx.started - result.upstreamMs) * 1000))));
      return answer;
    } catch (err) {
      const ge = this.#toErrorAnswer(translated ? inClientTerms(err, translated) : err, request.log);
      ctx.error = ge.message;
      this.#decisionHeaders(reply, ctx, null, err instanceof UpstreamError ? err.attempts : []);
      throw ge;
    } finally {
      if (!ctx.stream) this.#release(ctx);
    }
  }

  /** A kept output item that could not be read or written: said in the request log, the request goes on. */
  #itemsProblem(log: FastifyBaseLogger, err: unknown): void {
    log.warn({ err }, 'the shared state failed to read or keep an output item for item_reference');
  }

  /** A face's body as the chat request the executor takes; a body the face refuses is a 400 in its shape. */
  #translate(face: Face, body: unknown, headers: FastifyRequest['headers']): unknown {
    try {
      return face.parse(body, headers);
    } catch (err) {
      if (err instanceof WireError) throw badRequest(err.reason, err.message, err.param ?? undefined, err.code);
      throw err;
    }
  }

  async #stream(gen: Generation, body: Record<string, unknown>, options: ExecuteOptions, ctx: RequestContext, reply: FastifyReply, face?: Face, clientBody?: Json): Promise<unknown> {
    let stream: ChatStream;
    try {
      const opening = gen.executor.stream(body as never, options);
      ctx.running = opening;
      stream = await opening;
    } catch (err) {
      this.#release(ctx);
      throw err;
    }
    // The row is written once the loop below is over: by then the executor has emitted the outcome,
    // except when the loop stops early (client gone), which the row then records as aborted.
    let finished!: () => void;
    ctx.running = new Promise<void>((resolve) => (finished = resolve));
    ctx.routed = stream.routed;
    this.#countDecision(stream.routed);
    ctx.policy = stream.decision.policy;
    // A stream cut or left early used the upstream all the same: its cost is charged too.
    stream.result.then(
      (s) => this.#charge(ctx.key, s.costUsd),
      (err: unknown) => this.#charge(ctx.key, err instanceof UpstreamError ? err.costUsd : null),
    );
    const faceStream = face?.stream(clientBody ?? {}, stream.model, stream.promptTokens);
    const shadowed = this.learning.sample(ctx.id, stream.decision, ctx.key?.name ?? null);
    const res = reply.raw;
    reply.hijack();
    try {
      res.statusCode = 200;
      res.setHeader('content-type', 'text/event-stream; charset=utf-8');
      res.setHeader('cache-control', 'no-cache');
      res.setHeader('connection', 'keep-alive');
      // Proxies such as nginx buffer responses unless told not to; chunk-by-chunk needs them not to.
      res.setHeader('x-accel-buffering', 'no');
      res.setHeader('x-request-id', ctx.id);
      this.#decisionHeaders(res, ctx, stream.model, stream.attempts);
      ctx.overheadMs = Math.max(0, performance.now() - ctx.started - stream.upstreamMs);
      res.setHeader('x-routecore-overhead-us', String(Math.round(ctx.overheadMs * 1000)));
      res.flushHeaders();
      try {
        for await (const chunk of stream) {
          if (res.destroyed) break; // stops the iterator, which cancels the upstream call
          if (shadowed) this.learning.collect(shadowed, chunk.data);
          const text = faceStream ? faceStream.write(chunk.data) : `data: ${chunk.data}\n\n`;
          if (text !== '' && !res.write(text)) {
            await new Promise<void>((resolve) => {
              const done = () => {
                res.off('drain', done);
                res.off('close', done);
                resolve();
              };
              res.once('drain', done);
              res.once('close', done);
            });
          }
        }
        if (faceStream && !res.destroyed) {
          res.write(faceStream.end());
          if (faceStream.minted) keepItems(faceStream.minted(), this.state, (err) => this.#itemsProblem(reply.log, err));
        }
      } catch (err) {
        if (!res.destroyed) {
          // Headers are gone; the error travels as an SSE event, which the OpenAI SDK raises as an APIError.
          const ge = this.#toErrorAnswer(err, reply.log);
          ctx.error = ge.message;
          reply.log.warn({ code: ge.code, routecoreCode: ge.routecoreCode, attempts: ge.attempts?.length ?? 0 }, ge.message);
          res.write(faceStream ? faceStream.fail({ status: ge.status, body: ge.body(ctx.id) as unknown as { error: Json } }) : `data: ${JSON.stringify(ge.body(ctx.id))}\n\n`);
        }
      }
      if (!res.destroyed) res.end();
      if (shadowed && !res.destroyed) stream.result.then((s) => this.learning.answered(shadowed, body, s.model, s.costUsd), () => undefined);
    } finally {
      this.#release(ctx);
      finished();
    }
    return reply;
  }

  #build(logStream: GatewayOptions['logStream']): FastifyInstance {
    const app = Fastify({
      bodyLimit: this.config.bodyLimitBytes,
      // fastify's own pino logger: one JSON line per request at `info` ("incoming request", "request
      // completed" with reqId = x-request-id), failures at `warn`/`error`. Its serializers log method,
      // URL and addresses, never headers, so keys stay out of the log.
      logger: { level: this.config.logLevel, ...(logStream ? { stream: logStream } : {}) },
      genReqId: () => requestId(),
      // The gateway answers 503 during drain itself, in the OpenAI shape.
      return503OnClosing: false,
      // A request Node cannot read as HTTP (a Content-Length that does not match, a bad chunk size, headers
      // over the limit) still gets an OpenAI-shaped error, as every other refusal does.
      clientErrorHandler: answerClientError,
      forceCloseConnections: 'idle',
      keepAliveTimeout: 65_000,
    });
    app.decorateRequest('rc', null as unknown as RequestContext);

    // Bodies are JSON whatever the content type says (curl -d sends form encoding): OpenAI clients send
    // JSON, and one parser keeps the 400 for a bad body the same everywhere.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'string' }, (_req, text, done) => {
      if (text === '') {
        done(Object.assign(new Error('the body is empty'), { code: 'ERR_ROUTECORE_BAD_JSON', statusCode: 400 }), undefined);
        return;
      }
      let body: unknown;
      try {
        body = JSON.parse(text as string);
      } catch (err) {
        done(Object.assign(new Error((err as Error).message), { code: 'ERR_ROUTECORE_BAD_JSON', statusCode: 400 }), undefined);
        return;
      }
      if (nestsDeeperThan(body, (text as string).length)) {
        done(Object.assign(new Error(`the request body nests arrays and objects more than ${MAX_BODY_DEPTH} levels deep`), { code: 'ERR_ROUTECORE_BODY_TOO_DEEP', statusCode: 400 }), undefined);
        return;
      }
      done(null, body);
    });

    app.addHook('onRequest', (request, reply, done) => {
      const started = performance.now();
      const route = request.routeOptions.url ?? 'unmatched';
      const ctx: RequestContext = {
        id: request.id,
        started,
        startedAt: Date.now(),
        route,
        key: null,
        requested: null,
        stream: false,
        outcome: undefined,
        running: undefined,
        error: undefined,
        routed: null,
        policy: null,
        generation: undefined,
        done: false,
        face: faceOf(route),
        upstreamMs: undefined,
        overheadMs: undefined,
        canceller: undefined,
      };
      request.rc = ctx;
      this.metrics.inflight++;
      const res = reply.raw;
      res.once('close', () => {
        this.metrics.inflight--;
        const now = performance.now();
        this.metrics.answered(route, res.writableFinished ? res.statusCode : 499, (now - started) / 1000);
        const overheadMs = ctx.overheadMs ?? (ctx.upstreamMs === undefined ? undefined : now - started - ctx.upstreamMs);
        if (overheadMs !== undefined && res.writableFinished) this.metrics.overhead(route, overheadMs / 1000);
        if (route === '/v1/chat/completions' || ctx.face) this.#logRow(ctx, res);
        if (ctx.canceller !== undefined && !res.writableFinished) ctx.canceller.abort();
      });
      if (route === '/v1/chat/completions' || ctx.face) this.#contexts.set(ctx.id, ctx);
      reply.header('x-request-id', ctx.id);
      if (this.config.corsOrigins.length > 0) this.#cors(request, reply);
      if (this.#draining) {
        reply.header('connection', 'close');
        done(new OpenAIErrorAnswer(503, 'server_error', 'shutting_down', 'the gateway is shutting down; retry on another replica'));
        return;
      }
      if (route.startsWith('/v1/')) {
        try {
          ctx.key = this.#authenticate(request);
        } catch (err) {
          done(err as Error);
          return;
        }
      }
      done();
    });

    app.setErrorHandler((err, request, reply) => {
      const ge = (err as FastifyError).validation && (err as FastifyError).validationContext === 'body' ? this.#schemaAnswer(request, err as FastifyError) : this.#toErrorAnswer(err, request.log);
      // The gateway's own failures are logged where they are classified (error); upstream failures are
      // a warning, the client's mistakes information.
      if (ge.status >= 500 && ge.code !== 'internal_error') request.log.warn({ code: ge.code, routecoreCode: ge.routecoreCode, attempts: ge.attempts?.length ?? 0 }, ge.message);
      else if (ge.status < 500) request.log.info({ code: ge.code, status: ge.status }, ge.message);
      const ctx = request.rc;
      if (ctx) {
        ctx.error ??= ge.message;
        if ((ctx.route === '/v1/chat/completions' || ctx.face) && !reply.hasHeader('x-routecore-model')) this.#decisionHeaders(reply, ctx, null, []);
      }
      for (const [k, v] of Object.entries(ge.headers)) reply.header(k, v);
      if (ge.status === 413) {
        // Read the rest of the body so the client, still sending, gets this answer instead of EPIPE.
        reply.removeHeader('connection');
        discardRequestBody(request.raw, { maxBytes: discardBytesFor(this.config.bodyLimitBytes), maxMs: 10_000 });
      }
      const face = ctx?.face ?? errorFaceOf(request);
      if (face) {
        // Each wire's errors keep its own shape (Anthropic's {type: "error", error: {type, message}} on /v1/messages).
        const answer = face.error({ status: ge.status, body: ge.body(ctx.id) as unknown as { error: Json } });
        reply.code(answer.status).send(answer.body);
        return;
      }
      // 499 is nginx's "client closed request": there is nobody to answer, but the status is logged.
      reply.code(ge.status).send(ge.body(ctx?.id));
    });

    app.setNotFoundHandler((request, reply) => {
      // A known URL asked with the wrong method is a 405 naming the right one(s), not a 404.
      const path = request.url.split('?')[0]!;
      const allow = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].filter((method) => method !== request.method && app.hasRoute({ method, url: path }));
      if (allow.length > 0) {
        reply.header('allow', allow.join(', '));
        const answer = new OpenAIErrorAnswer(405, 'invalid_request_error', 'method_not_allowed', `${request.method} ${path} is not supported; use ${allow.join(' or ')}`);
        // A wire's own URLs answer in its own error shape (Anthropic's on /v1/messages and its count_tokens).
        const face = faceOf(path.startsWith('/v1/messages/') ? '/v1/messages' : path);
        if (face) {
          const shaped = face.error({ status: 405, body: answer.body(request.rc?.id) as unknown as { error: Json } });
          reply.code(shaped.status).send(shaped.body);
          return;
        }
        reply.code(405).send(answer.body(request.rc?.id));
        return;
      }
      if (path.startsWith('/v1/responses/')) {
        // The OpenAI SDK's responses.retrieve / delete / cancel / inputItems.list: say why there is nothing here.
        const why = 'routecore stores no responses (retrieve, delete, cancel and input_items need the storage of the API that made them); keep the response your client received, or send the whole conversation in input';
        reply.code(404).send(new OpenAIErrorAnswer(404, 'invalid_request_error', 'response_not_stored', `${request.method} ${path}: ${why}`).body(request.rc?.id));
        return;
      }
      const unknown = new OpenAIErrorAnswer(404, 'invalid_request_error', 'unknown_url', `unknown request URL: ${request.method} ${path}`);
      if (path.startsWith('/v1/messages')) {
        // An Anthropic client's mistyped URL (`/v1/messages/`), in the shape it reads.
        const shaped = messagesFace.error({ status: 404, body: unknown.body(request.rc?.id) as unknown as { error: Json } });
        reply.code(404).send(shaped.body);
        return;
      }
      reply.code(404).send(unknown.body(request.rc?.id));
    });

    if (this.config.corsOrigins.length > 0) {
      app.options('/*', (_request, reply) => {
        reply.code(204).send();
      });
    }

    // Bodies are checked against their schemas (src/serve/schemas.ts) before the handlers run.
    const typed = app.withTypeProvider<TypeBoxTypeProvider>();
    typed.post('/v1/chat/completions', { schema: { body: ChatBody }, validatorCompiler }, (request, reply) => this.#chat(request, reply));
    for (const face of WIRE_FACES) app.post(face.path, (request, reply) => this.#chat(request, reply, face));

    // Routes in their own files: /v1/models in OpenAI's or Anthropic's shape, Anthropic's count_tokens.
    const routes: RouteContext = { acquire: (r) => this.#acquire(r.rc), release: (r) => this.#release(r.rc), dispatcher: this.#dispatcher, env: this.#env, timeoutMs: this.config.timeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS, limits: (k) => this.#limits(k) };
    registerModelRoutes(app, routes);
    registerCountTokensRoute(app, routes);

    typed.post('/v1/route', { schema: { body: RouteBody }, validatorCompiler }, async (request, reply) => {
      const ctx = request.rc;
      const gen = this.#acquire(ctx);
      try {
        const { request: body, options } = this.#parseChat(routeBody(request.body), ctx, gen);
        const decision = await gen.router.routeChatInline(body, options.route);
        let order = [decision.model, ...decision.fallbacks];
        if (options.model !== undefined) order = [options.model, ...order.filter((m) => m !== options.model)];
        reply.header('x-routecore-model', order[0]!);
        reply.header('x-routecore-routed', decision.model);
        reply.header('x-routecore-policy', decision.policy);
        reply.header('x-routecore-attempts', '0');
        return { object: 'routecore.decision', ...decision, model: order[0], fallbacks: order.slice(1), routed: decision.model };
      } finally {
        this.#release(ctx);
      }
    });

    typed.post('/v1/feedback', { schema: { body: FeedbackBody }, validatorCompiler }, async (request, reply) => {
      const { id, score } = request.body;
      // Replicas keep separate logs; under shared state the answer may have come from another replica,
      // so the score is stored and joined by id at export.
      const shared = this.config.redis !== undefined;
      const known = this.log.feedback(id, score, shared);
      if (!known && !shared) {
        throw new OpenAIErrorAnswer(404, 'not_found_error', 'unknown_request_id', `no request with id "${id}" in this gateway's log`, { param: 'id' });
      }
      try {
        this.#gen.router.feedback(id, score);
      } catch {
        // validated above; the hub only fans out
      }
      reply.code(known ? 200 : 202);
      return { object: 'routecore.feedback', id, score, recorded: known ? 'matched' : 'stored' };
    });

    app.get('/healthz', async () => ({ status: 'ok' }));

    app.get('/readyz', async (_request, reply) => {
      const redis = (this.state as { connected?: boolean }).connected;
      const body = {
        status: this.#draining ? 'draining' : 'ready',
        // Which process answered: with --workers, each worker is its own gateway.
        pid: process.pid,
        router: this.config.router ?? 'default',
        models: this.#gen.router.models,
        // Requests being answered besides this probe.
        inflight: Math.max(0, this.metrics.inflight - 1),
        log: { kind: this.config.log.kind, written: this.log.written, queued: this.log.queued },
        state: this.config.redis === undefined ? 'memory' : redis ? 'redis (connected)' : 'redis (disconnected: per-replica until it is back)',
      };
      // A Redis outage does not make a replica unready: it still answers, with per-process state.
      reply.code(this.#draining ? 503 : 200);
      return body;
    });

    app.get('/metrics', async (_request, reply) => {
      reply.header('content-type', this.metrics.contentType);
      return this.clusterMetrics ? this.clusterMetrics() : this.metrics.prometheus();
    });

    registerStatsRoutes(app, this.learning);
    return app;
  }

  #cors(request: FastifyRequest, reply: FastifyReply): void {
    const origin = request.headers.origin;
    if (typeof origin !== 'string') return;
    const any = this.config.corsOrigins.includes('*');
    if (!any && !this.config.corsOrigins.includes(origin)) return;
    reply.header('access-control-allow-origin', any ? '*' : origin);
    reply.header('vary', 'origin');
    // The Anthropic SDK in a browser sends anthropic-version (and anthropic-beta) on every call.
    reply.header('access-control-allow-headers', 'authorization, content-type, x-api-key, anthropic-version, anthropic-beta, x-routecore-session');
    reply.header('access-control-allow-methods', 'GET, POST, OPTIONS');
    reply.header('access-control-expose-headers', ['x-request-id', ...DECISION_HEADERS, 'x-routecore-overhead-us', TOKEN_COUNT_HEADER].join(', '));
  }
}

/** Reads a file's text (the version string for startup lines). */
export function packageVersion(root: string): string {
  try {
    return (JSON.parse(readFileSync(`${root}/package.json`, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
