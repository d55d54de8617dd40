// The CPU backend: forward passes with the row loops vectorised by the compiler. The sparse
// gather-accumulate dominates (one table row per feature), so it is compiled twice with
// target_clones and the AVX2/FMA version is picked at load time where the CPU has it.
#include <cmath>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define ROUTECORE_HAVE_F16C_PATH 1
#endif

#include "artifact.h"  // floatToHalf / halfToFloat

#include "backend.h"
#include "error.h"
#include "thread_pool.h"

namespace routecore {

namespace {

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define ROUTECORE_MULTIVERSION __attribute__((target_clones("avx2,fma", "default")))
#else
#define ROUTECORE_MULTIVERSION
#endif

ROUTECORE_MULTIVERSION
void gatherRows(const uint32_t* index, const float* value, size_t count, const float* table,
                uint32_t width, float* acc) {
  // Rows are scattered over a table far larger than cache: ask for a row a few features ahead
  // so several misses are in flight at once instead of one at a time.
  constexpr size_t kAhead = 8;
  for (size_t k = 0; k < count; ++k) {
    if (k + kAhead < count) {
      const char* next = reinterpret_cast<const char*>(table + static_cast<size_t>(index[k + kAhead]) * width);
      for (size_t b = 0; b < width * sizeof(float); b += 64) __builtin_prefetch(next + b);
    }
    const float* row = table + static_cast<size_t>(index[k]) * width;
    const float v = value[k];
    for (uint32_t j = 0; j < width; ++j) acc[j] += v * row[j];
  }
}

ROUTECORE_MULTIVERSION
void denseLayer(const float* in, const DenseLayer& layer, float* out) {
  std::memcpy(out, layer.bias.data(), layer.out * sizeof(float));
  for (uint32_t i = 0; i < layer.in; ++i) {
    const float a = in[i];
    if (a == 0.f) continue;  // ReLU zeros are common; skipping them is free accuracy-wise
    const float* w = layer.weight.data() + static_cast<size_t>(i) * layer.out;
    for (uint32_t o = 0; o < layer.out; ++o) out[o] += a * w[o];
  }
}

#ifdef ROUTECORE_HAVE_F16C_PATH
// Half-precision rows: a 32-wide row is one 64-byte cache line instead of two, and the gather is
// bound by cache misses, not arithmetic. Needs width % 8 == 0.
__attribute__((target("avx2,fma,f16c"))) void gatherRowsHalf(const uint32_t* index, const float* value, size_t count,
                                                            const uint16_t* table, uint32_t width, float* acc) {
  constexpr size_t kAhead = 8;
  for (size_t k = 0; k < count; ++k) {
    if (k + kAhead < count) {
      const char* next = reinterpret_cast<const char*>(table + static_cast<size_t>(index[k + kAhead]) * width);
      for (size_t b = 0; b < width * sizeof(uint16_t); b += 64) __builtin_prefetch(next + b);
    }
    const uint16_t* row = table + static_cast<size_t>(index[k]) * width;
    const __m256 v = _mm256_set1_ps(value[k]);
    for (uint32_t j = 0; j < width; j += 8) {
      __m256 w = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + j)));
      _mm256_storeu_ps(acc + j, _mm256_fmadd_ps(v, w, _mm256_loadu_ps(acc + j)));
    }
  }
}

bool cpuHasF16c() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}
#endif

inline float sigmoid(float z) { return 1.f / (1.f + std::exp(-z)); }

class CpuExecutor final : public NetExecutor {
 public:
  explicit CpuExecutor(const DenseNet& net) : net_(net) {
#ifdef ROUTECORE_HAVE_F16C_PATH
    // Lossless for an F16 router file; the float copy is then not needed here.
    if (net_.tableIsHalf && net_.width0 % 8 == 0 && cpuHasF16c()) {
      tableHalf_.resize(net_.table.size());
      for (size_t i = 0; i < net_.table.size(); ++i) tableHalf_[i] = floatToHalf(net_.table[i]);
      std::vector<float>().swap(net_.table);
    }
#endif
    for (const auto& l : net_.layers) maxWidth_ = std::max(maxWidth_, l.out);
    maxWidth_ = std::max(maxWidth_, net_.width0);
  }

  void forward(const CsrBatch& batch, float* out) const override {
    const uint32_t outputs = net_.outputs();
    // Two ping-pong activation buffers per call; small, so the stack would do, but widths are
    // data-driven, so use a vector that the compiler cannot overflow.
    std::vector<float> bufA(maxWidth_), bufB(maxWidth_);
    for (size_t r = 0; r < batch.rows(); ++r) {
      float* a = bufA.data();
      std::memcpy(a, net_.tableBias.data(), net_.width0 * sizeof(float));
      const uint32_t begin = batch.rowStart[r], end = batch.rowStart[r + 1];
#ifdef ROUTECORE_HAVE_F16C_PATH
      if (!tableHalf_.empty())
        gatherRowsHalf(batch.index.data() + begin, batch.value.data() + begin, end - begin, tableHalf_.data(),
                       net_.width0, a);
      else
#endif
        gatherRows(batch.index.data() + begin, batch.value.data() + begin, end - begin, net_.table.data(),
                   net_.width0, a);
      float* b = bufB.data();
      for (const auto& layer : net_.layers) {
        for (uint32_t j = 0; j < layer.in; ++j) a[j] = a[j] > 0.f ? a[j] : 0.f;
        denseLayer(a, layer, b);
        std::swap(a, b);
      }
      float* o = out + r * outputs;
      for (uint32_t j = 0; j < outputs; ++j) o[j] = sigmoid(a[j]);
    }
  }

 private:
  DenseNet net_;
  std::vector<uint16_t> tableHalf_;  // set instead of net_.table when the half path is used
  uint32_t maxWidth_ = 0;
};

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }
  std::unique_ptr<NetExecutor> prepare(const DenseNet& net) const override {
    return std::make_unique<CpuExecutor>(net);
  }
};

}  // namespace

std::shared_ptr<Backend> makeCpuBackend(unsigned /*threads*/) {
  // Threads are the caller's business (RouterModel splits batches over a ThreadPool); the
  // executor itself is single-threaded and re-entrant.
  return std::make_shared<CpuBackend>();
}

}  // namespace routecore
