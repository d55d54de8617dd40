// A reader for foreign safetensors files (model2vec's model.safetensors): the layout of the .router
// artifact (8-byte little-endian header length, JSON header, raw tensors) but any dtype and no
// routecore metadata. The file comes from wherever the user downloaded it, so every size, offset
// and dtype is checked before use and each problem is ErrorCode::BadModel naming the file and the
// tensor.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace routecore {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL", ...
  std::vector<uint64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range in the data section
  uint64_t elements() const;
};

class SafetensorsFile {
 public:
  /// Parses and checks the header; the bytes must outlive the object (it keeps a view).
  SafetensorsFile(const uint8_t* data, size_t size, std::string source);
  const SafetensorsEntry* find(const std::string& name) const;
  const std::vector<SafetensorsEntry>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& source() const { return source_; }
  /// A float tensor (F32, F16, BF16 or F64) as floats; BadModel for another dtype or a value that
  /// is NaN or infinite (named by index).
  std::vector<float> floats(const SafetensorsEntry& t) const;
  /// An integer tensor (I64, I32, U32, I16, U16, I8, U8) as int64 values.
  std::vector<int64_t> integers(const SafetensorsEntry& t) const;

 private:
  const uint8_t* body_ = nullptr;
  uint64_t bodySize_ = 0;
  std::string source_;
  std::vector<SafetensorsEntry> tensors_;
  std::map<std::string, std::string> metadata_;
};

/// Bytes per element of a safetensors dtype, 0 for an unknown one.
unsigned safetensorsDtypeWidth(const std::string& dtype);

}  // namespace routecore
