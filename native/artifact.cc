#include "artifact.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <string_view>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define ROUTECORE_HAVE_F16C_CONVERSION 1
#include "cpu_features.h"
#endif

#include "error.h"
#include "json.h"

namespace routecore {

namespace {

[[noreturn]] void bad(const std::string& source, const std::string& why) {
  throw Error(ErrorCode::BadArtifact, source + ": " + why);
}

// Upper bound on the JSON header. A router's header is a few KB (the default router's is 2 KB,
// metadata included); 16 MiB leaves room for thousands of models in metadata while keeping the
// parse bounded: the reader's nodes and strings then stay under ~70 MB (see json.h).
constexpr uint64_t kMaxHeaderBytes = 16u << 20;

}  // namespace

uint16_t floatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000;
  const uint32_t absx = x & 0x7FFFFFFF;
  if (absx >= 0x7F800000) return static_cast<uint16_t>(sign | (absx > 0x7F800000 ? 0x7E00 : 0x7C00));
  if (absx >= 0x477FF000) return static_cast<uint16_t>(sign | 0x7C00);  // rounds past 65504: inf
  if (absx < 0x38800000) {  // below the smallest normal half: subnormal or zero
    if (absx < 0x33000001) return static_cast<uint16_t>(sign);
    // value = mant * 2^(exp - 150) with the implicit bit; in units of the half subnormal step
    // 2^-24 that is mant >> (126 - exp), rounded to nearest even below.
    uint32_t mant = (absx & 0x7FFFFF) | 0x800000;
    int shift = 126 - static_cast<int>(absx >> 23);
    uint32_t h = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (h & 1))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = ((absx - 0x38000000) >> 13);
  uint32_t rem = absx & 0x1FFF;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float halfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF, x;
  if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {
      float f = std::ldexp(static_cast<float>(mant), -24);
      std::memcpy(&x, &f, 4);
      x |= sign;
    }
  } else if (exp == 31) {
    x = sign | 0x7F800000 | (mant << 13);
  } else {
    x = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

// Bulk conversions. A router's table is millions of values, and converting them one call at a time
// was most of a router's load time (~14 ms each way for the 2M-value default router on the
// development VM); F16C converts 8 per instruction.
namespace {
// The scalar conversions over a run of values: the whole job without F16C, the tail (n % 8) with it.
void halvesToFloatsScalar(const uint8_t* in, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = halfToFloat(static_cast<uint16_t>(in[2 * i] | (in[2 * i + 1] << 8)));
}
void floatsToHalvesScalar(const float* in, size_t n, uint16_t* out) {
  for (size_t i = 0; i < n; ++i) out[i] = floatToHalf(in[i]);
}

#ifdef ROUTECORE_HAVE_F16C_CONVERSION
const bool kF16c = cpuHasAvxAndF16c();

__attribute__((target("avx,f16c"))) void halvesToFloatsF16c(const uint8_t* in, size_t n, float* out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + 2 * i))));
  halvesToFloatsScalar(in + 2 * i, n - i, out + i);
}

__attribute__((target("avx,f16c"))) void floatsToHalvesF16c(const float* in, size_t n, uint16_t* out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  floatsToHalvesScalar(in + i, n - i, out + i);
}
#endif
}  // namespace

void halvesToFloats(const uint8_t* in, size_t n, float* out) {
#ifdef ROUTECORE_HAVE_F16C_CONVERSION
  if (kF16c) return halvesToFloatsF16c(in, n, out);
#endif
  halvesToFloatsScalar(in, n, out);
}

void halvesToFloats(const uint16_t* in, size_t n, float* out) {
#ifdef ROUTECORE_HAVE_F16C_CONVERSION
  // x86 is little-endian: the values' bytes are what the byte version reads.
  if (kF16c) return halvesToFloatsF16c(reinterpret_cast<const uint8_t*>(in), n, out);
#endif
  for (size_t i = 0; i < n; ++i) out[i] = halfToFloat(in[i]);
}

void floatsToHalves(const float* in, size_t n, uint16_t* out) {
#ifdef ROUTECORE_HAVE_F16C_CONVERSION
  if (kF16c) return floatsToHalvesF16c(in, n, out);
#endif
  floatsToHalvesScalar(in, n, out);
}

const Tensor* Artifact::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const Tensor& Artifact::require(const std::string& name, const std::vector<int64_t>& shape) const {
  const Tensor* t = find(name);
  if (!t) throw Error(ErrorCode::BadArtifact, "router file has no tensor \"" + name + "\"");
  if (t->shape != shape) {
    auto fmt = [](const std::vector<int64_t>& s) {
      std::string r = "[";
      for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
      return r + "]";
    };
    throw Error(ErrorCode::BadArtifact,
                "tensor \"" + name + "\" has shape " + fmt(t->shape) + ", expected " + fmt(shape));
  }
  return *t;
}

const std::string& Artifact::requireMeta(const std::string& key) const {
  auto it = metadata.find(key);
  if (it == metadata.end()) throw Error(ErrorCode::BadArtifact, "router file metadata has no \"" + key + "\"");
  return it->second;
}

std::vector<uint8_t> writeArtifact(const Artifact& artifact) {
  std::string header = "{";
  uint64_t offset = 0;
  for (const auto& t : artifact.tensors) {
    // A file whose tensor disagrees with its own shape would only be refused when read back.
    uint64_t count = 1;
    for (int64_t d : t.shape) count *= static_cast<uint64_t>(d);
    if (count != t.data.size())
      throw Error(ErrorCode::Internal, "tensor \"" + t.name + "\" holds " + std::to_string(t.data.size()) +
                                           " values but its shape needs " + std::to_string(count));
    // A file this build would refuse to read is not written either.
    requireFiniteTensor(t, "router being written");
    uint64_t bytes = t.data.size() * (t.storeHalf ? 2 : 4);
    appendJsonString(header, t.name);
    header += ":{\"dtype\":";
    header += t.storeHalf ? "\"F16\"" : "\"F32\"";
    header += ",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) header += (i ? "," : "") + std::to_string(t.shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + bytes) + "]},";
    offset += bytes;
  }
  std::map<std::string, std::string> meta = artifact.metadata;
  meta["format"] = kArtifactFormatName;
  meta["format_version"] = std::to_string(kArtifactFormatVersion);
  header += "\"__metadata__\":{";
  bool first = true;
  for (const auto& kv : meta) {
    if (!first) header += ',';
    first = false;
    appendJsonString(header, kv.first);
    header += ':';
    appendJsonString(header, kv.second);
  }
  header += "}}";
  while ((8 + header.size()) % 8 != 0) header += ' ';  // tensors start 8-byte aligned

  std::vector<uint8_t> out(8 + header.size() + offset);
  uint64_t hlen = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(hlen >> (8 * i));
  std::memcpy(out.data() + 8, header.data(), header.size());
  uint8_t* p = out.data() + 8 + header.size();
  for (const auto& t : artifact.tensors) {
    if (t.storeHalf) {
      std::vector<uint16_t> halves(t.data.size());
      floatsToHalves(t.data.data(), t.data.size(), halves.data());
      for (uint16_t h : halves) {
        *p++ = static_cast<uint8_t>(h);
        *p++ = static_cast<uint8_t>(h >> 8);
      }
    } else {
      // The format is little-endian; every platform routecore builds for is too.
      std::memcpy(p, t.data.data(), t.data.size() * 4);
      p += t.data.size() * 4;
    }
  }
  return out;
}

namespace {

// a * b, or false when it would not fit in 64 bits.
bool mulFits(uint64_t a, uint64_t b, uint64_t* out) {
  if (a != 0 && b > UINT64_MAX / a) return false;
  *out = a * b;
  return true;
}

// The one tensor whose NaNs carry meaning: a knn reference with no score for a model.
bool nanMeansMissing(const std::string& name) {
  return name == "knn.scores";
}

}  // namespace

void requireFiniteTensor(const Tensor& t, const std::string& source) {
  const bool nanAllowed = nanMeansMissing(t.name);
  for (size_t i = 0; i < t.data.size(); ++i) {
    const float v = t.data[i];
    if (std::isnan(v) && nanAllowed) continue;
    if (!std::isfinite(v) || std::fabs(v) > kMaxTensorMagnitude)
      bad(source, "tensor \"" + t.name + "\" holds " +
                      (std::isnan(v)       ? std::string("NaN")
                       : !std::isfinite(v) ? std::string("an infinity")
                                           : std::to_string(v)) +
                      " at index " + std::to_string(i) + "; router weights must be finite and within +-1e6");
  }
}

Artifact readArtifact(const uint8_t* data, size_t size, const std::string& source) {
  // 8 bytes of length and at least the header's opening brace.
  if (size < 9) bad(source, "not a routecore router file (only " + std::to_string(size) + " bytes; truncated?)");
  uint64_t hlen = 0;
  for (int i = 0; i < 8; ++i) hlen |= static_cast<uint64_t>(data[i]) << (8 * i);
  if (hlen == 0 || hlen > kMaxHeaderBytes || data[8] != '{')
    bad(source, "not a routecore router file (no safetensors header of at most " +
                    std::to_string(kMaxHeaderBytes >> 20) + " MiB)");
  if (hlen > size - 8)
    bad(source, "truncated: the header needs " + std::to_string(hlen) + " bytes but the file has " +
                    std::to_string(size - 8) + " after the length prefix");
  const JsonDocument doc = JsonDocument::parse(std::string_view(reinterpret_cast<const char*>(data + 8), hlen), source);
  const JsonValue header = doc.root();
  if (!header.isObject()) bad(source, "header is not a JSON object");

  Artifact a;
  JsonValue meta = header;
  if (!header.find("__metadata__", &meta) || !meta.isObject())
    bad(source, "a safetensors file without routecore metadata: not a routecore router");
  for (uint32_t i = 0; i < meta.size(); ++i) {
    const std::string key(meta.keyAt(i));
    if (!meta.valueAt(i).isString()) bad(source, "metadata \"" + key + "\" is not a string");
    a.metadata[key] = std::string(meta.valueAt(i).string());
  }
  auto fmt = a.metadata.find("format");
  if (fmt == a.metadata.end() || fmt->second != kArtifactFormatName)
    bad(source, "a safetensors file but not a routecore router (metadata \"format\" is not \"" +
                    std::string(kArtifactFormatName) + "\")");
  auto ver = a.metadata.find("format_version");
  if (ver == a.metadata.end()) bad(source, "metadata has no \"format_version\"");
  const std::string& v = ver->second;
  long version = 0;
  auto parsed = std::from_chars(v.data(), v.data() + v.size(), version);
  if (v.empty() || v[0] == '-' || parsed.ec != std::errc() || parsed.ptr != v.data() + v.size() || version < 1)
    bad(source, "metadata \"format_version\" is not a positive integer: \"" + v + "\"");
  if (version > kArtifactFormatVersion)
    throw Error(ErrorCode::ArtifactVersion, source + ": written by a newer routecore (router format version " + v +
                                                "; this build reads up to version " +
                                                std::to_string(kArtifactFormatVersion) +
                                                "). Upgrade routecore to load it.");

  const uint8_t* body = data + 8 + hlen;
  const uint64_t bodySize = size - 8 - hlen;
  for (uint32_t ti = 0; ti < header.size(); ++ti) {
    const std::string name(header.keyAt(ti));
    if (name == "__metadata__") continue;
    const JsonValue info = header.valueAt(ti);
    JsonValue dtype = info, shape = info, offs = info;
    if (!info.isObject() || !info.find("dtype", &dtype) || !dtype.isString() || !info.find("shape", &shape) ||
        !shape.isArray() || !info.find("data_offsets", &offs) || !offs.isArray() || offs.size() != 2)
      bad(source, "tensor \"" + name + "\" lacks dtype, shape or data_offsets");
    unsigned width;
    if (dtype.string() == "F32")
      width = 4;
    else if (dtype.string() == "F16")
      width = 2;
    else
      bad(source, "tensor \"" + name + "\" has dtype " + std::string(dtype.string().substr(0, 32)) +
                      "; routecore reads F32 and F16 only");
    if (shape.size() > 8) bad(source, "tensor \"" + name + "\" has " + std::to_string(shape.size()) + " dimensions");
    Tensor t;
    t.name = name;
    t.storeHalf = width == 2;
    // Sizes in integers, each product checked before it is used: the byte count must fit in the
    // data section, which bounds every dimension and the element count with it.
    bool empty = false;
    for (uint32_t i = 0; i < shape.size(); ++i) {
      const JsonValue d = shape.at(i);
      if (!d.isUint64() || d.uint64() > static_cast<uint64_t>(INT64_MAX))
        bad(source, "tensor \"" + name + "\" has a bad shape (dimension " + std::to_string(i) +
                        " is not a non-negative integer)");
      t.shape.push_back(static_cast<int64_t>(d.uint64()));
      empty = empty || d.uint64() == 0;
    }
    uint64_t count = empty ? 0 : 1;
    // (A product past the data section's size stops the loop before it can overflow.)
    auto tooLarge = [&] {
      bad(source, "truncated: tensor \"" + name + "\" has a shape that needs more than the " +
                      std::to_string(bodySize) + " bytes of the file's data section");
    };
    for (size_t i = 0; i < t.shape.size() && !empty; ++i)
      if (!mulFits(count, static_cast<uint64_t>(t.shape[i]), &count) || count > bodySize) tooLarge();
    uint64_t bytes = 0;
    if (!mulFits(count, width, &bytes) || bytes > bodySize) tooLarge();
    const JsonValue b = offs.at(0), e = offs.at(1);
    if (!b.isUint64() || !e.isUint64() || e.uint64() < b.uint64())
      bad(source, "tensor \"" + name + "\" has bad data_offsets (two non-negative integers, begin <= end)");
    const uint64_t begin = b.uint64(), stop = e.uint64();
    if (stop > bodySize)
      bad(source, "truncated: tensor \"" + name + "\" ends at byte " + std::to_string(stop) +
                      " of the data section, which has only " + std::to_string(bodySize) + " bytes");
    if (stop - begin != bytes)
      bad(source, "tensor \"" + name + "\" spans " + std::to_string(stop - begin) + " bytes but its shape needs " +
                      std::to_string(bytes));
    t.data.resize(count);
    const uint8_t* p = body + begin;
    if (count == 0) {
      // Nothing to copy (and t.data.data() may be null, which memcpy must not see).
    } else if (width == 4) {
      std::memcpy(t.data.data(), p, count * 4);
    } else {
      halvesToFloats(p, count, t.data.data());
    }
    requireFiniteTensor(t, source);
    a.tensors.push_back(std::move(t));
  }
  return a;
}

}  // namespace routecore
