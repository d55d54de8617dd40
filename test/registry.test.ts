import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { DEFAULT_EXPECTED_OUTPUT_TOKENS, Registry } from '../src/routing/registry.js';
import { caught, fixturePath } from './helpers/index.js';

const fx = fixturePath;

/** Asserts that the registry `value` is refused with ERR_ROUTECORE_BAD_REGISTRY and `message`. */
function expectBad(value: unknown, message: string): void {
  const err = caught(() => Registry.fromObject(value, 'models.json'));
  expect(err.code).toBe('ERR_ROUTECORE_BAD_REGISTRY');
  expect(err.message).toBe(message);
}

describe('Registry.fromFile', () => {
  it('loads a JSON registry with defaults filled in', () => {
    const reg = Registry.fromFile(fx('registry.json'));
    expect(reg.ids()).toEqual(['gpt-4o', 'gpt-4o-mini', 'llama-3-8b', 'old-model']);
    expect(reg.source).toBe(fx('registry.json'));
    expect(reg.get('gpt-4o')).toEqual({
      id: 'gpt-4o',
      provider: 'openai',
      baseUrl: 'https://api.openai.com/v1',
      apiKeyEnv: 'OPENAI_API_KEY',
      inputCostPer1M: 2.5,
      outputCostPer1M: 10,
      expectedOutputTokens: 300,
      latencyMs: 1200,
      contextWindow: 128000,
      capabilities: ['tools', 'vision'],
      enabled: true,
      wire: 'openai-chat',
    });
    expect(reg.get('llama-3-8b')).toEqual({
      id: 'llama-3-8b',
      provider: 'self-hosted',
      baseUrl: 'http://localhost:8000/v1',
      contextWindow: 8192,
      capabilities: [],
      enabled: true,
      wire: 'openai-chat',
    });
    expect(reg.get('old-model')?.enabled).toBe(false);
  });

  it('loads YAML identical to the JSON version', () => {
    const json = Registry.fromFile(fx('registry.json'));
    const yaml = Registry.fromFile(fx('registry.yaml'));
    expect(yaml.entries()).toEqual(json.entries());
  });

  it('accepts a bare array in a .yml file', () => {
    const reg = Registry.fromFile(fx('registry-bare.yml'));
    expect(reg.ids()).toEqual(['a', 'b']);
  });

  it('reports a missing file as ERR_ROUTECORE_IO naming the path', () => {
    const err = caught(() => Registry.fromFile(fx('missing.json')));
    expect(err.code).toBe('ERR_ROUTECORE_IO');
    expect(err.message).toBe(`cannot read registry file "${fx('missing.json')}": no such file`);
    expect((err.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it('reports a directory as ERR_ROUTECORE_IO', () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'routecore-reg-'));
    const dir = path.join(tmp, 'dir.json');
    mkdirSync(dir);
    try {
      const err = caught(() => Registry.fromFile(dir));
      expect(err.code).toBe('ERR_ROUTECORE_IO');
      expect(err.message).toBe(`cannot read registry file "${dir}": it is a directory`);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('rejects an unsupported extension', () => {
    const err = caught(() => Registry.fromFile(fx('registry.csv')));
    expect(err.code).toBe('ERR_ROUTECORE_BAD_REGISTRY');
    expect(err.message).toBe(`${fx('registry.csv')}: unsupported registry file extension ".csv"; use .json, .yaml or .yml`);
  });

  it('names file, line and column of a JSON syntax error', () => {
    const err = caught(() => Registry.fromFile(fx('bad-syntax.json')));
    expect(err.code).toBe('ERR_ROUTECORE_BAD_REGISTRY');
    expect(err.message).toMatch(/^.*bad-syntax\.json:3:16: invalid JSON \(.+\)$/);
    expect(err.message.startsWith(`${fx('bad-syntax.json')}:3:16: invalid JSON (`)).toBe(true);
  });

  it('names file, line and column of a YAML error', () => {
    const err = caught(() => Registry.fromFile(fx('bad-syntax.yaml')));
    expect(err.code).toBe('ERR_ROUTECORE_BAD_REGISTRY');
    expect(err.message).toBe(`${fx('bad-syntax.yaml')}:4:5: invalid YAML (Map keys must be unique)`);
  });

  it('names the file, model and field of a typo, with a suggestion', () => {
    const err = caught(() => Registry.fromFile(fx('bad-typo.json')));
    expect(err.code).toBe('ERR_ROUTECORE_BAD_REGISTRY');
    expect(err.message).toBe(`${fx('bad-typo.json')}: model "gpt-4o": unknown field "inputCostPerM" (did you mean "inputCostPer1M"?)`);
  });

  it('names the file, model and field of a wrong type', () => {
    const err = caught(() => Registry.fromFile(fx('bad-type.json')));
    expect(err.message).toBe(`${fx('bad-type.json')}: model "x": field "latencyMs" must be a non-negative number, got string "fast"`);
  });

  it('names both indices of a duplicate id', () => {
    const err = caught(() => Registry.fromFile(fx('bad-duplicate.json')));
    expect(err.code).toBe('ERR_ROUTECORE_BAD_REGISTRY');
    expect(err.message).toBe(`${fx('bad-duplicate.json')}: duplicate model id "a" at index 0 and index 2`);
  });

  it('validates the path argument', () => {
    const err = caught(() => Registry.fromFile(42 as unknown as string));
    expect(err.code).toBe('ERR_ROUTECORE_INVALID_ARGUMENT');
    expect(err.message).toBe('Expected a non-empty file path string for path but received number 42');
  });
});

describe('Registry.fromObject validation', () => {
  it('uses <object> as the default source', () => {
    const err = caught(() => Registry.fromObject([{ id: '' }]));
    expect(err.message).toBe('<object>: model at index 0: field "id" must be a non-empty string, got string ""');
  });

  it.each<[string, unknown, string]>([
    ['missing id (named by index)', [{ id: 'a' }, { provider: 'x' }], 'models.json: model at index 1: field "id" must be a non-empty string, got undefined'],
    ['numeric id', [{ id: 7 }], 'models.json: model at index 0: field "id" must be a non-empty string, got number 7'],
    ['unknown field without a close match', [{ id: 'a', colour: 'red' }],
      'models.json: model "a": unknown field "colour" (known fields: id, provider, baseUrl, apiKeyEnv, inputCostPer1M, outputCostPer1M, cacheReadCostPer1M, cacheWriteCostPer1M, expectedOutputTokens, latencyMs, contextWindow, capabilities, enabled, wire)'],
    ['unknown wire', [{ id: 'a', wire: 'grpc' }], 'models.json: model "a": field "wire" must be "openai-chat", "openai-responses" or "anthropic-messages", got string "grpc"'],
    ['snake_case field', [{ id: 'a', latency_ms: 3 }], 'models.json: model "a": unknown field "latency_ms" (did you mean "latencyMs"?)'],
    ['negative cost', [{ id: 'a', inputCostPer1M: -1, outputCostPer1M: 1 }], 'models.json: model "a": field "inputCostPer1M" must be a non-negative number, got number -1'],
    ['NaN cost', [{ id: 'a', inputCostPer1M: 1, outputCostPer1M: NaN }], 'models.json: model "a": field "outputCostPer1M" must be a non-negative number, got NaN'],
    ['infinite cost', [{ id: 'a', inputCostPer1M: Infinity, outputCostPer1M: 1 }], 'models.json: model "a": field "inputCostPer1M" must be a non-negative number, got number Infinity'],
    ['string cost', [{ id: 'a', inputCostPer1M: '2.5', outputCostPer1M: 1 }], 'models.json: model "a": field "inputCostPer1M" must be a non-negative number, got string "2.5"'],
    ['half a price', [{ id: 'a', outputCostPer1M: 1 }], 'models.json: model "a": field "outputCostPer1M" is set but "inputCostPer1M" is not; give both prices (0 is allowed) or neither'],
    ['negative expectedOutputTokens', [{ id: 'a', expectedOutputTokens: -5 }], 'models.json: model "a": field "expectedOutputTokens" must be a non-negative number, got number -5'],
    ['non-integer contextWindow', [{ id: 'a', contextWindow: 8192.5 }], 'models.json: model "a": field "contextWindow" must be a positive integer, got number 8192.5'],
    ['zero contextWindow', [{ id: 'a', contextWindow: 0 }], 'models.json: model "a": field "contextWindow" must be a positive integer, got number 0'],
    ['capabilities not an array', [{ id: 'a', capabilities: 'tools' }], 'models.json: model "a": field "capabilities" must be an array of strings, got string "tools"'],
    ['capabilities with a number', [{ id: 'a', capabilities: ['tools', 3] }], 'models.json: model "a": field "capabilities" must be an array of non-empty strings, but item 1 is number 3'],
    ['enabled not boolean', [{ id: 'a', enabled: 'yes' }], 'models.json: model "a": field "enabled" must be a boolean, got string "yes"'],
    ['baseUrl not a URL', [{ id: 'a', baseUrl: 'api.openai.com' }], 'models.json: model "a": field "baseUrl" must be an absolute http(s) URL, got string "api.openai.com"'],
    ['baseUrl not http', [{ id: 'a', baseUrl: 'ftp://x.org' }], 'models.json: model "a": field "baseUrl" must be an absolute http(s) URL, got string "ftp://x.org"'],
    ['apiKeyEnv holding a key', [{ id: 'a', apiKeyEnv: 'sk-abc123' }], 'models.json: model "a": field "apiKeyEnv" must be an environment variable name such as "OPENAI_API_KEY", got string "sk-abc123"'],
    ['empty provider', [{ id: 'a', provider: '' }], 'models.json: model "a": field "provider" must be a non-empty string, got string ""'],
    ['entry not an object', [{ id: 'a' }, 'b'], 'models.json: model at index 1 must be an object, got string "b"'],
    ['duplicate ids', { models: [{ id: 'a' }, { id: 'a' }] }, 'models.json: duplicate model id "a" at index 0 and index 1'],
    ['no models', { models: [] }, 'models.json: the registry lists no models'],
    ['models not an array', { models: { a: {} } }, 'models.json: field "models" must be an array of models, got object'],
    ['misspelt top-level key', { modles: [] }, 'models.json: unknown top-level field "modles" (did you mean "models"?); expected { "models": [...] }'],
    ['a string', 'gpt-4', 'models.json: expected { "models": [...] } or an array of models, got string "gpt-4"'],
    ['null', null, 'models.json: expected { "models": [...] } or an array of models, got null'],
  ])('rejects %s', (_name, value, message) => {
    expectBad(value, message);
  });

  it('validates the source argument', () => {
    const err = caught(() => Registry.fromObject([{ id: 'a' }], 5 as unknown as string));
    expect(err.code).toBe('ERR_ROUTECORE_INVALID_ARGUMENT');
    expect(err.message).toBe('Expected a non-empty string for source but received number 5');
  });

  it('reads the upstream wire: anthropic-messages by default for provider anthropic, else openai-chat; an explicit wire wins', () => {
    const reg = Registry.fromObject([
      { id: 'claude', provider: 'anthropic' },
      { id: 'claude-proxy', provider: 'Anthropic', wire: 'openai-chat' },
      { id: 'gpt', provider: 'openai', wire: 'openai-responses' },
      { id: 'local' },
    ]);
    expect(reg.ids().map((id) => reg.get(id)!.wire)).toEqual(['anthropic-messages', 'openai-chat', 'openai-responses', 'openai-chat']);
  });

  it('allows $schema next to models and de-duplicates capabilities', () => {
    const reg = Registry.fromObject({ $schema: './schema.json', models: [{ id: 'a', capabilities: ['tools', 'tools'] }] });
    expect(reg.get('a')?.capabilities).toEqual(['tools']);
  });
});

describe('Registry accessors', () => {
  const reg = Registry.fromFile(fx('registry.json'));

  it('get/has/ids/entries', () => {
    expect(reg.has('gpt-4o')).toBe(true);
    expect(reg.has('old-model')).toBe(true);
    expect(reg.has('gpt-5')).toBe(false);
    expect(reg.get('gpt-5')).toBeUndefined();
    expect(reg.entries().map((e) => e.id)).toEqual(reg.ids());
  });

  it('returns frozen entries that callers cannot corrupt', () => {
    const e = reg.get('gpt-4o')!;
    expect(Object.isFrozen(e)).toBe(true);
    expect(Object.isFrozen(e.capabilities)).toBe(true);
    expect(Object.isFrozen(reg.entries())).toBe(true);
    const ids = reg.ids();
    ids.push('x');
    expect(reg.ids()).toHaveLength(4);
  });

  it('validates the id argument', () => {
    const err = caught(() => reg.get(undefined as unknown as string));
    expect(err.code).toBe('ERR_ROUTECORE_INVALID_ARGUMENT');
    expect(err.message).toBe('Expected a model id string for id but received undefined');
    expect(caught(() => reg.has(1 as unknown as string)).message).toBe('Expected a model id string for id but received number 1');
  });

  it('expectedCost uses prompt tokens, output tokens and both prices', () => {
    // 1000 × 2.5 / 1e6 + 300 × 10 / 1e6 = 0.0025 + 0.003
    expect(reg.expectedCost('gpt-4o', 1000)).toBeCloseTo(0.0055, 12);
    // no expectedOutputTokens: 1000 × 0.15 / 1e6 + 256 × 0.6 / 1e6
    expect(DEFAULT_EXPECTED_OUTPUT_TOKENS).toBe(256);
    expect(reg.expectedCost('gpt-4o-mini', 1000)).toBeCloseTo(0.00015 + 0.0001536, 12);
    expect(reg.expectedCost('gpt-4o', 0)).toBeCloseTo(0.003, 12);
  });

  it('expectedCost is undefined without a price or for unknown models', () => {
    expect(reg.expectedCost('llama-3-8b', 100)).toBeUndefined();
    expect(reg.expectedCost('gpt-5', 100)).toBeUndefined();
  });

  it('prices says which models the registry prices', () => {
    expect(reg.prices('gpt-4o')).toBe(true);
    expect(reg.prices('llama-3-8b')).toBe(false);
    expect(reg.prices('gpt-5')).toBe(false);
    expect(caught(() => reg.prices(1 as unknown as string)).message).toBe('Expected a model id string for id but received number 1');
  });

  it('expectedCost validates promptTokens', () => {
    const err = caught(() => reg.expectedCost('gpt-4o', -1));
    expect(err.code).toBe('ERR_ROUTECORE_INVALID_ARGUMENT');
    expect(err.message).toBe('Expected a finite number >= 0 for promptTokens but received number -1');
    expect(caught(() => reg.expectedCost('gpt-4o', NaN)).message).toBe('Expected a finite number >= 0 for promptTokens but received NaN');
  });
});
