// The CPU backend: forward passes with the row loops vectorised by the compiler. The sparse
// gather-accumulate dominates (one table row per feature), so it is compiled twice with
// target_clones and the AVX2/FMA version is picked at load time where the CPU has it.
#include <cmath>
#include <cstring>

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

inline float sigmoid(float z) { return 1.f / (1.f + std::exp(-z)); }

class CpuExecutor final : public NetExecutor {
 public:
  explicit CpuExecutor(const DenseNet& net) : net_(net) {
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
      gatherRows(batch.index.data() + begin, batch.value.data() + begin, end - begin,
                 net_.table.data(), net_.width0, a);
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
