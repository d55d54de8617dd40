/**
 * The onnx predictor on a tiny random classifier generated here (test/tiny-transformer.ts with a
 * head on the [CLS] state): onnxruntime-node's scores must match a TypeScript forward pass of the
 * same weights; `Router.load(dir)` must route, batch, chat-route and execute with it (the executor
 * against the mock upstream pair); hostile directories are coded errors naming the file; and
 * `backendInfo().onnx` reports the execution provider once a session exists.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import { Tokenizer } from '@huggingface/tokenizers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { backendInfo } from '../src/addon/backend.js';
import { binding } from '../src/addon/native.js';
import { Router } from '../src/app/router.js';
import { cudaMissing } from '../src/encoders/onnx.js';
import { OnnxPredictor, PREDICTOR_CONFIG } from '../src/encoders/onnx-predictor.js';
import { Executor } from '../src/execution/executor.js';
import { bertTokenizerJson } from './encoder-fixtures.js';
import { post, startFixture } from './helpers/gateway-fixture.js';
import { caught, caughtAsync } from './helpers/index.js';
import { PAIR_ALIASES, PAIR_KEYS, startUpstreamPair, type UpstreamPair } from './helpers/upstream-pair.js';
import { randomHead, randomTransformer, referenceLogits, transformerOnnx, type ClassifierHead } from './tiny-transformer.js';

const built = typeof (binding() as { NativeTokenizer?: unknown }).NativeTokenizer === 'function';
if (!built) console.warn('onnx predictor: the loaded addon predates NativeTokenizer; rebuild it (npm run build) to run these tests');

const tmp = mkdtempSync(join(tmpdir(), 'routecore-onnxp-'));
/** The built CLI (`npm run build:ts`), for the one test that runs `routecore serve`. */
const CLI = join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const tokenizerJson = bertTokenizerJson();
const model = randomTransformer(30522, 16, 32, 7);
const head3 = randomHead(model, 3, 31);

interface DirSpec {
  head?: ClassifierHead;
  variant?: 'normal' | 'wrong-shape' | 'nan';
  config?: unknown;
  omit?: 'model' | 'tokenizer' | 'config';
}
function writeDir(name: string, spec: DirSpec = {}): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  if (spec.omit !== 'tokenizer') writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
  if (spec.omit !== 'model') writeFileSync(join(dir, 'model.onnx'), transformerOnnx(model, spec.variant ?? 'normal', spec.head ?? head2));
  if (spec.omit !== 'config') writeFileSync(join(dir, PREDICTOR_CONFIG), typeof spec.config === 'string' ? spec.config : JSON.stringify(spec.config ?? { models: ['strong', 'weak'] }));
  return dir;
}

const texts = [
  'How do I bake sourdough bread at home?',
  'Solve the integral of x squared from 0 to 3.',
  'Café déjà vu — 中文',
  'a',
  'The quick brown fox jumps over the lazy dog. '.repeat(6),
  '[CLS] special tokens in the text [SEP]',
  'Prove that there are infinitely many primes.',
];

const ref = new Tokenizer(tokenizerJson as never, {});
/** The reference scores of one text: sigmoid (or softmax) of the float64 logits. */
function referenceScores(text: string, head: ClassifierHead, activation: 'sigmoid' | 'softmax' = 'sigmoid'): number[] {
  const logits = Array.from(referenceLogits(model, head, ref.encode(text, { add_special_tokens: true }).ids));
  if (activation === 'sigmoid') return logits.map((z) => 1 / (1 + Math.exp(-z)));
  const mx = Math.max(...logits);
  const e = logits.map((z) => Math.exp(z - mx));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

// A two-model head that prefers each model for some of the texts (the first such seed from 21), so
// the routing tests see both decisions.
const head2 = (() => {
  for (let seed = 21; seed < 121; seed++) {
    const h = randomHead(model, 2, seed);
    const wins = new Set(texts.map((t) => (referenceScores(t, h)[0]! >= referenceScores(t, h)[1]! ? 0 : 1)));
    if (wins.size === 2) return h;
  }
  throw new Error('no seed gives a head that prefers each model somewhere');
})();

describe.runIf(built)('onnx predictor', () => {
  const dir = writeDir('tiny');

  it('scores as a TypeScript forward pass of the same weights; backendInfo() reports the execution provider', async () => {
    expect(backendInfo().onnx).toBeNull(); // no onnx session in this process yet
    const p = await OnnxPredictor.load(dir, { backend: 'cpu' });
    expect(p.models).toEqual(['strong', 'weak']);
    expect(p.name).toMatch(/^onnx-predictor:tiny@[0-9a-f]{12}$/);
    const info = backendInfo();
    expect(info.onnx).toEqual({ provider: 'cpu', reason: 'cpu requested', sessions: { cpu: 1, cuda: 0 } });
    expect(p.executionProvider).toBe('cpu');
    const scores = await p.score(texts);
    texts.forEach((t, i) => {
      const want = referenceScores(t, head2);
      for (let k = 0; k < 2; k++) expect(scores[i * 2 + k]).toBeCloseTo(want[k]!, 4);
    });
    // One text at a time gives what the padded batch gave.
    for (let i = 0; i < texts.length; i++) {
      const one = await p.score([texts[i]!]);
      for (let k = 0; k < 2; k++) expect(one[k]).toBeCloseTo(scores[i * 2 + k]!, 5);
    }
    await p.dispose();
  });

  it('auto takes CUDA only where its session works, else the CPU and says why; cuda is CUDA or a coded error', async () => {
    const p = await OnnxPredictor.load(dir, { backend: 'auto' });
    const info = backendInfo().onnx!;
    expect(info.provider).toBe(p.executionProvider);
    expect(info.reason).toBe(p.providerReason);
    expect(info.reason).toMatch(/^auto: /);
    expect(info.sessions.cpu + info.sessions.cuda).toBe(2);
    // Where onnxruntime-node lists CUDA but cannot run it (this machine: no CUDA libraries), auto
    // used to fail the load; now it falls back and the reason names the failure.
    if (p.executionProvider === 'cpu') expect(info.reason).toMatch(/^auto: (this onnxruntime-node offers no CUDA execution provider|(no NVIDIA GPU driver here|this onnxruntime-node has no CUDA provider library) \(no .+\), so CUDA was not tried; CPU|onnxruntime-node offers CUDA, but it failed here \(.+\); CPU)$/);
    expect((await p.score([texts[0]!]))[0]).toBeCloseTo(referenceScores(texts[0]!, head2)[0]!, 4);
    await p.dispose();
    let cuda: OnnxPredictor | undefined;
    try {
      cuda = await OnnxPredictor.load(dir, { backend: 'cuda' });
    } catch (err) {
      expect((err as { code?: string }).code).toBe('ERR_ROUTECORE_BACKEND_UNAVAILABLE');
      expect((err as Error).message).toMatch(/CUDA/);
    }
    if (cuda) {
      expect(cuda.executionProvider).toBe('cuda');
      await cuda.dispose();
    }
  });

  it('serves route, routeBatch, scores and the policies through Router.load(dir) and Router.load("onnx:DIR")', async () => {
    const router = await Router.load(dir, { backend: 'cpu', policy: 'best' });
    expect(router.models).toEqual(['strong', 'weak']);
    expect(router.predictor).toBe('onnx');
    expect(router.encoder).toBe('onnx');
    expect(router.backend).toBe('cpu');
    const s = await router.scores(texts);
    const decisions = await router.routeBatch(texts);
    const single = await Promise.all(texts.map((t) => router.route(t)));
    texts.forEach((t, i) => {
      const want = referenceScores(t, head2);
      expect(s[i * 2]).toBeCloseTo(want[0]!, 4);
      const best = want[0]! >= want[1]! ? 'strong' : 'weak';
      expect(decisions[i]!.model).toBe(best);
      expect(single[i]!.model).toBe(best);
      expect(decisions[i]!.scores['weak']).toBeCloseTo(want[1]!, 4);
    });
    // The threshold policy on the same scores: τ = 0 sends everything to the strong model, τ = 1 to the weak one.
    const all = await router.routeBatch(texts, { policy: 'threshold', threshold: 0 } as never);
    expect(new Set(all.map((d) => d.model))).toEqual(new Set(['strong']));
    expect(caught(() => router.routeSync(texts[0]!)).message).toBe(`${router.metadata()['routecore.encoder']} (an onnx predictor) scores asynchronously only: use route(), routeBatch() or routeChat(), not routeSync() or routeChatSync()`);
    expect(caught(() => router.serialize()).message).toMatch(/\(an onnx predictor\) has no \.router file: its directory .*tiny is the artifact$/);
    expect(router.recentCoverage()).toBeNull();
    router.dispose();
    const spec = await Router.load(`onnx:${dir}`, { backend: 'cpu' });
    expect((await spec.route(texts[1]!)).scores['strong']).toBeCloseTo(referenceScores(texts[1]!, head2)[0]!, 4);
    spec.dispose();
    const e = caught(() => Router.loadSync(dir));
    expect(e.code).toBe('ERR_ROUTECORE_INVALID_ARGUMENT');
    expect(e.message).toBe(`${dir} is an onnx predictor directory: onnxruntime loads it asynchronously, so use await Router.load(), not Router.loadSync()`);
  });

  it('applies softmax over three models when the config says so', async () => {
    const d3 = writeDir('three', { head: head3, config: { models: ['a', 'b', 'c'], activation: 'softmax' } });
    const router = await Router.load(d3, { backend: 'cpu' });
    const s = await router.scores(texts);
    texts.forEach((t, i) => {
      const want = referenceScores(t, head3, 'softmax');
      for (let k = 0; k < 3; k++) expect(s[i * 3 + k]).toBeCloseTo(want[k]!, 4);
      expect(s[i * 3]! + s[i * 3 + 1]! + s[i * 3 + 2]!).toBeCloseTo(1, 5);
    });
    router.dispose();
  });

  describe('behind routeChat and the executor, with mock upstreams', () => {
    let pair: UpstreamPair;
    beforeAll(async () => {
      pair = await startUpstreamPair();
    });
    afterAll(async () => {
      await pair.close();
    });

    it('routes a chat request to the model the classifier scores higher and calls that upstream', async () => {
      const router = await Router.load(dir, { backend: 'cpu', registry: pair.registry, aliases: PAIR_ALIASES, policy: 'best' });
      const executor = new Executor({ router, env: PAIR_KEYS, backoffMs: 1, timeoutMs: 5000 });
      try {
        const seen = new Set<string>();
        for (const t of texts) {
          const request = { model: 'routecore', messages: [{ role: 'user' as const, content: t }] };
          const d = await router.routeChat(request);
          const want = referenceScores(d.text, head2);
          const best = want[0]! >= want[1]! ? PAIR_ALIASES.strong : PAIR_ALIASES.weak;
          expect(d.model).toBe(best);
          expect(d.scores[PAIR_ALIASES.strong]).toBeCloseTo(want[0]!, 4);
          pair.reset();
          const r = await executor.complete(request);
          expect(r.routed).toBe(best);
          expect(r.model).toBe(best);
          expect(pair.mockOf(best).requests).toHaveLength(1);
          expect(pair.mockOf(best).requests[0]!.authorization).toBe(`Bearer ${pair.keyOf(best)}`);
          expect(r.response.choices[0]!.message.content).toContain(best === 'model-a' ? 'Answer from a' : 'Answer from b');
          seen.add(best);
        }
        expect(seen.size).toBe(2); // the random head prefers each model for some of the prompts
      } finally {
        await executor.close();
        router.dispose();
      }
    });
  });

  it('serves behind the gateway (routecore serve --router DIR): each chat request answered by the model the classifier prefers', async () => {
    const fx = await startFixture();
    try {
      const gw = await fx.gateway({ flags: { router: dir, policy: 'best' } }); // backend auto
      expect(gw.router.predictor).toBe('onnx');
      expect(gw.router.backend).toBe(backendInfo().onnx!.provider);
      const seen = new Set<string>();
      for (const t of texts) {
        const want = referenceScores(t, head2);
        const best = want[0]! >= want[1]! ? 'big' : 'small'; // the fixture's aliases: strong -> big, weak -> small
        const r = await post(`${gw.url}/v1/chat/completions`, { model: 'routecore', messages: [{ role: 'user', content: t }] });
        expect(r.status).toBe(200);
        expect(r.headers.get('x-routecore-routed')).toBe(best);
        expect(r.body.choices[0].message.content).toBe(`Answer from ${best}.`);
        seen.add(best);
      }
      expect(seen.size).toBe(2);
    } finally {
      await fx.close();
    }
  });

  it('refuses hostile directories with coded errors naming the file', async () => {
    const load = (d: string) => caughtAsync(() => Router.load(d, { backend: 'cpu' }));
    const wrong = writeDir('wrong', { variant: 'wrong-shape' });
    let e = await load(wrong);
    expect(e.code).toBe('ERR_ROUTECORE_BAD_MODEL');
    expect(e.message).toBe(`${join(wrong, 'model.onnx')}: output "logits" has shape [1, 3, 2]; an onnx predictor's must be [batch 1, models 2]`);
    const nan = writeDir('nan', { variant: 'nan' });
    e = await load(nan);
    expect(e.code).toBe('ERR_ROUTECORE_BAD_MODEL');
    expect(e.message).toBe(`${join(nan, 'model.onnx')}: the model output NaN for text 0 (model strong)`);
    const three = writeDir('count', { config: { models: ['a', 'b', 'c'] } });
    e = await load(three);
    expect(e.code).toBe('ERR_ROUTECORE_BAD_MODEL');
    expect(e.message).toBe(`${join(three, 'model.onnx')}: output "logits" has 2 columns, but ${join(three, PREDICTOR_CONFIG)} names 3 models (a, b, c)`);
    const noConfig = writeDir('no-config', { omit: 'config' });
    e = await load(noConfig);
    expect(e.code).toBe('ERR_ROUTECORE_BAD_MODEL');
    expect(e.message).toBe(`${join(noConfig, PREDICTOR_CONFIG)} is missing: an onnx predictor directory names its models there, in output order, e.g. {"models": ["gpt-4o", "gpt-4o-mini"]}`);
    const noTok = writeDir('no-tokenizer', { omit: 'tokenizer' });
    e = await load(noTok);
    expect(e.code).toBe('ERR_ROUTECORE_BAD_MODEL');
    expect(e.message).toBe(`${join(noTok, 'tokenizer.json')} is missing: the onnx predictor tokenizes with the model's tokenizer.json`);
    const noModel = writeDir('no-model', { omit: 'model' });
    e = await load(noModel);
    expect(e.code).toBe('ERR_ROUTECORE_BAD_MODEL');
    expect(e.message).toBe(`${noModel} holds no model.onnx (nor onnx/model.onnx)`);
    const typo = writeDir('typo', { config: { models: ['strong', 'weak'], activaton: 'softmax' } });
    e = await load(typo);
    expect(e.message).toBe(`${join(typo, PREDICTOR_CONFIG)}: "activaton" must be absent (known fields: models, activation, output, maxTokens), got "softmax"`);
    const dup = writeDir('dup', { config: { models: ['x', 'x'] } });
    expect((await load(dup)).message).toBe(`${join(dup, PREDICTOR_CONFIG)}: "models" must be distinct model ids, got ["x","x"]`);
    const notJson = writeDir('not-json', { config: '{models' });
    expect((await load(notJson)).message).toMatch(new RegExp(`^${join(notJson, PREDICTOR_CONFIG).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not JSON: `));
    const output = writeDir('output', { config: { models: ['strong', 'weak'], output: 'scores' } });
    expect((await load(output)).message).toBe(`${join(output, 'model.onnx')} has no output "scores" (outputs: logits), which ${join(output, PREDICTOR_CONFIG)} names`);
    e = await caughtAsync(() => Router.load(dir, { backend: 'cpu', encoder: { name: 'x', dim: 2, encode: async () => new Float32Array(2) } }));
    expect(e.code).toBe('ERR_ROUTECORE_INVALID_ARGUMENT');
    expect(e.message).toContain('options.encoder');
  });
  it.runIf(existsSync(CLI))('routecore serve names --alias for an onnx predictor directory whose models the registry lacks', () => {
    const registry = join(tmp, 'alias-models.json');
    writeFileSync(registry, JSON.stringify({ models: [{ id: 'gpt-4o', baseUrl: 'http://127.0.0.1:9/v1' }, { id: 'gpt-4o-mini', baseUrl: 'http://127.0.0.1:9/v1' }] }));
    const r = spawnSync(process.execPath, [CLI, 'serve', '--router', dir, '--registry', registry, '--port', '0', '--log', 'none'], { encoding: 'utf8', timeout: 120_000, cwd: tmp, env: { ...process.env, ROUTECORE_BACKEND: 'cpu' } });
    expect(r.status).toBe(2);
    // Before: the hint's own Router.loadSync refused the directory and hid the hint.
    expect(r.stderr).toContain(`routecore: the router's models (strong, weak) are not in the registry ${registry} (gpt-4o, gpt-4o-mini): map each to a registry id, e.g. --alias strong=gpt-4o --alias weak=gpt-4o-mini\n`);
  });
  it('knows without asking onnxruntime when CUDA cannot run: no NVIDIA driver, or no CUDA provider library', () => {
    if (process.platform !== 'linux') return;
    expect(cudaMissing(join(tmp, 'no-such-driver'))).toBe(`no NVIDIA GPU driver here (no ${join(tmp, 'no-such-driver')})`);
    // With a driver, what is left to know is whether onnxruntime-node's CUDA provider library is installed.
    const driver = join(tmp, 'driver-version');
    writeFileSync(driver, 'NVRM version: test\n');
    const lib = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', 'linux', process.arch, 'libonnxruntime_providers_cuda.so');
    expect(cudaMissing(driver)).toBe(existsSync(lib) ? undefined : `this onnxruntime-node has no CUDA provider library (no ${lib})`);
  });

  it.runIf(existsSync(CLI))('under ROUTECORE_BACKEND=auto a process says once, in one line, which provider runs; without a GPU onnxruntime prints nothing', () => {
    const script = `const { Router } = await import(${JSON.stringify(join(dirname(CLI), '..', 'app', 'router.js'))});
      for (let i = 0; i < 2; i++) (await Router.load(${JSON.stringify(dir)})).dispose();`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ROUTECORE_BACKEND: 'auto' } });
    expect(r.status).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    const said = lines.filter((l) => l.startsWith('routecore: onnxruntime runs on '));
    expect(said).toHaveLength(1);
    if (!existsSync('/proc/driver/nvidia/version')) {
      // Before: onnxruntime's "[E:onnxruntime:...] Failed to load library libonnxruntime_providers_shared.so" on every start.
      expect(said[0]).toMatch(/^routecore: onnxruntime runs on the CPU \(auto: (no NVIDIA GPU driver here \(no \/proc\/driver\/nvidia\/version\), so CUDA was not tried; CPU|this onnxruntime-node offers no CUDA execution provider)\)$/);
      expect(lines).toEqual(said);
    }
  });
  it.runIf(existsSync(CLI))('routecore route, info and eval take an onnx predictor directory as --router', () => {
    const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000, cwd: tmp, env: { ...process.env, ROUTECORE_BACKEND: 'cpu' } });
    const route = cli(['route', '--router', dir, '--policy', 'best', texts[1]!]);
    expect(route.stderr).toBe('');
    const want = referenceScores(texts[1]!, head2);
    expect(JSON.parse(route.stdout)).toMatchObject({ model: want[0]! >= want[1]! ? 'strong' : 'weak', policy: 'best' });
    const info = cli(['info', '--router', dir]);
    expect(info.status).toBe(0);
    expect(info.stdout).toContain(`router ${dir}: onnx (onnx encoder, cpu backend), 2 models: strong, weak`);
    const data = join(tmp, 'eval.jsonl');
    writeFileSync(data, texts.map((t, i) => JSON.stringify({ prompt: t, scores: { strong: i % 2, weak: 1 - (i % 2) } })).join('\n'));
    const ev = cli(['eval', '--router', dir, '--data', data]);
    expect(ev.status).toBe(0);
  });
});
