// The CUDA backend: DenseNet weights live in device memory for the executor's lifetime (the
// first-layer table as binary16 when the router file stored it F16), and a forward pass takes a
// whole batch: the router hands over every encoded slice at once (forwardParts) or all dense rows
// (forwardDense); one pass uploads them, runs an embedding-bag kernel (sparse rows) or a tiled
// product with the table (dense rows), one kernel per dense layer, and downloads the
// probabilities. Only batches past kMaxPass* take more than one pass.
//
// The knn searcher keeps its reference table in device memory the same way (binary16 for an F16
// table); a search uploads the queries, computes their dot products with every reference (a tiled
// shared-memory kernel), then selects the top k of each row (one block per query), in groups of
// queries that bound the similarity buffer.
//
// Concurrency: an executor (or searcher) owns one stream and one set of grow-only scratch buffers
// (device memory allocated in stream order on that stream, and pinned host memory), and a mutex
// queues whole calls on them: a call is a whole batch, so
// callers queue for the device once per batch, not per 64-row slice. Validation of the input (and
// the router's encoding) happens before the lock.
//
// Failures: every CUDA call is checked; a failure throws CudaFailure (ErrorCode::
// BackendUnavailable), on which the router moves to the CPU backend. A sticky error (the context
// is corrupt) also marks the device failed for the process (DeviceHealth), so later calls and new
// executors refuse at once instead of touching the broken context.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "artifact.h"
#include "backend.h"
#include "cuda_backend.h"
#include "error.h"

namespace routecore {
namespace {

constexpr int kActRelu = 0;
constexpr int kActSigmoid = 1;
constexpr int kActIdentity = 2;
constexpr int kDenseTile = 16;
constexpr unsigned kBagThreads = 256;

std::string describe(cudaError_t e) {
  return std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) + ")";
}

// A failed CUDA call. BackendUnavailable is the code a router takes as "this backend can no
// longer compute": it moves to the CPU backend (RouterModel::runOnBackend).
class CudaFailure : public Error {
 public:
  CudaFailure(cudaError_t error, const std::string& message)
      : Error(ErrorCode::BackendUnavailable, message), error_(error) {}
  cudaError_t error() const { return error_; }

 private:
  cudaError_t error_;
};

void check(cudaError_t e, const char* call) {
  if (e != cudaSuccess) {
    throw CudaFailure(
        e, std::string("CUDA ") + call + " failed: " + cudaGetErrorString(e) + " [" + cudaGetErrorName(e) + "]");
  }
}

// Errors after which the context is corrupt: every later call in this process fails the same way
// (the runtime calls them sticky), so the device is done for and new work should not be tried.
// Others (out of memory, a bad launch configuration) concern one call only.
bool isSticky(cudaError_t e) {
  switch (e) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorLaunchTimeout:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorECCUncorrectable:
    case cudaErrorContextIsDestroyed:
    case cudaErrorDevicesUnavailable:
    case cudaErrorUnknown:
      return true;
    default:
      return false;
  }
}

// Per device, for the life of the process: whether a sticky error has made the device unusable,
// and which. Shared by every backend object, executor and searcher on the device (the addon may
// hold several backends, one per requested name and thread count).
class DeviceHealth {
 public:
  static DeviceHealth& of(int device) {
    static std::mutex mu;
    static std::map<int, std::unique_ptr<DeviceHealth>> all;
    std::lock_guard<std::mutex> lock(mu);
    std::unique_ptr<DeviceHealth>& h = all[device];
    if (!h) h = std::make_unique<DeviceHealth>(device);
    return *h;
  }
  explicit DeviceHealth(int device) : device_(device) {}

  void throwIfFailed() const {
    if (!failed_.load(std::memory_order_acquire)) return;
    std::lock_guard<std::mutex> lock(mu_);
    throw Error(ErrorCode::BackendUnavailable,
                "CUDA device " + std::to_string(device_) + " is unusable after an earlier error: " + reason_);
  }
  // The sticky error that made the device unusable, or "".
  std::string failure() const {
    if (!failed_.load(std::memory_order_acquire)) return std::string();
    std::lock_guard<std::mutex> lock(mu_);
    return reason_;
  }
  // Records `failure` if it is sticky; the first reason stays.
  void note(const CudaFailure& failure) {
    if (!isSticky(failure.error())) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (failed_.load(std::memory_order_relaxed)) return;
    reason_ = failure.what();
    failed_.store(true, std::memory_order_release);
  }

 private:
  int device_;
  std::atomic<bool> failed_{false};
  mutable std::mutex mu_;
  std::string reason_;
};

[[noreturn]] void invalid(const std::string& what) {
  throw Error(ErrorCode::InvalidArgument, "cuda backend: " + what);
}

// ---------------------------------------------------------------------------------------------
// Kernels

__device__ __forceinline__ float activate(float z, int act) {
  // expf rather than __expf: results must agree with the CPU backend to ~1e-6.
  return act == kActSigmoid ? 1.0f / (1.0f + expf(-z)) : act == kActRelu ? fmaxf(z, 0.0f) : z;
}

// Weights are float32, or binary16 for a table that the router file stored as F16 (the values
// are exactly those halves, so widening each load gives the float path's numbers bit for bit).
__device__ __forceinline__ float loadWeight(const float* __restrict__ p, size_t i) {
  return p[i];
}
__device__ __forceinline__ float loadWeight(const __half* __restrict__ p, size_t i) {
  return __half2float(p[i]);
}

// One group of blockDim.x threads per row, each thread owning columns j, j+blockDim.x, ... so
// that the table reads of a group for one entry fall in one contiguous table row. The entry's
// index and value are the same address for the whole group, i.e. broadcast loads. There is no
// barrier, so groups whose rows differ in length need not wait for each other except within a
// warp, and out-of-range groups may simply return. The launch bound caps registers at 64 (ptxas
// picked up to 80 without it, with no spills at 64): a gather kernel lives on occupancy.
template <typename T>
__global__ void __launch_bounds__(kBagThreads, 4)
    embeddingBagKernel(const uint32_t* __restrict__ rowStart, const uint32_t* __restrict__ index,
                       const float* __restrict__ value, const T* __restrict__ table, const float* __restrict__ bias,
                       uint32_t rows, uint32_t width, int act, float* __restrict__ out) {
  const uint32_t r = blockIdx.x * blockDim.y + threadIdx.y;
  if (r >= rows) return;
  const uint32_t begin = rowStart[r];
  const uint32_t end = rowStart[r + 1];
  for (uint32_t j = threadIdx.x; j < width; j += blockDim.x) {
    const T* col = table + j;
    float acc = 0.0f;
    uint32_t k = begin;
    // Four independent table loads in flight per step hide the index -> table dependency.
    for (; end - k >= 4; k += 4) {
      const float t0 = loadWeight(col, static_cast<size_t>(index[k]) * width);
      const float t1 = loadWeight(col, static_cast<size_t>(index[k + 1]) * width);
      const float t2 = loadWeight(col, static_cast<size_t>(index[k + 2]) * width);
      const float t3 = loadWeight(col, static_cast<size_t>(index[k + 3]) * width);
      acc = fmaf(value[k], t0, acc);
      acc = fmaf(value[k + 1], t1, acc);
      acc = fmaf(value[k + 2], t2, acc);
      acc = fmaf(value[k + 3], t3, acc);
    }
    for (; k < end; ++k) acc = fmaf(value[k], loadWeight(col, static_cast<size_t>(index[k]) * width), acc);
    out[static_cast<size_t>(r) * width + j] = activate(bias[j] + acc, act);
  }
}

// Scales each row of x (rows x dim) to unit L2 norm, one block per row; a row whose norm is 0 or
// not finite becomes all zeros (the static encoder's "no known token").
__global__ void l2NormalizeKernel(float* __restrict__ x, uint32_t dim) {
  __shared__ float partial[kBagThreads];
  float* row = x + static_cast<size_t>(blockIdx.x) * dim;
  float s = 0.0f;
  for (uint32_t j = threadIdx.x; j < dim; j += blockDim.x) s = fmaf(row[j], row[j], s);
  partial[threadIdx.x] = s;
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  const float norm = sqrtf(partial[0]);
  const float inv = norm > 0.0f && isfinite(norm) ? 1.0f / norm : 0.0f;
  for (uint32_t j = threadIdx.x; j < dim; j += blockDim.x) row[j] = inv == 0.0f ? 0.0f : row[j] * inv;
}

// z[rows x out] = act(a[rows x in] * w[in x out] + bias), tiled through shared memory.
// threadIdx.x walks outputs and threadIdx.y rows; every thread reaches both barriers. Serves the
// dense layers (float weights) and, for dense input rows (embeddings), the first layer, whose
// weights are the table (float or half).
template <typename T>
__global__ void __launch_bounds__(kDenseTile* kDenseTile)
    denseKernel(const float* __restrict__ a, const T* __restrict__ w, const float* __restrict__ bias, uint32_t rows,
                uint32_t in, uint32_t out, int act, float* __restrict__ z) {
  __shared__ float sa[kDenseTile][kDenseTile + 1];
  __shared__ float sw[kDenseTile][kDenseTile + 1];
  const uint32_t tx = threadIdx.x;
  const uint32_t ty = threadIdx.y;
  const uint32_t r = blockIdx.x * kDenseTile + ty;
  const uint32_t o = blockIdx.y * kDenseTile + tx;
  float acc = 0.0f;
  for (uint32_t k0 = 0; k0 < in; k0 += kDenseTile) {
    const uint32_t ka = k0 + tx;
    const uint32_t kw = k0 + ty;
    sa[ty][tx] = (r < rows && ka < in) ? a[static_cast<size_t>(r) * in + ka] : 0.0f;
    sw[ty][tx] = (kw < in && o < out) ? loadWeight(w, static_cast<size_t>(kw) * out + o) : 0.0f;
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kDenseTile; ++kk) acc = fmaf(sa[ty][kk], sw[kk][tx], acc);
    __syncthreads();
  }
  if (r < rows && o < out) z[static_cast<size_t>(r) * out + o] = activate(bias[o] + acc, act);
}

// Test hook (cudaInjectFaultForTesting): a kernel that traps, which leaves the context in the
// sticky error state a real fault (an illegal address, an ECC error) would.
__global__ void trapKernel() {
  __trap();
}

// ---------------------------------------------------------------------------------------------
// knn kernels

// similarityKernel: a block is kSimSide x kSimSide threads and computes a tile of
// (kSimSide * MQ) queries x (kSimSide * MN) references, MQ x MN outputs per thread.
constexpr unsigned kSimSide = 16;
constexpr unsigned kSimThreads = kSimSide * kSimSide;
constexpr unsigned kSimK = 16;   // dimensions staged per shared-memory step
constexpr unsigned kSimPad = 2;  // see the bank note in similarityKernel
constexpr int kSimRefsPerThread = 8;
constexpr int kSimBigQueries = 8;    // 128-query tiles for large groups
constexpr int kSimSmallQueries = 1;  // 16-query tiles for a handful of queries (routing one prompt)
constexpr unsigned kWarpSize = 32;
constexpr unsigned kTopkMaxThreads = 256;
constexpr uint32_t kNoIndex = 0xffffffffu;  // an exhausted candidate list; never a real index

// sim[r * n + j] = dot(q[r, :], ref[j, :]) for r < rows, j < n; q is rows x dim and ref n x dim,
// both row-major, so this is Q * R^T with both operands read along `dim`.
//
// Each step stages a kSimK-wide slice of the query tile and of the reference tile in shared
// memory, transposed (dimension-major) so that the inner loop reads one value per query and per
// reference. Loads go row by row along `dim` (two 64-byte segments per warp); out-of-range rows
// and dimensions read as 0, which adds exactly nothing to the sums. A thread owns queries
// ty + kSimSide*i and references tx + kSimSide*j (strided, not a contiguous micro-tile): the 16
// threads of a half-warp then read 16 consecutive references (no bank conflict) and one query
// value (a broadcast). Rows of kSimSide*M + kSimPad floats make the transposing stores
// conflict-free too: a warp stores 16 dimensions (kk) of two rows (rr even, rr + 1), and with a
// stride of 130 or 18 floats (2 or 18 mod 32) the 16 kk land on 16 distinct even banks, shifted
// by rr: 32 distinct banks for the warp.
//
// The references are float32, or binary16 for a table stored as F16 (exact halves: the same
// similarities as the float path, from half the memory traffic).
//
// Every output is one fmaf chain over the dimensions in ascending order, whatever the tile shape
// and wherever the row falls in a tile: a query's similarities do not depend on the batch it came
// in, and identical references give bit-identical similarities (exact ties stay exact).
//
// Every thread reaches both barriers: the loop bound depends only on `dim`.
template <int MQ, int MN, typename TR>
__global__ void __launch_bounds__(kSimThreads)
    similarityKernel(const float* __restrict__ q, const TR* __restrict__ ref, uint32_t rows, uint32_t n, uint32_t dim,
                     float* __restrict__ sim) {
  constexpr unsigned kTileQ = kSimSide * MQ;
  constexpr unsigned kTileN = kSimSide * MN;
  __shared__ float sq[kSimK][kTileQ + kSimPad];
  __shared__ float sr[kSimK][kTileN + kSimPad];
  const unsigned tx = threadIdx.x;
  const unsigned ty = threadIdx.y;
  const unsigned tid = ty * kSimSide + tx;
  // Host-side limits (rows per group, n and dim below 2^31) keep all of these inside uint32.
  const uint32_t q0 = blockIdx.y * kTileQ;
  const uint32_t n0 = blockIdx.x * kTileN;

  float acc[MQ][MN];
#pragma unroll
  for (int i = 0; i < MQ; ++i)
#pragma unroll
    for (int j = 0; j < MN; ++j) acc[i][j] = 0.0f;

  for (uint32_t k0 = 0; k0 < dim; k0 += kSimK) {
    // A tile slice holds kTile * kSimK = kSimThreads * M values: M per thread.
#pragma unroll
    for (int p = 0; p < MQ; ++p) {
      const unsigned e = tid + kSimThreads * p;
      const unsigned rr = e / kSimK, kk = e % kSimK;
      const uint32_t gq = q0 + rr, gk = k0 + kk;
      sq[kk][rr] = (gq < rows && gk < dim) ? q[static_cast<size_t>(gq) * dim + gk] : 0.0f;
    }
#pragma unroll
    for (int p = 0; p < MN; ++p) {
      const unsigned e = tid + kSimThreads * p;
      const unsigned rr = e / kSimK, kk = e % kSimK;
      const uint32_t gn = n0 + rr, gk = k0 + kk;
      sr[kk][rr] = (gn < n && gk < dim) ? loadWeight(ref, static_cast<size_t>(gn) * dim + gk) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (unsigned kk = 0; kk < kSimK; ++kk) {
      float a[MQ], b[MN];
#pragma unroll
      for (int i = 0; i < MQ; ++i) a[i] = sq[kk][ty + kSimSide * i];
#pragma unroll
      for (int j = 0; j < MN; ++j) b[j] = sr[kk][tx + kSimSide * j];
#pragma unroll
      for (int i = 0; i < MQ; ++i)
#pragma unroll
        for (int j = 0; j < MN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();  // the next step overwrites the slices
  }

#pragma unroll
  for (int i = 0; i < MQ; ++i) {
    const uint32_t gq = q0 + ty + kSimSide * i;
    if (gq >= rows) break;
    float* out = sim + static_cast<size_t>(gq) * n;
#pragma unroll
    for (int j = 0; j < MN; ++j) {
      const uint32_t gn = n0 + tx + kSimSide * j;
      if (gn < n) out[gn] = acc[i][j];
    }
  }
}

// The order of knn results: larger similarity first, then the lower reference index.
__device__ __forceinline__ bool knnBefore(float av, uint32_t ai, float bv, uint32_t bi) {
  return av > bv || (av == bv && ai < bi);
}

// One block per query row of `sim` (rows x n). blockDim.x is a multiple of 32, at most
// kTopkMaxThreads. Writes the row's top k, best first, to outIndex/outSim[row * k + i].
//
// Phase 1: thread t scans references t, t + T, t + 2T, ... (coalesced loads) and keeps its best
// `cap` of them in a list sorted best-first (insertion sort). The lists live in dynamic shared
// memory, not in per-thread arrays: a 256-entry array per thread would be local memory, i.e.
// spilled through L1/L2, and would make the driver reserve 2 KiB of local memory for every
// resident thread of the device. Slot i of thread t is at [i * T + t], so whatever slots the
// lanes of a warp touch, they hit 32 distinct banks. A thread sees its references in ascending
// order, so "insert only when strictly better" keeps equal similarities in index order.
// NaN (only from non-finite inputs) is replaced by -inf before ranking, the rule both backends
// follow (see KnnSearcher::search): it ranks equal to -inf, ties among them go to the lower
// index, its reported similarity is -inf, and every output is still a real, distinct reference.
//
// Why cap = min(k, ceil(n / T)) candidates per thread suffice: a reference in the row's top k is
// beaten by fewer than k others, so by fewer than k of its own thread's; and the lists together
// hold at least min(k, n) = k entries, so the merge never runs dry.
//
// Phase 2: k rounds of a block-wide argmax over the threads' list heads under knnBefore (a
// strict total order: indices are distinct). The owner of the winner (the only thread whose head
// has that index) pops it. A warp reduces with an xor butterfly, so every lane ends with the
// warp's best; warps then meet through shared memory. The per-warp slots alternate between two
// buffers by round parity, so one barrier per round suffices: a warp can only rewrite the
// buffer of round r in round r + 2, after every thread passed round r + 1's barrier and hence
// finished reading round r. All threads run all k rounds (k is uniform), so every thread reaches
// every barrier and every shuffle has its full warp.
__global__ void __launch_bounds__(kTopkMaxThreads)
    topkKernel(const float* __restrict__ sim, uint32_t n, uint32_t k, uint32_t cap, uint32_t* __restrict__ outIndex,
               float* __restrict__ outSim) {
  extern __shared__ float topkShared[];
  const unsigned T = blockDim.x;
  const unsigned t = threadIdx.x;
  const unsigned lane = t % kWarpSize;
  const unsigned warp = t / kWarpSize;
  const unsigned warps = T / kWarpSize;
  // Layout (host: topkSharedBytes): values [cap * T], indices [cap * T], then, with more than
  // one warp, per-warp values [2][warps] and indices [2][warps]. cap * T <= 256 * 256.
  float* listVal = topkShared;
  uint32_t* listIdx = reinterpret_cast<uint32_t*>(listVal + cap * T);
  float* warpVal = listVal + 2 * cap * T;
  uint32_t* warpIdx = reinterpret_cast<uint32_t*>(warpVal + 2 * warps);

  const float* row = sim + static_cast<size_t>(blockIdx.x) * n;
  uint32_t count = 0;
  float worst = -INFINITY;  // the last entry's value, once the list holds cap entries

  auto consider = [&](float v, uint32_t j) {
    if (isnan(v)) v = -INFINITY;
    uint32_t pos;
    if (count < cap) {
      pos = count++;
    } else if (v > worst) {
      pos = cap - 1;  // the last entry drops out
    } else {
      return;
    }
    while (pos > 0) {
      const float above = listVal[(pos - 1) * T + t];
      if (!(v > above)) break;
      listVal[pos * T + t] = above;
      listIdx[pos * T + t] = listIdx[(pos - 1) * T + t];
      --pos;
    }
    listVal[pos * T + t] = v;
    listIdx[pos * T + t] = j;
    if (count == cap) worst = listVal[(cap - 1) * T + t];
  };

  // Four loads in flight before the data-dependent insertions. n < 2^31, so j + 3T cannot wrap.
  uint32_t j = t;
  for (; j + 3 * T < n; j += 4 * T) {
    const float v0 = row[j];
    const float v1 = row[j + T];
    const float v2 = row[j + 2 * T];
    const float v3 = row[j + 3 * T];
    consider(v0, j);
    consider(v1, j + T);
    consider(v2, j + 2 * T);
    consider(v3, j + 3 * T);
  }
  for (; j < n; j += T) consider(row[j], j);

  const size_t outBase = static_cast<size_t>(blockIdx.x) * k;
  uint32_t head = 0;
  for (uint32_t r = 0; r < k; ++r) {
    float bv = -INFINITY;
    uint32_t bi = kNoIndex;
    if (head < count) {
      bv = listVal[head * T + t];
      bi = listIdx[head * T + t];
    }
    const uint32_t mine = bi;
#pragma unroll
    for (unsigned off = kWarpSize / 2; off > 0; off /= 2) {
      const float ov = __shfl_xor_sync(0xffffffffu, bv, off);
      const uint32_t oi = __shfl_xor_sync(0xffffffffu, bi, off);
      if (knnBefore(ov, oi, bv, bi)) {
        bv = ov;
        bi = oi;
      }
    }
    if (warps > 1) {
      float* wv = warpVal + (r & 1) * warps;
      uint32_t* wi = warpIdx + (r & 1) * warps;
      if (lane == 0) {
        wv[warp] = bv;
        wi[warp] = bi;
      }
      __syncthreads();
      bv = wv[0];
      bi = wi[0];
      for (unsigned w = 1; w < warps; ++w) {
        if (knnBefore(wv[w], wi[w], bv, bi)) {
          bv = wv[w];
          bi = wi[w];
        }
      }
    }
    if (head < count && mine == bi) ++head;
    if (t == 0) {
      outIndex[outBase + r] = bi;
      outSim[outBase + r] = bv;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Resource holders. Destructors ignore errors: they run during unwinding and at process exit,
// when the runtime may already be unloading.

// Whether the current device has stream-ordered allocation (cudaMallocAsync; every GPU and driver
// this build supports should, but the attribute is the documented way to know). Asked once per
// device.
bool streamOrderedAllocation() {
  static std::mutex mu;
  static std::map<int, bool> known;
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return false;
  std::lock_guard<std::mutex> lock(mu);
  auto it = known.find(device);
  if (it != known.end()) return it->second;
  int supported = 0;
  if (cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, device) != cudaSuccess) supported = 0;
  return known[device] = supported != 0;
}

// Device memory owned by one stream: allocated and freed in stream order (cudaMallocAsync /
// cudaFreeAsync) where the device supports it, so that growing one executor's scratch does not
// wait for every other stream on the device the way cudaMalloc / cudaFree do. The stream must
// outlive the buffer (DeviceState declares it first).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), cap_(o.cap_), stream_(o.stream_), async_(o.async_) {
    o.p_ = nullptr;
    o.cap_ = 0;
  }
  ~DeviceBuffer() { release(); }

  // Grow-only: a smaller request keeps the larger allocation for the next big batch.
  void reserve(size_t bytes, cudaStream_t stream) {
    if (bytes <= cap_) return;
    const size_t want = std::max(bytes, cap_ + cap_ / 2);
    release();
    stream_ = stream;
    async_ = streamOrderedAllocation();
    if (async_)
      check(cudaMallocAsync(&p_, want, stream), "cudaMallocAsync");
    else
      check(cudaMalloc(&p_, want), "cudaMalloc");
    cap_ = want;
  }

  // On the executor's own stream: a plain cudaMemcpy from pageable memory may return before its
  // DMA lands, and the legacy stream it uses does not order against a non-blocking stream.
  void upload(const void* src, size_t bytes, cudaStream_t stream) {
    if (bytes == 0) return;
    reserve(bytes, stream);
    check(cudaMemcpyAsync(p_, src, bytes, cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync (weights upload)");
  }

  template <typename T>
  T* as() const {
    return static_cast<T*>(p_);
  }

 private:
  void release() noexcept {
    if (p_) (void)(async_ ? cudaFreeAsync(p_, stream_) : cudaFree(p_));
    p_ = nullptr;
    cap_ = 0;
  }
  void* p_ = nullptr;
  size_t cap_ = 0;
  cudaStream_t stream_ = nullptr;
  bool async_ = false;
};

// Pinned staging memory: one DMA for the whole batch instead of three pageable copies, each of
// which the driver would stage through its own bounce buffer.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer() { release(); }

  void reserve(size_t bytes) {
    if (bytes <= cap_) return;
    const size_t want = std::max(bytes, cap_ + cap_ / 2);
    release();
    check(cudaMallocHost(&p_, want), "cudaMallocHost");
    cap_ = want;
  }

  template <typename T>
  T* as() const {
    return static_cast<T*>(p_);
  }

 private:
  void release() noexcept {
    if (p_) (void)cudaFreeHost(p_);
    p_ = nullptr;
    cap_ = 0;
  }
  void* p_ = nullptr;
  size_t cap_ = 0;
};

class Stream {
 public:
  Stream() { check(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking), "cudaStreamCreate"); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() {
    if (s_) (void)cudaStreamDestroy(s_);
  }
  cudaStream_t get() const { return s_; }

 private:
  cudaStream_t s_ = nullptr;
};

// The runtime's current device is per host thread, and callers (the Node addon's worker pool)
// may run on any thread: every entry point selects the executor's device and restores the
// caller's afterwards.
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    check(cudaGetDevice(&prev_), "cudaGetDevice");
    if (prev_ != device) {
      check(cudaSetDevice(device), "cudaSetDevice");
      switched_ = true;
    }
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;
  ~DeviceScope() {
    if (switched_) (void)cudaSetDevice(prev_);
  }

 private:
  int prev_ = 0;
  bool switched_ = false;
};

// One whole call of a device object (the executor, the k-NN searcher, the static gatherer) on
// its `state`'s stream and buffers: callers queue on `mu`; a device a sticky error ruined refuses at
// once; the object's device is selected for the call and the caller's restored after; on an error
// the stream is drained before it propagates (queued copies may still be reading the pinned
// staging buffers, which the next caller must not overwrite); a CUDA failure is noted in `health`.
template <typename State, typename Fn>
void runExclusive(std::mutex& mu, DeviceHealth& health, int device, State& state, Fn&& fn) {
  std::lock_guard<std::mutex> lock(mu);
  health.throwIfFailed();
  try {
    DeviceScope scope(device);
    const cudaStream_t stream = state.stream.get();
    try {
      fn(state, stream);
    } catch (...) {
      (void)cudaStreamSynchronize(stream);
      throw;
    }
  } catch (const CudaFailure& f) {
    health.note(f);
    throw;
  }
}

// ---------------------------------------------------------------------------------------------

struct DeviceLayer {
  uint32_t in = 0, out = 0;
  DeviceBuffer weight, bias;
};

// Everything that holds device memory, so the executor can free it with its device selected.
struct DeviceState {
  Stream stream;
  DeviceBuffer table;  // inputDim x width0: floats, or halves when tableIsHalf
  DeviceBuffer tableBias;
  std::vector<DeviceLayer> layers;
  DeviceBuffer input;      // a pass's input: rowStart | index | value, or rows x inputDim floats
  DeviceBuffer act[2];     // ping-pong activations, rows x maxWidth each
  PinnedBuffer hostInput;  // same layout as `input`
  PinnedBuffer hostOutput;
};

// One pass (one upload, a kernel per layer, one download) takes at most this many rows, and a
// sparse pass at most kMaxPassEntries entries (8 bytes each: 256 MiB staged), a dense one at most
// kMaxPassInputBytes of input: a batch of any size then runs in bounded device and pinned memory,
// and kernel arguments and grids stay well inside 32 bits. A 1,024-prompt batch of the hashing
// encoder (~10^6 entries) or of 1,536-wide embeddings (6 MiB) is one pass.
constexpr size_t kMaxPassRows = 16384;
constexpr size_t kMaxPassEntries = size_t{32} << 20;
constexpr size_t kMaxPassInputBytes = size_t{256} << 20;

void validateNet(const DenseNet& net) {
  if (net.width0 == 0) invalid("net has width0 = 0");
  if (net.table.size() != static_cast<size_t>(net.inputDim) * net.width0)
    invalid("table has " + std::to_string(net.table.size()) +
            " floats, expected inputDim x width0 = " + std::to_string(static_cast<size_t>(net.inputDim) * net.width0));
  if (net.tableBias.size() != net.width0)
    invalid("tableBias has " + std::to_string(net.tableBias.size()) + " floats, expected " +
            std::to_string(net.width0));
  uint32_t prevOut = net.width0;
  for (size_t i = 0; i < net.layers.size(); ++i) {
    const DenseLayer& L = net.layers[i];
    const std::string name = "layer " + std::to_string(i);
    if (L.in != prevOut) invalid(name + " has in = " + std::to_string(L.in) + ", expected " + std::to_string(prevOut));
    if (L.out == 0) invalid(name + " has out = 0");
    if (L.weight.size() != static_cast<size_t>(L.in) * L.out)
      invalid(name + " weight has " + std::to_string(L.weight.size()) + " floats, expected " +
              std::to_string(static_cast<size_t>(L.in) * L.out));
    if (L.bias.size() != L.out)
      invalid(name + " bias has " + std::to_string(L.bias.size()) + " floats, expected " + std::to_string(L.out));
    prevOut = L.out;
  }
}

void validateBatch(const CsrBatch& batch, uint32_t inputDim) {
  if (batch.rowStart.empty()) invalid("batch.rowStart is empty (it must hold rows + 1 offsets)");
  const size_t rows = batch.rows();
  const size_t nnz = batch.index.size();
  if (batch.value.size() != nnz)
    invalid("batch has " + std::to_string(nnz) + " indices but " + std::to_string(batch.value.size()) + " values");
  for (size_t r = 0; r < rows; ++r)
    if (batch.rowStart[r + 1] < batch.rowStart[r]) invalid("batch.rowStart decreases at row " + std::to_string(r));
  if (batch.rowStart[rows] > nnz)
    invalid("batch.rowStart ends at " + std::to_string(batch.rowStart[rows]) + " but the batch has " +
            std::to_string(nnz) + " entries");
  // An out-of-range bucket would make the kernel read outside the table and poison the context.
  uint32_t maxIndex = 0;
  for (size_t k = batch.rowStart[0]; k < batch.rowStart[rows]; ++k) maxIndex = std::max(maxIndex, batch.index[k]);
  if (batch.rowStart[rows] > batch.rowStart[0] && maxIndex >= inputDim)
    invalid("feature index " + std::to_string(maxIndex) + " is out of range (inputDim " + std::to_string(inputDim) +
            ")");
}

// Whole batches: takesWholeBatch() tells the router to hand over a batch in one call (encoded in
// parallel slices, forwardParts), so a 1,024-prompt batch is one upload, one kernel per layer and
// one download instead of 16 round trips of 64 rows. Callers queue on the executor's mutex for
// whole batches; the CPU-side work (encoding, validation) happens before, in parallel.
class CudaExecutor final : public NetExecutor {
 public:
  uint32_t inputDim() const override { return inputDim_; }
  bool takesWholeBatch() const override { return true; }

  CudaExecutor(int device, const DenseNet& net) : device_(device), health_(&DeviceHealth::of(device)) {
    validateNet(net);
    health_->throwIfFailed();
    inputDim_ = net.inputDim;
    width0_ = net.width0;
    outputs_ = net.outputs();
    hiddenAct_ = net.hiddenRelu ? kActRelu : kActIdentity;
    maxWidth_ = net.width0;
    for (const DenseLayer& L : net.layers) maxWidth_ = std::max(maxWidth_, L.out);
    tableIsHalf_ = net.tableIsHalf;

    DeviceScope scope(device_);
    // If an upload throws, `state` frees what was already allocated; `scope` is declared first,
    // so that happens while the executor's device is still selected.
    auto state = std::make_unique<DeviceState>();
    const cudaStream_t stream = state->stream.get();
    try {
      if (tableIsHalf_) {
        // Kept as binary16 on the device: half the memory and half the gather traffic. The
        // router guarantees every value is exactly a half (an F16 file), so nothing is rounded.
        std::vector<uint16_t> halves(net.table.size());
        floatsToHalves(net.table.data(), net.table.size(), halves.data());
        state->table.upload(halves.data(), halves.size() * sizeof(uint16_t), stream);
        // `halves` is pageable host memory read by the copy: wait before it goes.
        check(cudaStreamSynchronize(stream), "cudaStreamSynchronize (half table upload)");
      } else {
        state->table.upload(net.table.data(), net.table.size() * sizeof(float), stream);
      }
      state->tableBias.upload(net.tableBias.data(), net.tableBias.size() * sizeof(float), stream);
      state->layers.reserve(net.layers.size());
      for (const DenseLayer& L : net.layers) {
        DeviceLayer d;
        d.in = L.in;
        d.out = L.out;
        d.weight.upload(L.weight.data(), L.weight.size() * sizeof(float), stream);
        d.bias.upload(L.bias.data(), L.bias.size() * sizeof(float), stream);
        state->layers.push_back(std::move(d));
      }
      // The caller may free `net` as soon as prepare() returns.
      check(cudaStreamSynchronize(stream), "cudaStreamSynchronize (weights upload)");
    } catch (const CudaFailure& f) {
      (void)cudaStreamSynchronize(stream);
      health_->note(f);
      throw;
    }
    state_ = std::move(state);
  }

  ~CudaExecutor() override {
    int prev = 0;
    const bool havePrev = cudaGetDevice(&prev) == cudaSuccess;
    (void)cudaSetDevice(device_);
    state_.reset();
    if (havePrev) (void)cudaSetDevice(prev);
  }

  void forward(const CsrBatch& batch, float* out) const override {
    const CsrBatch* part = &batch;
    forwardParts(&part, 1, out);
  }

  void forwardParts(const CsrBatch* const* parts, size_t count, float* out) const override {
    size_t rows = 0;
    for (size_t i = 0; i < count; ++i) {
      if (parts[i] == nullptr) invalid("forwardParts() got a null part");
      validateBatch(*parts[i], inputDim_);
      rows += parts[i]->rows();
    }
    if (rows == 0) return;
    if (out == nullptr) invalid("forward() got a null output pointer");
    onDevice([&](DeviceState& s, cudaStream_t stream) { runSparse(parts, count, out, s, stream); });
  }

  void forwardDense(const float* x, size_t rows, float* out) const override {
    if (rows == 0) return;
    if (x == nullptr || out == nullptr) invalid("forwardDense() got a null pointer");
    onDevice([&](DeviceState& s, cudaStream_t stream) { runDense(x, rows, out, s, stream); });
  }

 private:
  struct Span {
    const CsrBatch* part;
    size_t begin, end;  // rows of the part
  };

  // The executor's stream and buffers for one whole call, in the queue of callers.
  template <typename Fn>
  void onDevice(Fn&& fn) const {
    runExclusive(mu_, *health_, device_, *state_, std::forward<Fn>(fn));
  }

  // Rows of the parts, in order, split into passes at the kMaxPass* bounds (a 1,024-prompt
  // batch is one pass). A single row longer than kMaxPassEntries is a pass of its own.
  void runSparse(const CsrBatch* const* parts, size_t count, float* out, DeviceState& s, cudaStream_t stream) const {
    std::vector<Span> pass;
    size_t passRows = 0, passEntries = 0;
    auto flush = [&] {
      if (passRows == 0) return;
      sparsePass(pass, passRows, passEntries, out, s, stream);
      out += passRows * outputs_;
      pass.clear();
      passRows = passEntries = 0;
    };
    for (size_t p = 0; p < count; ++p) {
      const CsrBatch& b = *parts[p];
      for (size_t r = 0; r < b.rows(); ++r) {
        const size_t entries = b.rowStart[r + 1] - b.rowStart[r];
        if (passRows > 0 && (passRows == kMaxPassRows || passEntries + entries > kMaxPassEntries)) flush();
        if (pass.empty() || pass.back().part != &b || pass.back().end != r) pass.push_back({&b, r, r});
        ++pass.back().end;
        ++passRows;
        passEntries += entries;
      }
    }
    flush();
  }

  void sparsePass(const std::vector<Span>& spans, size_t rows, size_t nnz, float* out, DeviceState& s,
                  cudaStream_t stream) const {
    // Packed as one CSR batch in pinned memory: rowStart | index | value.
    const size_t inBytes = (rows + 1 + 2 * nnz) * sizeof(uint32_t);
    s.hostInput.reserve(inBytes);
    uint32_t* hRowStart = s.hostInput.as<uint32_t>();
    uint32_t* hIndex = hRowStart + rows + 1;
    float* hValue = reinterpret_cast<float*>(hIndex + nnz);
    size_t row = 0, at = 0;
    hRowStart[0] = 0;
    for (const Span& sp : spans) {
      const CsrBatch& b = *sp.part;
      const uint32_t first = b.rowStart[sp.begin], last = b.rowStart[sp.end];
      const uint32_t base = static_cast<uint32_t>(at);
      for (size_t r = sp.begin; r < sp.end; ++r) hRowStart[++row] = base + (b.rowStart[r + 1] - first);
      const size_t n = last - first;
      if (n > 0) {
        std::memcpy(hIndex + at, b.index.data() + first, n * sizeof(uint32_t));
        std::memcpy(hValue + at, b.value.data() + first, n * sizeof(float));
      }
      at += n;
    }

    s.input.reserve(inBytes, stream);
    check(cudaMemcpyAsync(s.input.as<void>(), s.hostInput.as<void>(), inBytes, cudaMemcpyHostToDevice, stream),
          "cudaMemcpyAsync (batch upload)");
    const uint32_t* dRowStart = s.input.as<uint32_t>();
    const uint32_t* dIndex = dRowStart + rows + 1;
    const float* dValue = reinterpret_cast<const float*>(dIndex + nnz);

    reserveActivations(s, rows);
    const uint32_t rows32 = static_cast<uint32_t>(rows);  // rows <= kMaxPassRows
    // Smallest power of two covering width0 (capped at the block size): a 2-output linear model
    // then packs 16 rows into a warp instead of idling 30 of its 32 lanes.
    unsigned perRow = 1;
    while (perRow < width0_ && perRow < kBagThreads) perRow *= 2;
    const unsigned rowsPerBlock = kBagThreads / perRow;
    const dim3 block(perRow, rowsPerBlock);
    const dim3 grid(static_cast<unsigned>((rows + rowsPerBlock - 1) / rowsPerBlock));
    const int act = s.layers.empty() ? kActSigmoid : hiddenAct_;
    if (tableIsHalf_)
      embeddingBagKernel<__half><<<grid, block, 0, stream>>>(dRowStart, dIndex, dValue, s.table.as<__half>(),
                                                             s.tableBias.as<float>(), rows32, width0_, act,
                                                             s.act[0].as<float>());
    else
      embeddingBagKernel<float><<<grid, block, 0, stream>>>(dRowStart, dIndex, dValue, s.table.as<float>(),
                                                            s.tableBias.as<float>(), rows32, width0_, act,
                                                            s.act[0].as<float>());
    check(cudaGetLastError(), "embeddingBagKernel launch");
    finishPass(rows, out, s, stream);
  }

  // Dense rows (embeddings): the first layer is a product with the table on the device, not an
  // expansion of every row into a sparse one that lists every column.
  void runDense(const float* x, size_t rows, float* out, DeviceState& s, cudaStream_t stream) const {
    const size_t rowBytes = static_cast<size_t>(inputDim_) * sizeof(float);
    const size_t perPass = std::max<size_t>(1, std::min(kMaxPassRows, kMaxPassInputBytes / rowBytes));
    for (size_t r0 = 0; r0 < rows; r0 += perPass) {
      const size_t n = std::min(perPass, rows - r0);
      s.hostInput.reserve(n * rowBytes);
      std::memcpy(s.hostInput.as<void>(), x + r0 * inputDim_, n * rowBytes);
      s.input.reserve(n * rowBytes, stream);
      check(cudaMemcpyAsync(s.input.as<void>(), s.hostInput.as<void>(), n * rowBytes, cudaMemcpyHostToDevice, stream),
            "cudaMemcpyAsync (dense batch upload)");
      reserveActivations(s, n);
      const uint32_t n32 = static_cast<uint32_t>(n);
      const dim3 block(kDenseTile, kDenseTile);
      const dim3 grid(static_cast<unsigned>((n + kDenseTile - 1) / kDenseTile),
                      (width0_ + kDenseTile - 1) / kDenseTile);
      const int act = s.layers.empty() ? kActSigmoid : hiddenAct_;
      if (tableIsHalf_)
        denseKernel<__half><<<grid, block, 0, stream>>>(s.input.as<float>(), s.table.as<__half>(),
                                                        s.tableBias.as<float>(), n32, inputDim_, width0_, act,
                                                        s.act[0].as<float>());
      else
        denseKernel<float><<<grid, block, 0, stream>>>(s.input.as<float>(), s.table.as<float>(),
                                                       s.tableBias.as<float>(), n32, inputDim_, width0_, act,
                                                       s.act[0].as<float>());
      check(cudaGetLastError(), "denseKernel launch (first layer)");
      finishPass(n, out + r0 * outputs_, s, stream);
    }
  }

  void reserveActivations(DeviceState& s, size_t rows) const {
    const size_t actBytes = rows * maxWidth_ * sizeof(float);
    s.act[0].reserve(actBytes, s.stream.get());
    if (!s.layers.empty()) s.act[1].reserve(actBytes, s.stream.get());
  }

  // From the first layer's activations in act[0]: the dense layers, the download, the wait.
  void finishPass(size_t rows, float* out, DeviceState& s, cudaStream_t stream) const {
    const uint32_t rows32 = static_cast<uint32_t>(rows);
    int cur = 0;
    for (size_t i = 0; i < s.layers.size(); ++i) {
      const DeviceLayer& L = s.layers[i];
      const bool last = i + 1 == s.layers.size();
      const dim3 block(kDenseTile, kDenseTile);
      const dim3 grid(static_cast<unsigned>((rows + kDenseTile - 1) / kDenseTile),
                      (L.out + kDenseTile - 1) / kDenseTile);
      denseKernel<float><<<grid, block, 0, stream>>>(s.act[cur].as<float>(), L.weight.as<float>(), L.bias.as<float>(),
                                                     rows32, L.in, L.out, last ? kActSigmoid : hiddenAct_,
                                                     s.act[cur ^ 1].as<float>());
      check(cudaGetLastError(), "denseKernel launch");
      cur ^= 1;
    }
    const size_t outBytes = rows * outputs_ * sizeof(float);
    s.hostOutput.reserve(outBytes);
    check(cudaMemcpyAsync(s.hostOutput.as<void>(), s.act[cur].as<void>(), outBytes, cudaMemcpyDeviceToHost, stream),
          "cudaMemcpyAsync (result download)");
    check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    std::memcpy(out, s.hostOutput.as<void>(), outBytes);
  }

  int device_;
  DeviceHealth* health_;
  uint32_t inputDim_ = 0, width0_ = 0, outputs_ = 0, maxWidth_ = 0;
  int hiddenAct_ = kActRelu;  // kActIdentity for `mf` (DenseNet::hiddenRelu)
  bool tableIsHalf_ = false;
  std::unique_ptr<DeviceState> state_;
  mutable std::mutex mu_;
};

// ---------------------------------------------------------------------------------------------
// knn search

// Queries are processed in groups whose similarity block (group rows x table rows floats) stays
// under kSimBudgetBytes: a million-reference table then takes ~64 queries per group, a 100k one
// ~670. (The grow-only buffer may round an allocation up by half, so the bound on memory held is
// 1.5x this.) The query budget keeps the staging buffers small for very wide vectors, and the row
// cap keeps grids and kernel arguments well inside 32 bits.
constexpr size_t kSimBudgetBytes = size_t{256} << 20;
constexpr size_t kQueryBudgetBytes = size_t{64} << 20;
constexpr size_t kMaxGroupRows = 16384;
// Below this many queries in a group the 16-query similarity tile wastes less work than the
// 128-query one.
constexpr size_t kSmallGroupRows = 64;
// Table rows and dimensions: the kernels index within a row, and step through rows and
// dimensions, in uint32 arithmetic that must not wrap.
constexpr uint32_t kMaxKnnExtent = 0x7fffffffu;

size_t topkSharedBytes(unsigned threads, uint32_t cap) {
  const size_t warps = threads / kWarpSize;
  const size_t words = 2 * static_cast<size_t>(cap) * threads + (warps > 1 ? 4 * warps : 0);
  return words * sizeof(float);
}

struct TopkLaunch {
  unsigned threads = 0;
  uint32_t cap = 0;
  size_t sharedBytes = 0;
};

// The widest block (most threads scanning a row) whose candidate lists fit in `sharedLimit`
// bytes, and no wider than the row needs. Returns threads = 0 when even one warp does not fit,
// which no supported GPU hits: one warp at k = kMaxKnnK needs exactly 64 KiB, the smallest
// opt-in limit (compute capability 7.5).
TopkLaunch planTopk(uint32_t n, uint32_t k, size_t sharedLimit) {
  TopkLaunch plan;
  for (unsigned threads = kTopkMaxThreads; threads >= kWarpSize; threads /= 2) {
    if (threads > kWarpSize && threads / 2 >= n) continue;
    const uint32_t cap = std::min<uint32_t>(k, (n + threads - 1) / threads);
    const size_t bytes = topkSharedBytes(threads, cap);
    if (bytes <= sharedLimit) {
      plan.threads = threads;
      plan.cap = cap;
      plan.sharedBytes = bytes;
      return plan;
    }
  }
  return plan;
}

void validateKnnTable(const KnnTable& table) {
  if (table.dim == 0) invalid("knn table has dim = 0");
  if (table.rows > kMaxKnnExtent || table.dim > kMaxKnnExtent)
    invalid("knn table of " + std::to_string(table.rows) + " x " + std::to_string(table.dim) +
            " is too large (at most 2^31 - 1 rows and dimensions)");
  const size_t want = static_cast<size_t>(table.rows) * table.dim;
  if (table.data.size() != want)
    invalid("knn table has " + std::to_string(table.data.size()) +
            " floats, expected rows x dim = " + std::to_string(want));
}

struct KnnDeviceState {
  Stream stream;
  DeviceBuffer table;        // rows x dim floats, or halves (isHalf)
  DeviceBuffer queries;      // group x dim floats
  DeviceBuffer sim;          // group x rows floats
  DeviceBuffer result;       // group x k indices, then group x k similarities
  PinnedBuffer hostQueries;  // same layout as `queries`
  PinnedBuffer hostResult;   // same layout as `result`
};

// The table is kept in binary16 when KnnTable::isHalf says every value is exactly a half (an F16
// router file): half the device memory and half the traffic of the similarity product, which
// reads the whole table per query group, with the same similarities (each load widens exactly).
class CudaKnnSearcher final : public KnnSearcher {
 public:
  CudaKnnSearcher(int device, const KnnTable& table) : device_(device), health_(&DeviceHealth::of(device)) {
    validateKnnTable(table);
    health_->throwIfFailed();
    size_ = table.rows;
    dim_ = table.dim;
    tableIsHalf_ = table.isHalf;
    try {
      setUp(table);
    } catch (const CudaFailure& f) {
      health_->note(f);
      throw;
    }
  }

  ~CudaKnnSearcher() override {
    int prev = 0;
    const bool havePrev = cudaGetDevice(&prev) == cudaSuccess;
    (void)cudaSetDevice(device_);
    state_.reset();
    if (havePrev) (void)cudaSetDevice(prev);
  }

  uint32_t dim() const override { return dim_; }
  uint32_t size() const override { return size_; }
  // The whole batch in one call: search() splits it into device-sized groups itself.
  size_t rowsPerCall() const override { return std::numeric_limits<size_t>::max(); }

  void search(const float* queries, size_t rows, uint32_t k, uint32_t* index, float* similarity) const override {
    if (k == 0 || k > kMaxKnnK || k > size_) {
      invalid("knn search: k = " + std::to_string(k) + " is out of range (1.." +
              std::to_string(std::min(size_, kMaxKnnK)) + " for a table of " + std::to_string(size_) + " references)");
    }
    if (rows == 0) return;
    if (queries == nullptr || index == nullptr || similarity == nullptr) invalid("knn search got a null pointer");

    // Callers queue here for whole batches (the router hands over all its queries at once).
    runExclusive(mu_, *health_, device_, *state_,
                 [&](KnnDeviceState& s, cudaStream_t stream) { run(queries, rows, k, index, similarity, s, stream); });
  }

 private:
  void setUp(const KnnTable& table) {
    DeviceScope scope(device_);
    // The top-k lists can need more than the default 48 KiB of shared memory per block (64 KiB
    // for one warp at k = 256). The attribute is per kernel, so every searcher on this device
    // sets the same value and concurrent constructors cannot disagree.
    int optin = 0;
    check(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device_),
          "cudaDeviceGetAttribute (shared memory opt-in)");
    cudaFuncAttributes attr;
    check(cudaFuncGetAttributes(&attr, topkKernel), "cudaFuncGetAttributes (topkKernel)");
    const size_t staticShared = attr.sharedSizeBytes;
    topkSharedLimit_ = static_cast<size_t>(optin) > staticShared ? optin - staticShared : 0;
    check(cudaFuncSetAttribute(topkKernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               static_cast<int>(topkSharedLimit_)),
          "cudaFuncSetAttribute (topkKernel shared memory)");
    // Refuse now, not at the first search, if the largest k cannot be served.
    if (planTopk(kMaxKnnExtent, kMaxKnnK, topkSharedLimit_).threads == 0)
      throw Error(ErrorCode::BackendUnavailable,
                  "CUDA device " + std::to_string(device_) + " offers " + std::to_string(topkSharedLimit_) +
                      " bytes of shared memory per block, too few for a knn top-" + std::to_string(kMaxKnnK));

    auto state = std::make_unique<KnnDeviceState>();
    const cudaStream_t stream = state->stream.get();
    std::vector<uint16_t> halves;
    if (tableIsHalf_) {
      halves.resize(table.data.size());
      floatsToHalves(table.data.data(), table.data.size(), halves.data());
      state->table.upload(halves.data(), halves.size() * sizeof(uint16_t), stream);
    } else {
      state->table.upload(table.data.data(), table.data.size() * sizeof(float), stream);
    }
    // The caller may free `table` as soon as prepareKnn() returns (and `halves` goes now).
    check(cudaStreamSynchronize(stream), "cudaStreamSynchronize (knn table upload)");
    state_ = std::move(state);
  }

  void run(const float* queries, size_t rows, uint32_t k, uint32_t* index, float* similarity, KnnDeviceState& s,
           cudaStream_t stream) const {
    const size_t queryRowBytes = static_cast<size_t>(dim_) * sizeof(float);
    const size_t simRowBytes = static_cast<size_t>(size_) * sizeof(float);
    size_t group = std::min({rows, std::max<size_t>(1, kSimBudgetBytes / simRowBytes),
                             std::max<size_t>(1, kQueryBudgetBytes / queryRowBytes), kMaxGroupRows});
    // Even groups: 1024 queries at 671 per group run as 512 + 512, not 671 + 353.
    const size_t groups = (rows + group - 1) / group;
    group = (rows + groups - 1) / groups;

    const TopkLaunch plan = planTopk(size_, k, topkSharedLimit_);
    if (plan.threads == 0)  // the constructor checked k = kMaxKnnK; smaller k need less
      throw Error(ErrorCode::Internal, "knn top-k does not fit in shared memory");

    const size_t resultBytes = group * k * (sizeof(uint32_t) + sizeof(float));
    s.queries.reserve(group * queryRowBytes, stream);
    s.sim.reserve(group * simRowBytes, stream);
    s.result.reserve(resultBytes, stream);
    s.hostQueries.reserve(group * queryRowBytes);
    s.hostResult.reserve(resultBytes);

    for (size_t r0 = 0; r0 < rows; r0 += group) {
      const size_t g = std::min(group, rows - r0);
      const uint32_t g32 = static_cast<uint32_t>(g);  // g <= kMaxGroupRows
      std::memcpy(s.hostQueries.as<void>(), queries + r0 * dim_, g * queryRowBytes);
      check(cudaMemcpyAsync(s.queries.as<void>(), s.hostQueries.as<void>(), g * queryRowBytes, cudaMemcpyHostToDevice,
                            stream),
            "cudaMemcpyAsync (knn queries upload)");

      const unsigned refTiles = (size_ + kSimSide * kSimRefsPerThread - 1) / (kSimSide * kSimRefsPerThread);
      if (tableIsHalf_)
        launchSimilarity(s.table.as<__half>(), g32, refTiles, s, stream);
      else
        launchSimilarity(s.table.as<float>(), g32, refTiles, s, stream);
      check(cudaGetLastError(), "similarityKernel launch");

      uint32_t* dIndex = s.result.as<uint32_t>();
      float* dSim = reinterpret_cast<float*>(dIndex + g * k);
      topkKernel<<<g32, plan.threads, plan.sharedBytes, stream>>>(s.sim.as<float>(), size_, k, plan.cap, dIndex, dSim);
      check(cudaGetLastError(), "topkKernel launch");

      const size_t n = g * k;
      check(cudaMemcpyAsync(s.hostResult.as<void>(), s.result.as<void>(), n * (sizeof(uint32_t) + sizeof(float)),
                            cudaMemcpyDeviceToHost, stream),
            "cudaMemcpyAsync (knn result download)");
      // The next group reuses the staging buffers, and the caller's arrays are filled from them.
      check(cudaStreamSynchronize(stream), "cudaStreamSynchronize (knn search)");
      const uint32_t* hIndex = s.hostResult.as<uint32_t>();
      std::memcpy(index + r0 * k, hIndex, n * sizeof(uint32_t));
      std::memcpy(similarity + r0 * k, hIndex + n, n * sizeof(float));
    }
  }

  template <typename TR>
  void launchSimilarity(const TR* table, uint32_t g32, unsigned refTiles, KnnDeviceState& s,
                        cudaStream_t stream) const {
    const dim3 simBlock(kSimSide, kSimSide);
    if (g32 < kSmallGroupRows) {
      const dim3 grid(refTiles, (g32 + kSimSide * kSimSmallQueries - 1) / (kSimSide * kSimSmallQueries));
      similarityKernel<kSimSmallQueries, kSimRefsPerThread, TR>
          <<<grid, simBlock, 0, stream>>>(s.queries.as<float>(), table, g32, size_, dim_, s.sim.as<float>());
    } else {
      const dim3 grid(refTiles, (g32 + kSimSide * kSimBigQueries - 1) / (kSimSide * kSimBigQueries));
      similarityKernel<kSimBigQueries, kSimRefsPerThread, TR>
          <<<grid, simBlock, 0, stream>>>(s.queries.as<float>(), table, g32, size_, dim_, s.sim.as<float>());
    }
  }

  int device_;
  DeviceHealth* health_;
  uint32_t size_ = 0, dim_ = 0;
  bool tableIsHalf_ = false;
  size_t topkSharedLimit_ = 0;
  std::unique_ptr<KnnDeviceState> state_;
  mutable std::mutex mu_;
};

// ---------------------------------------------------------------------------------------------
// The static encoder's gather: the embedding-bag kernel over the model2vec table (token weights as
// the values, no bias, no activation), then an L2 normalisation per row. Built, not yet verified
// on a GPU.

class CudaStaticGatherer final : public StaticGatherer {
 public:
  CudaStaticGatherer(int device, const float* table, uint32_t rows, uint32_t dim, bool isHalf)
      : device_(device), health_(&DeviceHealth::of(device)), rows_(rows), dim_(dim), isHalf_(isHalf) {
    if (table == nullptr || rows == 0 || dim == 0) invalid("static table is empty");
    health_->throwIfFailed();
    DeviceScope scope(device_);
    auto state = std::make_unique<DeviceState>();
    const cudaStream_t stream = state->stream.get();
    try {
      const size_t n = static_cast<size_t>(rows) * dim;
      if (isHalf_) {
        std::vector<uint16_t> halves(n);
        floatsToHalves(table, n, halves.data());
        state->table.upload(halves.data(), n * sizeof(uint16_t), stream);
        check(cudaStreamSynchronize(stream), "cudaStreamSynchronize (static table upload)");
      } else {
        state->table.upload(table, n * sizeof(float), stream);
      }
      const std::vector<float> zeros(dim, 0.0f);
      state->tableBias.upload(zeros.data(), dim * sizeof(float), stream);
      check(cudaStreamSynchronize(stream), "cudaStreamSynchronize (static table upload)");
    } catch (const CudaFailure& f) {
      (void)cudaStreamSynchronize(stream);
      health_->note(f);
      throw;
    }
    state_ = std::move(state);
  }

  ~CudaStaticGatherer() override {
    int prev = 0;
    const bool havePrev = cudaGetDevice(&prev) == cudaSuccess;
    (void)cudaSetDevice(device_);
    state_.reset();
    if (havePrev) (void)cudaSetDevice(prev);
  }

  uint32_t dim() const override { return dim_; }

  void gather(const CsrBatch& tokens, float* out) const override {
    validateBatch(tokens, rows_);
    const size_t rows = tokens.rows();
    if (rows == 0) return;
    if (out == nullptr) invalid("gather() got a null output pointer");
    runExclusive(mu_, *health_, device_, *state_, [&](DeviceState& s, cudaStream_t stream) {
      // Passes of at most kMaxPassRows rows and kMaxPassEntries entries.
      size_t r0 = 0;
      while (r0 < rows) {
        size_t r1 = r0;
        while (r1 < rows && r1 - r0 < kMaxPassRows &&
               (r1 == r0 || tokens.rowStart[r1 + 1] - tokens.rowStart[r0] <= kMaxPassEntries))
          ++r1;
        pass(tokens, r0, r1, out + r0 * dim_, s, stream);
        r0 = r1;
      }
    });
  }

 private:
  void pass(const CsrBatch& b, size_t r0, size_t r1, float* out, DeviceState& s, cudaStream_t stream) const {
    const size_t rows = r1 - r0;
    const uint32_t first = b.rowStart[r0];
    const size_t nnz = b.rowStart[r1] - first;
    const size_t inBytes = (rows + 1 + 2 * nnz) * sizeof(uint32_t);
    s.hostInput.reserve(inBytes);
    uint32_t* hRowStart = s.hostInput.as<uint32_t>();
    uint32_t* hIndex = hRowStart + rows + 1;
    float* hValue = reinterpret_cast<float*>(hIndex + nnz);
    for (size_t r = 0; r <= rows; ++r) hRowStart[r] = b.rowStart[r0 + r] - first;
    if (nnz > 0) {
      std::memcpy(hIndex, b.index.data() + first, nnz * sizeof(uint32_t));
      std::memcpy(hValue, b.value.data() + first, nnz * sizeof(float));
    }
    s.input.reserve(inBytes, stream);
    check(cudaMemcpyAsync(s.input.as<void>(), s.hostInput.as<void>(), inBytes, cudaMemcpyHostToDevice, stream),
          "cudaMemcpyAsync (static tokens upload)");
    const uint32_t* dRowStart = s.input.as<uint32_t>();
    const uint32_t* dIndex = dRowStart + rows + 1;
    const float* dValue = reinterpret_cast<const float*>(dIndex + nnz);
    const size_t outBytes = rows * dim_ * sizeof(float);
    s.act[0].reserve(outBytes, stream);
    unsigned perRow = 1;
    while (perRow < dim_ && perRow < kBagThreads) perRow *= 2;
    const unsigned rowsPerBlock = kBagThreads / perRow;
    const dim3 block(perRow, rowsPerBlock);
    const dim3 grid(static_cast<unsigned>((rows + rowsPerBlock - 1) / rowsPerBlock));
    const uint32_t rows32 = static_cast<uint32_t>(rows);
    if (isHalf_)
      embeddingBagKernel<__half><<<grid, block, 0, stream>>>(dRowStart, dIndex, dValue, s.table.as<__half>(),
                                                             s.tableBias.as<float>(), rows32, dim_, kActIdentity,
                                                             s.act[0].as<float>());
    else
      embeddingBagKernel<float><<<grid, block, 0, stream>>>(dRowStart, dIndex, dValue, s.table.as<float>(),
                                                            s.tableBias.as<float>(), rows32, dim_, kActIdentity,
                                                            s.act[0].as<float>());
    check(cudaGetLastError(), "embeddingBagKernel launch (static gather)");
    l2NormalizeKernel<<<rows32, kBagThreads, 0, stream>>>(s.act[0].as<float>(), dim_);
    check(cudaGetLastError(), "l2NormalizeKernel launch");
    s.hostOutput.reserve(outBytes);
    check(cudaMemcpyAsync(s.hostOutput.as<void>(), s.act[0].as<void>(), outBytes, cudaMemcpyDeviceToHost, stream),
          "cudaMemcpyAsync (static rows download)");
    check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    std::memcpy(out, s.hostOutput.as<void>(), outBytes);
  }

  int device_;
  DeviceHealth* health_;
  uint32_t rows_, dim_;
  bool isHalf_;
  std::unique_ptr<DeviceState> state_;
  mutable std::mutex mu_;
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(device) {}
  const char* name() const override { return "cuda"; }
  std::unique_ptr<NetExecutor> prepare(const DenseNet& net) const override {
    return std::make_unique<CudaExecutor>(device_, net);
  }
  std::unique_ptr<KnnSearcher> prepareKnn(std::shared_ptr<const KnnTable> table) const override {
    if (!table) invalid("knn table is null");
    return std::make_unique<CudaKnnSearcher>(device_, *table);  // copied to the device
  }
  std::unique_ptr<StaticGatherer> prepareStatic(const float* table, uint32_t rows, uint32_t dim,
                                                bool isHalf) const override {
    return std::make_unique<CudaStaticGatherer>(device_, table, rows, dim, isHalf);
  }

 private:
  int device_;
};

// Finds the device the backend would use and checks that it can run this build's kernels.
// Fills `device` on success, `why` (a sentence for `routecore info`) on failure.
bool probeDevice(int* device, std::string* why) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    *why = "no usable CUDA device: cudaGetDeviceCount returned " + describe(e);
    return false;
  }
  if (count == 0) {
    *why = "no usable CUDA device: cudaGetDeviceCount found 0 devices";
    return false;
  }
  // The current device honours CUDA_VISIBLE_DEVICES and any cudaSetDevice by the host program.
  e = cudaGetDevice(device);
  if (e != cudaSuccess) {
    *why = "no usable CUDA device: cudaGetDevice returned " + describe(e);
    return false;
  }
  // A device that failed earlier in this process stays failed: its context is corrupt.
  const std::string failed = DeviceHealth::of(*device).failure();
  if (!failed.empty()) {
    *why = "CUDA device " + std::to_string(*device) + " is unusable after an earlier error: " + failed;
    return false;
  }
  // Creates the context, which is where busy (exclusive-process) or broken devices show up.
  e = cudaFree(nullptr);
  if (e != cudaSuccess) {
    *why = "CUDA device " + std::to_string(*device) + " cannot be initialised: " + describe(e);
    return false;
  }
  // A GPU older than every architecture compiled in (and the PTX) has no image for our kernels.
  cudaFuncAttributes attr;
  e = cudaFuncGetAttributes(&attr, embeddingBagKernel<float>);
  if (e == cudaSuccess) e = cudaFuncGetAttributes(&attr, embeddingBagKernel<__half>);
  if (e == cudaSuccess) e = cudaFuncGetAttributes(&attr, denseKernel<float>);
  if (e == cudaSuccess) e = cudaFuncGetAttributes(&attr, denseKernel<__half>);
  if (e == cudaSuccess) e = cudaFuncGetAttributes(&attr, similarityKernel<kSimSmallQueries, kSimRefsPerThread, float>);
  if (e == cudaSuccess) e = cudaFuncGetAttributes(&attr, similarityKernel<kSimBigQueries, kSimRefsPerThread, float>);
  if (e == cudaSuccess) e = cudaFuncGetAttributes(&attr, similarityKernel<kSimSmallQueries, kSimRefsPerThread, __half>);
  if (e == cudaSuccess) e = cudaFuncGetAttributes(&attr, similarityKernel<kSimBigQueries, kSimRefsPerThread, __half>);
  if (e == cudaSuccess) e = cudaFuncGetAttributes(&attr, topkKernel);
  if (e == cudaSuccess) e = cudaFuncGetAttributes(&attr, l2NormalizeKernel);
  if (e != cudaSuccess) {
    int major = 0, minor = 0;
    (void)cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, *device);
    (void)cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, *device);
    *why = "CUDA device " + std::to_string(*device) + " (compute capability " + std::to_string(major) + "." +
           std::to_string(minor) + ") cannot run routecore's kernels: " + describe(e) +
           "; rebuild with CMAKE_CUDA_ARCHITECTURES covering it";
    return false;
  }
  return true;
}

}  // namespace

std::shared_ptr<Backend> makeCudaBackend(std::string* why) {
  std::string reason;
  int device = 0;
  if (!probeDevice(&device, &reason)) {
    if (why) *why = reason;
    return nullptr;
  }
  return std::make_shared<CudaBackend>(device);
}

std::string cudaInjectFaultForTesting() {
  int device = 0;
  cudaError_t e = cudaGetDevice(&device);
  if (e != cudaSuccess) return "cudaGetDevice failed: " + describe(e);
  trapKernel<<<1, 1>>>();
  e = cudaDeviceSynchronize();
  return e == cudaSuccess ? std::string() : describe(e);
}

std::string cudaDeviceSummary() {
  try {
    std::string why;
    int device = 0;
    if (!probeDevice(&device, &why)) return why;
    cudaDeviceProp prop;
    const cudaError_t e = cudaGetDeviceProperties(&prop, device);
    if (e != cudaSuccess)
      return "CUDA device " + std::to_string(device) + ": cudaGetDeviceProperties returned " + describe(e);
    int count = 0;
    (void)cudaGetDeviceCount(&count);
    char buf[512];
    std::snprintf(buf, sizeof buf, "%s, compute capability %d.%d, %.1f GiB (device %d of %d)", prop.name, prop.major,
                  prop.minor, static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0), device, count);
    return buf;
  } catch (...) {
    // Only std::string allocation can throw here; a summary is not worth terminating over.
    return "CUDA device summary unavailable";
  }
}

}  // namespace routecore
