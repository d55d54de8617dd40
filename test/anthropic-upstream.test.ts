/**
 * Anthropic upstreams (registry `provider: anthropic`) through the one executor: the Messages API called
 * natively (x-api-key, anthropic-version, system lifted, tools translated), answers read back as chat
 * completions with usage and cost, streams, every fault the runner knows, and fallback across wires
 * (Anthropic failing over to an OpenAI-compatible upstream, and back).
 */
import type OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { Executor, type StreamChunk } from '../src/execution/executor.js';
import { Registry } from '../src/routing/registry.js';
import { Router } from '../src/app/router.js';
import { answerFor } from '../src/wire/openai.js';
import { messagesFace } from '../src/serve/wire-faces.js';
import { startMockAnthropic, type AnthropicFault, type MockAnthropic } from './helpers/mock-anthropic.js';
import { startMockUpstream, type MockUpstream } from './helpers/mock-upstream.js';

const KEYS = { ANTHROPIC_KEY: 'sk-ant-test-0123456789', OPENAI_KEY: 'sk-openai-test-9876543210' };
const MESSAGES = [
  { role: 'system' as const, content: 'You are terse.' },
  { role: 'user' as const, content: 'Prove that there are infinitely many primes.' },
];

let claude: MockAnthropic;
let gpt: MockUpstream;
let registry: Registry;

beforeAll(async () => {
  claude = await startMockAnthropic({ name: 'claude' });
  gpt = await startMockUpstream({ name: 'gpt' });
  registry = Registry.fromObject({
    models: [
      { id: 'claude', provider: 'anthropic', baseUrl: claude.baseUrl, apiKeyEnv: 'ANTHROPIC_KEY', inputCostPer1M: 3, outputCostPer1M: 15 },
      { id: 'gpt', provider: 'openai', baseUrl: gpt.baseUrl, apiKeyEnv: 'OPENAI_KEY', inputCostPer1M: 1, outputCostPer1M: 2 },
    ],
  });
});

afterAll(async () => {
  await claude.close();
  await gpt.close();
});

const open: Executor[] = [];
afterEach(async () => {
  claude.fault = { kind: 'ok' };
  gpt.fault = { kind: 'ok' };
  claude.requests.length = 0;
  gpt.requests.length = 0;
  for (const e of open.splice(0)) await e.close();
});

async function setup() {
  const router = await Router.load('default', { registry, aliases: { strong: 'claude', weak: 'gpt' }, policy: 'best' });
  const executor = new Executor({ router, env: KEYS, backoffMs: 1, timeoutMs: 1500, cooldownMs: 60_000 });
  open.push(executor);
  return executor;
}

/** An executor whose decision holds two models of one provider's wire only (`<provider>-a`, `<provider>-b`, both at `baseUrl`). */
async function oneWire(provider: 'anthropic' | 'openai', baseUrl: string, apiKeyEnv: string): Promise<Executor> {
  const models = [`${provider}-a`, `${provider}-b`];
  const reg = Registry.fromObject({ models: models.map((id) => ({ id, provider, baseUrl, apiKeyEnv })) });
  const router = await Router.load('default', { registry: reg, aliases: { strong: models[0]!, weak: models[1]! } });
  const executor = new Executor({ router, env: KEYS, backoffMs: 1 });
  open.push(executor);
  return executor;
}

async function collect(stream: AsyncIterable<StreamChunk>): Promise<{ text: string; chunks: OpenAI.ChatCompletionChunk[] }> {
  const chunks: OpenAI.ChatCompletionChunk[] = [];
  for await (const c of stream) if (c.data !== '[DONE]') chunks.push(JSON.parse(c.data) as OpenAI.ChatCompletionChunk);
  return { text: chunks.map((c) => c.choices?.[0]?.delta?.content ?? '').join(''), chunks };
}

describe('anthropic-messages upstream', () => {
  it('calls the Messages API natively and answers a chat completion with usage and cost', async () => {
    const ex = await setup();
    const r = await ex.complete(
      {
        messages: [...MESSAGES, { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"n":2}' } }] }, { role: 'tool', tool_call_id: 'call_1', content: 'two' }],
        tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { n: { type: 'number' } } } } }],
        temperature: 1.5,
      },
      { model: 'claude' },
    );
    expect(r.model).toBe('claude');
    expect(r.response.choices[0]).toMatchObject({ message: { role: 'assistant', content: 'Answer from claude.' }, finish_reason: 'stop' });
    expect(r.usage).toEqual({ prompt_tokens: 12, completion_tokens: 3 });
    expect(r.costUsd).toBeCloseTo((12 * 3 + 3 * 15) / 1e6, 12);
    const sent = claude.requests[0]!;
    expect(sent.path).toBe('/v1/messages');
    expect(sent.headers['x-api-key']).toBe(KEYS.ANTHROPIC_KEY);
    expect(sent.headers['anthropic-version']).toBe('2023-06-01');
    expect(sent.authorization).toBeUndefined();
    expect(sent.body).toMatchObject({
      model: 'claude',
      system: 'You are terse.',
      max_tokens: 4096,
      temperature: 1,
      tools: [{ name: 'lookup', input_schema: { type: 'object', properties: { n: { type: 'number' } } } }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Prove that there are infinitely many primes.' }] },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'lookup', input: { n: 2 } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: 'two' }] },
      ],
    });
    expect(sent.body).not.toHaveProperty('stream');
  });

  it('reads a tool_use answer back as tool_calls', async () => {
    const ex = await setup();
    claude.queue({ kind: 'ok', text: 'Looking.', tool: { name: 'lookup', arguments: '{"n":3}' } });
    const r = await ex.complete({ messages: MESSAGES }, { model: 'claude' });
    expect(r.response.choices[0]).toMatchObject({
      finish_reason: 'tool_calls',
      message: { content: 'Looking.', tool_calls: [{ type: 'function', function: { name: 'lookup', arguments: '{"n":3}' } }] },
    });
  });

  it('streams: chat chunks with the answering id, tool calls, usage and cost at the end', async () => {
    const ex = await setup();
    claude.queue({ kind: 'ok', text: 'One two three four.', tool: { name: 'lookup', arguments: '{"q":"primes"}' } });
    const s = await ex.stream({ messages: MESSAGES, stream: true, stream_options: { include_usage: true } }, { model: 'claude' });
    expect(s.model).toBe('claude');
    const { text, chunks } = await collect(s);
    expect(text).toBe('One two three four.');
    const args = chunks.flatMap((c) => c.choices?.[0]?.delta?.tool_calls ?? []).map((t) => t.function?.arguments ?? '').join('');
    expect(args).toBe('{"q":"primes"}');
    expect(chunks.find((c) => c.choices?.[0]?.finish_reason)?.choices[0].finish_reason).toBe('tool_calls');
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 12, completion_tokens: 9 } });
    expect(chunks.every((c) => c.model === 'claude')).toBe(true);
    const summary = await s.result;
    expect(summary.usage).toEqual({ prompt_tokens: 12, completion_tokens: 9 });
    expect(summary.costUsd).toBeCloseTo((12 * 3 + 9 * 15) / 1e6, 12);
    expect(claude.requests[0]!.body).toMatchObject({ stream: true });
  });

  const faults: [string, AnthropicFault, string | number][] = [
    ['529 overloaded (retried, then fallback)', { kind: 'status', status: 529 }, 529],
    ['500', { kind: 'status', status: 500 }, 500],
    ['429 with a long Retry-After', { kind: 'status', status: 429, retryAfter: 30 }, 429],
    ['401 (misconfigured key)', { kind: 'status', status: 401 }, 401],
    ['timeout', { kind: 'timeout' }, 'timeout'],
    ['reset', { kind: 'reset' }, 'reset'],
    ['malformed body', { kind: 'malformed' }, 'malformed'],
  ];
  it.each(faults)('falls back from Anthropic to the OpenAI upstream on %s', async (_name, fault, status) => {
    const ex = await setup();
    claude.fault = fault;
    const r = await ex.complete({ messages: MESSAGES }, { model: 'claude' });
    expect(r.model).toBe('gpt');
    expect(r.response.choices[0]).toMatchObject({ message: { content: 'Answer from gpt.' } });
    expect(r.attempts[0]).toMatchObject({ model: 'claude', status });
    expect(r.attempts.at(-1)).toMatchObject({ model: 'gpt', status: 200 });
    expect(gpt.requests[0]!.authorization).toBe(`Bearer ${KEYS.OPENAI_KEY}`);
    expect(JSON.stringify(r.attempts)).not.toContain(KEYS.ANTHROPIC_KEY);
  });

  it('falls back while streaming when the Anthropic stream fails before its first token (error event, garbage, early end)', async () => {
    for (const fault of [{ kind: 'error-event', after: 0 }, { kind: 'malformed' }, { kind: 'truncated', after: 0 }] as AnthropicFault[]) {
      const ex = await setup();
      claude.fault = fault;
      const s = await ex.stream({ messages: MESSAGES, stream: true }, { model: 'claude' });
      expect(s.model).toBe('gpt');
      expect((await collect(s)).text).toBe('Answer from gpt.');
      expect(s.attempts[0]!.model).toBe('claude');
    }
    const ex = await setup();
    claude.fault = { kind: 'error-event', after: 0 };
    const s = await ex.stream({ messages: MESSAGES, stream: true }, { model: 'claude' });
    expect(s.attempts[0]).toMatchObject({ model: 'claude', status: 529, error: expect.stringContaining('overloaded_error') });
    await collect(s);
  });

  it('reports an Anthropic stream broken after tokens as interrupted, never retried', async () => {
    const ex = await setup();
    claude.fault = { kind: 'error-event', after: 2 };
    const s = await ex.stream({ messages: MESSAGES, stream: true }, { model: 'claude' });
    await expect(collect(s)).rejects.toMatchObject({ code: 'ERR_ROUTECORE_STREAM_INTERRUPTED' });
    expect(gpt.requests).toHaveLength(0);
    const ex2 = await setup();
    claude.fault = { kind: 'cut', after: 2 };
    const s2 = await ex2.stream({ messages: MESSAGES, stream: true }, { model: 'claude' });
    await expect(collect(s2)).rejects.toMatchObject({ code: 'ERR_ROUTECORE_STREAM_INTERRUPTED' });
  });

  it('refuses a 400 from Anthropic as the request at fault, without fallback', async () => {
    const ex = await setup();
    claude.fault = { kind: 'status', status: 400, message: 'messages: roles must alternate' };
    await expect(ex.complete({ messages: MESSAGES }, { model: 'claude' })).rejects.toMatchObject({ code: 'ERR_ROUTECORE_UPSTREAM_REJECTED', status: 400, message: expect.stringContaining('roles must alternate') });
    expect(gpt.requests).toHaveLength(0);
  });

  it('falls back from the OpenAI upstream to Anthropic', async () => {
    const ex = await setup();
    gpt.fault = { kind: 'status', status: 503 };
    const r = await ex.complete({ messages: MESSAGES }, { model: 'gpt' });
    expect(r.model).toBe('claude');
    expect(r.response.choices[0]).toMatchObject({ message: { content: 'Answer from claude.' } });
  });

  it('names a missing key variable as a config failure and moves on', async () => {
    const router = await Router.load('default', { registry, aliases: { strong: 'claude', weak: 'gpt' } });
    const ex = new Executor({ router, env: { OPENAI_KEY: KEYS.OPENAI_KEY }, backoffMs: 1 });
    open.push(ex);
    const r = await ex.complete({ messages: MESSAGES }, { model: 'claude' });
    expect(r.attempts[0]).toMatchObject({ model: 'claude', status: 'config', error: expect.stringContaining('ANTHROPIC_KEY') });
    expect(claude.requests).toHaveLength(0);
  });

  it('refuses what the Messages API cannot carry (n, logprobs, a JSON format) on the Anthropic model and falls back; a 400 naming the field when no model can', async () => {
    const ex = await setup();
    const r = await ex.complete({ messages: MESSAGES, n: 2 }, { model: 'claude' });
    expect(r.model).toBe('gpt');
    expect(r.attempts[0]).toMatchObject({ model: 'claude', status: 'config', error: expect.stringContaining('n = 2') });
    expect(claude.requests).toHaveLength(0);
    const json = await ex.complete({ messages: MESSAGES, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object' } } } }, { model: 'claude' });
    expect(json.model).toBe('gpt');
    expect((gpt.requests.at(-1)!.body as { response_format?: unknown }).response_format).toMatchObject({ type: 'json_schema' });
    // A plain-text format and seed-like hints do not stop the Anthropic call.
    const plain = await ex.complete({ messages: MESSAGES, response_format: { type: 'text' }, seed: 7, n: 1 }, { model: 'claude' });
    expect(plain.model).toBe('claude');

    const alone = await oneWire('anthropic', claude.baseUrl, 'ANTHROPIC_KEY');
    const err = await alone.complete({ messages: MESSAGES, logprobs: true }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_ROUTECORE_UPSTREAM_REJECTED', status: 400, message: expect.stringMatching(/^no model in the decision can honour body\.logprobs \(anthropic-[ab]: .*log-probabilities/) });
    const answer = answerFor(err)!;
    expect([answer.status, answer.code, answer.param]).toEqual([400, 'unsupported_parameter', 'logprobs']);
  });

  it('prices cache reads and writes at their own rates (Anthropic: 0.1x and 1.25x the input price, or the registry cache prices), streamed and not', async () => {
    const cached = await startMockAnthropic({ name: 'cached', inputTokens: 10, cache: { read: 1000, write: 500 } });
    try {
      const reg = Registry.fromObject({
        models: [
          { id: 'cached', provider: 'anthropic', baseUrl: cached.baseUrl, apiKeyEnv: 'ANTHROPIC_KEY', inputCostPer1M: 3, outputCostPer1M: 15 },
          { id: 'priced', provider: 'anthropic', baseUrl: cached.baseUrl, apiKeyEnv: 'ANTHROPIC_KEY', inputCostPer1M: 3, outputCostPer1M: 15, cacheReadCostPer1M: 1, cacheWriteCostPer1M: 2 },
        ],
      });
      const router = await Router.load('default', { registry: reg, aliases: { strong: 'cached', weak: 'priced' } });
      const ex = new Executor({ router, env: KEYS, backoffMs: 1 });
      open.push(ex);
      const r = await ex.complete({ messages: MESSAGES }, { model: 'cached' });
      expect(r.usage).toEqual({ prompt_tokens: 1510, completion_tokens: 3, cache_read_tokens: 1000, cache_write_tokens: 500 });
      expect(r.response.usage).toMatchObject({ prompt_tokens: 1510, prompt_tokens_details: { cached_tokens: 1000 }, cache_creation_input_tokens: 500 });
      expect(r.costUsd).toBeCloseTo((10 * 3 + 1000 * 0.3 + 500 * 3.75 + 3 * 15) / 1e6, 12);
      const p = await ex.complete({ messages: MESSAGES }, { model: 'priced' });
      expect(p.costUsd).toBeCloseTo((10 * 3 + 1000 * 1 + 500 * 2 + 3 * 15) / 1e6, 12);
      const s = await ex.stream({ messages: MESSAGES, stream: true }, { model: 'cached' });
      await collect(s);
      const done = await s.result;
      expect(done.usage).toMatchObject({ prompt_tokens: 1510, cache_read_tokens: 1000, cache_write_tokens: 500 });
      expect(done.costUsd).toBeCloseTo((10 * 3 + 1000 * 0.3 + 500 * 3.75 + done.usage!.completion_tokens * 15) / 1e6, 12);
    } finally {
      await cached.close();
    }
  });

  it('answers 503 with the shortest Retry-After when every model is rate-limited or overloaded', async () => {
    const ex = await setup();
    claude.fault = { kind: 'status', status: 429, retryAfter: 30 };
    gpt.fault = { kind: 'status', status: 429, retryAfter: 7 };
    const err = await ex.complete({ messages: MESSAGES }, { model: 'claude' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_ROUTECORE_UPSTREAM', status: 503, retryAfterMs: 7000 });
    expect(answerFor(err)!.headers).toMatchObject({ 'retry-after': '7' });
    claude.fault = { kind: 'status', status: 529 };
    gpt.fault = { kind: 'status', status: 503 };
    const overloaded = await ex.complete({ messages: MESSAGES }, { model: 'claude' }).catch((e: unknown) => e);
    expect(overloaded).toMatchObject({ status: 503, retryAfterMs: undefined });
  });

  it('keeps a Messages request that uses what chat cannot carry to Anthropic models: a 400 naming the part when the decision has none', async () => {
    const chat = messagesFace.parse({ model: 'gpt', max_tokens: 10, messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'bash_20250124', name: 'bash' }] }, {});
    const ex = await setup();
    const r = await ex.complete(chat, { model: 'gpt' });
    expect(r.model).toBe('claude');
    expect(r.attempts[0]).toMatchObject({ model: 'gpt', status: 'config', error: expect.stringContaining('server tool "bash_20250124"') });
    const alone = await oneWire('openai', gpt.baseUrl, 'OPENAI_KEY');
    const err = await alone.complete(chat).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400, message: expect.stringContaining('no model in the decision can honour body.tools[0].type') });
    expect(gpt.requests).toHaveLength(0);
  });

  it('sends the configured max_tokens to an Anthropic upstream when a chat request sets none, and checks the setting', async () => {
    const router = await Router.load('default', { registry, aliases: { strong: 'claude', weak: 'gpt' } });
    const ex = new Executor({ router, env: KEYS, anthropicMaxTokens: 1234 });
    open.push(ex);
    await ex.complete({ messages: MESSAGES }, { model: 'claude' });
    expect(claude.requests.at(-1)!.body).toMatchObject({ max_tokens: 1234 });
    expect(() => new Executor({ router, env: KEYS, anthropicMaxTokens: 0 })).toThrow('Expected a number from 1 to 10000000 for options.anthropicMaxTokens but received number 0');
  });
});
