/**
 * A gateway on 127.0.0.1 in front of two mock upstreams (`big` = the default router's strong model,
 * `small` = its weak one), with its registry and log in a temporary folder. Shared by the gateway,
 * replica and soak tests.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { resolveServeConfig, type ServeConfig, type ServeFlags } from '../../src/serve/config.js';
import { Gateway, type GatewayOptions } from '../../src/serve/gateway.js';
import { startMockUpstream, type MockOptions, type MockUpstream } from './mock-upstream.js';

/** Upstream keys the gateway reads from its environment; tests assert they reach only their own upstream. */
export const UPSTREAM_KEYS = { BIG_KEY: 'sk-upstream-big-0123456789abcdef', SMALL_KEY: 'sk-upstream-small-fedcba9876543210' };

export interface Fixture {
  dir: string;
  registryPath: string;
  big: MockUpstream;
  small: MockUpstream;
  /** Mock of a registry id. */
  mock(id: string): MockUpstream;
  /** The request-log lines (pino JSON) of every gateway started here, unless a test gives its own logStream. */
  logs: string[];
  /** Starts a gateway over these mocks (several may run, e.g. replicas); `file` is YAML text for --config. */
  gateway(options?: { flags?: Partial<ServeFlags>; file?: string; env?: Record<string, string>; gateway?: GatewayOptions; logName?: string }): Promise<Gateway>;
  /** Resets faults, recorded requests and cool-downs. */
  reset(...gateways: Gateway[]): void;
  close(): Promise<void>;
}

export async function startFixture(mockOptions: MockOptions = {}): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'routecore-gw-'));
  const big = await startMockUpstream({ ...mockOptions, name: 'big' });
  const small = await startMockUpstream({ ...mockOptions, name: 'small' });
  const registryPath = join(dir, 'models.json');
  writeFileSync(
    registryPath,
    JSON.stringify({
      models: [
        { id: 'big', provider: 'mock', baseUrl: big.baseUrl, apiKeyEnv: 'BIG_KEY', inputCostPer1M: 10, outputCostPer1M: 30 },
        { id: 'small', provider: 'mock', baseUrl: small.baseUrl, apiKeyEnv: 'SMALL_KEY', inputCostPer1M: 0.5, outputCostPer1M: 1.5 },
      ],
    }),
  );
  const started: Gateway[] = [];
  const logLines: string[] = [];
  let logs = 0;
  return {
    dir,
    registryPath,
    big,
    small,
    mock: (id) => (id === 'big' ? big : small),
    logs: logLines,
    async gateway(options = {}) {
      let configPath: string | undefined;
      if (options.file !== undefined) {
        configPath = join(dir, `gateway-${++logs}.yaml`);
        writeFileSync(configPath, options.file);
      }
      const flags: ServeFlags = { registry: registryPath, aliases: { strong: 'big', weak: 'small' }, port: '0', config: configPath, ...options.flags };
      const env = { ...UPSTREAM_KEYS, ...(options.env ?? {}) };
      const config: ServeConfig = resolveServeConfig(flags, env);
      if (!options.file?.includes('log:')) config.log = { ...config.log, kind: 'sqlite', path: join(dir, options.logName ?? `log-${++logs}.sqlite`), flushMs: 20 };
      const gw = await Gateway.start(config, { env, logStream: { write: (line) => void logLines.push(line) }, ...options.gateway });
      started.push(gw);
      return gw;
    },
    reset(...gateways) {
      for (const m of [big, small]) {
        m.fault = { kind: 'ok' };
        m.requests.length = 0;
      }
      for (const g of gateways) for (const id of ['big', 'small']) g.router.markUnavailable(id, 0);
    },
    async close() {
      for (const g of started) await g.close().catch(() => undefined);
      await big.close();
      await small.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** POSTs JSON (or raw text) and returns status, headers and the parsed body. */
// biome-ignore lint/suspicious/noExplicitAny: the body is a wire answer under test, any shape; tests check it with expect().
export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: any; text: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

export const chat = (content = 'Prove that there are infinitely many primes.', extra: Record<string, unknown> = {}) => ({ model: 'routecore', messages: [{ role: 'user', content }], ...extra });

/** Waits for a condition (no timing assertion: a generous deadline for a loaded machine). */
export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
