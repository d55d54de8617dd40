// A strict JSON reader (RFC 8259) and string escaper for artifact headers. The header is the
// only JSON the core reads, and it comes from a file a user downloaded: the reader accepts exactly
// the RFC's grammar (no NaN/Infinity, hex, leading zeros, leading '+' or bare '.'; strings must be
// valid UTF-8 with valid escapes and paired surrogates), refuses duplicate object keys, and
// bounds both nesting depth and memory.
//
// Memory: the document is one flat array of 24-byte nodes plus one arena of decoded string bytes
// (reserved at the text's size, never larger), at most JsonLimits::maxValues nodes. A container's
// children sit next to each other in the node array, so a document costs at most
// ~2 x 24 x maxValues + text size bytes however it is shaped (the old tree of std::string and
// std::vector per value cost ~80 bytes of heap per byte of a dense header).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace routecore {

struct JsonLimits {
  uint32_t maxDepth = 64;         // nested arrays/objects
  uint32_t maxValues = 1u << 20;  // values of every kind, keys included
};

class JsonDocument;

/// A view of one value inside a JsonDocument (valid as long as the document).
class JsonValue {
 public:
  enum class Type : uint8_t { Null, Bool, Number, String, Array, Object };

  Type type() const;
  bool isObject() const { return type() == Type::Object; }
  bool isArray() const { return type() == Type::Array; }
  bool isString() const { return type() == Type::String; }
  bool isNumber() const { return type() == Type::Number; }
  bool boolean() const;
  /// Any number, as the nearest double (always finite: out-of-range literals are refused).
  double number() const;
  /// True when the literal is a non-negative integer without fraction or exponent that fits in
  /// 64 bits; then uint64() is exact (a double is not, above 2^53).
  bool isUint64() const;
  uint64_t uint64() const;
  std::string_view string() const;
  /// Elements of an array, members of an object.
  uint32_t size() const;
  JsonValue at(uint32_t i) const;            // array element i
  std::string_view keyAt(uint32_t i) const;  // object member i's key
  JsonValue valueAt(uint32_t i) const;       // object member i's value
  /// The member named key, if this is an object that has one.
  bool find(std::string_view key, JsonValue* out) const;

 private:
  friend class JsonDocument;
  JsonValue(const JsonDocument* doc, uint32_t node) : doc_(doc), node_(node) {}
  const JsonDocument* doc_;
  uint32_t node_;
};

class JsonDocument {
 public:
  /// Throws ErrorCode::BadArtifact naming `what` and the byte offset of the problem.
  static JsonDocument parse(std::string_view text, const std::string& what, const JsonLimits& limits = {});
  JsonValue root() const& { return JsonValue(this, static_cast<uint32_t>(nodes_.size() - 1)); }
  JsonValue root() && = delete;  // views point into the document: keep it alive
  /// Heap bytes held (nodes and strings), for tests of the memory bound.
  size_t heapBytes() const { return nodes_.capacity() * sizeof(Node) + strings_.capacity(); }
  size_t values() const { return nodes_.size(); }

 private:
  friend class JsonValue;
  friend class JsonParser;
  struct Node {
    JsonValue::Type type;
    uint8_t flags;   // bit 0: boolean value; bit 1: `u` holds an exact uint64
    uint32_t size;   // string: byte length; array: elements; object: members
    uint32_t first;  // string: offset in strings_; array/object: index of the first child node
    union {
      double d;
      uint64_t u;
    };
  };
  std::vector<Node> nodes_;  // object children alternate key, value
  std::string strings_;
};

/// Appends `s` as a quoted JSON string.
void appendJsonString(std::string& out, const std::string& s);

}  // namespace routecore
