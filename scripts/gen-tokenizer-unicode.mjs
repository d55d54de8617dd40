#!/usr/bin/env node
// Generates native/tokenizer_unicode_table.inc, the Unicode data behind native/tokenizer.cc (the
// tokenizer.json normalizers and pre-tokenizers of WordPiece and Unigram models).
//
//   node scripts/gen-tokenizer-unicode.mjs            writes native/tokenizer_unicode_table.inc
//   node scripts/gen-tokenizer-unicode.mjs --check    exits 1 if the committed file differs
//
// Hugging Face tokenizers define their normalizers with Unicode properties (BertNormalizer: controls,
// whitespace, CJK ranges, lower-casing, NFD then dropping nonspacing marks; BertPreTokenizer:
// punctuation). The native core has no ICU, so the data comes from the Node that runs this script
// (its ICU and Unicode versions are written into the header). Tables:
//   kTokSpace     code points matching JS /\s/ (what the reference tokenizer treats as whitespace)
//   kTokControl   \p{Cc} \p{Cf} \p{Co} \p{Cs}: removed by BertNormalizer's clean_text (but \t \n \r)
//   kTokPunct     \p{P}: BertPreTokenizer isolates these (ASCII symbols are handled in code)
//   kTokMn        \p{Mn}: dropped after NFD when accents are stripped
//   kTokMark      \p{M}: dropped by the StripAccents normalizer
//   kTokLower     one code point's toLowerCase() where it differs (Σ's final form is contextual and
//                 handled in code)
//   kTokNfd       one code point's NFD where it differs, Hangul syllables excepted (decomposed
//                 algorithmically in code)
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const OUT_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', 'native', 'tokenizer_unicode_table.inc');
const MAX_CP = 0x10ffff;
const re = (src) => new RegExp(src, 'u');
const classes = {
  kTokSpace: re('^\\s$'),
  kTokControl: re('^[\\p{Cc}\\p{Cf}\\p{Co}\\p{Cs}]$'),
  kTokPunct: re('^\\p{P}$'),
  kTokMn: re('^\\p{Mn}$'),
  kTokMark: re('^\\p{M}$'),
};

function ranges(test) {
  const out = [];
  let lo = -1;
  for (let cp = 0; cp <= MAX_CP + 1; cp++) {
    const hit = cp <= MAX_CP && test(cp);
    if (hit && lo < 0) lo = cp;
    if (!hit && lo >= 0) {
      out.push([lo, cp - 1]);
      lo = -1;
    }
  }
  return out;
}

const isSurrogate = (cp) => cp >= 0xd800 && cp <= 0xdfff;
const chr = (cp) => String.fromCodePoint(cp);
const cps = (s) => [...s].map((c) => c.codePointAt(0));

function mapping(fn) {
  const entries = [];
  const pool = [];
  for (let cp = 0; cp <= MAX_CP; cp++) {
    if (isSurrogate(cp)) continue;
    const to = fn(cp);
    if (to === null) continue;
    entries.push([cp, pool.length, to.length]);
    pool.push(...to);
  }
  return { entries, pool };
}

const lower = mapping((cp) => {
  if (cp === 0x3a3) return null; // Σ: final or medial sigma, decided in code from the context
  const l = chr(cp).toLowerCase();
  return l === chr(cp) ? null : cps(l);
});
const nfd = mapping((cp) => {
  if (cp >= 0xac00 && cp <= 0xd7a3) return null; // Hangul syllables: algorithmic
  const d = chr(cp).normalize('NFD');
  return d === chr(cp) ? null : cps(d);
});

const hex = (n) => `0x${n.toString(16).toUpperCase()}`;
function rangeTable(name, rs) {
  const rows = [];
  for (let i = 0; i < rs.length; i += 6) rows.push('  ' + rs.slice(i, i + 6).map(([a, b]) => `{${hex(a)}, ${hex(b)}}`).join(', ') + ',');
  return `static constexpr CpRange ${name}[] = {\n${rows.join('\n')}\n};\n`;
}
function mapTable(name, { entries, pool }) {
  const rows = [];
  for (let i = 0; i < entries.length; i += 6) rows.push('  ' + entries.slice(i, i + 6).map(([c, o, l]) => `{${hex(c)}, ${o}, ${l}}`).join(', ') + ',');
  const prow = [];
  for (let i = 0; i < pool.length; i += 12) prow.push('  ' + pool.slice(i, i + 12).map(hex).join(', ') + ',');
  return `static constexpr CpMapping ${name}[] = {\n${rows.join('\n')}\n};\nstatic constexpr uint32_t ${name}Pool[] = {\n${prow.join('\n')}\n};\n`;
}

let text = `// GENERATED FILE - do not edit. Regenerate with: node scripts/gen-tokenizer-unicode.mjs
// Source: Node ${process.versions.node}, ICU ${process.versions.icu}, Unicode ${process.versions.unicode}.
// What each table holds is documented at the top of scripts/gen-tokenizer-unicode.mjs.
// Included by native/tokenizer_unicode.cc, which defines CpRange and CpMapping.

`;
for (const [name, r] of Object.entries(classes)) text += rangeTable(name, ranges((cp) => !isSurrogate(cp) ? r.test(chr(cp)) : name === 'kTokControl')) + '\n';
text += mapTable('kTokLower', lower) + '\n' + mapTable('kTokNfd', nfd);

if (process.argv.includes('--check')) {
  const old = readFileSync(OUT_PATH, 'utf8');
  if (old !== text) {
    console.error(`${OUT_PATH} differs from what this Node (${process.versions.unicode}) generates`);
    process.exit(1);
  }
  console.log('tokenizer_unicode_table.inc is up to date');
} else {
  writeFileSync(OUT_PATH, text);
  console.log(`wrote ${OUT_PATH}: ${lower.entries.length} lower-case, ${nfd.entries.length} NFD mappings`);
}
