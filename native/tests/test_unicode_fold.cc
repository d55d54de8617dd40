// Tests for unicode_fold: the folding rules the hashing encoder's features depend on, the strict
// UTF-8 decoder, and whole-table properties (idempotence) over every code point.
#include <cstring>
#include <string>
#include <vector>

#include "check.h"
#include "unicode_fold.h"

using routecore::foldUtf8;
using routecore::isStandaloneWordChar;
using routecore::isWordChar;

namespace {

std::vector<uint32_t> foldRaw(const std::string& s) {
  std::vector<uint32_t> out;
  foldUtf8(s.data(), s.size(), out);
  return out;
}

void appendUtf8(uint32_t cp, std::string& s) {
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string toUtf8(const std::vector<uint32_t>& cps) {
  std::string s;
  for (uint32_t cp : cps) appendUtf8(cp, s);
  return s;
}

// Folded text re-encoded as UTF-8, so expectations read as text.
std::string fold(const std::string& s) {
  return toUtf8(foldRaw(s));
}

}  // namespace

TEST(ascii_is_lower_cased) {
  CHECK(fold("Hello, WORLD! 123_x") == "hello, world! 123_x");
  CHECK(fold("ABCDEFGHIJKLMNOPQRSTUVWXYZ@[`{") == "abcdefghijklmnopqrstuvwxyz@[`{");
  CHECK(fold("") == "");
}

TEST(accents_are_removed) {
  CHECK(fold("Café") == "cafe");
  CHECK(fold("Cafe\xCC\x81") == "cafe");  // decomposed form: e + U+0301
  CHECK(fold("ÉCOLE") == "ecole");
  CHECK(fold("Ångström naïve façade Ærø") == "angstrom naive facade ærø");
  CHECK(fold("Tiếng Việt") == "tieng viet");
}

TEST(german_sharp_s_stays) {
  // Lower-casing (not case folding) keeps ß; capital ẞ lower-cases to ß.
  CHECK(fold("Straße") == "straße");
  CHECK(fold("STRAẞE") == "straße");
}

TEST(turkish_dotted_i) {
  // toLowerCase gives i + U+0307, and the dot is a combining mark, so İ -> i. Dotless ı stays.
  CHECK(fold("İstanbul") == "istanbul");
  CHECK(fold("ı") == "ı");
}

TEST(greek_and_cyrillic) {
  CHECK(fold("ΑΘΗΝΑ") == "αθηνα");
  CHECK(fold("Αθήνα") == "αθηνα");
  CHECK(fold("ΣΟΦΟΣ") == "σοφοσ");  // context-free: no final sigma
  CHECK(fold("МОСКВА") == "москва");
  CHECK(fold("Ёлка Йод") == "елка иод");
}

TEST(compatibility_forms) {
  CHECK(fold("ＡＢＣ１") == "abc1");
  CHECK(fold("ﬁ") == "fi");
  CHECK(fold("ﬃx") == "ffix");
  CHECK(fold("x²") == "x2");
  CHECK(fold("①") == "1");
  CHECK(fold("™") == "tm");
  CHECK(fold("½") ==
        "1\xE2\x81\x84"
        "2");  // 1 U+2044 2
  CHECK(fold("…") == "...");
  CHECK(fold("Ω") == "ω");   // U+2126 OHM SIGN
  CHECK(fold("K") == "k");   // U+212A KELVIN SIGN
  CHECK(fold("ｶ") == "カ");  // half-width katakana
}

TEST(spacing_accents_are_kept_whole) {
  // Their compatibility decomposition is space + mark; folding that would invent a word break.
  CHECK(fold("a\xC2\xB4"
             "b") ==
        "a\xC2\xB4"
        "b");                             // U+00B4 ACUTE ACCENT
  CHECK(fold("\xC2\xA8") == "\xC2\xA8");  // U+00A8 DIAERESIS
}

TEST(whitespace_collapses_and_trims) {
  CHECK(fold("  a \t\n b\xC2\xA0\xC2\xA0"
             "c\xE3\x80\x80"
             "d\r\n") == "a b c d");
  CHECK(fold("one\xE2\x80\xA8two\xE2\x80\xA9three") == "one two three");  // U+2028, U+2029
  CHECK(fold("x\xC2\x85y") == "x y");                                     // U+0085 NEL
  CHECK(fold("x\xE2\x80\x83\xE2\x80\xAFy") == "x y");                     // em space, NNBSP
  CHECK(fold(" \t\n\xC2\xA0\xE3\x80\x80 ") == "");
  CHECK(fold("\x0B\x0C") == "");
}

TEST(invisible_and_control_characters_are_dropped) {
  CHECK(fold("a\xE2\x80\x8B"
             "b") == "ab");                     // U+200B ZERO WIDTH SPACE
  CHECK(fold("\xEF\xBB\xBFhello") == "hello");  // U+FEFF BOM
  CHECK(fold("a \xE2\x80\x8B b") == "a b");
  CHECK(fold("\xE2\x80\x8B a \xE2\x80\x8B") == "a");
  CHECK(fold("co\xC2\xADop") == "coop");  // U+00AD SOFT HYPHEN
  CHECK(fold("a\x01"
             "b\x7F"
             "c\x1F"
             "d") == "abcd");
  CHECK(fold("\xE2\x80\x8Fx\xE2\x80\x8D") == "x");  // RLM, ZWJ
  CHECK(fold(std::string("a\0b", 3)) == "ab");
}

TEST(appends_without_clearing) {
  std::vector<uint32_t> out = {7, 8};
  const std::string s = "  Ab  ";
  foldUtf8(s.data(), s.size(), out);
  CHECK((out == std::vector<uint32_t>{7, 8, 'a', 'b'}));
  const std::string t = "C";
  foldUtf8(t.data(), t.size(), out);
  CHECK((out == std::vector<uint32_t>{7, 8, 'a', 'b', 'c'}));
}

TEST(cjk_and_other_standalone_scripts) {
  CHECK(fold("中文字符") == "中文字符");
  CHECK(fold("ひらがなカタカナ") == "ひらがなカタカナ");
  CHECK(fold("ガギグ") == "ガギグ");  // kana voicing marks survive: ガ is not カ
  CHECK(fold("한국어 ㅋㅋ") == "한국어 ㅋㅋ");
  CHECK(fold("\xEF\xBE\xA1") == "ㄱ");  // U+FFA1 HALFWIDTH HANGUL LETTER KIYEOK
  CHECK(fold("ภาษาไทย") == "ภาษาไทย");
  CHECK(fold("नमस्ते") == "नमस्ते");  // Devanagari vowel signs are spelling, not accents
  const uint32_t standalone[] = {0x4E2D, 0x3072, 0x30AB, 0xAC00, 0x3131, 0x0E01, 0x0E81, 0x1780, 0x1000, 0x20000};
  for (uint32_t cp : standalone) {
    CHECK(isStandaloneWordChar(cp));
    CHECK(isWordChar(cp));
  }
  const uint32_t notStandalone[] = {'a', '1', 0xE9, 0x0416, 0x3001, 0x3002, 0x17D4, 0x1F600, 0xFFFD};
  for (uint32_t cp : notStandalone) CHECK(!isStandaloneWordChar(cp));
}

TEST(invalid_utf8_becomes_replacement_characters) {
  // One U+FFFD per maximal ill-formed subpart, matching the WHATWG decoder (JS TextDecoder).
  const uint32_t R = 0xFFFD;
  CHECK((foldRaw("ab\xC3") == std::vector<uint32_t>{'a', 'b', R}));             // truncated 2-byte
  CHECK((foldRaw("\xC0\xAF") == std::vector<uint32_t>{R, R}));                  // overlong '/'
  CHECK((foldRaw("\xE0\x80\xAF") == std::vector<uint32_t>{R, R, R}));           // overlong 3-byte
  CHECK((foldRaw("\xED\xA0\x80") == std::vector<uint32_t>{R, R, R}));           // encoded surrogate
  CHECK((foldRaw("\xED\xA0\x80\xED\xB0\x80") == std::vector<uint32_t>(6, R)));  // CESU-8 pair
  CHECK((foldRaw("\xFF") == std::vector<uint32_t>{R}));
  CHECK((foldRaw("\xFE\xFF") == std::vector<uint32_t>{R, R}));
  CHECK((foldRaw("\x80x") == std::vector<uint32_t>{R, 'x'}));  // lone continuation
  CHECK((foldRaw("a\xE2\x82"
                 "b") == std::vector<uint32_t>{'a', R, 'b'}));                // truncated 3-byte
  CHECK((foldRaw("\xF0\x9F\x98") == std::vector<uint32_t>{R}));               // truncated 4-byte
  CHECK((foldRaw("\xF4\x90\x80\x80") == std::vector<uint32_t>{R, R, R, R}));  // > U+10FFFF
  CHECK((foldRaw("\xF8\x88\x80\x80\x80") == std::vector<uint32_t>(5, R)));    // 5-byte form
  CHECK((foldRaw("\xC3\xA9\xC3") == std::vector<uint32_t>{'e', R}));
  // The byte that ends a bad sequence starts the next one, so valid text after it survives.
  CHECK((foldRaw("\xE2\x82"
                 "\xC3\xA9") == std::vector<uint32_t>{R, 'e'}));
  CHECK(fold("\xEF\xBF\xBD") == "\xEF\xBF\xBD");  // a real U+FFFD passes through
}

TEST(four_byte_sequences) {
  CHECK((foldRaw("hi \xF0\x9F\x98\x80") == std::vector<uint32_t>{'h', 'i', ' ', 0x1F600}));
  CHECK((foldRaw("\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD") == std::vector<uint32_t>{0x1F44D, 0x1F3FD}));
  CHECK((foldRaw("\xE2\x9D\xA4\xEF\xB8\x8F") == std::vector<uint32_t>{0x2764}));  // VS16 dropped
  CHECK((foldRaw("\xF4\x8F\xBF\xBF") == std::vector<uint32_t>{0x10FFFF}));
  CHECK((foldRaw("\xF0\x9D\x90\x80") == std::vector<uint32_t>{'a'}));  // U+1D400 MATH BOLD CAPITAL A
}

TEST(word_chars) {
  const uint32_t word[] = {'a', 'Z', '0', '9', '_', 0xE9, 0xDF, 0x0436, 0x03B1, 0x4E2D, 0x0301, 0x0663, 0x1D7CE};
  for (uint32_t cp : word) CHECK(isWordChar(cp));
  const uint32_t notWord[] = {'!', ' ',  '-',  '.',    ',',    '\'',    '/',    '@',
                              0,   0x7F, 0xA0, 0x2014, 0x3001, 0x1F600, 0xFFFD, 0x10FFFF};
  for (uint32_t cp : notWord) CHECK(!isWordChar(cp));
}

TEST(deterministic) {
  const std::string s = "Mixed ÉCOLE Straße ΑΘΗΝΑ 中文 ＡＢＣ１ \xF0\x9F\x98\x80 \xC0\xAF end  ";
  CHECK(foldRaw(s) == foldRaw(s));
  std::vector<uint32_t> reused;
  foldUtf8(s.data(), s.size(), reused);
  reused.clear();
  foldUtf8(s.data(), s.size(), reused);
  CHECK(reused == foldRaw(s));
}

// Every code point, one at a time: folding is idempotent, never emits whitespace other than a
// single inner ' ', never emits upper-case ASCII, and valid UTF-8 never decodes to U+FFFD.
TEST(every_code_point_folds_idempotently) {
  int bad = 0;
  std::string s;
  std::vector<uint32_t> once, twice;
  for (uint32_t cp = 0; cp <= 0x10FFFF && bad < 10; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    s.clear();
    appendUtf8(cp, s);
    once.clear();
    foldUtf8(s.data(), s.size(), once);
    const std::string back = toUtf8(once);
    twice.clear();
    foldUtf8(back.data(), back.size(), twice);
    bool ok = twice == once;
    for (uint32_t o : once) {
      if (o == 0x20 || (o >= 'A' && o <= 'Z') || (o >= 0xD800 && o <= 0xDFFF) || o > 0x10FFFF) ok = false;
      if (o == 0xFFFD && cp != 0xFFFD) ok = false;
    }
    if (!ok) {
      std::printf("  U+%04X folds inconsistently\n", cp);
      ++bad;
    }
  }
  CHECK(bad == 0);
}

CHECK_MAIN()
