// The .router artifact: the safetensors layout (an 8-byte little-endian header length, a JSON
// header naming each tensor's dtype, shape and byte range, then the raw little-endian tensors),
// so standard safetensors tools can open it. `__metadata__` is a string -> string map as that
// format requires; structured values are stored as JSON text inside those strings.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace routecore {

/// The newest artifact format this build reads and the one it writes.
constexpr int kArtifactFormatVersion = 1;
constexpr const char* kArtifactFormatName = "routecore.router";

struct Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;  // always float32 in memory
  bool storeHalf = false;   // written as F16 when true (F16 tensors read back with this set)
};

struct Artifact {
  std::map<std::string, std::string> metadata;
  std::vector<Tensor> tensors;

  const Tensor* find(const std::string& name) const;
  /// Throws BadArtifact naming the tensor when it is missing or its shape differs.
  const Tensor& require(const std::string& name, const std::vector<int64_t>& shape) const;
  /// The same checks; for moving a tensor's data out of an artifact that is about to be dropped.
  Tensor& require(const std::string& name, const std::vector<int64_t>& shape) {
    return const_cast<Tensor&>(static_cast<const Artifact&>(*this).require(name, shape));
  }
  const std::string& requireMeta(const std::string& key) const;
};

/// Serialises to bytes. Metadata gains "format" and "format_version".
std::vector<uint8_t> writeArtifact(const Artifact& artifact);

/// Parses and validates bytes. `source` (a file name or "<buffer>") is named in every error.
/// Throws BadArtifact for truncated, corrupt or foreign input (every size and offset is checked in
/// integers before use, every tensor with requireFiniteTensor) and ArtifactVersion for a newer format.
Artifact readArtifact(const uint8_t* data, size_t size, const std::string& source);

/// Largest magnitude a tensor value may have. Trained weights are far below it (the default
/// router's largest is under 100); with it, no sum a backend forms over a router's tables can
/// overflow float32, so finite weights always give finite scores.
constexpr float kMaxTensorMagnitude = 1e6f;

/// Throws BadArtifact naming the tensor and the index of its first value that is NaN, infinite or
/// larger than kMaxTensorMagnitude. NaN is allowed in `knn.scores`, where it means "no score".
/// readArtifact checks every tensor with it.
void requireFiniteTensor(const Tensor& t, const std::string& source);

/// IEEE 754 binary16 conversion, round-to-nearest-even; exposed for tests.
uint16_t floatToHalf(float f);
float halfToFloat(uint16_t h);

/// n little-endian binary16 values (2n bytes) to floats; the same results as halfToFloat (NaN
/// payloads aside), 8 at a time where the CPU has F16C.
void halvesToFloats(const uint8_t* in, size_t n, float* out);
/// The same for values already in memory as uint16_t.
void halvesToFloats(const uint16_t* in, size_t n, float* out);
/// n floats to binary16, round-to-nearest-even; the same results as floatToHalf for every value
/// but NaN (which stays a NaN), 8 at a time where the CPU has F16C.
void floatsToHalves(const float* in, size_t n, uint16_t* out);

}  // namespace routecore
