// Writes the committed seed corpus (fuzz/corpus/*). Run once after `npm run build:ts` and a native
// build: `node fuzz/make-seeds.mjs`. Seeds are small on purpose: the fuzzers mutate them millions
// of times, and a 4 KB router is read ~10x faster than the 4 MB default one.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const { train } = await import(join(here, '..', 'dist', 'src', 'training', 'train.js'));

const corpus = (name) => {
  const dir = join(here, 'corpus', name);
  mkdirSync(dir, { recursive: true });
  return dir;
};
const put = (name, file, bytes) => writeFileSync(join(corpus(name), file), bytes);

const records = [];
for (let i = 0; i < 24; i++) {
  records.push({ id: `m${i}`, prompt: `compute ${i} plus ${i * 3}`, scores: { a: 1, b: i % 3 ? 0 : 0.5 } });
  records.push({ id: `h${i}`, prompt: `which king ruled in ${1000 + i}`, scores: { a: 0, b: 1 } });
}
const encoder = { log2Buckets: 8, wordNgramMax: 1, charNgramMin: 3, charNgramMax: 3 };
const x = new Float32Array(records.length * 4).map((_, i) => Math.sin(i * 0.9));
const routers = {
  'mlp-f16': [{ hidden: 2, maxEpochs: 1, encoder }, true],
  'linear': [{ predictor: 'linear', maxEpochs: 1, encoder }, false],
  'mf': [{ predictor: 'mf', dim: 2, maxEpochs: 1, encoder }, false],
  'knn': [{ predictor: 'knn', k: 2, dim: 8, encoder }, true],
  'kmeans': [{ predictor: 'kmeans', clusters: 2, encoder }, false],
  'emb-mlp': [{ embeddings: x, hidden: 2, maxEpochs: 1 }, false],
  'emb-knn': [{ embeddings: x, predictor: 'knn', k: 2 }, false],
  'emb-kmeans': [{ embeddings: x, predictor: 'kmeans', clusters: 2 }, false],
};
for (const [name, [options, half]] of Object.entries(routers)) {
  const { router } = await train(records, options);
  const bytes = router.serialize({ halfPrecision: half });
  router.dispose();
  put('artifact', `${name}.router`, bytes);
  const hlen = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  put('json', `${name}-header.json`, bytes.subarray(8, 8 + hlen));
}
const fileOf = (header, body = new Uint8Array(0)) => {
  const h = Buffer.from(header);
  const f = Buffer.alloc(8 + h.length + body.length);
  f.writeBigUInt64LE(BigInt(h.length), 0);
  h.copy(f, 8);
  Buffer.from(body).copy(f, 8 + h.length);
  return f;
};
const meta = '"__metadata__":{"format":"routecore.router","format_version":"1"}';
put('artifact', 'offsets-2to64.router', fileOf(`{"w":{"dtype":"F32","shape":[1024],"data_offsets":[18446744073709547520,18446744073709551616]},${meta}}`, new Uint8Array(4096)));
put('artifact', 'zero-size.router', fileOf(`{"w":{"dtype":"F16","shape":[3,0],"data_offsets":[0,0]},${meta}}`));
put('artifact', 'eight-bytes.router', Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]));

for (const [file, text] of Object.entries({
  'numbers.json': '[0,-0,1.5e3,-2E-4,18446744073709551615,18446744073709551616,1e308]',
  'strings.json': '{"a":"\\u00e9\\ud83d\\ude00\\n\\t\\"\\\\\\/","b":"\u00e9\u20ac\ud83d\ude00"}',
  'nested.json': '{"a":[[[[{"b":[true,false,null]}]]]],"c":{}}',
  'bad-numbers.json': '[-inf,0x10,1e999,00012,-.5]',
  'surrogate.json': '["\\ud800"]',
})) put('json', file, text);

const texts = {
  'ascii': 'Compute 12 + 30, then explain why.',
  'german': 'Straße ÜBER Maß — „Anführung“',
  'turkish': 'İstanbul ıI ǅ ǈ ﬁ',
  'cjk-emoji': '東京は大きい 😀👍🏽 한국어',
  'arabic-marks': 'مرحبا بالعالم e\u0301 a\u0308 \u200d\u200b',
  'whitespace': '  tab\there\u00a0nbsp\u3000ideo\r\nline  ',
};
let pick = 0;
for (const [name, t] of Object.entries(texts)) put('encoder', name, Buffer.concat([Buffer.from([pick++ * 37]), Buffer.from(t)]));
// Invalid UTF-8: CESU-8 surrogates, overlong, truncated, stray continuation bytes.
put('encoder', 'invalid-utf8', Buffer.from([0x55, 0xed, 0xa0, 0x80, 0x61, 0xc0, 0x80, 0xe2, 0x82, 0x80, 0xff, 0xf4, 0x90, 0x80, 0x80, 0x62]));

const lines = {
  'outcome.jsonl': '{"id":"a1","prompt":"What is 2+2?","task":"math","scores":{"gpt":1,"mini":0.5},"costs":{"gpt":0.01}}',
  'outcome-min.jsonl': '{"prompt":"hi","scores":{"m":0}}',
  'pairwise.jsonl': '{"id":7,"prompt":"Write a haiku","model_a":"x","model_b":"y","winner":"tie (bothbad)"}',
  'pairwise-b.jsonl': '{"prompt":"\\ud83d\\ude00 lone \\udc00","model_a":"x","model_b":"y","winner":"model_b"}',
};
for (const [file, text] of Object.entries(lines)) put('lines', file, text);
console.log('seed corpus written to', join(here, 'corpus'));
