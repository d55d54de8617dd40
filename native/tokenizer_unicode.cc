#include "tokenizer_unicode.h"

#include <cstddef>

namespace routecore {
namespace tokunicode {
namespace {

struct CpRange {
  uint32_t lo;
  uint32_t hi;
};
struct CpMapping {
  uint32_t cp;
  uint32_t offset;  // into the table's pool
  uint32_t length;
};

#include "tokenizer_unicode_table.inc"

template <size_t N>
bool inRanges(const CpRange (&ranges)[N], uint32_t cp) {
  size_t lo = 0, hi = N;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (ranges[mid].lo <= cp)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo > 0 && cp <= ranges[lo - 1].hi;
}

template <size_t N>
const CpMapping* findMapping(const CpMapping (&table)[N], uint32_t cp) {
  size_t lo = 0, hi = N;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (table[mid].cp < cp)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < N && table[lo].cp == cp ? &table[lo] : nullptr;
}

// Σ lower-cases to final ς at the end of a word: preceded by a letter and not followed by one
// (Unicode's Final_Sigma condition, with "cased letter" approximated by "not a space,
// punctuation, digit or control" and marks skipped as case-ignorable).
bool isLetterish(uint32_t cp) {
  return !(isSpace(cp) || isBertPunctuation(cp) || isControl(cp) || (cp >= '0' && cp <= '9'));
}

}  // namespace

bool isSpace(uint32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
  return inRanges(kTokSpace, cp);
}

bool isControl(uint32_t cp) {
  if (cp < 0x80) return cp < 0x20 || cp == 0x7F;
  return inRanges(kTokControl, cp);
}

bool isBertPunctuation(uint32_t cp) {
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126))
    return true;
  if (cp < 0x80) return false;
  return inRanges(kTokPunct, cp);
}

bool isNonspacingMark(uint32_t cp) {
  return cp >= 0x300 && inRanges(kTokMn, cp);
}
bool isMark(uint32_t cp) {
  return cp >= 0x300 && inRanges(kTokMark, cp);
}

bool isCjkIdeograph(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

void appendLower(const std::vector<uint32_t>& text, size_t i, std::vector<uint32_t>& out) {
  const uint32_t cp = text[i];
  if (cp < 0x80) {
    out.push_back(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
    return;
  }
  if (cp == 0x3A3) {
    size_t b = i;
    while (b > 0 && isMark(text[b - 1])) --b;
    size_t a = i + 1;
    while (a < text.size() && isMark(text[a])) ++a;
    const bool final = b > 0 && isLetterish(text[b - 1]) && !(a < text.size() && isLetterish(text[a]));
    out.push_back(final ? 0x3C2 : 0x3C3);
    return;
  }
  const CpMapping* m = findMapping(kTokLower, cp);
  if (!m) {
    out.push_back(cp);
    return;
  }
  out.insert(out.end(), kTokLowerPool + m->offset, kTokLowerPool + m->offset + m->length);
}

void appendNfd(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp < 0xC0) {
    out.push_back(cp);
    return;
  }
  // Hangul syllables: the Unicode algorithm (L, V and optional T jamo).
  if (cp >= 0xAC00 && cp <= 0xD7A3) {
    const uint32_t s = cp - 0xAC00;
    out.push_back(0x1100 + s / 588);
    out.push_back(0x1161 + (s % 588) / 28);
    if (s % 28) out.push_back(0x11A7 + s % 28);
    return;
  }
  const CpMapping* m = findMapping(kTokNfd, cp);
  if (!m) {
    out.push_back(cp);
    return;
  }
  out.insert(out.end(), kTokNfdPool + m->offset, kTokNfdPool + m->offset + m->length);
}

}  // namespace tokunicode
}  // namespace routecore
