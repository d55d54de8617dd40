#include "tokenizer.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

#include "error.h"
#include "json.h"
#include "tokenizer_unicode.h"
#include "unicode_fold.h"

namespace routecore {
namespace {

using Cps = std::vector<uint32_t>;
constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

[[noreturn]] void bad(const std::string& source, const std::string& message) {
  throw Error(ErrorCode::BadModel, source + ": " + message);
}

// ---- reading the JSON -------------------------------------------------------------------------

struct Reader {
  const std::string& source;

  JsonValue member(JsonValue obj, const char* key, const std::string& where) const {
    JsonValue v = obj;
    if (!obj.find(key, &v)) bad(source, where + " has no \"" + key + "\"");
    return v;
  }
  bool has(JsonValue obj, const char* key, JsonValue* out) const {
    return obj.find(key, out) && out->type() != JsonValue::Type::Null;
  }
  std::string string(JsonValue obj, const char* key, const std::string& where) const {
    JsonValue v = member(obj, key, where);
    if (!v.isString()) bad(source, where + "." + key + " is not a string");
    return std::string(v.string());
  }
  std::string stringOr(JsonValue obj, const char* key, const std::string& where, const std::string& fallback) const {
    JsonValue v = obj;
    if (!has(obj, key, &v)) return fallback;
    if (!v.isString()) bad(source, where + "." + key + " is not a string");
    return std::string(v.string());
  }
  bool boolOr(JsonValue obj, const char* key, const std::string& where, bool fallback) const {
    JsonValue v = obj;
    if (!has(obj, key, &v)) return fallback;
    if (v.type() != JsonValue::Type::Bool) bad(source, where + "." + key + " is not true or false");
    return v.boolean();
  }
  uint32_t id(JsonValue v, const std::string& where) const {
    if (!v.isUint64() || v.uint64() >= (1u << 24)) bad(source, where + " is not a token id in [0, 2^24)");
    return static_cast<uint32_t>(v.uint64());
  }
};

Cps decode(std::string_view s) {
  Cps out;
  decodeUtf8(s.data(), s.size(), out);
  return out;
}

// ---- normalizers ------------------------------------------------------------------------------

struct NormOp {
  enum Kind { Bert, Lowercase, StripAccents, Nfd, Strip, Replace, Prepend } kind;
  // Bert
  bool cleanText = true, chineseChars = true, stripAccents = true, lowercase = true;
  // Strip
  bool left = true, right = true;
  // Replace (pattern -> content), Prepend (content)
  Cps pattern, content;
};

void parseNormalizer(const Reader& r, JsonValue v, const std::string& where, std::vector<NormOp>& ops) {
  if (v.type() == JsonValue::Type::Null) return;
  if (!v.isObject()) bad(r.source, where + " is not an object");
  const std::string type = r.string(v, "type", where);
  NormOp op{};
  if (type == "Sequence") {
    JsonValue list = r.member(v, "normalizers", where);
    if (!list.isArray()) bad(r.source, where + ".normalizers is not an array");
    for (uint32_t i = 0; i < list.size(); ++i)
      parseNormalizer(r, list.at(i), where + ".normalizers[" + std::to_string(i) + "]", ops);
    return;
  } else if (type == "BertNormalizer") {
    op.kind = NormOp::Bert;
    op.cleanText = r.boolOr(v, "clean_text", where, true);
    op.chineseChars = r.boolOr(v, "handle_chinese_chars", where, true);
    op.lowercase = r.boolOr(v, "lowercase", where, true);
    // strip_accents: null means "as lowercase" (the BERT convention).
    op.stripAccents = r.boolOr(v, "strip_accents", where, op.lowercase);
  } else if (type == "Lowercase") {
    op.kind = NormOp::Lowercase;
  } else if (type == "StripAccents") {
    op.kind = NormOp::StripAccents;
  } else if (type == "NFD") {
    op.kind = NormOp::Nfd;
  } else if (type == "Strip") {
    op.kind = NormOp::Strip;
    op.left = r.boolOr(v, "strip_left", where, true);
    op.right = r.boolOr(v, "strip_right", where, true);
  } else if (type == "Replace") {
    op.kind = NormOp::Replace;
    JsonValue pattern = r.member(v, "pattern", where);
    JsonValue literal = pattern;
    if (!pattern.isObject() || !pattern.find("String", &literal) || !literal.isString())
      bad(r.source, where + ".pattern: only {\"String\": ...} patterns are supported (a Regex pattern is not)");
    op.pattern = decode(literal.string());
    if (op.pattern.empty()) bad(r.source, where + ".pattern.String is empty");
    op.content = decode(r.stringOr(v, "content", where, ""));
  } else if (type == "Prepend") {
    op.kind = NormOp::Prepend;
    op.content = decode(r.string(v, "prepend", where));
  } else {
    bad(r.source, where + ".type \"" + type +
                      "\" is not supported (supported normalizers: BertNormalizer, Lowercase, StripAccents, NFD, "
                      "Strip, Replace, Prepend, Sequence)");
  }
  ops.push_back(std::move(op));
}

void lowerInto(const Cps& in, Cps& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) tokunicode::appendLower(in, i, out);
}

void applyNormalizer(const NormOp& op, Cps& text, Cps& tmp) {
  using namespace tokunicode;
  switch (op.kind) {
    case NormOp::Bert: {
      // ASCII text (most prompts): the four passes below reduce to one — drop NUL and controls,
      // whitespace to ' ', A-Z lower-cased when asked; no CJK, accents or final sigma to handle.
      bool ascii = true;
      for (uint32_t cp : text) ascii &= cp < 0x80;
      if (ascii) {
        size_t w = 0;
        for (uint32_t cp : text) {
          // (\v and \f are controls before they are whitespace: clean_text drops them.)
          if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r') {
            text[w++] = op.cleanText ? ' ' : cp;
          } else if (cp < 0x20 || cp == 0x7F) {
            if (!op.cleanText) text[w++] = cp;
          } else {
            text[w++] = op.lowercase && cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
          }
        }
        text.resize(w);
        return;
      }
    }
      if (op.cleanText) {
        tmp.clear();
        for (uint32_t cp : text) {
          if (cp == 0 || cp == 0xFFFD) continue;
          if (cp != '\t' && cp != '\n' && cp != '\r' && isControl(cp)) continue;
          tmp.push_back(isSpace(cp) ? ' ' : cp);
        }
        text.swap(tmp);
      }
      if (op.chineseChars) {
        tmp.clear();
        for (uint32_t cp : text) {
          if (isCjkIdeograph(cp)) {
            tmp.push_back(' ');
            tmp.push_back(cp);
            tmp.push_back(' ');
          } else {
            tmp.push_back(cp);
          }
        }
        text.swap(tmp);
      }
      if (op.lowercase) {
        lowerInto(text, tmp);
        text.swap(tmp);
      }
      if (op.stripAccents) {
        tmp.clear();
        Cps one;
        for (uint32_t cp : text) {
          one.clear();
          appendNfd(cp, one);
          for (uint32_t c : one)
            if (!isNonspacingMark(c)) tmp.push_back(c);
        }
        text.swap(tmp);
      }
      return;
    case NormOp::Lowercase:
      lowerInto(text, tmp);
      text.swap(tmp);
      return;
    case NormOp::StripAccents:
      text.erase(std::remove_if(text.begin(), text.end(), isMark), text.end());
      return;
    case NormOp::Nfd:
      tmp.clear();
      for (uint32_t cp : text) appendNfd(cp, tmp);
      text.swap(tmp);
      return;
    case NormOp::Strip: {
      size_t b = 0, e = text.size();
      if (op.left)
        while (b < e && isSpace(text[b])) ++b;
      if (op.right)
        while (e > b && isSpace(text[e - 1])) --e;
      text.erase(text.begin() + e, text.end());
      text.erase(text.begin(), text.begin() + b);
      return;
    }
    case NormOp::Replace: {
      if (op.pattern.size() == 1 && op.content.size() == 1) {  // one character for another: in place
        std::replace(text.begin(), text.end(), op.pattern[0], op.content[0]);
        return;
      }
      if (std::find(text.begin(), text.end(), op.pattern[0]) == text.end()) return;
      tmp.clear();
      const size_t n = op.pattern.size();
      for (size_t i = 0; i < text.size();) {
        if (i + n <= text.size() && std::equal(op.pattern.begin(), op.pattern.end(), text.begin() + i)) {
          tmp.insert(tmp.end(), op.content.begin(), op.content.end());
          i += n;
        } else {
          tmp.push_back(text[i++]);
        }
      }
      text.swap(tmp);
      return;
    }
    case NormOp::Prepend:
      if (!text.empty()) text.insert(text.begin(), op.content.begin(), op.content.end());
      return;
  }
}

// ---- pre-tokenizers ---------------------------------------------------------------------------

struct PreOp {
  enum Kind { Bert, WhitespaceSplit, Metaspace } kind;
  uint32_t replacement = 0x2581;  // Metaspace: '▁'
  enum Prepend { Always, First, Never } prepend = Always;
  bool split = true;
};

void parsePreTokenizer(const Reader& r, JsonValue v, const std::string& where, std::vector<PreOp>& ops) {
  if (v.type() == JsonValue::Type::Null) return;
  if (!v.isObject()) bad(r.source, where + " is not an object");
  const std::string type = r.string(v, "type", where);
  PreOp op{};
  if (type == "Sequence") {
    JsonValue list = r.member(v, "pretokenizers", where);
    if (!list.isArray()) bad(r.source, where + ".pretokenizers is not an array");
    for (uint32_t i = 0; i < list.size(); ++i)
      parsePreTokenizer(r, list.at(i), where + ".pretokenizers[" + std::to_string(i) + "]", ops);
    return;
  } else if (type == "BertPreTokenizer") {
    op.kind = PreOp::Bert;
  } else if (type == "WhitespaceSplit") {
    op.kind = PreOp::WhitespaceSplit;
  } else if (type == "Metaspace") {
    op.kind = PreOp::Metaspace;
    const Cps rep = decode(r.stringOr(v, "replacement", where, "\xE2\x96\x81"));
    if (rep.size() != 1) bad(r.source, where + ".replacement must be one character");
    op.replacement = rep[0];
    JsonValue scheme = v;
    if (r.has(v, "prepend_scheme", &scheme)) {
      const std::string s = r.string(v, "prepend_scheme", where);
      if (s == "always")
        op.prepend = PreOp::Always;
      else if (s == "first")
        op.prepend = PreOp::First;
      else if (s == "never")
        op.prepend = PreOp::Never;
      else
        bad(r.source, where + ".prepend_scheme \"" + s + "\" is not always, first or never");
    } else {
      // Files written before prepend_scheme existed say add_prefix_space.
      op.prepend = r.boolOr(v, "add_prefix_space", where, true) ? PreOp::Always : PreOp::Never;
    }
    op.split = r.boolOr(v, "split", where, true);
  } else {
    bad(r.source, where + ".type \"" + type +
                      "\" is not supported (supported pre-tokenizers: BertPreTokenizer, Metaspace, WhitespaceSplit, "
                      "Sequence)");
  }
  ops.push_back(op);
}

// Words are [begin, end) ranges of one buffer of code points.
struct Words {
  Cps text;
  std::vector<std::pair<uint32_t, uint32_t>> spans;
  void clear() {
    text.clear();
    spans.clear();
  }
};

void applyPreTokenizer(const PreOp& op, const Words& in, Words& out, bool firstSection) {
  using namespace tokunicode;
  out.clear();
  for (const auto& [b, e] : in.spans) {
    const uint32_t* w = in.text.data() + b;
    const uint32_t n = e - b;
    switch (op.kind) {
      case PreOp::Bert:
      case PreOp::WhitespaceSplit: {
        uint32_t i = 0;
        while (i < n) {
          if (isSpace(w[i])) {
            ++i;
            continue;
          }
          const uint32_t start = static_cast<uint32_t>(out.text.size());
          if (op.kind == PreOp::Bert && isBertPunctuation(w[i])) {
            out.text.push_back(w[i++]);
          } else {
            while (i < n && !isSpace(w[i]) && !(op.kind == PreOp::Bert && isBertPunctuation(w[i])))
              out.text.push_back(w[i++]);
          }
          out.spans.emplace_back(start, static_cast<uint32_t>(out.text.size()));
        }
        break;
      }
      case PreOp::Metaspace: {
        const uint32_t start = static_cast<uint32_t>(out.text.size());
        const bool prepend = (op.prepend == PreOp::Always || (op.prepend == PreOp::First && firstSection)) &&
                             !(n > 0 && (w[0] == op.replacement || w[0] == ' '));
        if (prepend) out.text.push_back(op.replacement);
        for (uint32_t i = 0; i < n; ++i) out.text.push_back(w[i] == ' ' ? op.replacement : w[i]);
        const uint32_t end = static_cast<uint32_t>(out.text.size());
        if (!op.split) {
          if (end > start) out.spans.emplace_back(start, end);
          break;
        }
        // Split before every replacement character, which stays at the front of its piece.
        uint32_t pieceStart = start;
        for (uint32_t i = start + 1; i < end; ++i) {
          if (out.text[i] == op.replacement) {
            out.spans.emplace_back(pieceStart, i);
            pieceStart = i;
          }
        }
        if (end > pieceStart) out.spans.emplace_back(pieceStart, end);
        break;
      }
    }
  }
}

// ---- vocabulary trie --------------------------------------------------------------------------

// Pieces as a byte trie: an edge table in one open-addressed hash (node, byte) -> child, so a walk
// costs one probe per byte and the table is built once from the vocabulary.
class PieceTrie {
 public:
  void reserve(size_t totalBytes) {
    size_t cap = 16;
    while (cap < totalBytes * 2 + 16) cap <<= 1;
    keys_.assign(cap, 0);
    children_.assign(cap, 0);
    mask_ = cap - 1;
    terminal_.assign(1, kNone);
  }
  /// Later insertions of the same piece win (as a vocabulary map built in order).
  void insert(const std::string& piece, uint32_t id) {
    uint32_t node = 0;
    for (unsigned char c : piece) {
      uint32_t next = child(node, c);
      if (next == 0) {
        next = static_cast<uint32_t>(terminal_.size());
        terminal_.push_back(kNone);
        put(node, c, next);
      }
      node = next;
    }
    terminal_[node] = id;
  }
  /// 0 when there is no such edge (the root is never a child).
  uint32_t child(uint32_t node, unsigned char c) const {
    const uint64_t key = (static_cast<uint64_t>(node) << 8 | c) + 1;
    for (size_t i = slot(key);; i = (i + 1) & mask_) {
      if (keys_[i] == key) return children_[i];
      if (keys_[i] == 0) return 0;
    }
  }
  uint32_t terminal(uint32_t node) const { return terminal_[node]; }
  /// The node reached by walking `s` from the root, or 0 when the path leaves the trie.
  uint32_t walk(const std::string& s) const {
    uint32_t node = 0;
    for (unsigned char c : s)
      if ((node = child(node, c)) == 0) return 0;
    return node;
  }

 private:
  size_t slot(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 20) & mask_; }
  void put(uint32_t node, unsigned char c, uint32_t next) {
    if ((terminal_.size() + 1) * 2 > keys_.size()) grow();
    const uint64_t key = (static_cast<uint64_t>(node) << 8 | c) + 1;
    size_t i = slot(key);
    while (keys_[i] != 0) i = (i + 1) & mask_;
    keys_[i] = key;
    children_[i] = next;
  }
  void grow() {
    std::vector<uint64_t> oldKeys;
    std::vector<uint32_t> oldChildren;
    oldKeys.swap(keys_);
    oldChildren.swap(children_);
    keys_.assign(oldKeys.size() * 2, 0);
    children_.assign(oldKeys.size() * 2, 0);
    mask_ = keys_.size() - 1;
    for (size_t j = 0; j < oldKeys.size(); ++j) {
      if (oldKeys[j] == 0) continue;
      size_t i = slot(oldKeys[j]);
      while (keys_[i] != 0) i = (i + 1) & mask_;
      keys_[i] = oldKeys[j];
      children_[i] = oldChildren[j];
    }
  }
  std::vector<uint64_t> keys_;
  std::vector<uint32_t> children_;
  std::vector<uint32_t> terminal_;
  size_t mask_ = 0;
};

// The UTF-8 bytes of a word and the byte offset of each of its code points (plus the end).
struct Utf8Word {
  std::string bytes;
  std::vector<uint32_t> cpStart;
  void assign(const uint32_t* w, uint32_t n) {
    bytes.clear();
    cpStart.clear();
    for (uint32_t i = 0; i < n; ++i) {
      cpStart.push_back(static_cast<uint32_t>(bytes.size()));
      appendUtf8(w[i], bytes);
    }
    cpStart.push_back(static_cast<uint32_t>(bytes.size()));
  }
};

// ---- models -----------------------------------------------------------------------------------

struct Model {
  virtual ~Model() = default;
  virtual void encodeWord(const uint32_t* w, uint32_t n, std::vector<uint32_t>& out) const = 0;
};

class WordPieceModel : public Model {
 public:
  WordPieceModel(const Reader& r, JsonValue model, uint32_t& vocabSize) {
    const std::string where = "model";
    JsonValue vocab = r.member(model, "vocab", where);
    if (!vocab.isObject()) bad(r.source, "model.vocab is not an object of piece: id");
    size_t bytes = 0;
    for (uint32_t i = 0; i < vocab.size(); ++i) bytes += vocab.keyAt(i).size();
    trie_.reserve(bytes);
    for (uint32_t i = 0; i < vocab.size(); ++i) {
      const uint32_t id = r.id(vocab.valueAt(i), "model.vocab[\"" + std::string(vocab.keyAt(i)) + "\"]");
      trie_.insert(std::string(vocab.keyAt(i)), id);
      vocabSize = std::max(vocabSize, id + 1);
    }
    const std::string unk = r.string(model, "unk_token", where);
    const uint32_t unkNode = trie_.walk(unk);
    unk_ = unkNode ? trie_.terminal(unkNode) : kNone;
    if (unk_ == kNone) bad(r.source, "model.unk_token \"" + unk + "\" is not in model.vocab");
    const std::string prefix = r.stringOr(model, "continuing_subword_prefix", where, "##");
    prefixNode_ = prefix.empty() ? 0 : trie_.walk(prefix);
    if (!prefix.empty() && prefixNode_ == 0) prefixNode_ = kNone;  // no continuation pieces at all
    JsonValue maxChars = model;
    if (r.has(model, "max_input_chars_per_word", &maxChars)) {
      if (!maxChars.isUint64() || maxChars.uint64() == 0 || maxChars.uint64() > (1u << 20))
        bad(r.source, "model.max_input_chars_per_word is not a positive integer");
      maxChars_ = static_cast<uint32_t>(maxChars.uint64());
    }
  }
  uint32_t unk() const { return unk_; }

  void encodeWord(const uint32_t* w, uint32_t n, std::vector<uint32_t>& out) const override {
    if (n == 0) return;
    if (n > maxChars_) {
      out.push_back(unk_);
      return;
    }
    thread_local Utf8Word word;
    word.assign(w, n);
    const size_t mark = out.size();
    const size_t len = word.bytes.size();
    size_t start = 0;
    while (start < len) {
      uint32_t node = start == 0 ? 0 : prefixNode_;
      uint32_t best = kNone;
      size_t bestEnd = 0;
      if (node != kNone) {
        for (size_t i = start; i < len; ++i) {
          node = trie_.child(node, static_cast<unsigned char>(word.bytes[i]));
          if (node == 0) break;
          const uint32_t id = trie_.terminal(node);
          if (id != kNone) best = id, bestEnd = i + 1;
        }
      }
      if (best == kNone) {
        out.resize(mark);
        out.push_back(unk_);
        return;
      }
      out.push_back(best);
      start = bestEnd;
    }
  }

 private:
  PieceTrie trie_;
  uint32_t unk_ = kNone;
  uint32_t prefixNode_ = 0;
  uint32_t maxChars_ = 100;
};

class UnigramModel : public Model {
 public:
  UnigramModel(const Reader& r, JsonValue model, uint32_t& vocabSize) {
    JsonValue vocab = r.member(model, "vocab", "model");
    if (!vocab.isArray() || vocab.size() == 0) bad(r.source, "model.vocab is not a non-empty array of [piece, score]");
    if (r.boolOr(model, "byte_fallback", "model", false))
      bad(r.source, "model.byte_fallback is true: Unigram byte fallback is not supported");
    JsonValue unk = model;
    if (!r.has(model, "unk_id", &unk))
      bad(r.source, "model.unk_id is missing: a Unigram model without an unknown token is not supported");
    unk_ = r.id(unk, "model.unk_id");
    if (unk_ >= vocab.size()) bad(r.source, "model.unk_id " + std::to_string(unk_) + " is past the vocabulary");
    scores_.resize(vocab.size());
    size_t bytes = 0;
    for (uint32_t i = 0; i < vocab.size(); ++i) {
      JsonValue e = vocab.at(i);
      if (!e.isArray() || e.size() != 2 || !e.at(0).isString() || !e.at(1).isNumber())
        bad(r.source, "model.vocab[" + std::to_string(i) + "] is not [piece, score]");
      bytes += e.at(0).string().size();
    }
    trie_.reserve(bytes);
    double minScore = std::numeric_limits<double>::infinity();
    for (uint32_t i = 0; i < vocab.size(); ++i) {
      JsonValue e = vocab.at(i);
      scores_[i] = e.at(1).number();
      minScore = std::min(minScore, scores_[i]);
      if (!e.at(0).string().empty()) trie_.insert(std::string(e.at(0).string()), i);
    }
    // The unknown token scores well below every piece, so it is the last resort (the reference).
    scores_[unk_] = minScore - 10;
    unkScore_ = scores_[unk_];
    vocabSize = std::max<uint32_t>(vocabSize, vocab.size());
  }
  uint32_t unk() const { return unk_; }

  // Viterbi over code points: the best-scoring segmentation into pieces, a single unknown code
  // point where no one-character piece starts. Ties go to the path found first (predecessors that
  // start earlier), as the reference's lattice does; consecutive unknowns fuse into one.
  void encodeWord(const uint32_t* w, uint32_t n, std::vector<uint32_t>& out) const override {
    if (n == 0) return;
    thread_local Utf8Word word;
    thread_local Lattice lat;
    word.assign(w, n);
    lat.best.assign(n + 1, 0);
    lat.from.assign(n + 1, kNone);
    lat.id.assign(n + 1, kNone);
    // byte offset -> code point index, for the ends of trie matches
    lat.cpAt.assign(word.bytes.size() + 1, kNone);
    for (uint32_t c = 0; c <= n; ++c) lat.cpAt[word.cpStart[c]] = c;
    lat.from[0] = 0;
    for (uint32_t s = 0; s < n; ++s) {
      const double base = lat.best[s];
      bool single = false;
      uint32_t node = 0;
      for (size_t i = word.cpStart[s]; i < word.bytes.size(); ++i) {
        node = trie_.child(node, static_cast<unsigned char>(word.bytes[i]));
        if (node == 0) break;
        const uint32_t piece = trie_.terminal(node);
        if (piece == kNone) continue;
        const uint32_t e = lat.cpAt[i + 1];
        if (e == kNone) continue;  // a piece ending inside a code point (only with invalid pieces)
        if (e == s + 1) single = true;
        lat.relax(s, e, piece, base + scores_[piece]);
      }
      if (!single) lat.relax(s, s + 1, unk_, base + unkScore_);
    }
    // Backtrack, then fuse runs of unknowns.
    lat.rev.clear();
    for (uint32_t e = n; e > 0; e = lat.from[e]) lat.rev.push_back(lat.id[e]);
    for (size_t i = lat.rev.size(); i-- > 0;) {
      if (lat.rev[i] == unk_ && i + 1 < lat.rev.size() && lat.rev[i + 1] == unk_) continue;
      out.push_back(lat.rev[i]);
    }
  }

 private:
  struct Lattice {
    std::vector<double> best;    // best score of a segmentation of the first e code points
    std::vector<uint32_t> from;  // where the last piece of that segmentation starts
    std::vector<uint32_t> id;    // and which piece it is
    std::vector<uint32_t> cpAt, rev;
    void relax(uint32_t s, uint32_t e, uint32_t piece, double score) {
      if (from[e] == kNone || score > best[e]) {
        best[e] = score;
        from[e] = s;
        id[e] = piece;
      }
    }
  };
  PieceTrie trie_;
  std::vector<double> scores_;
  double unkScore_ = 0;
  uint32_t unk_ = 0;
};

// ---- the tokenizer ----------------------------------------------------------------------------

struct AddedToken {
  Cps content;
  uint32_t id = 0;
  bool lstrip = false, rstrip = false, singleWord = false;
};

// A stretch of text between added tokens, or one added token (id != kNone).
struct Section {
  uint32_t begin, end, id;
};

// Splits text[begin, end) at the added tokens (leftmost, then longest match), appending sections.
void splitAdded(const std::vector<AddedToken>& added, const Cps& text, uint32_t begin, uint32_t end,
                std::vector<Section>& out) {
  uint32_t start = begin;
  if (added.empty()) {
    if (end > start) out.push_back({start, end, kNone});
    return;
  }
  // Most text holds no added token: a position is only tried when its character starts one.
  uint32_t firstLo = UINT32_MAX, firstHi = 0;
  for (const AddedToken& t : added)
    firstLo = std::min(firstLo, t.content[0]), firstHi = std::max(firstHi, t.content[0]);
  for (uint32_t i = begin; i < end;) {
    if (text[i] < firstLo || text[i] > firstHi) {
      ++i;
      continue;
    }
    const AddedToken* match = nullptr;
    for (const AddedToken& t : added) {
      const uint32_t n = static_cast<uint32_t>(t.content.size());
      if (n == 0 || i + n > end || (match && n <= match->content.size())) continue;
      if (!std::equal(t.content.begin(), t.content.end(), text.begin() + i)) continue;
      if (t.singleWord && ((i > begin && isWordChar(text[i - 1])) || (i + n < end && isWordChar(text[i + n]))))
        continue;
      match = &t;
    }
    if (!match) {
      ++i;
      continue;
    }
    if (i > start) out.push_back({start, i, kNone});
    const uint32_t n = static_cast<uint32_t>(match->content.size());
    out.push_back({i, i + n, match->id});
    i += n;
    start = i;
  }
  if (end > start) out.push_back({start, end, kNone});
}

// An added token with lstrip/rstrip swallows the whitespace before/after it.
void stripAroundAdded(const std::vector<AddedToken>& added, const Cps& text, std::vector<Section>& sections) {
  if (sections.size() < 2) return;
  auto find = [&](uint32_t id) -> const AddedToken* {
    for (const AddedToken& t : added)
      if (t.id == id) return &t;
    return nullptr;
  };
  for (size_t j = 0; j < sections.size(); ++j) {
    if (sections[j].id == kNone) continue;
    const AddedToken* t = find(sections[j].id);
    if (!t) continue;
    if (t->lstrip && j > 0 && sections[j - 1].id == kNone)
      while (sections[j - 1].end > sections[j - 1].begin && tokunicode::isSpace(text[sections[j - 1].end - 1]))
        --sections[j - 1].end;
    if (t->rstrip && j + 1 < sections.size() && sections[j + 1].id == kNone)
      while (sections[j + 1].begin < sections[j + 1].end && tokunicode::isSpace(text[sections[j + 1].begin]))
        ++sections[j + 1].begin;
  }
}

// A per-thread, direct-mapped cache of word -> ids. Prompts repeat their words ("the", "of",
// "question"), and a word's ids depend only on the word once it is normalised and pre-tokenized,
// so most words of a prompt skip the trie walk (and the Viterbi lattice of a Unigram model).
// Entries are keyed by the tokenizer's instance number (never reused, unlike its address) and the
// word's code points; a collision just overwrites a slot.
class WordCache {
 public:
  static constexpr size_t kSlots = 16384;
  static constexpr uint32_t kMaxWordChars = 16;  // longer words are rare and go uncached
  static constexpr uint32_t kMaxIds = 16;        // so are words of more pieces than this

  /// The cached ids of w[0, n) for tokenizer `owner` (count in *count), or nullptr.
  const uint32_t* find(uint64_t owner, const uint32_t* w, uint32_t n, uint64_t* hashOut, uint32_t* count) const {
    const uint64_t h = hash(owner, w, n);
    *hashOut = h;
    const Slot& slot = slots_[h & (kSlots - 1)];
    if (slot.hash != h || slot.owner != owner || slot.chars != n || !std::equal(w, w + n, slot.word)) return nullptr;
    *count = slot.count;
    return slot.ids;
  }
  void put(uint64_t owner, uint64_t h, const uint32_t* w, uint32_t n, const uint32_t* ids, size_t count) {
    if (n > kMaxWordChars || count > kMaxIds) return;
    Slot& slot = slots_[h & (kSlots - 1)];
    slot.owner = owner;
    slot.hash = h;
    slot.chars = n;
    slot.count = static_cast<uint32_t>(count);
    std::copy(w, w + n, slot.word);
    std::copy(ids, ids + count, slot.ids);
  }
  static WordCache& local() {
    thread_local WordCache cache;
    return cache;
  }

 private:
  // Inline storage: one slot is one contiguous 152-byte record, so a hit costs the slot's cache
  // lines and no pointer chase (the per-word cost that matters at ~100 words a prompt).
  struct Slot {
    uint64_t owner = 0, hash = 0;
    uint32_t chars = 0, count = 0;
    uint32_t word[kMaxWordChars];
    uint32_t ids[kMaxIds];
  };
  static uint64_t hash(uint64_t owner, const uint32_t* w, uint32_t n) {
    uint64_t h = owner * 0x9E3779B97F4A7C15ull ^ n;
    for (uint32_t i = 0; i < n; ++i) h = (h ^ w[i]) * 0x100000001B3ull;
    return h ^ (h >> 29);
  }
  std::vector<Slot> slots_ = std::vector<Slot>(kSlots);
};

std::atomic<uint64_t> gTokenizerInstances{0};

class JsonTokenizer final : public Tokenizer {
 public:
  JsonTokenizer(std::string_view json, const std::string& source) : instance_(++gTokenizerInstances) {
    JsonLimits limits;
    limits.maxValues = 1u << 24;  // a 250k-piece Unigram vocabulary is ~750k values
    JsonDocument doc;
    try {
      doc = JsonDocument::parse(json, source, limits);
    } catch (const Error& e) {
      throw Error(ErrorCode::BadModel, std::string("not a valid tokenizer.json: ") + e.what());
    }
    const Reader r{source};
    const JsonValue root = doc.root();
    if (!root.isObject()) bad(source, "the top level is not a JSON object");
    JsonValue v = root;
    if (r.has(root, "normalizer", &v)) parseNormalizer(r, v, "normalizer", norm_);
    if (r.has(root, "pre_tokenizer", &v)) parsePreTokenizer(r, v, "pre_tokenizer", pre_);
    const JsonValue model = r.member(root, "model", "tokenizer.json");
    if (!model.isObject()) bad(source, "model is not an object");
    const std::string type = r.string(model, "type", "model");
    if (type == "WordPiece") {
      auto m = std::make_unique<WordPieceModel>(r, model, vocab_);
      unk_ = m->unk();
      model_ = std::move(m);
      type_ = "WordPiece";
    } else if (type == "Unigram") {
      auto m = std::make_unique<UnigramModel>(r, model, vocab_);
      unk_ = m->unk();
      model_ = std::move(m);
      type_ = "Unigram";
    } else {
      bad(source, "model.type \"" + type + "\" is not supported (supported: WordPiece, Unigram)");
    }
    if (r.has(root, "added_tokens", &v)) {
      if (!v.isArray()) bad(source, "added_tokens is not an array");
      for (uint32_t i = 0; i < v.size(); ++i) {
        const std::string where = "added_tokens[" + std::to_string(i) + "]";
        const JsonValue t = v.at(i);
        if (!t.isObject()) bad(source, where + " is not an object");
        AddedToken a;
        a.id = r.id(r.member(t, "id", where), where + ".id");
        a.content = decode(r.string(t, "content", where));
        a.lstrip = r.boolOr(t, "lstrip", where, false);
        a.rstrip = r.boolOr(t, "rstrip", where, false);
        a.singleWord = r.boolOr(t, "single_word", where, false);
        vocab_ = std::max(vocab_, a.id + 1);
        if (a.content.empty()) continue;
        if (r.boolOr(t, "normalized", where, false) && !norm_.empty()) {
          Cps tmp;
          for (const NormOp& op : norm_) applyNormalizer(op, a.content, tmp);
          if (!a.content.empty()) normAdded_.push_back(std::move(a));
        } else {
          rawAdded_.push_back(std::move(a));
        }
      }
    }
  }

  void encode(const char* text, size_t len, std::vector<uint32_t>& out) const override {
    struct Scratch {
      Cps cps, part, tmp;
      std::vector<Section> sections, subsections;
      Words a, b;
    };
    thread_local Scratch s;
    s.cps.clear();
    decodeUtf8(text, len, s.cps);
    s.sections.clear();
    splitAdded(rawAdded_, s.cps, 0, static_cast<uint32_t>(s.cps.size()), s.sections);
    stripAroundAdded(rawAdded_, s.cps, s.sections);
    for (size_t i = 0; i < s.sections.size(); ++i) {
      const Section sec = s.sections[i];
      if (sec.id != kNone) {
        out.push_back(sec.id);
        continue;
      }
      if (sec.end == sec.begin) continue;
      s.part.assign(s.cps.begin() + sec.begin, s.cps.begin() + sec.end);
      for (const NormOp& op : norm_) applyNormalizer(op, s.part, s.tmp);
      if (s.part.empty()) continue;
      s.subsections.clear();
      splitAdded(normAdded_, s.part, 0, static_cast<uint32_t>(s.part.size()), s.subsections);
      stripAroundAdded(normAdded_, s.part, s.subsections);
      for (const Section& sub : s.subsections) {
        if (sub.id != kNone) {
          out.push_back(sub.id);
          continue;
        }
        if (sub.end == sub.begin) continue;
        s.a.clear();
        s.a.text.assign(s.part.begin() + sub.begin, s.part.begin() + sub.end);
        s.a.spans.emplace_back(0, static_cast<uint32_t>(s.a.text.size()));
        for (const PreOp& op : pre_) {
          applyPreTokenizer(op, s.a, s.b, i == 0);
          std::swap(s.a, s.b);
        }
        for (const auto& [b, e] : s.a.spans) encodeWord(s.a.text.data() + b, e - b, out);
      }
    }
  }
  uint32_t vocabSize() const override { return vocab_; }
  uint32_t unkId() const override { return unk_; }

  // One word through the model, through the word cache.
  void encodeWord(const uint32_t* w, uint32_t n, std::vector<uint32_t>& out) const {
    if (n == 0) return;
    if (n > WordCache::kMaxWordChars) return model_->encodeWord(w, n, out);
    WordCache& cache = WordCache::local();
    uint64_t h = 0;
    uint32_t count = 0;
    if (const uint32_t* hit = cache.find(instance_, w, n, &h, &count)) {
      out.insert(out.end(), hit, hit + count);
      return;
    }
    const size_t before = out.size();
    model_->encodeWord(w, n, out);
    cache.put(instance_, h, w, n, out.data() + before, out.size() - before);
  }
  const char* modelType() const override { return type_; }

 private:
  std::vector<NormOp> norm_;
  std::vector<PreOp> pre_;
  std::unique_ptr<Model> model_;
  std::vector<AddedToken> rawAdded_, normAdded_;
  uint32_t vocab_ = 0;
  uint32_t unk_ = kNone;
  const char* type_ = "";
  const uint64_t instance_;
};

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::fromJson(std::string_view json, const std::string& source) {
  return std::make_unique<JsonTokenizer>(json, source);
}

}  // namespace routecore
