/**
 * Two mock OpenAI-compatible upstreams (`model-a` = the default router's strong model, priced high;
 * `model-b` = its weak one, priced low) with their registry and keys: the setting of the executor
 * and adapter tests.
 */
import { Registry } from '../../src/routing/registry.js';
import { startMockUpstream, type MockUpstream } from './mock-upstream.js';

/** Upstream keys, read by the executor from its env; tests assert each reaches only its own upstream. */
export const PAIR_KEYS = { A_KEY: 'sk-upstream-a-0123456789', B_KEY: 'sk-upstream-b-9876543210' };

/** The router aliases that map the default router's models onto the pair. */
export const PAIR_ALIASES = { strong: 'model-a', weak: 'model-b' };

export interface UpstreamPair {
  a: MockUpstream;
  b: MockUpstream;
  registry: Registry;
  /** The mock behind a registry id. */
  mockOf(model: string): MockUpstream;
  /** The key a registry id's upstream must receive. */
  keyOf(model: string): string;
  /** Faults back to `ok`, recorded requests cleared. */
  reset(): void;
  close(): Promise<void>;
}

export async function startUpstreamPair(): Promise<UpstreamPair> {
  const a = await startMockUpstream({ name: 'a' });
  const b = await startMockUpstream({ name: 'b' });
  const registry = Registry.fromObject({
    models: [
      { id: 'model-a', baseUrl: a.baseUrl, apiKeyEnv: 'A_KEY', inputCostPer1M: 10, outputCostPer1M: 30 },
      { id: 'model-b', baseUrl: b.baseUrl, apiKeyEnv: 'B_KEY', inputCostPer1M: 1, outputCostPer1M: 2 },
    ],
  });
  return {
    a,
    b,
    registry,
    mockOf: (model) => (model === 'model-a' ? a : b),
    keyOf: (model) => (model === 'model-a' ? PAIR_KEYS.A_KEY : PAIR_KEYS.B_KEY),
    reset() {
      for (const m of [a, b]) {
        m.fault = { kind: 'ok' };
        m.requests.length = 0;
      }
    },
    async close() {
      await a.close();
      await b.close();
    },
  };
}
