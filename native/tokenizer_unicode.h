// Unicode properties and mappings the tokenizer.json normalizers and pre-tokenizers need, from a
// generated table (native/tokenizer_unicode_table.inc, scripts/gen-tokenizer-unicode.mjs), so the
// core needs no ICU. Code points are UTF-32; every function is pure and thread-safe.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace routecore {
namespace tokunicode {

/// JS /\s/: what Hugging Face's tokenizers treat as whitespace.
bool isSpace(uint32_t cp);
/// \p{Cc} \p{Cf} \p{Co} \p{Cs} (BertNormalizer's "control", which keeps \t \n \r apart).
bool isControl(uint32_t cp);
/// \p{P} or an ASCII symbol (BERT counts !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~ as punctuation).
bool isBertPunctuation(uint32_t cp);
/// \p{Mn}, nonspacing marks.
bool isNonspacingMark(uint32_t cp);
/// \p{M}, every mark.
bool isMark(uint32_t cp);
/// The CJK ideograph blocks BertNormalizer pads with spaces (the ranges of the original BERT).
bool isCjkIdeograph(uint32_t cp);

/// Appends the lower-case form of text[i] (full mappings; Σ is final or medial by its context).
void appendLower(const std::vector<uint32_t>& text, size_t i, std::vector<uint32_t>& out);
/// Appends the canonical decomposition (NFD) of one code point, Hangul syllables included.
/// Combining marks are not reordered across code points: the callers drop them or keep the order.
void appendNfd(uint32_t cp, std::vector<uint32_t>& out);

}  // namespace tokunicode
}  // namespace routecore
