/**
 * The native tokenizer (native/tokenizer.cc) against the reference, @huggingface/tokenizers, on
 * real tokenizer.json files (test/encoder-fixtures.ts): ids must be identical on a corpus of shared
 * data prompts, Unicode edge cases and empty strings. Where the reference knowingly departs from
 * the Rust `tokenizers` crate (the contract model2vec and sentence-transformers run on), the
 * native side follows the crate and the test names the case.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';

import { binding } from '../src/addon/native.js';
import { bertTokenizerJson, parityCorpus, unigramTokenizerJson } from './encoder-fixtures.js';

const dataDir = resolve(import.meta.dirname, '../../shared/data');
const haveData = existsSync(dataDir);
if (!haveData) console.warn(`tokenizer parity: ${dataDir} is absent; the corpus has only the Unicode edge cases`);
const corpus = parityCorpus(haveData ? dataDir : undefined, 60);
// A shared build/ compiled before the static encoder existed has no NativeTokenizer: say so and
// skip, rather than fail every suite of engineers whose checkout links to it (CI builds fresh).
const built = typeof (binding() as { NativeTokenizer?: unknown }).NativeTokenizer === 'function';
if (!built) console.warn('tokenizer parity: the loaded addon predates NativeTokenizer; rebuild it (npm run build) to run these tests');

function pack(prompts: readonly string[]): { text: Uint8Array; offsets: Uint32Array } {
  const parts = prompts.map((p) => Buffer.from(p, 'utf8'));
  const offsets = new Uint32Array(prompts.length + 1);
  let at = 0;
  parts.forEach((b, i) => {
    at += b.length;
    offsets[i + 1] = at;
  });
  return { text: new Uint8Array(Buffer.concat(parts)), offsets };
}

function nativeIds(json: object, prompts: readonly string[]): number[][] {
  const tok = new (binding().NativeTokenizer)(new Uint8Array(Buffer.from(JSON.stringify(json))), 'tokenizer.json');
  const { text, offsets } = pack(prompts);
  const r = tok.encode(text, offsets, prompts.length);
  return prompts.map((_, i) => Array.from(r.ids.subarray(r.offsets[i]!, r.offsets[i + 1]!)));
}

function referenceIds(json: object, prompts: readonly string[]): number[][] {
  const ref = new Tokenizer(json as never, {});
  return prompts.map((p) => ref.encode(p, { add_special_tokens: false }).ids);
}

// CJK ideographs outside the BMP (U+20000..): the reference checks UTF-16 code units, so it never
// pads them with spaces; the Rust crate (and BERT's original code) checks code points and does.
const astralCjk = /[\u{20000}-\u{2FA1F}]/u;

const cases: Array<[string, object]> = [
  ['BERT uncased (WordPiece, BertNormalizer, BertPreTokenizer)', bertTokenizerJson()],
  ['BERT vocabulary, cased with accents stripped', bertTokenizerJson({ lowercase: false, stripAccents: true })],
  ['BERT vocabulary, cased, accents kept, no CJK padding', bertTokenizerJson({ lowercase: false, handleChineseChars: false })],
  ['USE lite SentencePiece (Unigram, Metaspace, Strip + Replace)', unigramTokenizerJson()],
  [
    'USE lite SentencePiece, NFD + StripAccents + Lowercase',
    unigramTokenizerJson({ normalizer: { type: 'Sequence', normalizers: [{ type: 'NFD' }, { type: 'StripAccents' }, { type: 'Lowercase' }] } }),
  ],
  ['USE lite SentencePiece, no normalizer, prepend_scheme first', unigramTokenizerJson({ normalizer: null, prependScheme: 'first' })],
];

describe.runIf(built)('tokenizer parity with @huggingface/tokenizers', () => {
  it('has a corpus with shared data, edge cases and empty strings', () => {
    expect(corpus).toContain('');
    expect(corpus.length).toBeGreaterThan(haveData ? 300 : 30);
  });

  for (const [name, json] of cases) {
    it(`gives identical ids: ${name}`, () => {
      const want = referenceIds(json, corpus);
      const got = nativeIds(json, corpus);
      const mismatches: string[] = [];
      corpus.forEach((p, i) => {
        if (JSON.stringify(got[i]) === JSON.stringify(want[i])) return;
        if (astralCjk.test(p) && (json as { model: { type: string } }).model.type === 'WordPiece') return;
        mismatches.push(`${JSON.stringify(p.slice(0, 60))}: want ${want[i]!.slice(0, 20)} got ${got[i]!.slice(0, 20)}`);
      });
      expect(mismatches).toEqual([]);
      expect(got[0]).toEqual([]); // the empty string
    });
  }

  it('pads astral CJK ideographs as the Rust crate does (where the reference does not)', () => {
    const json = bertTokenizerJson();
    const [ids] = nativeIds(json, ['𠀀abc']);
    const [unk, abc] = nativeIds(json, ['[UNK]', 'abc']);
    expect(ids).toEqual([...unk!, ...abc!]);
  });
});
