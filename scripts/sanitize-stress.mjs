#!/usr/bin/env node
// The Node half of `npm run test:sanitize`: drives the ASan+UBSan build of the addon
// (build-asan/Release/routecore.node, loaded with libasan preloaded) from 4 worker threads and the
// main thread at once, with hostile inputs:
//   - prompts of random bytes (invalid UTF-8), CESU-8 lone surrogates, JS strings with lone
//     surrogates, a prompt of exactly the size limit and one past it, batches of 1..512 prompts;
//   - embeddings with NaN/Inf and wrong sizes on a precomputed router;
//   - every router file of the artifact fuzz corpus and random corruptions of the default router;
//   - async score() calls whose inputs are overwritten and detached right after the call, and
//     dispose() with those jobs still in flight; training started and its router dropped;
//   - one Worker terminated in the middle of its work.
// Every native call must succeed or throw an Error with an ERR_ROUTECORE_* code; any sanitizer
// report aborts the process (halt_on_error), which the caller (scripts/sanitize.mjs) reports.
// node scripts/sanitize-stress.mjs [--addon PATH] [--rounds N]
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function expectCoded(fn, what) {
  try {
    fn();
    return true;
  } catch (err) {
    if (typeof err?.code !== 'string' || !err.code.startsWith('ERR_ROUTECORE_')) throw new Error(`${what}: uncoded error ${err?.stack ?? err}`);
    return false;
  }
}
async function expectCodedAsync(promise, what) {
  try {
    await promise;
    return true;
  } catch (err) {
    if (typeof err?.code !== 'string' || !err.code.startsWith('ERR_ROUTECORE_')) throw new Error(`${what}: uncoded rejection ${err?.stack ?? err}`);
    return false;
  }
}

function rng(seed) {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

/** n prompts as (text, offsets): random bytes, CESU-8 surrogates, lone-surrogate strings, ordinary text. */
function promptBatch(rand, n) {
  const enc = new TextEncoder();
  const parts = [];
  for (let i = 0; i < n; i++) {
    const kind = rand(5);
    if (kind === 0) parts.push(Uint8Array.from({ length: 1 + rand(300) }, () => rand(256)));
    else if (kind === 1) parts.push(Uint8Array.from([0x61, 0xed, 0xa0, 0x80, 0x20, 0xed, 0xbf, 0xbf, 0x62, 0xc0, 0xaf]));
    else if (kind === 2) parts.push(enc.encode(`lone \ud800 high and \udc00 low ${'\ud83d'.repeat(rand(5))} x`));
    else if (kind === 3) parts.push(enc.encode(`Compute ${rand(1000)} + ${rand(1000)}; ÜBER straße İstanbul 東京 😀`));
    else parts.push(enc.encode(' \t\n'.repeat(1 + rand(4)) + 'x'));
  }
  const text = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  const offsets = new Uint32Array(n + 1);
  let at = 0;
  parts.forEach((p, i) => {
    text.set(p, at);
    at += p.length;
    offsets[i + 1] = at;
  });
  return { text, offsets };
}

const detach = (buffer) => structuredClone(buffer, { transfer: [buffer] });

async function stress({ addonPath, rounds, seed }) {
  const { NativeRouter } = require(addonPath);
  const rand = rng(seed);
  const defaultBytes = readFileSync(join(root, 'models', 'default.router'));
  const corpusDir = join(root, 'fuzz', 'corpus', 'artifact');
  const corpus = readdirSync(corpusDir).map((f) => readFileSync(join(corpusDir, f)));
  let calls = 0;
  for (let round = 0; round < rounds; round++) {
    const router = NativeRouter.load(defaultBytes, 'default.router', 'cpu', 2);
    const M = router.outputs;
    // Synchronous batches of every size, hostile text.
    for (const n of [1, 2, 7, 64, 65, 512]) {
      const { text, offsets } = promptBatch(rand, n);
      const out = new Float32Array(n * M);
      router.scoreSync(text, offsets, n, out);
      for (const v of out) if (!(v >= 0 && v <= 1)) throw new Error(`score ${v} outside [0,1]`);
      calls++;
    }
    // The size limit: exactly 256 KiB works, one byte more is refused.
    const limit = 256 * 1024;
    const huge = new Uint8Array(limit + 1).fill(0x61);
    for (let i = 0; i < huge.length; i += 97) huge[i] = 0x20;
    expectCoded(() => router.scoreSync(huge, Uint32Array.from([0, limit]), 1, new Float32Array(M)), 'limit');
    if (expectCoded(() => router.scoreSync(huge, Uint32Array.from([0, limit + 1]), 1, new Float32Array(M)), 'over limit')) {
      throw new Error('a prompt past the size limit was accepted');
    }
    // Bad offsets and counts from a careless caller of the raw binding.
    expectCoded(() => router.scoreSync(huge, Uint32Array.from([0, 10, 5]), 2, new Float32Array(2 * M)), 'offsets');
    expectCoded(() => router.scoreSync(huge, Uint32Array.from([0, 10]), 5, new Float32Array(5 * M)), 'count');
    expectCoded(() => router.scoreSync(huge, Uint32Array.from([0, 10]), 1, new Float32Array(0)), 'out');
    // Async jobs whose inputs are overwritten and detached at once, then dispose() with them in flight.
    const pending = [];
    for (let j = 0; j < 16; j++) {
      const n = 1 + rand(300);
      const { text, offsets } = promptBatch(rand, n);
      const out = new Float32Array(n * M);
      pending.push(expectCodedAsync(router.score(text, offsets, n, out), 'async score'));
      if (j % 3 === 0) text.fill(0xff);
      if (j % 3 === 1) detach(text.buffer);
      if (j % 4 === 0) offsets.fill(0xffffffff);
      if (j % 5 === 0) detach(out.buffer);
      calls++;
    }
    router.dispose();
    expectCoded(() => router.scoreSync(huge, Uint32Array.from([0, 1]), 1, new Float32Array(M)), 'disposed');
    await Promise.all(pending);
    // Hostile router files: the fuzz corpus and random corruptions of the default router.
    for (const bytes of corpus) {
      if (expectCoded(() => NativeRouter.load(bytes, 'corpus.router', 'cpu', 1).dispose(), 'corpus')) calls++;
    }
    for (let m = 0; m < 8; m++) {
      const copy = Uint8Array.from(defaultBytes);
      for (let k = 0; k < 4; k++) copy[rand(m < 4 ? 2100 : copy.length)] = rand(256);
      const bytes = rand(4) === 0 ? copy.subarray(0, rand(copy.length)) : copy;
      expectCoded(() => {
        const r = NativeRouter.load(bytes, 'mutant.router', 'cpu', 1);
        const out = new Float32Array(r.outputs);
        r.scoreSync(new TextEncoder().encode('hello'), Uint32Array.from([0, 5]), 1, out);
        for (const v of out) if (!(v >= 0 && v <= 1)) throw new Error(`mutant router scored ${v}`);
        r.dispose();
      }, 'mutant');
    }
    // Training: a tiny precomputed knn router and a hashing mlp one; the first is dropped unused.
    const rows = 64, dim = 8;
    const x = Float32Array.from({ length: rows * dim }, (_, i) => Math.sin(i));
    const labels = Float32Array.from({ length: rows * 2 }, (_, i) => (i % 3 ? 1 : 0));
    const trained = NativeRouter.trainEmbeddings(x, rows, dim, labels, 2, { predictor: 'knn', k: 3 }, {}, 'cpu', 1);
    const bad = Float32Array.from(x);
    bad[5] = NaN;
    expectCoded(() => NativeRouter.trainEmbeddings(bad, rows, dim, labels, 2, {}, {}, 'cpu', 1), 'nan training');
    const { router: knn } = await trained;
    const emb = Float32Array.from({ length: 3 * dim }, () => rand(100) / 50 - 1);
    const out = new Float32Array(3 * 2);
    knn.scoreEmbeddingsSync(emb, 3, dim, out);
    const inflight = knn.scoreEmbeddings(emb, 3, dim, out);
    detach(emb.buffer);
    knn.dispose();
    await expectCodedAsync(inflight, 'embeddings in flight');
    const nanEmb = new Float32Array(dim).fill(NaN);
    const textRouter = NativeRouter.load(defaultBytes, 'd', 'cpu', 1);
    expectCoded(() => textRouter.scoreEmbeddingsSync(nanEmb, 1, dim, new Float32Array(2)), 'text router embeddings');
    textRouter.dispose();
    const { text, offsets } = promptBatch(rand, 40);
    void NativeRouter.train(text, offsets, 40, Float32Array.from({ length: 80 }, (_, i) => i % 2), 2, { hidden: 2, maxEpochs: 2, log2Buckets: 8 }, {}, 'cpu', 1).then((r) => r.router.dispose(), () => {});
  }
  return calls;
}

if (isMainThread) {
  const { values } = parseArgs({ options: { addon: { type: 'string', default: join(root, 'build-asan', 'Release', 'routecore.node') }, rounds: { type: 'string', default: '6' }, 'no-terminate': { type: 'boolean' } } });
  const rounds = Number(values.rounds);
  const started = Date.now();
  const workers = [];
  for (let w = 0; w < 4; w++) {
    const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { addonPath: values.addon, rounds, seed: 1000 + w, id: w } });
    workers.push(
      new Promise((resolve, reject) => {
        let calls = 0;
        worker.on('message', (m) => (calls = m));
        worker.on('error', reject);
        worker.on('exit', (code) => (code === 0 || w === 3 ? resolve(calls) : reject(new Error(`worker ${w} exited with ${code}`))));
      }),
    );
    // Worker 3 is terminated while it works: the addon's teardown with jobs in flight.
    if (w === 3 && !values['no-terminate']) setTimeout(() => void worker.terminate(), 1500);
  }
  const mainCalls = await stress({ addonPath: values.addon, rounds, seed: 7, id: 'main' });
  const counts = await Promise.all(workers);
  console.log(`sanitize stress: 4 workers (one terminated mid-run) + main thread, ${rounds} rounds, ${mainCalls + counts.reduce((a, b) => a + b, 0)} checked calls, ${((Date.now() - started) / 1000).toFixed(0)} s: clean`);
} else {
  const calls = await stress(workerData);
  parentPort.postMessage(calls);
}
