// libFuzzer harness: the strict JSON reader. Every input either parses or throws BadArtifact; a
// parsed document is walked completely and every string in it must be valid UTF-8 (escapes are
// decoded to UTF-8, raw bytes are checked), with limits small enough to be reached by mutation.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "error.h"
#include "json.h"

namespace {

bool validUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; k < len; ++k) {
      const unsigned char b = static_cast<unsigned char>(s[i + k]);
      if ((b >> 6) != 2) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    const uint32_t minimum[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < minimum[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) return false;
    i += len;
  }
  return true;
}

size_t walk(const routecore::JsonValue& v, int depth) {
  // At most 16 nested containers (the limit given below); a scalar may sit inside the 16th.
  if (depth > 16 && (v.isArray() || v.isObject())) std::abort();
  size_t n = 1;
  switch (v.type()) {
    case routecore::JsonValue::Type::String:
      if (!validUtf8(v.string())) std::abort();
      break;
    case routecore::JsonValue::Type::Number:
      if (!std::isfinite(v.number())) std::abort();
      break;
    case routecore::JsonValue::Type::Array:
      for (uint32_t i = 0; i < v.size(); ++i) n += walk(v.at(i), depth + 1);
      break;
    case routecore::JsonValue::Type::Object:
      for (uint32_t i = 0; i < v.size(); ++i) {
        if (!validUtf8(v.keyAt(i))) std::abort();
        n += 1 + walk(v.valueAt(i), depth + 1);
      }
      break;
    default:
      break;
  }
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  routecore::JsonLimits limits;
  limits.maxDepth = 16;
  limits.maxValues = 4096;
  try {
    routecore::JsonDocument doc =
        routecore::JsonDocument::parse(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz", limits);
    if (walk(doc.root(), 1) != doc.values() || doc.values() > limits.maxValues) std::abort();
  } catch (const routecore::Error& e) {
    if (e.code() != routecore::ErrorCode::BadArtifact) std::abort();
  }
  return 0;
}
