/**
 * The gateway's configuration: flags, the YAML/JSON file and ROUTECORE_API_KEYS, and one assertion per
 * validation message (each names the file and the field).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { ConfigFileSchema, configJsonSchema } from '../src/serve/config-schema.js';
import { DEFAULT_BODY_LIMIT_BYTES, hashKey, keysFromEnv, resolveServeConfig } from '../src/serve/config.js';

const dir = mkdtempSync(join(tmpdir(), 'routecore-serve-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(text: string, ext = '.yaml'): string {
  const p = join(dir, `c${++n}${ext}`);
  writeFileSync(p, text);
  return p;
}

const SHA = hashKey('sk-test-key-1');
/** The built CLI (`npm run build:ts`). */
const CLI = join(import.meta.dirname, '..', 'dist', 'src', 'cli', 'main.js');

describe('resolveServeConfig', () => {
  it('needs only --registry; defaults are local, 32 MiB bodies, SQLite log, CORS off', () => {
    const c = resolveServeConfig({ registry: 'models.json' }, {});
    expect(c.registry).toBe('models.json');
    expect(c.host).toBe('127.0.0.1');
    expect(c.port).toBe(4000);
    expect(c.bodyLimitBytes).toBe(DEFAULT_BODY_LIMIT_BYTES);
    expect(DEFAULT_BODY_LIMIT_BYTES).toBe(32 * 1024 * 1024);
    expect(c.corsOrigins).toEqual([]);
    expect(c.log.kind).toBe('sqlite');
    expect(c.keys).toEqual([]);
  });

  it('binds 127.0.0.1 without client keys even when --host says otherwise, and says it did', () => {
    const c = resolveServeConfig({ registry: 'm.json', host: '0.0.0.0' }, {});
    expect(c.host).toBe('127.0.0.1');
    expect(c.hostForcedLocal).toBe(true);
    const k = resolveServeConfig({ registry: 'm.json', host: '0.0.0.0' }, { ROUTECORE_API_KEYS: 'sk-aaaaaaaa' });
    expect(k.host).toBe('0.0.0.0');
    expect(k.hostForcedLocal).toBe(false);
    // A loopback address asked for is kept (IPv6 too), and not reported as ignored.
    const v6 = resolveServeConfig({ registry: 'm.json', host: '::1' }, {});
    expect([v6.host, v6.hostForcedLocal]).toEqual(['::1', false]);
  });

  it('reads keys from ROUTECORE_API_KEYS hashed, never keeping the key', () => {
    const keys = keysFromEnv(' sk-first-key , sk-second-key ');
    expect(keys.map((k) => k.name)).toEqual(['env-1', 'env-2']);
    expect(keys[0]!.sha256).toBe(hashKey('sk-first-key'));
    expect(JSON.stringify(keys)).not.toContain('sk-first-key');
    expect(() => keysFromEnv('sk-aaaaaaaa,,sk-bbbbbbbb')).toThrow('ROUTECORE_API_KEYS: entry 2 is empty');
    expect(() => keysFromEnv('short')).toThrow('ROUTECORE_API_KEYS: entry 1 is 5 characters long; a client key needs at least 8');
  });

  it('reads a YAML file, resolving paths against its folder; flags win', () => {
    const p = file(
      [
        'registry: models.yaml',
        'router: r.router',
        'policy: cost',
        'port: 8080',
        'aliases: {strong: big, weak: small}',
        'keys:',
        '  - name: team-a',
        `    sha256: ${SHA.toUpperCase()}`,
        '    models: [routecore, "routecore:*"]',
        '    budgetUsd: 5',
        '    budgetWindow: hour',
        '    requestsPerMinute: 60',
        'log: {kind: jsonl, path: logs/out.jsonl, batchSize: 10}',
        'cors: {origins: ["https://app.example.com"]}',
        'upstream: {retries: 2, cooldownMs: 5000}',
      ].join('\n'),
    );
    const c = resolveServeConfig({ config: p, port: '9000', aliases: { weak: 'tiny' } }, {});
    expect(c.registry).toBe(join(dir, 'models.yaml'));
    expect(c.router).toBe(join(dir, 'r.router'));
    expect(c.policy).toBe('cost');
    expect(c.port).toBe(9000);
    expect(c.aliases).toEqual({ strong: 'big', weak: 'tiny' });
    expect(c.host).toBe('0.0.0.0');
    expect(c.keys[0]).toMatchObject({ name: 'team-a', sha256: SHA, budgetUsd: 5, budgetWindowMs: 3_600_000, requestsPerMinute: 60 });
    expect(c.log).toMatchObject({ kind: 'jsonl', path: join(dir, 'logs/out.jsonl'), batchSize: 10 });
    expect(c.corsOrigins).toEqual(['https://app.example.com']);
    expect(c.upstream).toEqual({ retries: 2, cooldownMs: 5000 });
  });

  it('takes the request log level from --log-level over the file, warn by default', () => {
    expect(resolveServeConfig({ registry: 'm' }, {}).logLevel).toBe('warn');
    const p = file('registry: m.json\nlogLevel: info');
    expect(resolveServeConfig({ config: p }, {}).logLevel).toBe('info');
    expect(resolveServeConfig({ config: p, logLevel: 'debug' }, {}).logLevel).toBe('debug');
  });

  it('reads JSON files', () => {
    const p = file(JSON.stringify({ registry: '/abs/m.json', redis: 'redis://127.0.0.1:6379', log: false }), '.json');
    const c = resolveServeConfig({ config: p }, {});
    expect(c.registry).toBe('/abs/m.json');
    expect(c.redis).toBe('redis://127.0.0.1:6379');
    expect(c.log.kind).toBe('none');
  });

  const cases: [string, string, RegExp | string][] = [
    ['unknown top-level field with a hint', 'registry: m.json\nregsitry: x', 'field "regsitry" (did you mean "registry"?)'],
    ['wrong port', 'registry: m.json\nport: 70000', 'field "port" must be an integer from 0 to 65535, got number 70000'],
    ['policy', 'registry: m.json\npolicy: cheapest', 'field "policy" must be one of best, cost, threshold, subset, got string "cheapest"'],
    ['keys not a list', 'registry: m.json\nkeys: abc', 'field "keys" must be a list of {name, sha256, ...} entries, got string "abc"'],
    ['key without name', `registry: m.json\nkeys:\n  - sha256: ${SHA}`, 'field "keys[0].name" must be a non-empty string, got undefined'],
    ['bad sha256', 'registry: m.json\nkeys:\n  - {name: a, sha256: abc}', 'field "keys[0].sha256" must be the 64-character hex SHA-256 of the key, got string "abc"'],
    ['plain key', 'registry: m.json\nkeys:\n  - {name: a, key: sk-123}', 'field "keys[0].key": plain client keys are not accepted'],
    ['duplicate key name', `registry: m.json\nkeys:\n  - {name: a, sha256: ${SHA}}\n  - {name: a, sha256: ${hashKey('other-key-2')}}`, 'field "keys[1].name": "a" is used by two keys'],
    ['duplicate key', `registry: m.json\nkeys:\n  - {name: a, sha256: ${SHA}}\n  - {name: b, sha256: ${SHA}}`, 'field "keys[1].sha256": the same key is listed twice'],
    ['unknown key field', `registry: m.json\nkeys:\n  - {name: a, sha256: ${SHA}, budget: 3}`, 'unknown field "keys[0].budget" (known fields: name, sha256, models, budgetUsd, budgetWindow, requestsPerMinute, shadow)'],
    ['negative budget', `registry: m.json\nkeys:\n  - {name: a, sha256: ${SHA}, budgetUsd: -1}`, 'field "keys[0].budgetUsd" must be a number > 0, got number -1'],
    ['budget window', `registry: m.json\nkeys:\n  - {name: a, sha256: ${SHA}, budgetWindow: year}`, 'field "keys[0].budgetWindow" must be one of minute, hour, day, week, month, got string "year"'],
    ['empty models', `registry: m.json\nkeys:\n  - {name: a, sha256: ${SHA}, models: []}`, 'field "keys[0].models" must be a non-empty list of model names, got array of length 0'],
    ['rate limit', `registry: m.json\nkeys:\n  - {name: a, sha256: ${SHA}, requestsPerMinute: 1.5}`, 'field "keys[0].requestsPerMinute" must be an integer from 1 to 10000000, got number 1.5'],
    ['log kind', 'registry: m.json\nlog: {kind: postgres}', 'field "log.kind" must be sqlite, jsonl or none, got string "postgres"'],
    ['log field', 'registry: m.json\nlog: {file: x}', 'unknown field "log.file"'],
    ['log batch', 'registry: m.json\nlog: {batchSize: 0}', 'field "log.batchSize" must be an integer from 1 to 100000, got number 0'],
    ['cors origin', 'registry: m.json\ncors: {origins: ["app.example.com"]}', 'field "cors.origins[0]" must be an origin like https://app.example.com'],
    ['cors type', 'registry: m.json\ncors: true', 'field "cors" must be false or a mapping with origins, got boolean true'],
    ['upstream field', 'registry: m.json\nupstream: {retires: 2}', 'unknown field "upstream.retires" (did you mean "retries"?)'],
    ['upstream value', 'registry: m.json\nupstream: {maxAttempts: 0}', 'field "upstream.maxAttempts" must be an integer from 1 to 100, got number 0'],
    ['log level', 'registry: m.json\nlogLevel: verbose', 'field "logLevel" must be one of trace, debug, info, warn, error, fatal, silent, got string "verbose"'],
    ['redis url', 'registry: m.json\nredis: localhost:6379', 'field "redis" must be a redis:// or rediss:// URL, got string "localhost:6379"'],
    ['body limit', 'registry: m.json\nbodyLimitBytes: 10', 'field "bodyLimitBytes" must be an integer from 1024 to 1073741824, got number 10'],
    ['aliases', 'registry: m.json\naliases: [a]', 'field "aliases" must be a mapping of router model id to registry id, got array of length 1'],
    ['top level', '- a\n- b', 'the top level must be a mapping of fields'],
    ['bad YAML', 'registry: [unclosed', /c\d+\.yaml:\d+:\d+: not valid YAML/],
    // Messages first asserted when the checks moved onto the schema (src/serve/config-schema.ts).
    ['empty registry', 'registry: "  "', 'field "registry" must be a non-empty string, got string "  "'],
    ['key not a mapping', 'registry: m.json\nkeys: [abc]', 'field "keys[0]" must be a mapping with name and sha256, got string "abc"'],
    ['key without sha256', 'registry: m.json\nkeys:\n  - {name: a}', 'field "keys[0].sha256" must be the 64-character hex SHA-256 of the key, got undefined'],
    ['plain key before a missing sha256', 'registry: m.json\nkeys:\n  - {name: a, key: sk-123}', /field "keys\[0\]\.key": plain client keys are not accepted in the config; store "sha256: <hex>"/],
    ['misspelt key field before what it leaves missing', `registry: m.json\nkeys:\n  - {nme: a, sha256: ${SHA}}`, 'unknown field "keys[0].nme" (did you mean "name"?)'],
    ['same key in two cases', `registry: m.json\nkeys:\n  - {name: a, sha256: ${SHA}}\n  - {name: b, sha256: ${SHA.toUpperCase()}}`, 'field "keys[1].sha256": the same key is listed twice'],
    ['model name', `registry: m.json\nkeys:\n  - {name: a, sha256: ${SHA}, models: [routecore, 3]}`, 'field "keys[0].models[1]" must be a non-empty string, got number 3'],
    ['key shadow', `registry: m.json\nkeys:\n  - {name: a, sha256: ${SHA}, shadow: 1}`, 'field "keys[0].shadow" must be true or false, got number 1'],
    ['alias target', 'registry: m.json\naliases: {strong: 3}', 'field "aliases.strong" must be a non-empty string, got number 3'],
    ['cors without origins', 'registry: m.json\ncors: {}', 'field "cors.origins" must be a non-empty list of origins (https://app.example.com, or "*"), got undefined'],
    ['cors field', 'registry: m.json\ncors: {origin: ["*"]}', 'unknown field "cors.origin" (did you mean "origins"?)'],
    ['log type', 'registry: m.json\nlog: 5', 'field "log" must be false, "sqlite:PATH", "jsonl:PATH", "none" or a mapping with kind and path, got number 5'],
    ['log spec in the file', 'registry: m.json\nlog: "jsonl:"', 'field "log" must be sqlite:PATH, jsonl:PATH, sqlite, jsonl or none (a path after "jsonl:"), got string "jsonl:"'],
    ['log path', 'registry: m.json\nlog: {path: ""}', 'field "log.path" must be a non-empty string, got string ""'],
    ['log flush', 'registry: m.json\nlog: {flushMs: 60001}', 'field "log.flushMs" must be an integer from 1 to 60000, got number 60001'],
    ['log prompts', 'registry: m.json\nlog: {storePrompts: "no"}', 'field "log.storePrompts" must be true or false, got string "no"'],
    ['upstream type', 'registry: m.json\nupstream: 3', 'field "upstream" must be a mapping of retries, backoffMs, maxRetryAfterMs, cooldownMs, maxAttempts, anthropicMaxTokens, got number 3'],
    ['file timeout', 'registry: m.json\ntimeoutMs: 0', 'field "timeoutMs" must be an integer from 1 to 3600000, got number 0'],
    ['drain', 'registry: m.json\ndrainMs: -1', 'field "drainMs" must be an integer from 0 to 3600000, got number -1'],
    ['watch', 'registry: m.json\nwatchRouter: yes please', 'field "watchRouter" must be true or false, got string "yes please"'],
    ['empty port', 'registry: m.json\nport:', 'field "port" must be an integer from 0 to 65535, got null'],
    ['shadow type', 'registry: m.json\nshadow: true', 'field "shadow" must be false or a mapping of rate, judge, comparison, focus, budgetUsdPerDay, maxConcurrent, maxTokens, judgeMaxTokens, template, got boolean true'],
    ['shadow rate', 'registry: m.json\nshadow: {rate: 2, judge: j}', 'field "shadow.rate" must be a number from 0 to 1, got number 2'],
    ['shadow rate as text', 'registry: m.json\nshadow: {rate: "0.1", judge: j}', 'field "shadow.rate" must be a number from 0 to 1, got string "0.1"'],
    ['shadow concurrency', 'registry: m.json\nshadow: {rate: 0.1, judge: j, maxConcurrent: 1.5}', 'field "shadow.maxConcurrent" must be an integer from 1 to 10000, got number 1.5'],
    ['shadow without rate', 'registry: m.json\nshadow: {judge: j}', 'field "shadow.rate" is missing: the share of answered requests to judge, 0 to 1'],
    ['shadow without judge', 'registry: m.json\nshadow: {rate: 0.5}', 'field "shadow.judge" is missing: the judge model, a registry id'],
    ['learn type', 'registry: m.json\nlearn: 3', 'field "learn" must be false or a mapping of everyMinutes, minPairs, holdout, prior, priorWeight, got number 3'],
    ['learn field', 'registry: m.json\nlearn: {minPair: 10}', 'unknown field "learn.minPair" (did you mean "minPairs"?)'],
    ['learn holdout', 'registry: m.json\nlearn: {holdout: 1}', 'field "learn.holdout" must be a number from 0.05 to 0.95, got number 1'],
  ];
  for (const [name, text, message] of cases) {
    it(`refuses ${name}, naming the file and field`, () => {
      const p = file(text);
      let err: unknown;
      try {
        resolveServeConfig({ config: p }, {});
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'ERR_ROUTECORE_BAD_CONFIG' });
      const msg = (err as Error).message;
      expect(msg.startsWith(p)).toBe(true);
      if (typeof message === 'string') expect(msg).toContain(message);
      else expect(msg).toMatch(message);
    });
  }

  it('takes a $schema pointer for editors and says nothing of it in hints', () => {
    const p = file('$schema: ./routecore-config.schema.json\nregistry: m.json');
    expect(resolveServeConfig({ config: p }, {}).registry).toBe(join(dir, 'm.json'));
    expect(() => resolveServeConfig({ config: file('registry: m.json\nzzzzzz: 1') }, {})).toThrow(/known fields: registry, router, aliases, policy, host, port, timeoutMs, redis, bodyLimitBytes, cors, keys, log, upstream, drainMs, watchRouter, logLevel, shadow, learn\)$/);
  });

  it('refuses an unknown field of a JSON file by name', () => {
    const p = file(JSON.stringify({ registry: 'm.json', upstream: { cooldown: 5 } }), '.json');
    expect(() => resolveServeConfig({ config: p }, {})).toThrow(`${p}: unknown field "upstream.cooldown" (did you mean "cooldownMs"?)`);
  });

  it('reads a file with every section, keeping values and defaults', () => {
    const p = file(
      [
        'registry: m.json',
        'cors: false',
        'log: "jsonl:out.jsonl"',
        'drainMs: 0',
        'watchRouter: false',
        'bodyLimitBytes: 2048',
        'shadow: {rate: 0.25, judge: j, template: t.txt}',
        'learn: {minPairs: 50, prior: p.jsonl}',
      ].join('\n'),
    );
    const c = resolveServeConfig({ config: p }, {});
    expect(c.corsOrigins).toEqual([]);
    expect(c.log).toMatchObject({ kind: 'jsonl', path: join(dir, 'out.jsonl'), explicit: true });
    expect(c.drainMs).toBe(0);
    expect(c.watchRouter).toBe(false);
    expect(c.bodyLimitBytes).toBe(2048);
    expect(c.shadow).toEqual({ rate: 0.25, judge: 'j', template: join(dir, 't.txt'), focus: 0.5, budgetUsdPerDay: 1, maxConcurrent: 4, maxTokens: 1024, judgeMaxTokens: 512 });
    expect(c.learn).toEqual({ everyMinutes: 60, minPairs: 50, holdout: 0.3, priorWeight: 1, prior: join(dir, 'p.jsonl') });
  });

  it('says in every field of the schema what it expects, so no message falls back to a generic text', () => {
    const missing: string[] = [];
    const walk = (s: Record<string, unknown>, at: string): void => {
      if (s['expected'] === undefined && s['refused'] === undefined) missing.push(at);
      const props = s['properties'] as Record<string, Record<string, unknown>> | undefined;
      if (props) for (const [k, v] of Object.entries(props)) walk(v, `${at}.${k}`);
      const items = s['items'] as Record<string, unknown> | undefined;
      if (items) walk(items, `${at}[]`);
      const pattern = s['patternProperties'] as Record<string, Record<string, unknown>> | undefined;
      if (pattern) for (const v of Object.values(pattern)) walk(v, `${at}.*`);
      // A union's own `expected` speaks for its literals; its mapping variants are walked for their fields.
      const anyOf = s['anyOf'] as Record<string, unknown>[] | undefined;
      if (anyOf) for (const v of anyOf) if (v['type'] === 'object') walk(v, at);
    };
    walk(ConfigFileSchema as unknown as Record<string, unknown>, 'file');
    expect(missing).toEqual([]);
  });

  it('exports the file\'s schema as JSON Schema (serve --config-schema) that a standard validator agrees with', () => {
    const json = configJsonSchema();
    expect(json).toMatchObject({ $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', additionalProperties: false });
    expect((json['properties'] as Record<string, { description: string }>)['port']!.description).toBe('the port (default 4000); must be an integer from 0 to 65535');
    // ajv (fastify's JSON Schema validator) reads it as written, without TypeBox.
    const Ajv = createRequire(import.meta.url)('ajv') as new (o: object) => { compile(s: object): ((v: unknown) => boolean) & { errors?: { instancePath: string }[] } };
    const validate = new Ajv({ strict: false }).compile(json);
    const good = { $schema: './schema.json', registry: 'm.json', port: 8080, keys: [{ name: 'a', sha256: SHA, models: ['routecore'], budgetUsd: 5, budgetWindow: 'hour' }], log: { kind: 'jsonl', path: 'x.jsonl' }, cors: false, shadow: { rate: 0.1, judge: 'j' }, learn: false };
    expect(validate(good)).toBe(true);
    expect(() => resolveServeConfig({ config: file(JSON.stringify(good), '.json') }, {})).not.toThrow();
    for (const bad of [{ port: 70000 }, { regsitry: 'x' }, { keys: [{ name: 'a', sha256: SHA, key: 'sk-1' }] }, { log: { kind: 'postgres' } }, { shadow: { rate: '0.1' } }, { cors: { origins: ['app.example.com'] } }]) {
      expect(validate({ registry: 'm.json', ...bad })).toBe(false);
      expect(() => resolveServeConfig({ config: file(JSON.stringify({ registry: 'm.json', ...bad }), '.json') }, {})).toThrow();
    }
  });

  it.runIf(existsSync(CLI))('routecore serve --config-schema prints it', () => {
    const r = spawnSync(process.execPath, [CLI, 'serve', '--config-schema'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(configJsonSchema());
  });

  it('refuses bad flags, naming the flag', () => {
    expect(() => resolveServeConfig({ registry: 'm', host: ' ' }, {})).toThrow('command line: field "--host" must be a non-empty string, got string " "');
    expect(() => resolveServeConfig({ registry: 'm', port: '' }, {})).toThrow('command line: field "--port" must be an integer from 0 to 65535, got string ""');
    expect(() => resolveServeConfig({ registry: 'm', port: 'abc' }, {})).toThrow('command line: field "--port" must be an integer from 0 to 65535, got string "abc"');
    expect(() => resolveServeConfig({ registry: 'm', timeoutMs: '0' }, {})).toThrow('command line: field "--timeout-ms" must be an integer from 1 to 3600000, got string "0"');
    expect(() => resolveServeConfig({ registry: 'm', policy: 'fast' }, {})).toThrow('command line: field "--policy" must be one of best, cost, threshold, subset');
    expect(() => resolveServeConfig({ registry: 'm', redis: 'http://x' }, {})).toThrow('command line: field "--redis" must be a redis:// or rediss:// URL');
    expect(() => resolveServeConfig({ registry: 'm', logLevel: 'loud' }, {})).toThrow('command line: field "--log-level" must be one of trace, debug, info, warn, error, fatal, silent, got string "loud"');
    expect(() => resolveServeConfig({}, {})).toThrow('routecore serve needs a registry: --registry M.json');
    expect(() => resolveServeConfig({ config: join(dir, 'nope.yaml') }, {})).toThrow(/cannot read config file ".*nope\.yaml": no such file/);
  });
});
