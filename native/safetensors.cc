#include "safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "artifact.h"
#include "error.h"
#include "json.h"

namespace routecore {
namespace {

[[noreturn]] void bad(const std::string& source, const std::string& message) {
  throw Error(ErrorCode::BadModel, source + ": " + message);
}

// A header larger than this is not a model2vec file (theirs are a few hundred bytes).
constexpr uint64_t kMaxHeaderBytes = 64u << 20;

bool mulFits(uint64_t a, uint64_t b, uint64_t* out) {
  if (a != 0 && b > UINT64_MAX / a) return false;
  *out = a * b;
  return true;
}

float bf16ToFloat(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

unsigned safetensorsDtypeWidth(const std::string& d) {
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
  if (d == "I8" || d == "U8" || d == "BOOL" || d == "F8_E4M3" || d == "F8_E5M2") return 1;
  return 0;
}

uint64_t SafetensorsEntry::elements() const {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;  // checked against the byte range when parsed
  return n;
}

SafetensorsFile::SafetensorsFile(const uint8_t* data, size_t size, std::string source) : source_(std::move(source)) {
  if (size < 9) bad(source_, "not a safetensors file (only " + std::to_string(size) + " bytes; truncated?)");
  uint64_t hlen = 0;
  for (int i = 0; i < 8; ++i) hlen |= static_cast<uint64_t>(data[i]) << (8 * i);
  if (hlen == 0 || hlen > kMaxHeaderBytes || data[8] != '{')
    bad(source_, "not a safetensors file (the first 8 bytes do not give a JSON header of at most 64 MiB)");
  if (hlen > size - 8)
    bad(source_, "truncated: the header needs " + std::to_string(hlen) + " bytes but the file has " +
                     std::to_string(size - 8) + " after the length prefix");
  JsonDocument doc;
  try {
    doc = JsonDocument::parse(std::string_view(reinterpret_cast<const char*>(data + 8), hlen), source_);
  } catch (const Error& e) {
    throw Error(ErrorCode::BadModel, std::string("bad safetensors header: ") + e.what());
  }
  const JsonValue header = doc.root();
  if (!header.isObject()) bad(source_, "the header is not a JSON object");
  body_ = data + 8 + hlen;
  bodySize_ = size - 8 - hlen;
  for (uint32_t ti = 0; ti < header.size(); ++ti) {
    const std::string name(header.keyAt(ti));
    const JsonValue info = header.valueAt(ti);
    if (name == "__metadata__") {
      if (!info.isObject()) bad(source_, "__metadata__ is not an object");
      for (uint32_t i = 0; i < info.size(); ++i)
        if (info.valueAt(i).isString()) metadata_[std::string(info.keyAt(i))] = std::string(info.valueAt(i).string());
      continue;
    }
    JsonValue dtype = info, shape = info, offs = info;
    if (!info.isObject() || !info.find("dtype", &dtype) || !dtype.isString() || !info.find("shape", &shape) ||
        !shape.isArray() || !info.find("data_offsets", &offs) || !offs.isArray() || offs.size() != 2)
      bad(source_, "tensor \"" + name + "\" lacks dtype, shape or data_offsets");
    SafetensorsEntry t;
    t.name = name;
    t.dtype = std::string(dtype.string().substr(0, 16));
    const unsigned width = safetensorsDtypeWidth(t.dtype);
    if (width == 0) bad(source_, "tensor \"" + name + "\" has an unknown dtype \"" + t.dtype + "\"");
    if (shape.size() > 8) bad(source_, "tensor \"" + name + "\" has " + std::to_string(shape.size()) + " dimensions");
    uint64_t count = 1;
    for (uint32_t i = 0; i < shape.size(); ++i) {
      const JsonValue d = shape.at(i);
      if (!d.isUint64())
        bad(source_, "tensor \"" + name + "\": dimension " + std::to_string(i) + " is not a non-negative integer");
      t.shape.push_back(d.uint64());
      if (!mulFits(count, d.uint64(), &count) || count > bodySize_)
        bad(source_, "truncated or lying header: tensor \"" + name + "\" has a shape that needs more than the " +
                         std::to_string(bodySize_) + " bytes of the data section");
    }
    uint64_t bytes = 0;
    if (!mulFits(count, width, &bytes) || bytes > bodySize_)
      bad(source_, "truncated or lying header: tensor \"" + name + "\" needs more than the " +
                       std::to_string(bodySize_) + " bytes of the data section");
    const JsonValue b = offs.at(0), e = offs.at(1);
    if (!b.isUint64() || !e.isUint64() || e.uint64() < b.uint64())
      bad(source_, "tensor \"" + name + "\" has bad data_offsets (two non-negative integers, begin <= end)");
    t.begin = b.uint64();
    t.end = e.uint64();
    if (t.end > bodySize_)
      bad(source_, "truncated: tensor \"" + name + "\" ends at byte " + std::to_string(t.end) +
                       " of the data section, which has only " + std::to_string(bodySize_) + " bytes");
    if (t.end - t.begin != bytes)
      bad(source_, "tensor \"" + name + "\" spans " + std::to_string(t.end - t.begin) + " bytes but its " + t.dtype +
                       " shape needs " + std::to_string(bytes));
    tensors_.push_back(std::move(t));
  }
  // Tensors must not overlap (the format lays them out one after another).
  std::vector<const SafetensorsEntry*> order;
  for (const auto& t : tensors_) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < order.size(); ++i)
    if (order[i]->begin < order[i - 1]->end && order[i]->end > order[i]->begin)
      bad(source_, "tensors \"" + order[i - 1]->name + "\" and \"" + order[i]->name + "\" overlap");
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

std::vector<float> SafetensorsFile::floats(const SafetensorsEntry& t) const {
  const uint64_t n = t.elements();
  std::vector<float> out(n);
  const uint8_t* p = body_ + t.begin;
  if (t.dtype == "F32") {
    if (n) std::memcpy(out.data(), p, n * 4);
  } else if (t.dtype == "F16") {
    halvesToFloats(p, n, out.data());
  } else if (t.dtype == "BF16") {
    for (uint64_t i = 0; i < n; ++i) out[i] = bf16ToFloat(static_cast<uint16_t>(p[2 * i] | (p[2 * i + 1] << 8)));
  } else if (t.dtype == "F64") {
    for (uint64_t i = 0; i < n; ++i) {
      double d;
      std::memcpy(&d, p + 8 * i, 8);
      out[i] = static_cast<float>(d);
    }
  } else {
    bad(source_, "tensor \"" + t.name + "\" has dtype " + t.dtype + "; expected F32, F16, BF16 or F64");
  }
  for (uint64_t i = 0; i < n; ++i)
    if (!std::isfinite(out[i]))
      bad(source_, "tensor \"" + t.name + "\" holds " + (std::isnan(out[i]) ? "NaN" : "an infinity") + " at index " +
                       std::to_string(i));
  return out;
}

std::vector<int64_t> SafetensorsFile::integers(const SafetensorsEntry& t) const {
  const uint64_t n = t.elements();
  std::vector<int64_t> out(n);
  const uint8_t* p = body_ + t.begin;
  const unsigned w = safetensorsDtypeWidth(t.dtype);
  const bool isSigned = t.dtype[0] == 'I';
  if (t.dtype[0] != 'I' && t.dtype[0] != 'U')
    bad(source_, "tensor \"" + t.name + "\" has dtype " + t.dtype + "; expected an integer dtype");
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t u = 0;
    for (unsigned k = 0; k < w; ++k) u |= static_cast<uint64_t>(p[i * w + k]) << (8 * k);
    if (isSigned && w < 8 && (u >> (8 * w - 1)) & 1) u |= ~0ull << (8 * w);  // sign-extend
    out[i] = static_cast<int64_t>(u);
  }
  return out;
}

}  // namespace routecore
