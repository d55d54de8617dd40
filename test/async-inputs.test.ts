// Async calls own copies of their inputs (issue 14, item 4): a caller may transfer (detach) or
// overwrite its typed arrays as soon as the call returns. Before the fix the addon's worker thread
// read the caller's memory: a transfer was a use-after-free, a mutation changed the decisions, and
// offsets checked on the JS thread were used, changed, on the worker.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { binding, packageRoot } from '../src/addon/native.js';
import { Router } from '../src/app/router.js';
import { train } from '../src/training/train.js';

const detach = (buffer: ArrayBufferLike) => structuredClone(buffer, { transfer: [buffer as ArrayBuffer] });

// Many rows, so the worker is still reading when the JS thread overwrites them.
function embeddingDataset(n: number, dim: number) {
  const records = [];
  const x = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = i % 2;
    records.push({ id: String(i), prompt: `p${i}`, scores: { a: c ? 0 : 1, b: c } });
    for (let j = 0; j < dim; j++) x[i * dim + j] = (j === c ? 1 : 0) + Math.sin(i * 13 + j) * 0.3;
  }
  return { records, x };
}

function prompts(n: number) {
  const list = [];
  for (let i = 0; i < n; i++) list.push(i % 2 ? `compute ${i} plus ${i * 7} and divide by three` : `who wrote the novel number ${i} of the century`);
  const enc = new TextEncoder();
  const parts = list.map((p) => enc.encode(p));
  const text = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  const offsets = new Uint32Array(n + 1);
  let at = 0;
  parts.forEach((p, i) => {
    text.set(p, at);
    at += p.length;
    offsets[i + 1] = at;
  });
  return { text, offsets };
}

describe('async calls own their inputs', () => {
  it('routeEmbeddings: mutating or transferring the embeddings right after the call changes nothing', async () => {
    const { records, x } = embeddingDataset(200, 32);
    for (const predictor of ['mlp', 'knn', 'kmeans'] as const) {
      const { router } = await train(records, { embeddings: x, hidden: 8, maxEpochs: 3, predictor });
      const rows = 4096;
      const input = new Float32Array(rows * 32);
      for (let i = 0; i < input.length; i++) input[i] = Math.sin(i * 0.7);
      const expected = await router.routeEmbeddings(input.slice());

      const mutated = input.slice();
      const pending = router.routeEmbeddings(mutated);
      mutated.fill(-1e30);
      expect((await pending).map((d) => d.scores)).toEqual(expected.map((d) => d.scores));

      const transferred = input.slice();
      const pending2 = router.routeEmbeddings(transferred);
      detach(transferred.buffer);
      expect(transferred.length).toBe(0);
      expect((await pending2).map((d) => d.scores)).toEqual(expected.map((d) => d.scores));
      router.dispose();
    }
  });

  it('raw score(): text and offsets changed or detached after the call are not read', async () => {
    const bytes = readFileSync(join(packageRoot(), 'models', 'default.router'));
    const handle = binding().NativeRouter.load(bytes, 'default.router', 'cpu', 2);
    const n = 3000;
    const { text, offsets } = prompts(n);
    const expected = new Float32Array(n * handle.outputs);
    handle.scoreSync(text, offsets, n, expected);

    const t1 = text.slice(), o1 = offsets.slice(), out1 = new Float32Array(n * handle.outputs);
    const p1 = handle.score(t1, o1, n, out1);
    // Offsets valid when checked, now pointing past the text: the worker must not see them.
    o1.fill(0xffffffff);
    o1[0] = 0;
    t1.fill(0xff);
    await p1;
    expect(out1).toEqual(expected);

    const t2 = text.slice(), o2 = offsets.slice(), out2 = new Float32Array(n * handle.outputs);
    const p2 = handle.score(t2, o2, n, out2);
    detach(t2.buffer);
    detach(o2.buffer);
    await p2;
    expect(out2).toEqual(expected);
    handle.dispose();
  });

  it('an out buffer detached while the call is in flight rejects with a coded error', async () => {
    const bytes = readFileSync(join(packageRoot(), 'models', 'default.router'));
    const handle = binding().NativeRouter.load(bytes, 'default.router', 'cpu', 2);
    const { text, offsets } = prompts(500);
    const out = new Float32Array(500 * handle.outputs);
    const pending = handle.score(text, offsets, 500, out);
    detach(out.buffer);
    await expect(pending).rejects.toMatchObject({
      code: 'ERR_ROUTECORE_INVALID_ARGUMENT',
      message: 'out was detached or resized while the call was in flight; its 1000 scores were dropped',
    });
    handle.dispose();
  });

  it('Router.route batches are unaffected by a prompt string array changing after the call', async () => {
    const router = Router.loadSync('default', { backend: 'cpu' });
    const list = ['what is 2 + 2', 'write a sonnet about the sea'];
    const expected = list.map((p) => router.routeSync(p).scores);
    const pending = Promise.all(list.map((p) => router.route(p)));
    list.length = 0;
    expect((await pending).map((d) => d.scores)).toEqual(expected);
    router.dispose();
  });
});
