#include "json.h"

#include <algorithm>
#include <charconv>

#include "error.h"

namespace routecore {

// ---- views -------------------------------------------------------------------------------------

JsonValue::Type JsonValue::type() const {
  return doc_->nodes_[node_].type;
}
bool JsonValue::boolean() const {
  return (doc_->nodes_[node_].flags & 1) != 0;
}
bool JsonValue::isUint64() const {
  const auto& n = doc_->nodes_[node_];
  return n.type == Type::Number && (n.flags & 2) != 0;
}
double JsonValue::number() const {
  const auto& n = doc_->nodes_[node_];
  if (n.type != Type::Number) return 0;
  return (n.flags & 2) ? static_cast<double>(n.u) : n.d;
}
uint64_t JsonValue::uint64() const {
  return isUint64() ? doc_->nodes_[node_].u : 0;
}
std::string_view JsonValue::string() const {
  const auto& n = doc_->nodes_[node_];
  if (n.type != Type::String) return {};
  return std::string_view(doc_->strings_.data() + n.first, n.size);
}
uint32_t JsonValue::size() const {
  const auto& n = doc_->nodes_[node_];
  return n.type == Type::Array || n.type == Type::Object ? n.size : 0;
}
JsonValue JsonValue::at(uint32_t i) const {
  return JsonValue(doc_, doc_->nodes_[node_].first + i);
}
std::string_view JsonValue::keyAt(uint32_t i) const {
  return JsonValue(doc_, doc_->nodes_[node_].first + 2 * i).string();
}
JsonValue JsonValue::valueAt(uint32_t i) const {
  return JsonValue(doc_, doc_->nodes_[node_].first + 2 * i + 1);
}
bool JsonValue::find(std::string_view key, JsonValue* out) const {
  if (type() != Type::Object) return false;
  for (uint32_t i = 0; i < size(); ++i)
    if (keyAt(i) == key) {
      *out = valueAt(i);
      return true;
    }
  return false;
}

// ---- parser ------------------------------------------------------------------------------------

class JsonParser {
 public:
  JsonParser(std::string_view s, const std::string& what, const JsonLimits& limits, JsonDocument& doc)
      : s_(s), what_(what), limits_(limits), doc_(doc) {}

  void parseDocument() {
    // Decoded strings are never longer than their source text: one reservation, no regrowth.
    doc_.strings_.reserve(s_.size());
    parseValue(0);
    skipWs();
    if (pos_ != s_.size()) fail("unexpected trailing characters");
    doc_.nodes_.push_back(stack_.back());
    doc_.nodes_.shrink_to_fit();
  }

 private:
  using Node = JsonDocument::Node;

  [[noreturn]] void fail(const std::string& why) {
    throw Error(ErrorCode::BadArtifact, what_ + ": malformed JSON header at byte " + std::to_string(pos_) + ": " + why);
  }
  void skipWs() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  bool consume(std::string_view lit) {
    if (s_.substr(pos_, lit.size()) == lit) {
      pos_ += lit.size();
      return true;
    }
    return false;
  }
  void push(const Node& n) {
    if (++values_ > limits_.maxValues)
      fail("more than " + std::to_string(limits_.maxValues) + " values (a router header holds a few hundred)");
    stack_.push_back(n);
  }
  static Node node(JsonValue::Type t) {
    Node n;
    n.type = t;
    n.flags = 0;
    n.size = 0;
    n.first = 0;
    n.u = 0;
    return n;
  }
  // Moves the children pushed since `base` into the document, contiguous, and pushes their parent.
  void closeContainer(JsonValue::Type t, size_t base) {
    Node n = node(t);
    const size_t count = stack_.size() - base;
    n.first = static_cast<uint32_t>(doc_.nodes_.size());
    n.size = static_cast<uint32_t>(t == JsonValue::Type::Object ? count / 2 : count);
    if (t == JsonValue::Type::Object && n.size > 1) {
      std::vector<std::string_view> keys;
      keys.reserve(n.size);
      for (size_t i = base; i < stack_.size(); i += 2)
        keys.emplace_back(doc_.strings_.data() + stack_[i].first, stack_[i].size);
      std::sort(keys.begin(), keys.end());
      auto dup = std::adjacent_find(keys.begin(), keys.end());
      if (dup != keys.end()) fail("duplicate key \"" + std::string(dup->substr(0, 64)) + "\"");
    }
    doc_.nodes_.insert(doc_.nodes_.end(), stack_.begin() + static_cast<std::ptrdiff_t>(base), stack_.end());
    stack_.resize(base);
    stack_.push_back(n);  // counted when it opened
  }

  void parseValue(uint32_t depth) {
    skipWs();
    if (pos_ >= s_.size()) fail("unexpected end");
    const char c = s_[pos_];
    if (c == '{' || c == '[') {
      if (depth >= limits_.maxDepth) fail("nesting deeper than " + std::to_string(limits_.maxDepth));
      if (++values_ > limits_.maxValues)
        fail("more than " + std::to_string(limits_.maxValues) + " values (a router header holds a few hundred)");
      const bool object = c == '{';
      const char close = object ? '}' : ']';
      const size_t base = stack_.size();
      ++pos_;
      skipWs();
      if (pos_ < s_.size() && s_[pos_] == close) {
        ++pos_;
        return closeContainer(object ? JsonValue::Type::Object : JsonValue::Type::Array, base);
      }
      for (;;) {
        if (object) {
          skipWs();
          if (pos_ >= s_.size() || s_[pos_] != '"') fail("expected a string key");
          parseString();
          skipWs();
          if (pos_ >= s_.size() || s_[pos_] != ':') fail("expected ':'");
          ++pos_;
        }
        parseValue(depth + 1);
        skipWs();
        if (pos_ < s_.size() && s_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < s_.size() && s_[pos_] == close) {
          ++pos_;
          return closeContainer(object ? JsonValue::Type::Object : JsonValue::Type::Array, base);
        }
        fail(object ? "expected ',' or '}'" : "expected ',' or ']'");
      }
    }
    if (c == '"') return parseString();
    if (consume("true")) {
      Node n = node(JsonValue::Type::Bool);
      n.flags = 1;
      return push(n);
    }
    if (consume("false")) return push(node(JsonValue::Type::Bool));
    if (consume("null")) return push(node(JsonValue::Type::Null));
    if (c == '-' || (c >= '0' && c <= '9')) return parseNumber();
    fail(std::string("unexpected character '") + c + "'");
  }

  bool digitAt(size_t p) const { return p < s_.size() && s_[p] >= '0' && s_[p] <= '9'; }

  // number = [ "-" ] ( "0" / [1-9] *DIGIT ) [ "." 1*DIGIT ] [ ( "e" / "E" ) [ "+" / "-" ] 1*DIGIT ]
  void parseNumber() {
    const size_t begin = pos_;
    const bool negative = s_[pos_] == '-';
    if (negative) ++pos_;
    if (!digitAt(pos_)) fail("bad number: a digit must follow '-'");
    bool exact = !negative;
    uint64_t u = 0;
    if (s_[pos_] == '0') {
      ++pos_;
      if (digitAt(pos_)) fail("bad number: leading zero");
    } else {
      while (digitAt(pos_)) {
        const uint64_t d = static_cast<uint64_t>(s_[pos_] - '0');
        if (u > (UINT64_MAX - d) / 10)
          exact = false;  // past 2^64 - 1: only the double is kept
        else
          u = u * 10 + d;
        ++pos_;
      }
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      exact = false;
      ++pos_;
      if (!digitAt(pos_)) fail("bad number: a digit must follow '.'");
      while (digitAt(pos_)) ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      exact = false;
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (!digitAt(pos_)) fail("bad number: a digit must follow the exponent");
      while (digitAt(pos_)) ++pos_;
    }
    Node n = node(JsonValue::Type::Number);
    if (exact) {
      n.flags = 2;
      n.u = u;
    } else {
      // from_chars, not strtod: it reads exactly the validated lexeme, ignores the locale, and
      // reports overflow instead of returning infinity.
      double d = 0;
      auto r = std::from_chars(s_.data() + begin, s_.data() + pos_, d);
      if (r.ec != std::errc() || r.ptr != s_.data() + pos_) {
        pos_ = begin;
        fail("number " + std::string(s_.substr(begin, 40)) + " is outside the range of a double");
      }
      n.d = d;
    }
    push(n);
  }

  void appendUtf8(uint32_t cp) {
    std::string& out = doc_.strings_;
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  uint32_t parseHex4() {
    if (pos_ + 4 > s_.size()) fail("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = s_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9')
        v |= static_cast<uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f')
        v |= static_cast<uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        v |= static_cast<uint32_t>(h - 'A' + 10);
      else
        fail("bad \\u escape");
    }
    return v;
  }

  unsigned char byteAt(size_t p) const { return p < s_.size() ? static_cast<unsigned char>(s_[p]) : 0; }

  // Copies one raw (unescaped) UTF-8 sequence starting at pos_, refusing overlong forms, encoded
  // surrogates and code points past U+10FFFF (RFC 3629).
  void copyUtf8Sequence() {
    const unsigned char b0 = byteAt(pos_);
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (b0 < 0x80)
      len = 1;
    else if (b0 >= 0xC2 && b0 <= 0xDF)
      len = 2;
    else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3;
      if (b0 == 0xE0) lo = 0xA0;
      if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4;
      if (b0 == 0xF0) lo = 0x90;
      if (b0 == 0xF4) hi = 0x8F;
    } else {
      fail("invalid UTF-8 in string");
    }
    if (pos_ + len > s_.size()) fail("truncated UTF-8 sequence in string");
    for (size_t i = 1; i < len; ++i) {
      const unsigned char b = byteAt(pos_ + i);
      if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) fail("invalid UTF-8 in string");
    }
    doc_.strings_.append(s_.data() + pos_, len);
    pos_ += len;
  }

  void parseString() {
    ++pos_;  // opening quote
    Node n = node(JsonValue::Type::String);
    n.first = static_cast<uint32_t>(doc_.strings_.size());
    for (;;) {
      if (pos_ >= s_.size()) fail("unterminated string");
      const unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        break;
      }
      if (c < 0x20) fail("control character in string");
      if (c != '\\') {
        copyUtf8Sequence();
        continue;
      }
      ++pos_;
      if (pos_ >= s_.size()) fail("unterminated string");
      const char e = s_[pos_++];
      switch (e) {
        case '"':
          doc_.strings_ += '"';
          break;
        case '\\':
          doc_.strings_ += '\\';
          break;
        case '/':
          doc_.strings_ += '/';
          break;
        case 'b':
          doc_.strings_ += '\b';
          break;
        case 'f':
          doc_.strings_ += '\f';
          break;
        case 'n':
          doc_.strings_ += '\n';
          break;
        case 'r':
          doc_.strings_ += '\r';
          break;
        case 't':
          doc_.strings_ += '\t';
          break;
        case 'u': {
          uint32_t cp = parseHex4();
          if (cp >= 0xDC00 && cp < 0xE000) fail("unpaired low surrogate escape");
          if (cp >= 0xD800 && cp < 0xDC00) {
            if (!(byteAt(pos_) == '\\' && byteAt(pos_ + 1) == 'u')) fail("unpaired high surrogate escape");
            pos_ += 2;
            const uint32_t low = parseHex4();
            if (low < 0xDC00 || low >= 0xE000) fail("high surrogate escape not followed by a low one");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          appendUtf8(cp);
          break;
        }
        default:
          --pos_;
          fail("bad escape");
      }
    }
    n.size = static_cast<uint32_t>(doc_.strings_.size() - n.first);
    push(n);
  }

  std::string_view s_;
  const std::string& what_;
  const JsonLimits& limits_;
  JsonDocument& doc_;
  std::vector<Node> stack_;  // finished values whose parent is still open
  size_t pos_ = 0;
  uint64_t values_ = 0;
};

JsonDocument JsonDocument::parse(std::string_view text, const std::string& what, const JsonLimits& limits) {
  if (text.size() >= UINT32_MAX) throw Error(ErrorCode::BadArtifact, what + ": JSON header over 4 GiB");
  JsonDocument doc;
  JsonParser(text, what, limits, doc).parseDocument();
  return doc;
}

void appendJsonString(std::string& out, const std::string& s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

}  // namespace routecore
