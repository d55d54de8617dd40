#!/usr/bin/env node
// Generates native/unicode_fold_table.inc, the data behind native/unicode_fold.cc.
//
//   node scripts/gen-unicode-fold.mjs            writes native/unicode_fold_table.inc
//   node scripts/gen-unicode-fold.mjs --check    exits 1 if the committed file differs
//
// The tables come from the Unicode data built into Node (ICU), so the native core needs no ICU at
// run time and gives the same features on every platform. The output depends only on the Unicode
// data of the Node build (its ICU and Unicode versions are written into the file's header);
// regenerating with another Node may change features, which changes what trained .router files
// see, so a diff in the .inc deserves a look.
//
// fold(c), for one code point c (no context is used, so the C++ side can be a table look-up):
//   1. White_Space, \s, Zs, Zl, Zp, but not U+FEFF (a BOM)     -> SPACE (runs collapse to one ' ')
//   2. Cc and Cf (controls, ZWSP, ZWJ, BOM, bidi marks...)      -> dropped
//   3. marks of Script=Inherited (the generic combining accents
//      U+0300.., Arabic harakat, variation selectors...)        -> dropped; the kana voicing marks
//      U+3099/U+309A are kept, since dropping them changes the word (ガ is not カ).
//      Marks that belong to one script (Devanagari vowel signs, Thai vowels, Hebrew points) are kept:
//      they are part of the spelling, not decoration.
//   4. otherwise: NFKD, drop the marks of rule 3, toLowerCase(), repeated until stable, then NFC.
//      The final NFC recomposes what rule 3 kept, so Hangul syllables and kana come back whole.
//      Hangul compatibility forms (half-width jamo, parenthesised/circled jamo) are mapped to the
//      compatibility jamo (U+3131..) people type, not to conjoining jamo.
//   5. a character whose compatibility decomposition contains a space (spacing accents such as
//      ¨ ´ ˜, U+FDFA/U+FDFB phrase ligatures) is kept as itself: splitting it would invent a word
//      boundary or leave a stray mark.
// Consequences worth knowing: ß stays ß (toLowerCase and NFKD both keep it) and ẞ -> ß; İ -> i;
// ς stays ς (lower-casing is context-free, not case folding); ﬁ -> fi; ½ -> 1⁄2; ① -> 1.
// The generator checks that fold is idempotent: every output code point folds to itself.
//
// Classes (for the tokenizer, applied to folded text): word chars are \p{L}, \p{N}, \p{M} and '_';
// standalone word chars are the word chars of Script=Han, Hiragana, Katakana, Hangul, Thai, Lao,
// Khmer and Myanmar (word chars only, so that e.g. Khmer and Myanmar punctuation is not a word).
//
// ASCII (< 0x80) is handled inline by the C++ fast path; the script asserts that the fast path's
// rules (A-Z lower-cased, \t\n\v\f\r and ' ' are space, other controls dropped) equal fold().

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const OUT_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', 'native', 'unicode_fold_table.inc');
const MAX_CP = 0x10ffff;
// The fold table is indexed by blocks of 2^BLOCK_SHIFT code points, so a look-up searches only the
// few entries of its block (and none for the many blocks of unchanged text: CJK, Hangul, emoji).
// Planes 0 and 1 hold nearly all text, so only they are indexed; the rest is searched as one slice.
const BLOCK_SHIFT = 6;
const INDEXED_LIMIT = 0x20000;
const INDEXED_BLOCKS = INDEXED_LIMIT >> BLOCK_SHIFT;
// Code points with a two-byte UTF-8 form (Latin, Greek, Cyrillic, Hebrew, Arabic...) also get a
// dense table, so that the scripts with the most folding need no search at all.
const DENSE_LO = 0x80;
const DENSE_HI = 0x7ff;

const re = (src) => new RegExp(src, 'u');
const RE_WS = re('^[\\s\\p{White_Space}\\p{Zs}\\p{Zl}\\p{Zp}]$');
const RE_DROP_CTRL = re('^[\\p{Cc}\\p{Cf}]$');
const RE_MARK = re('^\\p{M}$');
const RE_INHERITED = re('^\\p{Script=Inherited}$');
const RE_UNASSIGNED_OR_PRIVATE = re('^[\\p{Cn}\\p{Co}]$');
const RE_HANGUL = re('^\\p{Script=Hangul}$');
const RE_WORD = re('^[\\p{L}\\p{N}\\p{M}_]$');
const RE_STANDALONE_SCRIPT = re(
  '^[\\p{Script=Han}\\p{Script=Hiragana}\\p{Script=Katakana}\\p{Script=Hangul}\\p{Script=Thai}' +
    '\\p{Script=Lao}\\p{Script=Khmer}\\p{Script=Myanmar}]$',
);

const isSurrogate = (c) => c >= 0xd800 && c <= 0xdfff;
const chr = (c) => String.fromCodePoint(c);
const cps = (s) => Array.from(s, (ch) => ch.codePointAt(0));

const isWhitespace = (c) => c !== 0xfeff && RE_WS.test(chr(c));
const isKanaVoicing = (c) => c === 0x3099 || c === 0x309a;
const isStrippableMark = (c) => !isKanaVoicing(c) && RE_MARK.test(chr(c)) && RE_INHERITED.test(chr(c));
const isDropped = (c) => (RE_DROP_CTRL.test(chr(c)) && !isWhitespace(c)) || isStrippableMark(c);
const isConjoiningJamo = (c) =>
  (c >= 0x1100 && c <= 0x11ff) || (c >= 0xa960 && c <= 0xa97f) || (c >= 0xd7b0 && c <= 0xd7ff);

// Conjoining jamo -> the compatibility jamo that decomposes to it (first one wins, ascending order).
const jamoToCompat = new Map();
for (let c = 0x3131; c <= 0x318e; c++) {
  const d = cps(chr(c).normalize('NFKD'));
  if (d.length === 1 && isConjoiningJamo(d[0]) && !jamoToCompat.has(d[0])) jamoToCompat.set(d[0], c);
}

const stripMarks = (s) => String.fromCodePoint(...cps(s).filter((c) => !isStrippableMark(c)));

/** fold(c): 'space', 'drop', or an array of code points (equal to [c] when c is unchanged). */
function fold(c) {
  if (isWhitespace(c)) return 'space';
  if (isDropped(c)) return 'drop';
  const s = chr(c);
  if (RE_UNASSIGNED_OR_PRIVATE.test(s)) return [c];
  if (cps(s.normalize('NFKD')).some(isWhitespace)) return cps(s.toLowerCase().normalize('NFC'));
  let cur = s;
  for (let i = 0; ; i++) {
    const next = stripMarks(stripMarks(cur.normalize('NFKD')).toLowerCase().normalize('NFKD'));
    if (next === cur) break;
    cur = next;
    if (i > 8) throw new Error(`fold of U+${c.toString(16)} does not converge`);
  }
  let out = cps(cur.normalize('NFC'));
  if (RE_HANGUL.test(s) && !isConjoiningJamo(c)) out = out.map((o) => jamoToCompat.get(o) ?? o);
  return out;
}

// ---- compute and check -------------------------------------------------------------------------

const folds = new Map(); // only code points whose fold differs from themselves
for (let c = 0; c <= MAX_CP; c++) {
  if (isSurrogate(c)) continue;
  const f = fold(c);
  if (Array.isArray(f) && f.length === 1 && f[0] === c) continue;
  folds.set(c, f);
}

const problems = [];
for (const [c, f] of folds) {
  if (!Array.isArray(f)) continue;
  for (const o of f) {
    const g = folds.get(o);
    if (isSurrogate(o) || g !== undefined) {
      problems.push(`U+${c.toString(16)} -> U+${o.toString(16)}, which is not a fixed point (${JSON.stringify(g)})`);
    }
  }
}
for (let c = 0; c < 0x80; c++) {
  const fast =
    c === 0x20 || (c >= 0x09 && c <= 0x0d) ? 'space'
    : c < 0x20 || c === 0x7f ? 'drop'
    : c >= 0x41 && c <= 0x5a ? [c + 0x20] : [c];
  const f = folds.get(c) ?? [c];
  if (JSON.stringify(f) !== JSON.stringify(fast)) problems.push(`ASCII fast path disagrees at 0x${c.toString(16)}`);
}
if (problems.length) {
  console.error(problems.slice(0, 40).join('\n'));
  throw new Error(`${problems.length} fold problems`);
}

// ---- fold table: ranges ------------------------------------------------------------------------

const KIND = { space: 0, drop: 1, delta: 2, same: 3, seq: 4 };
const entries = []; // {lo, hi, kind, arg, step, len}
const pool = [];
const poolIndex = new Map(); // joined sequence -> offset, so repeated expansions share storage

const sorted = [...folds.keys()].filter((c) => c >= 0x80).sort((a, b) => a - b);
const singleOf = (c) => {
  const f = folds.get(c);
  return Array.isArray(f) && f.length === 1 ? f[0] : undefined;
};
const blockOf = (c) => (c < INDEXED_LIMIT ? c >> BLOCK_SHIFT : INDEXED_BLOCKS);

// Longest run from `start` in which every `step`-th code point satisfies `ok` and those between are
// unchanged (the C++ side treats an off-step code point inside a range as unchanged). Runs never
// cross an indexed block, so each block's entries form one contiguous slice.
function runLength(start, step, ok) {
  let n = 1;
  for (;;) {
    const next = start + n * step;
    if (blockOf(next) !== blockOf(start) || next > MAX_CP || !folds.has(next) || !ok(next)) break;
    let gapClean = true;
    for (let g = next - step + 1; g < next; g++) if (folds.has(g)) gapClean = false;
    if (!gapClean) break;
    n++;
  }
  return n;
}

const done = new Set();
for (const c of sorted) {
  if (done.has(c)) continue;
  const f = folds.get(c);
  let best = null;
  if (!Array.isArray(f)) {
    const n = runLength(c, 1, (x) => folds.get(x) === f);
    best = { n, step: 1, kind: KIND[f], arg: 0 };
  } else if (f.length === 1) {
    const delta = f[0] - c;
    const target = f[0];
    for (const step of [1, 2]) {
      const nd = runLength(c, step, (x) => singleOf(x) === x + delta);
      if (!best || nd > best.n) best = { n: nd, step, kind: KIND.delta, arg: delta };
      const nt = runLength(c, step, (x) => singleOf(x) === target);
      if (nt > best.n) best = { n: nt, step, kind: KIND.same, arg: target };
    }
    if (best.n === 1) best = { n: 1, step: 1, kind: KIND.delta, arg: delta };
  } else {
    const key = f.join(',');
    let off = poolIndex.get(key);
    if (off === undefined) {
      off = pool.length;
      pool.push(...f);
      poolIndex.set(key, off);
    }
    best = { n: 1, step: 1, kind: KIND.seq, arg: off, len: f.length };
  }
  const hi = c + (best.n - 1) * best.step;
  for (let x = c; x <= hi; x += best.step) done.add(x);
  entries.push({ lo: c, hi, kind: best.kind, arg: best.arg, step: best.step, len: best.len ?? 0 });
}

// kFoldBlock[b] = first entry of block b (entries never straddle indexed blocks).
const blockStart = [];
{
  let e = 0;
  for (let b = 0; b <= INDEXED_BLOCKS; b++) {
    while (e < entries.length && blockOf(entries[e].lo) < b) e++;
    blockStart.push(e);
  }
}
if (entries.length > 0xffff || pool.length > 0xffff) throw new Error('tables outgrew uint16 indices');
for (const e of entries) if (blockOf(e.lo) !== blockOf(e.hi)) throw new Error('entry straddles a block');

const DENSE_SEQ = 0xffff;
const dense = [];
for (let c = DENSE_LO; c <= DENSE_HI; c++) {
  const f = folds.get(c) ?? [c];
  let v;
  if (f === 'space') v = 0x20;
  else if (f === 'drop') v = 0;
  else if (f.length === 1) v = f[0];
  else v = DENSE_SEQ;
  if (Array.isArray(f) && f.length === 1 && (v === 0 || v === 0x20 || v >= DENSE_SEQ)) {
    throw new Error(`U+${c.toString(16)} cannot be stored in the dense table`);
  }
  dense.push(v);
}

// ---- class tables ------------------------------------------------------------------------------

function ranges(pred) {
  const out = [];
  let lo = -1;
  for (let c = 0; c <= MAX_CP + 1; c++) {
    const inside = c <= MAX_CP && !isSurrogate(c) && pred(c);
    if (inside && lo < 0) lo = c;
    if (!inside && lo >= 0) {
      out.push([lo, c - 1]);
      lo = -1;
    }
  }
  return out;
}
const wordRanges = ranges((c) => RE_WORD.test(chr(c)));
const standaloneRanges = ranges((c) => RE_STANDALONE_SCRIPT.test(chr(c)) && RE_WORD.test(chr(c)));

// ---- emit --------------------------------------------------------------------------------------

const hex = (c) => `0x${c.toString(16).toUpperCase()}`;
function wrap(items, indent = '  ', width = 100) {
  const lines = [];
  let line = indent;
  for (const it of items) {
    if (line.length + it.length + 1 > width && line.trim()) {
      lines.push(line.trimEnd());
      line = indent;
    }
    line += `${it}, `;
  }
  if (line.trim()) lines.push(line.trimEnd());
  return lines.join('\n');
}

const header = `// GENERATED FILE - do not edit. Regenerate with: node scripts/gen-unicode-fold.mjs
// Source: Node ${process.versions.node}, ICU ${process.versions.icu}, Unicode ${process.versions.unicode}.
// The fold definition is documented at the top of scripts/gen-unicode-fold.mjs.
// Included by native/unicode_fold.cc, which defines FoldEntry, CpRange and the kFold* kinds.
//
// kFold: sorted, non-overlapping ranges of code points >= 0x80 whose fold is not themselves.
//   {lo, hi, arg, kind, step, len}; with step 2, only lo, lo+2, ... are mapped, the rest are unchanged.
//   kFoldSpace: whitespace (White_Space, \\s minus U+FEFF, Zs, Zl, Zp); the whitespace class lives here
//     rather than in a table of its own so that one search both classifies and folds;
//   kFoldDrop: removed; kFoldDelta: cp + arg; kFoldSame: arg; kFoldSeq: kFoldPool[arg .. arg+len).
// kFoldBlock[b]: first kFold entry of block b (code points b << kFoldBlockShift ..) for
//   b < kFoldIndexedBlocks; kFoldBlock[kFoldIndexedBlocks] starts the unindexed tail.
// kFoldDense[cp - kFoldDenseLo]: the fold of kFoldDenseLo..kFoldDenseHi in one look-up: the single
//   output code point (itself when unchanged), 0 for dropped, 0x20 for whitespace, or
//   kFoldDenseSeq for a multi-code-point fold, which is then read from kFold.
`;

const body = [];
body.push(`static constexpr uint32_t kFoldBlockShift = ${BLOCK_SHIFT};`);
body.push(`static constexpr uint32_t kFoldIndexedBlocks = ${hex(INDEXED_BLOCKS)};`);
body.push(`static constexpr uint32_t kFoldDenseLo = ${hex(DENSE_LO)};`);
body.push(`static constexpr uint32_t kFoldDenseHi = ${hex(DENSE_HI)};`);
body.push(`static constexpr uint16_t kFoldDenseSeq = ${hex(DENSE_SEQ)};`);
body.push(`static constexpr size_t kFoldCount = ${entries.length};`);
body.push('');
body.push(`static const FoldEntry kFold[kFoldCount] = {`);
const kindName = ['kFoldSpace', 'kFoldDrop', 'kFoldDelta', 'kFoldSame', 'kFoldSeq'];
body.push(
  wrap(entries.map((e) => `{${hex(e.lo)},${hex(e.hi)},${e.arg},${kindName[e.kind]},${e.step},${e.len}}`)),
);
body.push('};');
body.push('');
body.push(`static const uint32_t kFoldPool[${pool.length}] = {`);
body.push(wrap(pool.map(hex)));
body.push('};');
body.push('');
body.push(`static const uint16_t kFoldBlock[kFoldIndexedBlocks + 1] = {`);
body.push(wrap(blockStart.map(String)));
body.push('};');
body.push('');
body.push(`static const uint16_t kFoldDense[kFoldDenseHi - kFoldDenseLo + 1] = {`);
body.push(wrap(dense.map(String)));
body.push('};');
for (const [name, rs, what] of [
  ['kWordRanges', wordRanges, "\\p{L}, \\p{N}, \\p{M}, '_'"],
  [
    'kStandaloneRanges',
    standaloneRanges,
    'word chars of Script=Han, Hiragana, Katakana, Hangul, Thai, Lao, Khmer, Myanmar',
  ],
]) {
  body.push('');
  body.push(`// ${what}`);
  body.push(`static const CpRange ${name}[${rs.length}] = {`);
  body.push(wrap(rs.map(([a, b]) => `{${hex(a)},${hex(b)}}`)));
  body.push('};');
}
const text = `${header}\n${body.join('\n')}\n`;

if (process.argv.includes('--check')) {
  let old = '';
  try {
    old = readFileSync(OUT_PATH, 'utf8');
  } catch {}
  if (old !== text) {
    console.error(`${OUT_PATH} is out of date; run node scripts/gen-unicode-fold.mjs`);
    process.exit(1);
  }
  console.log(`${OUT_PATH} is up to date`);
} else {
  writeFileSync(OUT_PATH, text);
  console.log(
    `wrote ${OUT_PATH}: ${folds.size} folded code points in ${entries.length} ranges, ` +
      `${pool.length} pool code points, ${Buffer.byteLength(text)} bytes`,
  );
}
