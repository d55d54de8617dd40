// Text normalisation for the hashing encoder. Deterministic and table-driven, so the same prompt
// gives the same features on every platform and compiler (no locale, no ICU).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace routecore {

/// Decodes UTF-8 and appends folded code points to `out`:
///  - lower-cased (full Unicode simple case mapping of the BMP and beyond, from the generated table),
///  - compatibility forms mapped (NFKC-like: full-width ASCII, ligatures, superscripts...),
///  - accents removed (NFKD, then combining marks dropped): "Café" -> "cafe",
///  - every run of whitespace (including NBSP, ideographic space, line breaks) becomes one ' ',
///    leading and trailing whitespace dropped,
///  - control characters dropped; invalid UTF-8 becomes U+FFFD.
void foldUtf8(const char* text, size_t len, std::vector<uint32_t>& out);

/// Decodes UTF-8 into code points appended to `out`, invalid sequences as U+FFFD (maximal subpart,
/// as JS's TextDecoder), nothing else changed.
void decodeUtf8(const char* text, size_t len, std::vector<uint32_t>& out);

/// Appends the UTF-8 form of code point `cp` (<= 0x10FFFF) to `out`.
void appendUtf8(uint32_t cp, std::string& out);

/// True for code points that belong inside a word token (letters, digits, marks, '_').
bool isWordChar(uint32_t cp);

/// True for ideographic/syllabic scripts written without spaces (Han, Hiragana, Katakana, Hangul,
/// Thai...): each such character is its own word token.
bool isStandaloneWordChar(uint32_t cp);

}  // namespace routecore
