/**
 * P12: the onnx encoder's prompts/s at batch 1 and 32 against onnxruntime-node called directly on
 * the same model, in one process, in interleaved rounds.
 *
 *   npm run build:ts && node dist/bench/onnx-encoder.js [--hidden 384] [--ffn 1536] [--rounds 8]
 *
 * The model is the tiny random transformer of the tests (test/tiny-transformer.ts) at MiniLM's width
 * (384 hidden, 1,536 feed-forward, the BERT uncased vocabulary) but one layer instead of six: the
 * session's own work is about a sixth of MiniLM's, so routecore's overhead shows about six times
 * larger than on the real model. Competitors:
 * - `routecore encode`: OnnxEncoder.encode (native tokenizer, framing, padding, session run, mean
 *   pooling, L2);
 * - `onnxruntime direct`: session.run on the same batch already tokenized into int64 tensors
 *   (what the model itself costs; no tokenization, no pooling).
 * Prompts are ≈ 500 characters of RouterBench test prompts when ../shared/data has them.
 * @module
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { Tokenizer } from '@huggingface/tokenizers';

import { packageRoot } from '../src/addon/native.js';
import { OnnxEncoder } from '../src/encoders/onnx.js';
import { bertTokenizerJson } from '../test/encoder-fixtures.js';
import { randomTransformer, transformerOnnx } from '../test/tiny-transformer.js';
import { load1, machine, pairedRatio, raceRounds, type Competitor } from './common.js';
import { loadRouterBench, p1PromptSet } from './corpus.js';

const require = createRequire(import.meta.url);

const { values: args } = parseArgs({
  options: { hidden: { type: 'string' }, ffn: { type: 'string' }, rounds: { type: 'string' }, json: { type: 'string' }, data: { type: 'string' } },
  strict: true,
});

async function main(): Promise<void> {
  const hidden = Number(args.hidden ?? 384), ffn = Number(args.ffn ?? 1536), rounds = Number(args.rounds ?? 8);
  const dir = mkdtempSync(join(tmpdir(), 'routecore-p12-'));
  try {
    const tokenizer = bertTokenizerJson();
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
    writeFileSync(join(dir, 'model.onnx'), transformerOnnx(randomTransformer(30522, hidden, ffn, 3)));
    const corpus = loadRouterBench(resolve(args.data ?? join(packageRoot(), '..', 'shared', 'data')));
    const prompts = corpus ? p1PromptSet(corpus.testPrompts).slice(0, 64) : Array.from({ length: 64 }, (_, i) => `prompt ${i} `.repeat(40));
    const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
    const session = await ort.InferenceSession.create(join(dir, 'model.onnx'), { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
    const enc = await OnnxEncoder.load(dir, { backend: 'cpu', maxBatch: 64 });
    const ref = new Tokenizer(tokenizer as never, {});
    const feedsFor = (batch: string[]): Record<string, unknown> => {
      const ids = batch.map((p) => ref.encode(p, { add_special_tokens: true }).ids.slice(0, 512));
      const T = Math.max(...ids.map((x) => x.length));
      const a = new BigInt64Array(batch.length * T), m = new BigInt64Array(batch.length * T), t = new BigInt64Array(batch.length * T);
      ids.forEach((row: number[], i) => {
        row.forEach((id: number, j: number) => {
          a[i * T + j] = BigInt(id);
          m[i * T + j] = 1n;
        });
      });
      return {
        input_ids: new ort.Tensor('int64', a, [batch.length, T]),
        attention_mask: new ort.Tensor('int64', m, [batch.length, T]),
        token_type_ids: new ort.Tensor('int64', t, [batch.length, T]),
      };
    };
    const loadBefore = load1();
    const results: Record<string, unknown> = { machine: machine(), model: { hidden, ffn, layers: 1, vocab: 30522 }, rounds };
    console.log(`P12 onnx encoder: tiny transformer ${hidden}/${ffn}, 1 layer, ${rounds} rounds, load average ${loadBefore.toFixed(2)}`);
    console.log('| batch | routecore encode prompts/s | onnxruntime direct prompts/s | routecore / direct time |');
    console.log('| ---: | ---: | ---: | ---: |');
    for (const size of [1, 32]) {
      let k = 0;
      const batches = Array.from({ length: 8 }, (_, i) => prompts.slice((i * size) % prompts.length, ((i * size) % prompts.length) + size)).filter((b) => b.length === size);
      const feeds = batches.map(feedsFor);
      const competitors: Record<string, Competitor> = {
        'routecore encode': { async: true, run: () => enc.encode(batches[k++ % batches.length]!) },
        'onnxruntime direct': { async: true, run: () => session.run(feeds[k++ % feeds.length] as never) },
      };
      const r = await raceRounds(competitors, rounds, 400);
      const ours = r['routecore encode']!, direct = r['onnxruntime direct']!;
      const ratio = pairedRatio(ours.perRound, direct.perRound);
      results[`batch${size}`] = { routecoreUsPerCall: ours.median, directUsPerCall: direct.median, ratio };
      console.log(`| ${size} | ${((1e6 * size) / ours.median).toFixed(0)} | ${((1e6 * size) / direct.median).toFixed(0)} | ${ratio.toFixed(3)} |`);
    }
    console.log(`load average after: ${load1().toFixed(2)}`);
    if (args.json) writeFileSync(args.json, JSON.stringify(results, null, 2));
    await enc.dispose();
    await session.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
