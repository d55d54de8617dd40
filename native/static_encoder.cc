#include "static_encoder.h"

#include <cmath>

#include "artifact.h"
#include "cpu_features.h"
#include "error.h"
#include "safetensors.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define ROUTECORE_STATIC_F16C 1
#endif

namespace routecore {
namespace {

[[noreturn]] void bad(const std::string& source, const std::string& message) {
  throw Error(ErrorCode::BadModel, source + ": " + message);
}

// acc += w * row over dim floats. The gathers of rows from a table of megabytes, not this
// arithmetic, bound the cost; the clones let the compiler use AVX2/AVX-512 where the CPU has them.
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void axpy(float* acc, const float* row, float w, uint32_t dim) {
  for (uint32_t j = 0; j < dim; ++j) acc[j] += w * row[j];
}

// acc += w * (binary16 row), converted 8 at a time with F16C.
#ifdef ROUTECORE_STATIC_F16C
const bool kF16c = cpuHasAvxAndF16c();
__attribute__((target("avx,f16c,fma"))) void axpyHalfF16c(float* acc, const uint16_t* row, float w, uint32_t dim) {
  const __m256 vw = _mm256_set1_ps(w);
  uint32_t j = 0;
  for (; j + 8 <= dim; j += 8) {
    const __m256 r = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + j)));
    _mm256_storeu_ps(acc + j, _mm256_fmadd_ps(vw, r, _mm256_loadu_ps(acc + j)));
  }
  for (; j < dim; ++j) acc[j] += w * halfToFloat(row[j]);
}
#endif

void axpyHalf(float* acc, const uint16_t* row, float w, uint32_t dim) {
#ifdef ROUTECORE_STATIC_F16C
  if (kF16c) return axpyHalfF16c(acc, row, w, dim);
#endif
  for (uint32_t j = 0; j < dim; ++j) acc[j] += w * halfToFloat(row[j]);
}

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
float sumSquares(const float* x, uint32_t dim) {
  float s = 0;
  for (uint32_t j = 0; j < dim; ++j) s += x[j] * x[j];
  return s;
}

}  // namespace

StaticEncoder::StaticEncoder(std::string tokenizerJson, StaticTables tables, uint32_t maxTokens,
                             const std::string& source)
    : tokenizerJson_(std::move(tokenizerJson)), tables_(std::move(tables)), maxTokens_(maxTokens) {
  tokenizer_ = Tokenizer::fromJson(tokenizerJson_, source + " (tokenizer.json)");
  const StaticTables& t = tables_;
  if (t.rows == 0 || t.dim == 0 || t.dim > (1u << 16) || t.embeddings.size() != static_cast<size_t>(t.rows) * t.dim)
    bad(source, "the embedding table must hold rows x dim floats with 1 <= dim <= 65536");
  const uint32_t vocab = tokenizer_->vocabSize();
  if (!t.mapping.empty()) {
    if (t.mapping.size() < vocab)
      bad(source, "\"mapping\" has " + std::to_string(t.mapping.size()) + " entries but the tokenizer has " +
                      std::to_string(vocab) + " ids");
    for (size_t i = 0; i < t.mapping.size(); ++i)
      if (t.mapping[i] >= t.rows)
        bad(source, "\"mapping\"[" + std::to_string(i) + "] = " + std::to_string(t.mapping[i]) +
                        " is past the embedding table's " + std::to_string(t.rows) + " rows");
  } else if (t.rows < vocab) {
    bad(source, "\"embeddings\" has " + std::to_string(t.rows) + " rows but the tokenizer has " +
                    std::to_string(vocab) + " ids: this table does not belong to this tokenizer");
  }
  if (!t.weights.empty() && t.weights.size() < vocab)
    bad(source, "\"weights\" has " + std::to_string(t.weights.size()) + " entries but the tokenizer has " +
                    std::to_string(vocab) + " ids");
  if (maxTokens_ == 0) maxTokens_ = UINT32_MAX;
  if (t.storedHalf) {
    half_.resize(t.embeddings.size());
    floatsToHalves(t.embeddings.data(), t.embeddings.size(), half_.data());
  }
}

std::unique_ptr<StaticEncoder> StaticEncoder::fromFiles(const std::string& tokenizerJson,
                                                        const std::string& tokenizerSource, const uint8_t* bytes,
                                                        size_t size, const std::string& source, uint32_t maxTokens,
                                                        bool halfTable) {
  SafetensorsFile file(bytes, size, source);
  const SafetensorsEntry* emb = file.find("embeddings");
  if (!emb) bad(source, "no \"embeddings\" tensor (a model2vec model.safetensors holds one, vocab x dim)");
  if (emb->shape.size() != 2 || emb->shape[0] == 0 || emb->shape[1] == 0 || emb->shape[0] > (1u << 24) ||
      emb->shape[1] > (1u << 16))
    bad(source, "\"embeddings\" must be 2-D [vocab x dim] with vocab <= 2^24 and dim <= 65536");
  StaticTables t;
  t.rows = static_cast<uint32_t>(emb->shape[0]);
  t.dim = static_cast<uint32_t>(emb->shape[1]);
  t.storedHalf = emb->dtype == "F16";
  t.embeddings = file.floats(*emb);
  if (halfTable && !t.storedHalf) {
    std::vector<uint16_t> h(t.embeddings.size());
    floatsToHalves(t.embeddings.data(), t.embeddings.size(), h.data());
    halvesToFloats(h.data(), h.size(), t.embeddings.data());
    t.storedHalf = true;
  }
  if (const SafetensorsEntry* w = file.find("weights")) {
    if (w->shape.size() != 1) bad(source, "\"weights\" must be 1-D [vocab]");
    t.weights = file.floats(*w);
  }
  if (const SafetensorsEntry* m = file.find("mapping")) {
    if (m->shape.size() != 1) bad(source, "\"mapping\" must be 1-D [vocab]");
    for (int64_t v : file.integers(*m)) {
      if (v < 0 || v >= static_cast<int64_t>(t.rows))
        bad(source,
            "\"mapping\" holds " + std::to_string(v) + ", outside the table's " + std::to_string(t.rows) + " rows");
      t.mapping.push_back(static_cast<uint32_t>(v));
    }
  }
  (void)tokenizerSource;
  return std::make_unique<StaticEncoder>(tokenizerJson, std::move(t), maxTokens, tokenizerSource);
}

void StaticEncoder::tokenIds(const char* text, size_t len, std::vector<uint32_t>& ids) const {
  ids.clear();
  tokenizer_->encode(text, len, ids);
  const uint32_t unk = tokenizer_->unkId();
  size_t kept = 0;
  for (size_t i = 0; i < ids.size() && kept < maxTokens_; ++i)
    if (ids[i] != unk) ids[kept++] = ids[i];
  ids.resize(kept);
}

void StaticEncoder::tokenRow(const char* text, size_t len, CsrBatch& out) const {
  thread_local std::vector<uint32_t> ids;
  tokenIds(text, len, ids);
  const bool mapped = !tables_.mapping.empty(), weighted = !tables_.weights.empty();
  for (uint32_t id : ids) {
    out.index.push_back(mapped ? tables_.mapping[id] : id);
    out.value.push_back(weighted ? tables_.weights[id] : 1.f);
  }
  out.rowStart.push_back(static_cast<uint32_t>(out.index.size()));
}

uint32_t StaticEncoder::encode(const char* text, size_t len, float* out) const {
  thread_local std::vector<uint32_t> ids;
  tokenIds(text, len, ids);
  const uint32_t dim = tables_.dim;
  for (uint32_t j = 0; j < dim; ++j) out[j] = 0.f;
  const float* table = tables_.embeddings.data();
  const bool mapped = !tables_.mapping.empty(), weighted = !tables_.weights.empty();
  const uint16_t* half = half_.empty() ? nullptr : half_.data();
  for (uint32_t id : ids) {
    const size_t row = mapped ? tables_.mapping[id] : id;
    const float w = weighted ? tables_.weights[id] : 1.f;
    if (half)
      axpyHalf(out, half + row * dim, w, dim);
    else
      axpy(out, table + row * dim, w, dim);
  }
  // The mean's 1/n cancels in the normalisation.
  const float norm = std::sqrt(sumSquares(out, dim));
  if (norm > 0 && std::isfinite(norm)) {
    const float inv = 1.f / norm;
    for (uint32_t j = 0; j < dim; ++j) out[j] *= inv;
  } else {
    for (uint32_t j = 0; j < dim; ++j) out[j] = 0.f;
  }
  return static_cast<uint32_t>(ids.size());
}

size_t StaticEncoder::weightBytes() const {
  return tables_.embeddings.size() * 4 + half_.size() * 2 + tables_.weights.size() * 4 + tables_.mapping.size() * 4 +
         tokenizerJson_.size();
}

}  // namespace routecore
