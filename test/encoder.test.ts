/**
 * The encoder seam (src/routing/encoder.ts): a router trained on embeddings serves text when an
 * Encoder is given at load time — through route, routeSync, routeBatch, scores, routeChat and the
 * Executor — and refuses an encoder that does not fit it, with messages naming what is wrong.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Router } from '../src/app/router.js';
import { binding } from '../src/addon/native.js';
import { OnnxEncoder } from '../src/encoders/onnx.js';
import { Executor } from '../src/execution/executor.js';
import type { Encoder } from '../src/routing/encoder.js';
import type { RouterOptions } from '../src/routing/router.js';
import { train } from '../src/training/train.js';
import { bertTokenizerJson } from './encoder-fixtures.js';
import { startFixture, type Fixture } from './helpers/gateway-fixture.js';
import { PAIR_KEYS, startUpstreamPair, type UpstreamPair } from './helpers/upstream-pair.js';
import { randomTransformer, transformerOnnx } from './tiny-transformer.js';

const MATH = ['sum', 'add', 'multiply', 'equation', 'number', 'plus', 'divide', 'fraction'];
const HISTORY = ['king', 'war', 'empire', 'century', 'revolution', 'treaty', 'dynasty', 'battle'];
const DIM = 6;

/** A small deterministic encoder: topic-word counts plus a few character statistics, per text. */
class TopicEncoder implements Encoder {
  readonly dim = DIM;
  readonly batches: number[] = [];
  constructor(readonly name = 'topic-words:v1') {}

  encodeSync(texts: readonly string[]): Float32Array {
    const out = new Float32Array(texts.length * DIM);
    texts.forEach((text, i) => {
      const words = text.toLowerCase().split(/[^a-z]+/).filter(Boolean);
      const row = out.subarray(i * DIM, (i + 1) * DIM);
      for (const w of words) {
        if (MATH.includes(w)) row[0]! += 1;
        if (HISTORY.includes(w)) row[1]! += 1;
      }
      row[2] = words.length / 20;
      row[3] = (text.match(/[0-9]/g)?.length ?? 0) / 5;
      row[4] = text.endsWith('?') ? 1 : 0;
      row[5] = 1;
    });
    return out;
  }

  async encode(texts: readonly string[]): Promise<Float32Array> {
    this.batches.push(texts.length);
    return this.encodeSync(texts);
  }
}

function records(n: number, ids: [string, string] = ['math-model', 'history-model']) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const math = i % 2 === 0;
    const prompt = math
      ? `Please ${MATH[i % MATH.length]} the number ${i} plus ${i + 3}: what is the ${MATH[(i + 3) % MATH.length]}?`
      : `Which ${HISTORY[i % HISTORY.length]} ended the ${HISTORY[(i + 5) % HISTORY.length]} of that century?`;
    out.push({ id: `r${i}`, prompt, scores: math ? { [ids[0]]: 1, [ids[1]]: 0 } : { [ids[0]]: 0, [ids[1]]: 1 } });
  }
  return out;
}

async function trained(encoder: Encoder & { encodeSync(t: readonly string[]): Float32Array }, router: RouterOptions = {}) {
  const recs = records(160);
  const result = await train(recs, { embeddings: encoder.encodeSync(recs.map((r) => r.prompt)), hidden: 8, seed: 7, maxEpochs: 60, router: { ...router, encoder } });
  return result.router;
}

const MATH_Q = 'Can you add the number 12 plus 30 and multiply the sum?';
const HISTORY_Q = 'Which king won the war that ended the empire?';

describe('a router trained on embeddings, served with an Encoder', () => {
  it('routes text through route, routeSync, routeBatch, scores and routeChat, and records the encoder', async () => {
    const encoder = new TopicEncoder();
    const router = await trained(encoder);
    expect(router.encoder).toBe('precomputed');
    expect(router.textEncoder).toBe(encoder);
    expect(router.metadata()['routecore.encoder']).toBe('topic-words:v1');

    expect(router.routeSync(MATH_Q).model).toBe('math-model');
    expect(router.routeSync(HISTORY_Q).model).toBe('history-model');
    // The same row through the text path and the embedding path gives the same scores.
    expect(router.routeSync(MATH_Q).scores).toEqual(router.routeEmbeddingSync(encoder.encodeSync([MATH_Q])).scores);

    encoder.batches.length = 0;
    const routed = await Promise.all([router.route(MATH_Q), router.route(HISTORY_Q), router.route(MATH_Q)]);
    expect(routed.map((d) => d.model)).toEqual(['math-model', 'history-model', 'math-model']);
    expect(encoder.batches).toEqual([3]); // one micro-batch, one encode call
    expect((await router.routeBatch([HISTORY_Q, MATH_Q])).map((d) => d.model)).toEqual(['history-model', 'math-model']);
    const s = await router.scores([MATH_Q]);
    expect(Array.from(s)).toEqual(router.models.map((id) => router.routeSync(MATH_Q).scores[id]!));

    const chat = await router.routeChat({ messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: HISTORY_Q }] });
    expect(chat.model).toBe('history-model');
    expect(chat.text).toContain(HISTORY_Q);
    expect(router.routeChatSync({ messages: [{ role: 'user', content: MATH_Q }] }).model).toBe('math-model');
    router.dispose();
  });

  it('loads from bytes with the same encoder, and refuses a missing, renamed, resized or misplaced one', async () => {
    const encoder = new TopicEncoder();
    const router = await trained(encoder);
    const bytes = router.serialize();
    router.dispose();

    const again = Router.loadSync(bytes, { encoder });
    expect(again.routeSync(MATH_Q).model).toBe('math-model');
    again.dispose();

    const bare = Router.loadSync(bytes);
    const hint = 'this router was trained on precomputed embeddings; pass embeddings, not text (routeEmbeddings, routeEmbeddingSync), or load it with options.encoder, the Encoder that makes its 6-dimensional rows';
    expect(() => bare.routeSync(MATH_Q)).toThrow(hint);
    await expect(bare.route(MATH_Q)).rejects.toThrow(hint);
    await expect(bare.routeChat({ messages: [{ role: 'user', content: MATH_Q }] })).rejects.toThrow(hint);
    bare.dispose();

    expect(() => Router.loadSync(bytes, { encoder: new TopicEncoder('other:v2') })).toThrow(
      'this router was trained on rows from encoder "topic-words:v1", and options.encoder is "other:v2"',
    );
    const wide = Object.assign(new TopicEncoder(), { dim: 9 });
    expect(() => Router.loadSync(bytes, { encoder: wide })).toThrow('options.encoder "topic-words:v1" gives 9-dimensional rows; this router takes 6');
    try {
      Router.loadSync(bytes, { encoder: wide });
    } catch (err) {
      expect((err as { code: string }).code).toBe('ERR_ROUTECORE_MODEL_MISMATCH');
    }
    expect(() => Router.loadSync(bytes, { encoder: { name: 'x', dim: 6 } as unknown as Encoder })).toThrow(
      'Expected a function (texts) => Promise<Float32Array> for options.encoder.encode but received undefined',
    );
    expect(() => Router.loadSync('default', { encoder })).toThrow('options.encoder: this router encodes text with its own hashing encoder');
  });

  it('an asynchronous-only encoder serves route() and says why routeSync cannot; bad rows name the encoder', async () => {
    const sync = new TopicEncoder();
    const router = await trained(sync);
    const bytes = router.serialize();
    router.dispose();

    const asyncOnly: Encoder = { name: sync.name, dim: DIM, encode: (t) => sync.encode(t) };
    const r = Router.loadSync(bytes, { encoder: asyncOnly });
    expect((await r.route(HISTORY_Q)).model).toBe('history-model');
    expect(() => r.routeSync(HISTORY_Q)).toThrow('encoder "topic-words:v1" encodes asynchronously only (no encodeSync): use route() or routeChat(), not the synchronous calls');
    r.dispose();

    const short: Encoder = { name: sync.name, dim: DIM, encode: async (t) => new Float32Array(t.length * DIM - 1) };
    const s = Router.loadSync(bytes, { encoder: short });
    await expect(s.routeBatch([MATH_Q, HISTORY_Q])).rejects.toThrow('encoder "topic-words:v1" returned 11 floats for 2 text(s) of dimension 6 (expected 12)');
    s.dispose();
  });
});

describe('the executor over a router trained on embeddings', () => {
  let pair: UpstreamPair;
  beforeAll(async () => {
    pair = await startUpstreamPair();
  });
  afterAll(async () => {
    await pair.close();
  });

  it('routes the chat text through the encoder and calls the chosen upstream', async () => {
    const encoder = new TopicEncoder();
    const router = await trained(encoder, { registry: pair.registry, aliases: { 'math-model': 'model-a', 'history-model': 'model-b' } });
    const executor = new Executor({ router, env: PAIR_KEYS, backoffMs: 1, timeoutMs: 2000 });
    try {
      encoder.batches.length = 0;
      const math = await executor.complete({ model: 'routecore', messages: [{ role: 'user', content: MATH_Q }] });
      expect(math.routed).toBe('model-a');
      expect(math.model).toBe('model-a');
      const history = await executor.complete({ model: 'routecore', messages: [{ role: 'user', content: HISTORY_Q }] });
      expect(history.routed).toBe('model-b');
      expect(pair.b.requests).toHaveLength(1);
      expect(encoder.batches.length).toBeGreaterThanOrEqual(2); // the executor's text went through encode()
    } finally {
      await executor.close();
      router.dispose();
    }
  });
});

describe('the gateway over a router trained on embeddings', () => {
  let fx: Fixture;
  beforeAll(async () => {
    fx = await startFixture();
  });
  afterAll(async () => {
    await fx.close();
  });

  it('serves /v1/chat/completions with the encoder given in GatewayOptions', async () => {
    const encoder = new TopicEncoder();
    const recs = records(160, ['big', 'small']);
    const { router } = await train(recs, { embeddings: encoder.encodeSync(recs.map((r) => r.prompt)), hidden: 8, seed: 7, maxEpochs: 60, router: { encoder } });
    const path = `${fx.dir}/topics.router`;
    await router.save(path);
    router.dispose();
    const gw = await fx.gateway({ flags: { router: path, aliases: {} }, gateway: { encoder } });
    const ask = async (content: string) => {
      const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'routecore', messages: [{ role: 'user', content }] }) });
      expect(res.status).toBe(200);
      return ((await res.json()) as { model: string }).model;
    };
    expect(await ask(MATH_Q)).toBe('big');
    expect(await ask(HISTORY_Q)).toBe('small');
    expect(fx.small.requests).toHaveLength(1);
    // A reload builds the router again, with the same encoder.
    expect(await gw.reload()).toBe(true);
    expect(await ask(HISTORY_Q)).toBe('small');
  });
});

// The ONNX encoder needs the addon's tokenizer (a build that predates it skips, as test/onnx-encoder does).
const tokenizerBuilt = typeof (binding() as { NativeTokenizer?: unknown }).NativeTokenizer === 'function';

describe.skipIf(!tokenizerBuilt)('routecore route --text-encoder onnx:DIR', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'routecore-text-encoder-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const cli = join(import.meta.dirname, '..', 'dist', 'src', 'cli', 'main.js');
  const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ROUTECORE_BACKEND: 'cpu' } });

  it('routes text with a router trained on the ONNX encoder\'s rows, as the library does; a bad spec is a usage error', async () => {
    const dir = join(tmp, 'model');
    mkdirSync(dir);
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(bertTokenizerJson()));
    writeFileSync(join(dir, 'model.onnx'), transformerOnnx(randomTransformer(30522, 16, 32, 5), 'normal'));
    const enc = await OnnxEncoder.load(dir, { backend: 'cpu' });
    const recs = Array.from({ length: 60 }, (_, i) => ({
      id: `r${i}`,
      prompt: i % 2 ? `Please bake bread with flour ${i}` : `Please solve the integral ${i}`,
      scores: i % 2 ? { a: 0, b: 1 } : { a: 1, b: 0 },
    }));
    const { router } = await train(recs, { predictor: 'linear', embeddings: await enc.encode(recs.map((r) => r.prompt)), maxEpochs: 60, learningRate: 0.05, router: { encoder: enc } });
    const file = join(tmp, 'onnx.router');
    await router.save(file);
    const expected = await router.route('Please solve the integral 99');
    router.dispose();
    await enc.dispose();

    const r = run(['route', '--router', file, '--text-encoder', `onnx:${dir}`, 'Please solve the integral 99']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const decision = JSON.parse(r.stdout.trim()) as { model: string; scores: Record<string, number> };
    expect(decision.model).toBe(expected.model);
    for (const id of ['a', 'b']) expect(decision.scores[id]).toBeCloseTo(expected.scores[id]!, 5);

    const bare = run(['route', '--router', file, 'Please solve the integral 99']);
    expect(bare.status).not.toBe(0);
    expect(bare.stderr).toContain('or load it with options.encoder');
    const bad = run(['route', '--router', file, '--text-encoder', 'bert:xyz', 'hello']);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('--text-encoder "bert:xyz" is not a text encoder: expected onnx:DIR');
  });
});
