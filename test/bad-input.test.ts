/**
 * Every bad input gets a RoutecoreError with a stable code and a message that says what is wrong
 * and where (argument name, index, file, line).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { backendFromEnv, backendInfo } from '../src/addon/backend.js';
import type { OutcomeRecord } from '../src/training/data.js';
import type { ErrorCode, RoutecoreError } from '../src/errors.js';
import { MAX_PROMPT_BYTES } from '../src/routing/router.js';
import { Router } from '../src/app/router.js';
import { train } from '../src/training/train.js';
import { caughtAsync } from './helpers/index.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const SMALL = { hidden: 8, encoder: { log2Buckets: 12 }, maxEpochs: 3, seed: 3 } as const;

function makeRecords(n: number): OutcomeRecord[] {
  const out: OutcomeRecord[] = [];
  for (let i = 0; i < n; i++) {
    out.push({ id: `a${i}`, prompt: `What is ${i} plus ${i * 3 + 1}? Add the numbers.`, scores: { strong: 1, weak: 0 } });
    out.push({ id: `b${i}`, prompt: `Tell me about king number ${i} of the old empire.`, scores: { strong: 1, weak: 1 } });
  }
  return out;
}

const records = makeRecords(30);
let router: Router;
let bytes: Buffer;
let header: string;
let tmp: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'routecore-bad-input-'));
  ({ router } = await train(records, SMALL));
  bytes = router.serialize();
  header = bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('latin1');
});

afterAll(() => {
  router?.dispose();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

afterEach(() => {
  vi.unstubAllEnvs();
});

/** Asserts the code and message of the error fn throws (or rejects with). */
async function expectError(fn: () => unknown, code: ErrorCode, message: RegExp): Promise<RoutecoreError> {
  const err = await caughtAsync(fn);
  expect(err.code).toBe(code);
  expect(err.message).toMatch(message);
  return err;
}

/** For synchronous APIs: also checks that the error is thrown, not returned as a rejected promise. */
function expectThrowSync(fn: () => unknown, code: ErrorCode, message: RegExp): void {
  expect(fn).toThrow(message);
  try {
    fn();
  } catch (err) {
    expect((err as RoutecoreError).code).toBe(code);
  }
}

describe('prompts', () => {
  const notStrings: [string, unknown, RegExp][] = [
    ['a number', 42, /received number 42/],
    ['undefined', undefined, /received undefined/],
    ['an object', { text: 'hi' }, /received object/],
    ['null', null, /received null/],
  ];
  for (const [what, value, received] of notStrings) {
    it(`routeSync/route/routeBatch refuse ${what}, naming the argument`, async () => {
      expectThrowSync(() => router.routeSync(value as string), 'ERR_ROUTECORE_INVALID_ARGUMENT', /Expected a non-empty string for prompt but/);
      await expectError(() => router.routeSync(value as string), 'ERR_ROUTECORE_INVALID_ARGUMENT', received);
      // route() never throws synchronously: it rejects.
      const p = router.route(value as string);
      expect(p).toBeInstanceOf(Promise);
      await expectError(() => p, 'ERR_ROUTECORE_INVALID_ARGUMENT', /for prompt but received/);
      await expectError(() => router.routeBatch(['fine', 'also fine', value as string]), 'ERR_ROUTECORE_INVALID_ARGUMENT', /for prompts\[2\] but received/);
      await expectError(() => router.scores(['fine', 'ok', value as string]), 'ERR_ROUTECORE_INVALID_ARGUMENT', /prompts\[2\]/);
    });
  }

  it('routeBatch refuses a non-array', async () => {
    await expectError(() => router.routeBatch('one prompt' as never), 'ERR_ROUTECORE_INVALID_ARGUMENT', /Expected an array of strings for prompts but received string "one prompt"/);
  });

  it('refuses an empty prompt', async () => {
    expectThrowSync(() => router.routeSync(''), 'ERR_ROUTECORE_INVALID_ARGUMENT', /Expected a non-empty string for prompt but received string ""/);
    await expectError(() => router.route(''), 'ERR_ROUTECORE_INVALID_ARGUMENT', /for prompt but received string ""/);
    await expectError(() => router.routeBatch(['x', '']), 'ERR_ROUTECORE_INVALID_ARGUMENT', /prompts\[1\] but received string ""/);
  });

  it('refuses a 1 MB ASCII prompt, stating the limit', async () => {
    const big = 'a'.repeat(1 << 20);
    const limit = new RegExp(`over the limit of ${MAX_PROMPT_BYTES}`);
    expectThrowSync(() => router.routeSync(big), 'ERR_ROUTECORE_INVALID_ARGUMENT', /^prompt is 1048576 characters/);
    await expectError(() => router.routeSync(big), 'ERR_ROUTECORE_INVALID_ARGUMENT', limit);
    await expectError(() => router.route(big), 'ERR_ROUTECORE_INVALID_ARGUMENT', limit);
    await expectError(() => router.routeBatch(['ok', big]), 'ERR_ROUTECORE_INVALID_ARGUMENT', /^prompts\[1\] is 1048576 characters/);
  });

  it('refuses a prompt under the limit in characters but over it in UTF-8 bytes (100k x "€")', async () => {
    const euros = '€'.repeat(100_000);
    expect(euros.length).toBeLessThan(MAX_PROMPT_BYTES);
    expect(Buffer.byteLength(euros)).toBe(300_000);
    expectThrowSync(() => router.routeSync(euros), 'ERR_ROUTECORE_INVALID_ARGUMENT', /^prompt is 300000 bytes of UTF-8, over the limit of 262144/);
    await expectError(() => router.routeBatch(['ok', euros]), 'ERR_ROUTECORE_INVALID_ARGUMENT', /^prompts\[1\] is 300000 bytes of UTF-8/);
    // Both paths of routeBatch: little text on the calling thread, over 16 Ki characters on the addon thread.
    const many = Array.from({ length: 20 }, (_, i) => `prompt ${i}`);
    many[13] = euros;
    await expectError(() => router.routeBatch(many), 'ERR_ROUTECORE_INVALID_ARGUMENT', /^prompts\[13\] is 300000 bytes of UTF-8/);
    await expectError(() => router.route(euros), 'ERR_ROUTECORE_INVALID_ARGUMENT', /300000 bytes of UTF-8, over the limit of 262144/);
    // The router is still usable afterwards.
    expect(router.routeSync('What is 2 plus 2?').model).toBeTypeOf('string');
  });

  it('a prompt of exactly 256 KiB of UTF-8 is accepted', () => {
    const edge = 'é'.repeat(MAX_PROMPT_BYTES / 2); // 2 bytes each
    expect(Buffer.byteLength(edge)).toBe(MAX_PROMPT_BYTES);
    expect(router.routeSync(edge).model).toBeTypeOf('string');
  });

  // Regression: the UTF-8 byte limit is checked before a prompt joins a micro-batch, so one
  // oversized prompt cannot fail the other callers of its batch.
  it('an over-limit UTF-8 prompt in route() rejects only its own call, not the rest of its micro-batch', async () => {
    const euros = '€'.repeat(100_000);
    const results = await Promise.allSettled([
      router.route('What is 3 plus 4? Add the numbers.'),
      router.route(euros),
      router.route('Tell me about king number 7 of the old empire.'),
    ]);
    expect(results[1]!.status).toBe('rejected');
    const err = (results[1] as PromiseRejectedResult).reason as RoutecoreError;
    expect(err.code).toBe('ERR_ROUTECORE_INVALID_ARGUMENT');
    expect(err.message).toMatch(/300000 bytes of UTF-8/);
    expect(results[0]!.status).toBe('fulfilled');
    expect(results[2]!.status).toBe('fulfilled');
  });

  it('refuses a lone high surrogate, naming its index', async () => {
    const s = 'Hello \uD800';
    expectThrowSync(() => router.routeSync(s), 'ERR_ROUTECORE_INVALID_ARGUMENT', /^prompt contains a lone UTF-16 surrogate \(0xd800\) at index 6/);
    await expectError(() => router.route(s), 'ERR_ROUTECORE_INVALID_ARGUMENT', /lone UTF-16 surrogate \(0xd800\) at index 6/);
    await expectError(() => router.routeBatch(['ok', 'ok', s]), 'ERR_ROUTECORE_INVALID_ARGUMENT', /^prompts\[2\] contains a lone UTF-16 surrogate \(0xd800\) at index 6/);
    // A high surrogate followed by something that is not a low surrogate is lone too.
    expectThrowSync(() => router.routeSync('ab\uD83Dcd'), 'ERR_ROUTECORE_INVALID_ARGUMENT', /\(0xd83d\) at index 2/);
  });

  it('refuses a lone low surrogate after valid pairs, naming its index', async () => {
    const s = '😀😀 x\uDC00 y'; // two valid pairs (4 units), space, x, then the lone one at index 6
    expectThrowSync(() => router.routeSync(s), 'ERR_ROUTECORE_INVALID_ARGUMENT', /lone UTF-16 surrogate \(0xdc00\) at index 6/);
    await expectError(() => router.route(s), 'ERR_ROUTECORE_INVALID_ARGUMENT', /\(0xdc00\) at index 6: it is not valid Unicode text/);
    // Well-formed surrogate pairs are fine.
    expect(router.routeSync('emoji 😀 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢').model).toBeTypeOf('string');
  });
});

describe('route options', () => {
  it('lambda must be a finite number >= 0', async () => {
    const msg = /Expected a finite number >= 0 \(score per USD per query\) for options\.lambda but received string "x"/;
    expectThrowSync(() => router.routeSync('hi', { policy: 'cost', lambda: 'x' as never }), 'ERR_ROUTECORE_INVALID_ARGUMENT', msg);
    await expectError(() => router.route('hi', { lambda: 'x' as never }), 'ERR_ROUTECORE_INVALID_ARGUMENT', msg);
    await expectError(() => router.routeBatch(['hi'], { lambda: -1 }), 'ERR_ROUTECORE_INVALID_ARGUMENT', /options\.lambda but received number -1/);
  });

  it('policy must be one of the four policies', async () => {
    const msg = /Expected "best", "cost", "threshold" or "subset" for options\.policy but received string "nope"/;
    expectThrowSync(() => router.routeSync('hi', { policy: 'nope' as never }), 'ERR_ROUTECORE_INVALID_ARGUMENT', msg);
    await expectError(() => router.route('hi', { policy: 'nope' as never }), 'ERR_ROUTECORE_INVALID_ARGUMENT', msg);
    await expectError(() => router.routeBatch(['hi'], { policy: 'nope' as never }), 'ERR_ROUTECORE_INVALID_ARGUMENT', msg);
    await expectError(() => Router.load(bytes, { policy: 'nope' as never }), 'ERR_ROUTECORE_INVALID_ARGUMENT', /options\.policy but received string "nope"/);
  });

  it('unknown option keys are refused with a suggestion; options must be an object', async () => {
    expectThrowSync(() => router.routeSync('hi', { lamda: 1 } as never), 'ERR_ROUTECORE_INVALID_ARGUMENT', /Unknown option options\.lamda \(did you mean "lambda"\?\)/);
    expectThrowSync(() => router.routeSync('hi', 5 as never), 'ERR_ROUTECORE_INVALID_ARGUMENT', /Expected an object for options but received number 5/);
    expectThrowSync(() => router.routeSync('hi', { targetScore: 2 }), 'ERR_ROUTECORE_INVALID_ARGUMENT', /options\.targetScore but received number 2/);
  });

  it('load options are validated', async () => {
    await expectError(() => Router.load(bytes, { backend: 'gpu' as never }), 'ERR_ROUTECORE_INVALID_ARGUMENT', /Expected "auto", "cpu" or "cuda" for options\.backend but received string "gpu"/);
    await expectError(() => Router.load(bytes, { threads: -1 }), 'ERR_ROUTECORE_INVALID_ARGUMENT', /options\.threads but received number -1/);
    await expectError(() => Router.load(bytes, { maxBatchSize: 0 }), 'ERR_ROUTECORE_INVALID_ARGUMENT', /options\.maxBatchSize/);
    await expectError(() => Router.load(42 as never), 'ERR_ROUTECORE_INVALID_ARGUMENT', /for source but received number 42/);
    await expectError(() => Router.load(bytes, { registry: join(tmp, 'no-registry.json') }), 'ERR_ROUTECORE_IO', /cannot read registry file ".*no-registry\.json": no such file/);
  });
});

describe('router files', () => {
  function write(name: string, data: Uint8Array | string): string {
    const path = join(tmp, name);
    writeFileSync(path, data);
    return path;
  }

  it('a truncated file (tensor data cut) is refused, naming the file', async () => {
    const path = write('cut.router', bytes.subarray(0, Math.floor(bytes.length / 2)));
    const err = await expectError(() => Router.load(path), 'ERR_ROUTECORE_BAD_ARTIFACT', /truncated/);
    expect(err.message).toContain(path);
    expectThrowSync(() => Router.loadSync(bytes.subarray(0, bytes.length - 1)), 'ERR_ROUTECORE_BAD_ARTIFACT', /^<buffer>: truncated: tensor "[^"]+" ends at byte \d+/);
  });

  it('a file cut inside the header, or shorter than the length prefix, is refused', async () => {
    await expectError(() => Router.load(bytes.subarray(0, 100)), 'ERR_ROUTECORE_BAD_ARTIFACT', /truncated: the header needs \d+ bytes but the file has 92/);
    await expectError(() => Router.load(bytes.subarray(0, 5)), 'ERR_ROUTECORE_BAD_ARTIFACT', /not a routecore router file \(only 5 bytes; truncated\?\)/);
    await expectError(() => Router.load(new Uint8Array(0)), 'ERR_ROUTECORE_BAD_ARTIFACT', /only 0 bytes/);
  });

  it('foreign files are refused: a PNG, random bytes, a JSON file', async () => {
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x06\0\0\0', 'latin1')]);
    const pngPath = write('image.png', png);
    const err = await expectError(() => Router.load(pngPath), 'ERR_ROUTECORE_BAD_ARTIFACT', /not a routecore router file/);
    expect(err.message).toContain(pngPath);
    const random = randomBytes(4096);
    random[8] = 0x41; // whatever the length prefix says, the header cannot start with '{'
    await expectError(() => Router.load(write('random.bin', random)), 'ERR_ROUTECORE_BAD_ARTIFACT', /not a routecore router file/);
    await expectError(() => Router.load(write('config.json', '{"models": [{"id": "gpt-4o"}], "note": "not a router"}\n')), 'ERR_ROUTECORE_BAD_ARTIFACT', /not a routecore router file/);
    // A registry fixture is a JSON file too.
    await expectError(() => Router.load(join(FIXTURES, 'registry.json')), 'ERR_ROUTECORE_BAD_ARTIFACT', /registry\.json: not a routecore router file/);
  });

  it('a safetensors file without routecore metadata is refused as not a router', async () => {
    const h = '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
    const buf = Buffer.alloc(8 + h.length + 4);
    buf.writeBigUInt64LE(BigInt(h.length), 0);
    buf.write(h, 8, 'latin1');
    await expectError(() => Router.load(buf), 'ERR_ROUTECORE_BAD_ARTIFACT', /safetensors file without routecore metadata/);
  });

  it('a router from a newer format version is ERR_ROUTECORE_ARTIFACT_VERSION', async () => {
    const at = header.indexOf('"format_version":"1"');
    expect(at).toBeGreaterThan(0);
    const newer = Buffer.from(bytes);
    newer.write('"format_version":"9"', 8 + at, 'latin1');
    expect(newer.length).toBe(bytes.length);
    await expectError(() => Router.load(newer), 'ERR_ROUTECORE_ARTIFACT_VERSION', /newer routecore \(router format version 9; this build reads up to version 1\)\. Upgrade routecore/);
    const path = write('newer.router', newer);
    const err = await expectError(() => Router.load(path), 'ERR_ROUTECORE_ARTIFACT_VERSION', /format version 9/);
    expect(err.message.startsWith(path)).toBe(true);
  });

  it('a tensor with a dtype routecore does not read is refused, naming tensor and dtype', async () => {
    const at = header.indexOf('"F32"');
    expect(at).toBeGreaterThan(0);
    const wrong = Buffer.from(bytes);
    wrong.write('"I32"', 8 + at, 'latin1');
    await expectError(() => Router.load(wrong), 'ERR_ROUTECORE_BAD_ARTIFACT', /tensor "[^"]+" has dtype I32; routecore reads F32 and F16 only/);
  });

  it('a missing path is ERR_ROUTECORE_IO naming the path', async () => {
    const path = join(tmp, 'does-not-exist', 'router.router');
    const err = await expectError(() => Router.load(path), 'ERR_ROUTECORE_IO', /cannot read router file/);
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/ENOENT/);
    expectThrowSync(() => Router.loadSync(path), 'ERR_ROUTECORE_IO', /cannot read router file .*does-not-exist/);
  });
});

describe('backend selection', () => {
  it('ROUTECORE_BACKEND=gpu is ERR_ROUTECORE_BAD_BACKEND', () => {
    expectThrowSync(() => backendFromEnv({ ROUTECORE_BACKEND: 'gpu' }), 'ERR_ROUTECORE_BAD_BACKEND', /ROUTECORE_BACKEND="gpu" is not a backend: expected one of auto, cpu, cuda/);
  });

  it('ROUTECORE_THREADS=many is refused, naming the variable', () => {
    expectThrowSync(() => backendFromEnv({ ROUTECORE_THREADS: 'many' }), 'ERR_ROUTECORE_INVALID_ARGUMENT', /ROUTECORE_THREADS="many" must be an integer from 1 to 1024/);
  });

  it('a bad ROUTECORE_BACKEND in the environment fails Router.load and train()', async () => {
    vi.stubEnv('ROUTECORE_BACKEND', 'gpu');
    await expectError(() => Router.load(bytes), 'ERR_ROUTECORE_BAD_BACKEND', /ROUTECORE_BACKEND="gpu"/);
    await expectError(() => train(records, SMALL), 'ERR_ROUTECORE_BAD_BACKEND', /ROUTECORE_BACKEND="gpu"/);
  });

  it('backend "cuda" with no usable device is ERR_ROUTECORE_BACKEND_UNAVAILABLE saying why', async (ctx) => {
    const info = backendInfo({ backend: 'auto', threads: 0 });
    if (info.cuda.usable) {
      ctx.skip(`a CUDA device is usable here (${info.cuda.detail}), so the "unavailable" error cannot be produced`);
    }
    const err = await expectError(() => Router.load(bytes, { backend: 'cuda' }), 'ERR_ROUTECORE_BACKEND_UNAVAILABLE', /cuda/i);
    // The message carries the reason (no device / driver / not compiled in), not just "unavailable".
    expect(err.message).toContain(info.cuda.detail);
    expect(info.cuda.detail.length).toBeGreaterThan(10);
    await expectError(() => train(records, { ...SMALL, backend: 'cuda' }), 'ERR_ROUTECORE_BACKEND_UNAVAILABLE', /cannot be used/);
    vi.stubEnv('ROUTECORE_BACKEND', 'cuda');
    await expectError(() => Router.load(bytes), 'ERR_ROUTECORE_BACKEND_UNAVAILABLE', /cannot be used/);
  });
});

describe('disposed routers', () => {
  it('routeSync, route, routeBatch, scores, serialize and save throw ERR_ROUTECORE_DISPOSED', async () => {
    const r = Router.loadSync(bytes);
    r.dispose();
    r.dispose(); // idempotent
    const msg = /this router has been disposed; load a new one/;
    expectThrowSync(() => r.routeSync('hi'), 'ERR_ROUTECORE_DISPOSED', msg);
    expectThrowSync(() => r.serialize(), 'ERR_ROUTECORE_DISPOSED', msg);
    expectThrowSync(() => r.metadata(), 'ERR_ROUTECORE_DISPOSED', msg);
    await expectError(() => r.route('hi'), 'ERR_ROUTECORE_DISPOSED', msg);
    await expectError(() => r.routeBatch(['hi']), 'ERR_ROUTECORE_DISPOSED', msg);
    await expectError(() => r.routeBatch(Array.from({ length: 20 }, () => 'hi')), 'ERR_ROUTECORE_DISPOSED', msg);
    await expectError(() => r.scores(['hi']), 'ERR_ROUTECORE_DISPOSED', msg);
    await expectError(() => r.save(join(tmp, 'disposed.router')), 'ERR_ROUTECORE_DISPOSED', msg);
    // The disposed error wins over argument errors: the router is gone whatever was passed.
    expectThrowSync(() => r.routeSync(42 as never), 'ERR_ROUTECORE_DISPOSED', msg);
  });

  it('route() calls queued before dispose() reject with ERR_ROUTECORE_DISPOSED', async () => {
    const r = Router.loadSync(bytes);
    const queued = [r.route('one'), r.route('two'), r.route('three')];
    expect(r.stats().queued).toBe(3);
    r.dispose();
    for (const p of queued) await expectError(() => p, 'ERR_ROUTECORE_DISPOSED', /disposed/);
    expect(r.stats().queued).toBe(0);
  });

  it('a batch already handed to the addon thread still completes after dispose()', async () => {
    const r = Router.loadSync(bytes);
    const expected = router.routeSync('Tell me about king number 3 of the old empire.').scores;
    const inFlight = r.routeBatch(Array.from({ length: 64 }, () => 'Tell me about king number 3 of the old empire.'));
    r.dispose();
    const ds = await inFlight;
    expect(ds).toHaveLength(64);
    expect(ds[63]!.scores).toEqual(expected);
  });
});

describe('training input', () => {
  it('a bad line in a JSONL file names file:line', async () => {
    const file = join(FIXTURES, 'bad-outcomes.jsonl');
    const err = await expectError(() => train(file, SMALL), 'ERR_ROUTECORE_BAD_DATA', /bad-outcomes\.jsonl:2: not valid JSON/);
    expect(err.message.startsWith(`${file}:2:`)).toBe(true);
    await expectError(() => train([join(FIXTURES, 'outcomes-small.jsonl'), file], SMALL), 'ERR_ROUTECORE_BAD_DATA', /bad-outcomes\.jsonl:2:/);
  });

  it('a missing training file is ERR_ROUTECORE_IO naming it', async () => {
    await expectError(() => train(join(tmp, 'nope.jsonl'), SMALL), 'ERR_ROUTECORE_IO', /cannot read data file ".*nope\.jsonl": no such file/);
  });

  it('an unknown option is refused, naming it', async () => {
    await expectError(() => train(records, { ...SMALL, epochs: 3 } as never), 'ERR_ROUTECORE_INVALID_ARGUMENT', /Expected a known training option for options\.epochs/);
    await expectError(() => train(records, { predictor: 'svm' } as never), 'ERR_ROUTECORE_INVALID_ARGUMENT', /Expected "mlp", "linear", "mf", "knn", "kmeans" for options\.predictor but received string "svm"/);
    await expectError(() => train(records, { predictor: 'knn', k: 0 }), 'ERR_ROUTECORE_INVALID_ARGUMENT', /options\.k must be in \[1, 256\], got 0/);
    await expectError(() => train(records, { predictor: 'knn', dim: 12 }), 'ERR_ROUTECORE_INVALID_ARGUMENT', /options\.dim must be a multiple of 8 in \[8, 4096\], got 12/);
    await expectError(() => train(records, { predictor: 'mf', dim: 0 }), 'ERR_ROUTECORE_INVALID_ARGUMENT', /Expected an integer >= 1 for the mf predictor for options\.dim/);
    await expectError(() => train(records, { hidden: 0 }), 'ERR_ROUTECORE_INVALID_ARGUMENT', /options\.hidden/);
    await expectError(() => train(records, { encoder: { log2Buckets: '12' as never } }), 'ERR_ROUTECORE_INVALID_ARGUMENT', /options\.encoder\.log2Buckets but received string "12"/);
    await expectError(() => train(records, { encoder: { log2Buckets: 40 } }), 'ERR_ROUTECORE_INVALID_ARGUMENT', /log2_buckets must be in \[8, 24\], got 40/);
    await expectError(() => train(records, { learningRate: -1 }), 'ERR_ROUTECORE_INVALID_ARGUMENT', /learningRate/);
    await expectError(() => train(records, { onEpoch: 5 as never }), 'ERR_ROUTECORE_INVALID_ARGUMENT', /Expected a function for options\.onEpoch/);
  });

  it('no records is ERR_ROUTECORE_BAD_DATA', async () => {
    await expectError(() => train([]), 'ERR_ROUTECORE_BAD_DATA', /no training records/);
  });

  it('in-memory records with scores out of [0,1] are refused', async () => {
    const bad = [...records.slice(0, 4), { id: 'x', prompt: 'too good', scores: { strong: 1.5, weak: 0 } }];
    await expectError(() => train(bad, SMALL), 'ERR_ROUTECORE_BAD_DATA', /^data\[4\] \(id "x"\): scores\["strong"\] = 1\.5 is not a number in \[0,1\]$/);
    const negative = [...records.slice(0, 4), { id: 'y', prompt: 'too bad', scores: { strong: 1, weak: -0.25 } }];
    await expectError(() => train(negative, SMALL), 'ERR_ROUTECORE_BAD_DATA', /data\[4\] \(id "y"\): scores\["weak"\] = -0\.25 is not a number in \[0,1\]/);
  });

  // Regression: in-memory records are validated like file records; nothing is silently dropped.
  it('in-memory records whose score is NaN or not a number are refused, naming the record', async () => {
    for (const s of [NaN, 'high']) {
      const bad = [...records.slice(0, 4), { id: 'z', prompt: 'odd', scores: { strong: s as number, weak: 0 } }];
      const err = await caughtAsync(async () => {
        const r = await train(bad, SMALL);
        r.router.dispose();
        return `trained; summary meanScore = ${r.summary.models['strong']!.meanScore}`;
      });
      expect(err.code).toBe('ERR_ROUTECORE_BAD_DATA');
      expect(err.message).toMatch(/data\[4\]|"z"/);
    }
  });

  it('records that are not outcome records are refused', async () => {
    await expectError(() => train([{ prompt: 'x' }] as never), 'ERR_ROUTECORE_INVALID_ARGUMENT', /records\[0\]/);
    await expectError(() => train([{ prompt: '', scores: { a: 1 } }] as never, SMALL), 'ERR_ROUTECORE_INVALID_ARGUMENT', /data\[0\]\.prompt/);
    await expectError(() => train(42 as never), 'ERR_ROUTECORE_INVALID_ARGUMENT', /for data but received number 42/);
  });
});
