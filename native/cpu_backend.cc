// The CPU backend: forward passes with the row loops vectorised by the compiler. The sparse
// gather-accumulate dominates (one table row per feature): for widths that are multiples of 8 it has
// hand-written AVX2/F16C versions (gatherRowsAvx2), picked at load time where the CPU has them,
// and otherwise a plain loop compiled twice with target_clones.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define ROUTECORE_HAVE_F16C_PATH 1
#include "cpu_features.h"
#endif

#include "artifact.h"  // floatsToHalves
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
void gatherRows(const uint32_t* index, const float* value, size_t count, const float* table, uint32_t width,
                float* acc) {
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
    // No skip of ReLU zeros: that branch mispredicted on about half the inputs, and adding 0 * w
    // changes nothing.
    const float a = in[i];
    const float* w = layer.weight.data() + static_cast<size_t>(i) * layer.out;
    for (uint32_t o = 0; o < layer.out; ++o) out[o] += a * w[o];
  }
}

#ifdef ROUTECORE_HAVE_F16C_PATH
// AVX2 gathers for rows of 8k floats (F32 tables) or 8k halves (F16 tables: a 32-wide row is one
// 64-byte cache line instead of two, and the gather is bound by cache misses, not arithmetic).
//
// kVecs = width / 8 when that is at most 8: the accumulators live in registers for the whole row
// list, and two sets alternate between features so consecutive FMAs do not wait on each other.
// Accumulating through `acc` in memory made every feature wait for the previous one's store to be
// forwarded to its load: on the P1 prompts (~1,000 features, width 32) that chain was most of the
// gather's time. kVecs = 0 is that memory-accumulating loop, for wider rows.
__attribute__((target("avx2,fma,f16c"))) inline __m256 loadRow8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
__attribute__((target("avx2,fma,f16c"))) inline __m256 loadRow8(const float* p) {
  return _mm256_loadu_ps(p);
}

template <typename T>
inline void prefetchRow(const T* table, uint32_t index, uint32_t width) {
  const char* row = reinterpret_cast<const char*>(table + static_cast<size_t>(index) * width);
  for (size_t b = 0; b < width * sizeof(T); b += 64) __builtin_prefetch(row + b);
}

template <typename T, uint32_t kVecs>
__attribute__((target("avx2,fma,f16c"))) void gatherRowsAvx2Fixed(const uint32_t* index, const float* value,
                                                                  size_t count, const T* table, uint32_t width,
                                                                  float* acc) {
  constexpr size_t kAhead = 8;
  auto row = [table, width](uint32_t i) { return table + static_cast<size_t>(i) * width; };
  if constexpr (kVecs == 0) {
    for (size_t k = 0; k < count; ++k) {
      if (k + kAhead < count) prefetchRow(table, index[k + kAhead], width);
      const __m256 v = _mm256_set1_ps(value[k]);
      const T* r = row(index[k]);
      for (uint32_t j = 0; j < width; j += 8)
        _mm256_storeu_ps(acc + j, _mm256_fmadd_ps(v, loadRow8(r + j), _mm256_loadu_ps(acc + j)));
    }
  } else {
    __m256 a0[kVecs], a1[kVecs];
    for (uint32_t i = 0; i < kVecs; ++i) {
      a0[i] = _mm256_loadu_ps(acc + 8 * i);
      a1[i] = _mm256_setzero_ps();
    }
    size_t k = 0;
    for (; k + 1 < count; k += 2) {
      if (k + kAhead + 1 < count) {
        prefetchRow(table, index[k + kAhead], width);
        prefetchRow(table, index[k + kAhead + 1], width);
      }
      const __m256 v0 = _mm256_set1_ps(value[k]), v1 = _mm256_set1_ps(value[k + 1]);
      const T* r0 = row(index[k]);
      const T* r1 = row(index[k + 1]);
      for (uint32_t i = 0; i < kVecs; ++i) {
        a0[i] = _mm256_fmadd_ps(v0, loadRow8(r0 + 8 * i), a0[i]);
        a1[i] = _mm256_fmadd_ps(v1, loadRow8(r1 + 8 * i), a1[i]);
      }
    }
    if (k < count) {
      const __m256 v0 = _mm256_set1_ps(value[k]);
      const T* r0 = row(index[k]);
      for (uint32_t i = 0; i < kVecs; ++i) a0[i] = _mm256_fmadd_ps(v0, loadRow8(r0 + 8 * i), a0[i]);
    }
    for (uint32_t i = 0; i < kVecs; ++i) _mm256_storeu_ps(acc + 8 * i, _mm256_add_ps(a0[i], a1[i]));
  }
}

/// acc[0, width) += sum_k value[k] * table row index[k]. Needs width % 8 == 0 and cpuHasF16c().
template <typename T>
void gatherRowsAvx2(const uint32_t* index, const float* value, size_t count, const T* table, uint32_t width,
                    float* acc) {
  switch (width / 8) {
    case 1:
      return gatherRowsAvx2Fixed<T, 1>(index, value, count, table, width, acc);
    case 2:
      return gatherRowsAvx2Fixed<T, 2>(index, value, count, table, width, acc);
    case 3:
      return gatherRowsAvx2Fixed<T, 3>(index, value, count, table, width, acc);
    case 4:
      return gatherRowsAvx2Fixed<T, 4>(index, value, count, table, width, acc);
    case 5:
      return gatherRowsAvx2Fixed<T, 5>(index, value, count, table, width, acc);
    case 6:
      return gatherRowsAvx2Fixed<T, 6>(index, value, count, table, width, acc);
    case 7:
      return gatherRowsAvx2Fixed<T, 7>(index, value, count, table, width, acc);
    case 8:
      return gatherRowsAvx2Fixed<T, 8>(index, value, count, table, width, acc);
    default:
      return gatherRowsAvx2Fixed<T, 0>(index, value, count, table, width, acc);
  }
}

bool cpuHasF16c() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpuHasAvxAndF16c();
}
#endif

inline float sigmoid(float z) {
  return 1.f / (1.f + std::exp(-z));
}

// Dense first layer for precomputed embeddings: z[r][j] = bias[j] + sum_k x[r][k] W[k][j] for a
// block of up to 4 rows, 16 columns at a time, so each table row loaded serves 4 embeddings and
// the accumulators stay in registers. Table rows are read in address order: no gather at all.
// Measured on the P4 bench (Zen 4): the AVX-512 clone of this same loop took batch 256 from 237 to
// 149 µs; an 8-row AVX-512 variant was 6x slower (the compiler spilled its accumulators).
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2,fma", "default")))
#endif
void denseBlock(const float* x, size_t rows, uint32_t dim, const float* table, const float* bias, uint32_t width,
                float* z /* rows x width */) {
  constexpr uint32_t kCols = 16;
  for (uint32_t j0 = 0; j0 < width; j0 += kCols) {
    const uint32_t cols = width - j0 < kCols ? width - j0 : kCols;
    if (rows == 4 && cols == kCols) {
      float acc[4][kCols];
      for (int r = 0; r < 4; ++r)
        for (uint32_t c = 0; c < kCols; ++c) acc[r][c] = bias[j0 + c];
      for (uint32_t k = 0; k < dim; ++k) {
        const float* w = table + static_cast<size_t>(k) * width + j0;
        const float x0 = x[k], x1 = x[dim + k], x2 = x[2 * dim + k], x3 = x[3 * dim + k];
        for (uint32_t c = 0; c < kCols; ++c) {
          acc[0][c] += x0 * w[c];
          acc[1][c] += x1 * w[c];
          acc[2][c] += x2 * w[c];
          acc[3][c] += x3 * w[c];
        }
      }
      for (int r = 0; r < 4; ++r)
        for (uint32_t c = 0; c < kCols; ++c) z[r * width + j0 + c] = acc[r][c];
    } else {
      for (size_t r = 0; r < rows; ++r) {
        float acc[kCols];
        for (uint32_t c = 0; c < cols; ++c) acc[c] = bias[j0 + c];
        for (uint32_t k = 0; k < dim; ++k) {
          const float* w = table + static_cast<size_t>(k) * width + j0;
          const float xv = x[r * dim + k];
          for (uint32_t c = 0; c < cols; ++c) acc[c] += xv * w[c];
        }
        for (uint32_t c = 0; c < cols; ++c) z[r * width + j0 + c] = acc[c];
      }
    }
  }
}

#ifdef ROUTECORE_HAVE_F16C_PATH
// The dense first layer with intrinsics: a tile of R rows x C vectors of columns keeps R*C
// accumulators in registers (8 x 2 = 16 chains with AVX-512, enough for both FMA ports; the
// generic denseBlock above has 4 and was FMA-latency bound, 2-3x slower than onnxruntime's GEMM
// at batch 256 in P4). Every (row, column) is one fused multiply-add chain over k in order, so a
// row's result does not depend on which tile height it went through.
template <bool Masked>
__attribute__((target("avx512f,avx2,fma"))) inline __m512 load512(const float* p, __mmask16 mask) {
  return Masked ? _mm512_maskz_loadu_ps(mask, p) : _mm512_loadu_ps(p);
}

template <bool Masked>
__attribute__((target("avx2,fma"))) inline __m256 load256(const float* p, __m256i mask) {
  return Masked ? _mm256_maskload_ps(p, mask) : _mm256_loadu_ps(p);
}

// Masked (C = 1): only the columns in `mask` are read and written, for a width's last < 16.
template <int R, int C, bool Masked = false>
__attribute__((target("avx512f,avx2,fma"))) inline void denseTile512(const float* x, uint32_t dim, const float* w,
                                                                     uint32_t width, const float* bias, float* z,
                                                                     __mmask16 mask = 0xffff) {
  __m512 acc[R][C];
  for (int c = 0; c < C; ++c) {
    const __m512 b = load512<Masked>(bias + 16 * c, mask);
    for (int r = 0; r < R; ++r) acc[r][c] = b;
  }
  for (uint32_t k = 0; k < dim; ++k) {
    __m512 wv[C];
    for (int c = 0; c < C; ++c) wv[c] = load512<Masked>(w + static_cast<size_t>(k) * width + 16 * c, mask);
    for (int r = 0; r < R; ++r) {
      const __m512 xv = _mm512_set1_ps(x[static_cast<size_t>(r) * dim + k]);
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_fmadd_ps(xv, wv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      float* dst = z + static_cast<size_t>(r) * width + 16 * c;
      if (Masked)
        _mm512_mask_storeu_ps(dst, mask, acc[r][c]);
      else
        _mm512_storeu_ps(dst, acc[r][c]);
    }
}

template <int R, int C, bool Masked = false>
__attribute__((target("avx2,fma"))) inline void denseTileAvx2(const float* x, uint32_t dim, const float* w,
                                                              uint32_t width, const float* bias, float* z,
                                                              __m256i mask = _mm256_set1_epi32(-1)) {
  __m256 acc[R][C];
  for (int c = 0; c < C; ++c) {
    const __m256 b = load256<Masked>(bias + 8 * c, mask);
    for (int r = 0; r < R; ++r) acc[r][c] = b;
  }
  for (uint32_t k = 0; k < dim; ++k) {
    __m256 wv[C];
    for (int c = 0; c < C; ++c) wv[c] = load256<Masked>(w + static_cast<size_t>(k) * width + 8 * c, mask);
    for (int r = 0; r < R; ++r) {
      const __m256 xv = _mm256_set1_ps(x[static_cast<size_t>(r) * dim + k]);
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_fmadd_ps(xv, wv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      float* dst = z + static_cast<size_t>(r) * width + 8 * c;
      if (Masked)
        _mm256_maskstore_ps(dst, mask, acc[r][c]);
      else
        _mm256_storeu_ps(dst, acc[r][c]);
    }
}

template <int R>
__attribute__((target("avx512f,avx2,fma"))) void denseRows512(const float* x, uint32_t dim, const float* table,
                                                              const float* bias, uint32_t width, float* z) {
  uint32_t j = 0;
  for (; j + 32 <= width; j += 32) denseTile512<R, 2>(x, dim, table + j, width, bias + j, z + j);
  for (; j + 16 <= width; j += 16) denseTile512<R, 1>(x, dim, table + j, width, bias + j, z + j);
  if (j < width)
    denseTile512<R, 1, true>(x, dim, table + j, width, bias + j, z + j,
                             static_cast<__mmask16>((1u << (width - j)) - 1));
}

template <int R>
__attribute__((target("avx2,fma"))) void denseRowsAvx2(const float* x, uint32_t dim, const float* table,
                                                       const float* bias, uint32_t width, float* z) {
  uint32_t j = 0;
  for (; j + 16 <= width; j += 16) denseTileAvx2<R, 2>(x, dim, table + j, width, bias + j, z + j);
  for (; j + 8 <= width; j += 8) denseTileAvx2<R, 1>(x, dim, table + j, width, bias + j, z + j);
  if (j < width) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(width - j)), lanes);
    denseTileAvx2<R, 1, true>(x, dim, table + j, width, bias + j, z + j, mask);
  }
}

__attribute__((target("avx512f,avx2,fma"))) void denseProduct512(const float* x, size_t rows, uint32_t dim,
                                                                 const float* table, const float* bias, uint32_t width,
                                                                 float* z) {
  size_t r = 0;
  for (; r + 8 <= rows; r += 8) denseRows512<8>(x + r * dim, dim, table, bias, width, z + r * width);
  for (; r < rows; ++r) denseRows512<1>(x + r * dim, dim, table, bias, width, z + r * width);
}

__attribute__((target("avx2,fma"))) void denseProductAvx2(const float* x, size_t rows, uint32_t dim, const float* table,
                                                          const float* bias, uint32_t width, float* z) {
  size_t r = 0;
  for (; r + 4 <= rows; r += 4) denseRowsAvx2<4>(x + r * dim, dim, table, bias, width, z + r * width);
  for (; r < rows; ++r) denseRowsAvx2<1>(x + r * dim, dim, table, bias, width, z + r * width);
}
#endif

// z[rows x width] = x[rows x dim] W[dim x width] + bias: the widest kernel this CPU runs.
using DenseProductFn = void (*)(const float* x, size_t rows, uint32_t dim, const float* table, const float* bias,
                                uint32_t width, float* z);

void denseProductGeneric(const float* x, size_t rows, uint32_t dim, const float* table, const float* bias,
                         uint32_t width, float* z) {
  for (size_t r0 = 0; r0 < rows; r0 += 4)
    denseBlock(x + r0 * dim, rows - r0 < 4 ? rows - r0 : 4, dim, table, bias, width, z + r0 * width);
}

DenseProductFn pickDenseProduct() {
#ifdef ROUTECORE_HAVE_F16C_PATH
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return denseProduct512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return denseProductAvx2;
#endif
  return denseProductGeneric;
}

// Every field of a DenseNet but its table (keep in step with dense_net.h).
DenseNet allButTable(const DenseNet& n) {
  DenseNet c;
  c.inputDim = n.inputDim;
  c.width0 = n.width0;
  c.tableBias = n.tableBias;
  c.tableIsHalf = n.tableIsHalf;
  c.layers = n.layers;
  c.hiddenRelu = n.hiddenRelu;
  return c;
}

class CpuExecutor final : public NetExecutor {
 public:
  explicit CpuExecutor(const DenseNet& net) : net_(allButTable(net)) {
    // The table is the one large part: keep it in half precision where that is lossless (an F16
    // router file) and the CPU can use it, converting straight from the caller's floats rather
    // than from a float copy of our own (copying 8 MB of fresh pages was a fifth of a load).
    //
    // Half rows are padded with zeros to a multiple of 8 columns (halfWidth_), so that every width
    // takes the register-accumulating gather: a linear router's 11-model rows, say, become 16.
#ifdef ROUTECORE_HAVE_F16C_PATH
    if (net.tableIsHalf && cpuHasF16c()) {
      halfWidth_ = (net.width0 + 7) / 8 * 8;
      if (halfWidth_ == net.width0) {
        tableHalf_.resize(net.table.size());
        floatsToHalves(net.table.data(), net.table.size(), tableHalf_.data());
      } else {
        tableHalf_.assign(static_cast<size_t>(net.inputDim) * halfWidth_, 0);
        for (size_t row = 0; row < net.inputDim; ++row)
          floatsToHalves(net.table.data() + row * net.width0, net.width0, tableHalf_.data() + row * halfWidth_);
      }
    } else
#endif
      net_.table = net.table;
    for (const auto& l : net_.layers) maxWidth_ = std::max(maxWidth_, l.out);
    maxWidth_ = std::max({maxWidth_, net_.width0, halfWidth_});
  }

  uint32_t inputDim() const override {
    return net_.inputDim;
  }

  // A padded table is not the router's layout: the router then keeps its own copy.
  const std::vector<uint16_t>* hostHalfTable() const override {
    return tableHalf_.empty() || halfWidth_ != net_.width0 ? nullptr : &tableHalf_;
  }
  const std::vector<float>* hostFloatTable() const override {
    return net_.table.empty() ? nullptr : &net_.table;
  }

  void forwardDense(const float* x, size_t rows, float* out) const override {
    if (!tableHalf_.empty()) return NetExecutor::forwardDense(x, rows, out);
    // Every layer as one product over the whole slice of rows: the output layer row by row
    // (finishRow) took as long as the 384-wide first layer, being too narrow to vectorise.
    std::vector<float> a(rows * static_cast<size_t>(net_.width0)), b;
    denseProduct_(x, rows, net_.inputDim, net_.table.data(), net_.tableBias.data(), net_.width0, a.data());
    for (const auto& layer : net_.layers) {
      if (net_.hiddenRelu)
        for (float& v : a) v = v > 0.f ? v : 0.f;
      b.resize(rows * static_cast<size_t>(layer.out));
      denseProduct_(a.data(), rows, layer.in, layer.weight.data(), layer.bias.data(), layer.out, b.data());
      a.swap(b);
    }
    for (size_t i = 0; i < a.size(); ++i) out[i] = sigmoid(a[i]);
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
      const uint32_t* index = batch.index.data() + begin;
      const float* value = batch.value.data() + begin;
#ifdef ROUTECORE_HAVE_F16C_PATH
      if (!tableHalf_.empty()) {
        // The padding columns gather zeros; they start at 0 so nothing in them is ever not finite.
        std::fill(a + net_.width0, a + halfWidth_, 0.f);
        gatherRowsAvx2(index, value, end - begin, tableHalf_.data(), halfWidth_, a);
      } else if (avx2Gather_) {
        gatherRowsAvx2(index, value, end - begin, net_.table.data(), net_.width0, a);
      } else
#endif
      {
        gatherRows(index, value, end - begin, net_.table.data(), net_.width0, a);
      }
      finishRow(a, bufB.data(), out + r * outputs);
    }
  }

 private:
  // From the first layer's pre-activations in `a` (capacity maxWidth_) through the dense layers
  // to the sigmoid outputs; `b` is scratch of the same capacity.
  void finishRow(float* a, float* b, float* out) const {
    for (const auto& layer : net_.layers) {
      if (net_.hiddenRelu)
        for (uint32_t j = 0; j < layer.in; ++j) a[j] = a[j] > 0.f ? a[j] : 0.f;
      denseLayer(a, layer, b);
      std::swap(a, b);
    }
    for (uint32_t j = 0; j < net_.outputs(); ++j) out[j] = sigmoid(a[j]);
  }

  DenseNet net_;
  std::vector<uint16_t> tableHalf_;  // set instead of net_.table when the half path is used
  uint32_t halfWidth_ = 0;           // tableHalf_'s row stride: width0 rounded up to a multiple of 8
#ifdef ROUTECORE_HAVE_F16C_PATH
  bool avx2Gather_ = net_.width0 % 8 == 0 && cpuHasF16c();  // for an F32 table
#endif
  uint32_t maxWidth_ = 0;
  DenseProductFn denseProduct_ = pickDenseProduct();
};

// Dot products of a block of Q (4, or 1 for a batch's last rows) unit-norm queries with `count`
// consecutive reference rows: each reference row loaded serves every query of the block, whose
// rows stay in L1. Written with intrinsics: GCC's auto-vectorised version spilled its accumulators
// and ran ~10x slower (perf annotate). Every query has its own accumulator, reduced in a fixed
// order, so a query's similarities are the same whichever block (and Q) it was batched into.
using KnnDotsFn = void (*)(const float* q, uint32_t nq, const float* refs, size_t count, uint32_t dim, float* out);

template <int Q>
void knnDotsScalar(const float* q, const float* refs, size_t count, uint32_t dim, float* out) {
  for (size_t i = 0; i < count; ++i) {
    const float* ref = refs + i * dim;
    for (int r = 0; r < Q; ++r) {
      float s = 0.f;
      for (uint32_t k = 0; k < dim; ++k) s += q[r * dim + k] * ref[k];
      out[r * count + i] = s;
    }
  }
}

#ifdef ROUTECORE_HAVE_F16C_PATH
__attribute__((target("avx2,fma"))) inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Q queries x R references per step: Q*R independent accumulator chains, enough to keep both FMA
// ports busy (4 chains left the loop bound by FMA latency: perf showed 4x fewer FMAs per cycle).
template <int Q, int R>
__attribute__((target("avx2,fma"))) inline void knnDotsAvx2Step(const float* q, const float* ref, uint32_t dim,
                                                                size_t count, float* out) {
  const uint32_t body = dim - dim % 8;
  __m256 a[Q][R];
  for (int r = 0; r < Q; ++r)
    for (int j = 0; j < R; ++j) a[r][j] = _mm256_setzero_ps();
  for (uint32_t k = 0; k < body; k += 8) {
    __m256 w[R];
    for (int j = 0; j < R; ++j) w[j] = _mm256_loadu_ps(ref + j * dim + k);
    for (int r = 0; r < Q; ++r) {
      const __m256 x = _mm256_loadu_ps(q + r * dim + k);
      for (int j = 0; j < R; ++j) a[r][j] = _mm256_fmadd_ps(x, w[j], a[r][j]);
    }
  }
  if (body < dim) {
    // The last dim % 8 values, through masked loads into the same accumulators: a scalar tail was
    // compiled differently for R = 1 and R > 1, so copies of one reference got different floats.
    const __m256i mask =
        _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(dim - body)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256 w[R];
    for (int j = 0; j < R; ++j) w[j] = _mm256_maskload_ps(ref + j * dim + body, mask);
    for (int r = 0; r < Q; ++r) {
      const __m256 x = _mm256_maskload_ps(q + r * dim + body, mask);
      for (int j = 0; j < R; ++j) a[r][j] = _mm256_fmadd_ps(x, w[j], a[r][j]);
    }
  }
  for (int r = 0; r < Q; ++r)
    for (int j = 0; j < R; ++j) out[r * count + j] = hsum256(a[r][j]);
}

template <int Q>
__attribute__((target("avx2,fma"))) void knnDotsAvx2(const float* q, const float* refs, size_t count, uint32_t dim,
                                                     float* out) {
  constexpr int R = Q == 1 ? 8 : 2;  // 8 accumulator chains either way
  size_t i = 0;
  for (; i + R <= count; i += R) knnDotsAvx2Step<Q, R>(q, refs + i * dim, dim, count, out + i);
  for (; i < count; ++i) knnDotsAvx2Step<Q, 1>(q, refs + i * dim, dim, count, out + i);
}

// GCC 12's AVX-512 extract intrinsics trip -Wmaybe-uninitialized inside its own header (GCC bug
// 105593, the deliberately undefined `__Y = __Y` placeholder); the code is fine.
#pragma GCC diagnostic push
#if !defined(__clang__)  // clang has no -Wmaybe-uninitialized and does not need it
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#pragma GCC diagnostic ignored "-Wuninitialized"
__attribute__((target("avx512f,avx2,fma"))) inline float hsum512(__m512 v) {
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  return hsum256(_mm256_add_ps(_mm512_castps512_ps256(v), hi));
}

template <int Q, int R>
__attribute__((target("avx512f,avx2,fma"))) inline void knnDotsAvx512Step(const float* q, const float* ref,
                                                                          uint32_t dim, size_t count, float* out) {
  const uint32_t body = dim - dim % 16;
  __m512 a[Q][R];
  for (int r = 0; r < Q; ++r)
    for (int j = 0; j < R; ++j) a[r][j] = _mm512_setzero_ps();
  for (uint32_t k = 0; k < body; k += 16) {
    __m512 w[R];
    for (int j = 0; j < R; ++j) w[j] = _mm512_loadu_ps(ref + j * dim + k);
    for (int r = 0; r < Q; ++r) {
      const __m512 x = _mm512_loadu_ps(q + r * dim + k);
      for (int j = 0; j < R; ++j) a[r][j] = _mm512_fmadd_ps(x, w[j], a[r][j]);
    }
  }
  if (body < dim) {
    // The tail through masked loads, as in knnDotsAvx2Step (same float for every copy of a reference).
    const __mmask16 mask = static_cast<__mmask16>((1u << (dim - body)) - 1);
    __m512 w[R];
    for (int j = 0; j < R; ++j) w[j] = _mm512_maskz_loadu_ps(mask, ref + j * dim + body);
    for (int r = 0; r < Q; ++r) {
      const __m512 x = _mm512_maskz_loadu_ps(mask, q + r * dim + body);
      for (int j = 0; j < R; ++j) a[r][j] = _mm512_fmadd_ps(x, w[j], a[r][j]);
    }
  }
  for (int r = 0; r < Q; ++r)
    for (int j = 0; j < R; ++j) out[r * count + j] = hsum512(a[r][j]);
}

template <int Q>
__attribute__((target("avx512f,avx2,fma"))) void knnDotsAvx512(const float* q, const float* refs, size_t count,
                                                               uint32_t dim, float* out) {
  // A lone query takes 8 references per step so it too has 8 chains in flight.
  constexpr int R = Q == 1 ? 8 : 4;
  size_t i = 0;
  for (; i + R <= count; i += R) knnDotsAvx512Step<Q, R>(q, refs + i * dim, dim, count, out + i);
  for (; i < count; ++i) knnDotsAvx512Step<Q, 1>(q, refs + i * dim, dim, count, out + i);
}
#pragma GCC diagnostic pop
#endif

// nq is 4 or 1.
template <void (*Four)(const float*, const float*, size_t, uint32_t, float*),
          void (*One)(const float*, const float*, size_t, uint32_t, float*)>
void knnDots(const float* q, uint32_t nq, const float* refs, size_t count, uint32_t dim, float* out) {
  (nq == 4 ? Four : One)(q, refs, count, dim, out);
}

KnnDotsFn pickKnnDots() {
#ifdef ROUTECORE_HAVE_F16C_PATH
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return knnDots<knnDotsAvx512<4>, knnDotsAvx512<1>>;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return knnDots<knnDotsAvx2<4>, knnDotsAvx2<1>>;
#endif
  return knnDots<knnDotsScalar<4>, knnDotsScalar<1>>;
}

// The k best (similarity, index) pairs seen so far, as a min-heap on "worse": lower similarity,
// or equal similarity and higher index. References arrive in index order, so an equal later one
// never displaces an earlier one: ties go to the lower index, as the contract says.
class TopK {
 public:
  void reset(uint32_t k) {
    k_ = k;
    heap_.clear();
  }
  float floor() const { return heap_.size() < k_ ? -INFINITY : heap_.front().first; }
  void offer(float sim, uint32_t idx) {
    if (heap_.size() < k_) {
      heap_.emplace_back(sim, idx);
      std::push_heap(heap_.begin(), heap_.end(), better);
    } else if (better({sim, idx}, heap_.front())) {
      std::pop_heap(heap_.begin(), heap_.end(), better);
      heap_.back() = {sim, idx};
      std::push_heap(heap_.begin(), heap_.end(), better);
    }
  }
  // Most similar first; all k slots (search() offers every reference, so the heap is full).
  void write(uint32_t* index, float* similarity) {
    std::sort(heap_.begin(), heap_.end(), better);
    for (size_t i = 0; i < heap_.size(); ++i) index[i] = heap_[i].second, similarity[i] = heap_[i].first;
  }

 private:
  using Entry = std::pair<float, uint32_t>;
  static bool better(const Entry& a, const Entry& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  }
  uint32_t k_ = 0;
  std::vector<Entry> heap_;
};

class CpuKnnSearcher final : public KnnSearcher {
 public:
  explicit CpuKnnSearcher(std::shared_ptr<const KnnTable> table) : table_(std::move(table)) {
    if (!table_ || table_->dim == 0 || table_->rows == 0 ||
        table_->data.size() != static_cast<size_t>(table_->rows) * table_->dim)
      throw Error(ErrorCode::InvalidArgument, "knn table must hold rows x dim > 0 floats");
    // Reads the router's float32 table in place, also for an F16 file: the product is bound by
    // arithmetic once a chunk of references sits in L2, and float keeps the CPU path simple.
  }
  uint32_t dim() const override { return table_->dim; }
  uint32_t size() const override { return table_->rows; }

  void search(const float* queries, size_t rows, uint32_t k, uint32_t* index, float* similarity) const override {
    if (k < 1 || k > table_->rows || k > kMaxKnnK)
      throw Error(ErrorCode::InvalidArgument, "knn k must be in [1, min(references, " + std::to_string(kMaxKnnK) +
                                                  ")] = [1, " + std::to_string(std::min(table_->rows, kMaxKnnK)) +
                                                  "], got " + std::to_string(k));
    const uint32_t dim = table_->dim;
    // A chunk of references small enough to stay in L2 while every query block of this call
    // passes over it: the table is streamed from memory once per call, not once per query.
    const size_t chunk = std::max<size_t>(64, (256u << 10) / (dim * sizeof(float)));
    std::vector<TopK> best(rows);
    for (auto& t : best) t.reset(k);
    std::vector<float> sims(4 * chunk);
    for (size_t c0 = 0; c0 < table_->rows; c0 += chunk) {
      const size_t count = std::min<size_t>(chunk, table_->rows - c0);
      const float* refs = table_->data.data() + c0 * dim;
      // Blocks of 4 queries, then the batch's last rows one at a time.
      for (size_t q0 = 0; q0 < rows;) {
        const uint32_t nq = rows - q0 >= 4 ? 4 : 1;
        dots_(queries + q0 * dim, nq, refs, count, dim, sims.data());
        for (uint32_t r = 0; r < nq; ++r) {
          TopK& t = best[q0 + r];
          const float* s = sims.data() + r * count;
          float floor = t.floor();
          for (size_t i = 0; i < count; ++i) {
            // The backends' NaN rule: a NaN similarity ranks as -inf (and is reported as -inf), so
            // every reference is comparable and all k slots are filled (k <= references).
            const float sim = s[i] == s[i] ? s[i] : -INFINITY;
            if (sim >= floor) {
              t.offer(sim, static_cast<uint32_t>(c0 + i));
              floor = t.floor();
            }
          }
        }
        q0 += nq;
      }
    }
    for (size_t r = 0; r < rows; ++r) best[r].write(index + r * k, similarity + r * k);
  }

 private:
  std::shared_ptr<const KnnTable> table_;
  KnnDotsFn dots_ = pickKnnDots();
};

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }
  std::unique_ptr<NetExecutor> prepare(const DenseNet& net) const override {
    return std::make_unique<CpuExecutor>(net);
  }
  std::unique_ptr<KnnSearcher> prepareKnn(std::shared_ptr<const KnnTable> table) const override {
    return std::make_unique<CpuKnnSearcher>(std::move(table));
  }
};

}  // namespace

std::shared_ptr<Backend> makeCpuBackend(unsigned /*threads*/) {
  // Threads are the caller's business (RouterModel splits batches over a ThreadPool); the
  // executor itself is single-threaded and re-entrant.
  return std::make_shared<CpuBackend>();
}

}  // namespace routecore
