// A small JSON reader and string escaper for artifact headers. The header is the only JSON the
// core reads, so this covers RFC 8259 values without streaming or extensions.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace routecore {

struct JsonValue {
  enum class Type { Null, Bool, Number, String, Array, Object } type = Type::Null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<JsonValue> array;
  std::vector<std::pair<std::string, JsonValue>> object;  // in file order

  const JsonValue* find(const std::string& key) const;
};

/// Throws ErrorCode::BadArtifact naming `what` and the byte offset of the problem.
JsonValue parseJson(const std::string& text, const std::string& what);

/// Appends `s` as a quoted JSON string.
void appendJsonString(std::string& out, const std::string& s);

}  // namespace routecore
