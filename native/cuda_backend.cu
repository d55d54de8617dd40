// The CUDA backend: DenseNet weights live in device memory for the executor's lifetime, and each
// forward pass uploads one CSR batch, runs an embedding-bag kernel plus one kernel per dense
// layer, and downloads the probabilities.
//
// Concurrency: an executor owns one stream and one set of grow-only scratch buffers (device and
// pinned host), and a mutex serialises forward() calls on them. The batches routecore scores are
// small, so a pass is dominated by launch and transfer latency; separate streams per call would
// buy little overlap and cost an allocation per call. Validation of the batch happens before the
// lock so that callers only queue for the GPU work itself.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "backend.h"
#include "cuda_backend.h"
#include "error.h"

namespace routecore {
namespace {

constexpr int kActRelu = 0;
constexpr int kActSigmoid = 1;
constexpr int kDenseTile = 16;
constexpr unsigned kBagThreads = 256;

std::string describe(cudaError_t e) {
  return std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) + ")";
}

void check(cudaError_t e, const char* call) {
  if (e != cudaSuccess) {
    throw Error(ErrorCode::BackendUnavailable,
                std::string("CUDA ") + call + " failed: " + cudaGetErrorString(e) + " [" +
                    cudaGetErrorName(e) + "]");
  }
}

[[noreturn]] void invalid(const std::string& what) {
  throw Error(ErrorCode::InvalidArgument, "cuda backend: " + what);
}

// ---------------------------------------------------------------------------------------------
// Kernels

__device__ __forceinline__ float activate(float z, int act) {
  // expf rather than __expf: results must agree with the CPU backend to ~1e-6.
  return act == kActSigmoid ? 1.0f / (1.0f + expf(-z)) : fmaxf(z, 0.0f);
}

// One group of blockDim.x threads per row, each thread owning columns j, j+blockDim.x, ... so
// that the table reads of a group for one entry fall in one contiguous table row. The entry's
// index and value are the same address for the whole group, i.e. broadcast loads. There is no
// barrier, so groups whose rows differ in length need not wait for each other except within a
// warp, and out-of-range groups may simply return. The launch bound caps registers at 64 (ptxas
// picked up to 80 without it, with no spills at 64): a gather kernel lives on occupancy.
__global__ void __launch_bounds__(kBagThreads, 4)
    embeddingBagKernel(const uint32_t* __restrict__ rowStart, const uint32_t* __restrict__ index,
                       const float* __restrict__ value, const float* __restrict__ table,
                       const float* __restrict__ bias, uint32_t rows, uint32_t width, int act,
                       float* __restrict__ out) {
  const uint32_t r = blockIdx.x * blockDim.y + threadIdx.y;
  if (r >= rows) return;
  const uint32_t begin = rowStart[r];
  const uint32_t end = rowStart[r + 1];
  for (uint32_t j = threadIdx.x; j < width; j += blockDim.x) {
    const float* col = table + j;
    float acc = 0.0f;
    uint32_t k = begin;
    // Four independent table loads in flight per step hide the index -> table dependency.
    for (; end - k >= 4; k += 4) {
      const float t0 = col[static_cast<size_t>(index[k]) * width];
      const float t1 = col[static_cast<size_t>(index[k + 1]) * width];
      const float t2 = col[static_cast<size_t>(index[k + 2]) * width];
      const float t3 = col[static_cast<size_t>(index[k + 3]) * width];
      acc = fmaf(value[k], t0, acc);
      acc = fmaf(value[k + 1], t1, acc);
      acc = fmaf(value[k + 2], t2, acc);
      acc = fmaf(value[k + 3], t3, acc);
    }
    for (; k < end; ++k) acc = fmaf(value[k], col[static_cast<size_t>(index[k]) * width], acc);
    out[static_cast<size_t>(r) * width + j] = activate(bias[j] + acc, act);
  }
}

// z[rows x out] = act(a[rows x in] * w[in x out] + bias), tiled through shared memory.
// threadIdx.x walks outputs and threadIdx.y rows; every thread reaches both barriers.
__global__ void __launch_bounds__(kDenseTile * kDenseTile)
    denseKernel(const float* __restrict__ a, const float* __restrict__ w,
                const float* __restrict__ bias, uint32_t rows, uint32_t in, uint32_t out, int act,
                float* __restrict__ z) {
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
    sw[ty][tx] = (kw < in && o < out) ? w[static_cast<size_t>(kw) * out + o] : 0.0f;
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kDenseTile; ++kk) acc = fmaf(sa[ty][kk], sw[kk][tx], acc);
    __syncthreads();
  }
  if (r < rows && o < out) z[static_cast<size_t>(r) * out + o] = activate(bias[o] + acc, act);
}

// ---------------------------------------------------------------------------------------------
// Resource holders. Destructors ignore errors: they run during unwinding and at process exit,
// when the runtime may already be unloading.

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), cap_(o.cap_) {
    o.p_ = nullptr;
    o.cap_ = 0;
  }
  ~DeviceBuffer() { release(); }

  // Grow-only: a smaller request keeps the larger allocation for the next big batch.
  void reserve(size_t bytes) {
    if (bytes <= cap_) return;
    const size_t want = std::max(bytes, cap_ + cap_ / 2);
    release();
    check(cudaMalloc(&p_, want), "cudaMalloc");
    cap_ = want;
  }

  // On the executor's own stream: a plain cudaMemcpy from pageable memory may return before its
  // DMA lands, and the legacy stream it uses does not order against a non-blocking stream.
  void upload(const void* src, size_t bytes, cudaStream_t stream) {
    if (bytes == 0) return;
    reserve(bytes);
    check(cudaMemcpyAsync(p_, src, bytes, cudaMemcpyHostToDevice, stream),
          "cudaMemcpyAsync (weights upload)");
  }

  template <typename T>
  T* as() const {
    return static_cast<T*>(p_);
  }

 private:
  void release() noexcept {
    if (p_) (void)cudaFree(p_);
    p_ = nullptr;
    cap_ = 0;
  }
  void* p_ = nullptr;
  size_t cap_ = 0;
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

// ---------------------------------------------------------------------------------------------

struct DeviceLayer {
  uint32_t in = 0, out = 0;
  DeviceBuffer weight, bias;
};

// Everything that holds device memory, so the executor can free it with its device selected.
struct DeviceState {
  Stream stream;
  DeviceBuffer table, tableBias;
  std::vector<DeviceLayer> layers;
  DeviceBuffer input;      // packed batch: rowStart | index | value
  DeviceBuffer act[2];     // ping-pong activations, rows x maxWidth each
  PinnedBuffer hostInput;  // same layout as `input`
  PinnedBuffer hostOutput;
};

void validateNet(const DenseNet& net) {
  if (net.width0 == 0) invalid("net has width0 = 0");
  if (net.table.size() != static_cast<size_t>(net.inputDim) * net.width0)
    invalid("table has " + std::to_string(net.table.size()) +
            " floats, expected inputDim x width0 = " +
            std::to_string(static_cast<size_t>(net.inputDim) * net.width0));
  if (net.tableBias.size() != net.width0)
    invalid("tableBias has " + std::to_string(net.tableBias.size()) + " floats, expected " +
            std::to_string(net.width0));
  uint32_t prevOut = net.width0;
  for (size_t i = 0; i < net.layers.size(); ++i) {
    const DenseLayer& L = net.layers[i];
    const std::string name = "layer " + std::to_string(i);
    if (L.in != prevOut)
      invalid(name + " has in = " + std::to_string(L.in) + ", expected " + std::to_string(prevOut));
    if (L.out == 0) invalid(name + " has out = 0");
    if (L.weight.size() != static_cast<size_t>(L.in) * L.out)
      invalid(name + " weight has " + std::to_string(L.weight.size()) + " floats, expected " +
              std::to_string(static_cast<size_t>(L.in) * L.out));
    if (L.bias.size() != L.out)
      invalid(name + " bias has " + std::to_string(L.bias.size()) + " floats, expected " +
              std::to_string(L.out));
    prevOut = L.out;
  }
}

class CudaExecutor final : public NetExecutor {
 public:
  uint32_t inputDim() const override { return inputDim_; }
  CudaExecutor(int device, const DenseNet& net) : device_(device) {
    validateNet(net);
    inputDim_ = net.inputDim;
    width0_ = net.width0;
    outputs_ = net.outputs();
    maxWidth_ = net.width0;
    for (const DenseLayer& L : net.layers) maxWidth_ = std::max(maxWidth_, L.out);

    DeviceScope scope(device_);
    // If an upload throws, `state` frees what was already allocated; `scope` is declared first,
    // so that happens while the executor's device is still selected.
    auto state = std::make_unique<DeviceState>();
    const cudaStream_t stream = state->stream.get();
    state->table.upload(net.table.data(), net.table.size() * sizeof(float), stream);
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
    if (batch.rowStart.empty()) invalid("batch.rowStart is empty (it must hold rows + 1 offsets)");
    const size_t rows = batch.rows();
    if (rows == 0) return;
    if (out == nullptr) invalid("forward() got a null output pointer");
    const size_t nnz = batch.index.size();
    if (batch.value.size() != nnz)
      invalid("batch has " + std::to_string(nnz) + " indices but " +
              std::to_string(batch.value.size()) + " values");
    // Grid sizes and kernel arguments are 32-bit.
    if (rows >= std::numeric_limits<uint32_t>::max() / 2) invalid("batch has too many rows");
    for (size_t r = 0; r < rows; ++r)
      if (batch.rowStart[r + 1] < batch.rowStart[r])
        invalid("batch.rowStart decreases at row " + std::to_string(r));
    if (batch.rowStart[rows] > nnz)
      invalid("batch.rowStart ends at " + std::to_string(batch.rowStart[rows]) +
              " but the batch has " + std::to_string(nnz) + " entries");
    // An out-of-range bucket would make the kernel read outside the table and poison the context.
    uint32_t maxIndex = 0;
    for (uint32_t i : batch.index) maxIndex = std::max(maxIndex, i);
    if (nnz > 0 && maxIndex >= inputDim_)
      invalid("feature index " + std::to_string(maxIndex) + " is out of range (inputDim " +
              std::to_string(inputDim_) + ")");

    std::lock_guard<std::mutex> lock(mu_);
    DeviceScope scope(device_);
    DeviceState& s = *state_;
    const cudaStream_t stream = s.stream.get();
    try {
      run(batch, rows, nnz, out, s, stream);
    } catch (...) {
      // Queued copies may still be reading the pinned staging buffers; the next caller must not
      // overwrite them before the stream drains.
      (void)cudaStreamSynchronize(stream);
      throw;
    }
  }

 private:
  void run(const CsrBatch& batch, size_t rows, size_t nnz, float* out, DeviceState& s,
           cudaStream_t stream) const {
    const size_t inBytes = (rows + 1 + 2 * nnz) * sizeof(uint32_t);
    s.hostInput.reserve(inBytes);
    uint32_t* hRowStart = s.hostInput.as<uint32_t>();
    uint32_t* hIndex = hRowStart + rows + 1;
    float* hValue = reinterpret_cast<float*>(hIndex + nnz);
    std::memcpy(hRowStart, batch.rowStart.data(), (rows + 1) * sizeof(uint32_t));
    if (nnz > 0) {
      std::memcpy(hIndex, batch.index.data(), nnz * sizeof(uint32_t));
      std::memcpy(hValue, batch.value.data(), nnz * sizeof(float));
    }

    s.input.reserve(inBytes);
    check(cudaMemcpyAsync(s.input.as<void>(), s.hostInput.as<void>(), inBytes,
                          cudaMemcpyHostToDevice, stream),
          "cudaMemcpyAsync (batch upload)");
    const uint32_t* dRowStart = s.input.as<uint32_t>();
    const uint32_t* dIndex = dRowStart + rows + 1;
    const float* dValue = reinterpret_cast<const float*>(dIndex + nnz);

    const size_t actBytes = rows * maxWidth_ * sizeof(float);
    s.act[0].reserve(actBytes);
    if (!s.layers.empty()) s.act[1].reserve(actBytes);

    const uint32_t rows32 = static_cast<uint32_t>(rows);
    {
      // Smallest power of two covering width0 (capped at the block size): a 2-output linear
      // model then packs 16 rows into a warp instead of idling 30 of its 32 lanes.
      unsigned perRow = 1;
      while (perRow < width0_ && perRow < kBagThreads) perRow *= 2;
      const unsigned rowsPerBlock = kBagThreads / perRow;
      const dim3 block(perRow, rowsPerBlock);
      const dim3 grid(static_cast<unsigned>((rows + rowsPerBlock - 1) / rowsPerBlock));
      embeddingBagKernel<<<grid, block, 0, stream>>>(
          dRowStart, dIndex, dValue, s.table.as<float>(), s.tableBias.as<float>(), rows32, width0_,
          s.layers.empty() ? kActSigmoid : kActRelu, s.act[0].as<float>());
      check(cudaGetLastError(), "embeddingBagKernel launch");
    }

    int cur = 0;
    for (size_t i = 0; i < s.layers.size(); ++i) {
      const DeviceLayer& L = s.layers[i];
      const bool last = i + 1 == s.layers.size();
      const dim3 block(kDenseTile, kDenseTile);
      const dim3 grid(static_cast<unsigned>((rows + kDenseTile - 1) / kDenseTile),
                      (L.out + kDenseTile - 1) / kDenseTile);
      denseKernel<<<grid, block, 0, stream>>>(s.act[cur].as<float>(), L.weight.as<float>(),
                                              L.bias.as<float>(), rows32, L.in, L.out,
                                              last ? kActSigmoid : kActRelu,
                                              s.act[cur ^ 1].as<float>());
      check(cudaGetLastError(), "denseKernel launch");
      cur ^= 1;
    }

    const size_t outBytes = rows * outputs_ * sizeof(float);
    s.hostOutput.reserve(outBytes);
    check(cudaMemcpyAsync(s.hostOutput.as<void>(), s.act[cur].as<void>(), outBytes,
                          cudaMemcpyDeviceToHost, stream),
          "cudaMemcpyAsync (result download)");
    check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    std::memcpy(out, s.hostOutput.as<void>(), outBytes);
  }

  int device_;
  uint32_t inputDim_ = 0, width0_ = 0, outputs_ = 0, maxWidth_ = 0;
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
  // Creates the context, which is where busy (exclusive-process) or broken devices show up.
  e = cudaFree(nullptr);
  if (e != cudaSuccess) {
    *why = "CUDA device " + std::to_string(*device) + " cannot be initialised: " + describe(e);
    return false;
  }
  // A GPU older than every architecture compiled in (and the PTX) has no image for our kernels.
  cudaFuncAttributes attr;
  e = cudaFuncGetAttributes(&attr, embeddingBagKernel);
  if (e == cudaSuccess) e = cudaFuncGetAttributes(&attr, denseKernel);
  if (e != cudaSuccess) {
    int major = 0, minor = 0;
    (void)cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, *device);
    (void)cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, *device);
    *why = "CUDA device " + std::to_string(*device) + " (compute capability " +
           std::to_string(major) + "." + std::to_string(minor) +
           ") cannot run routecore's kernels: " + describe(e) +
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

std::string cudaDeviceSummary() {
  try {
    std::string why;
    int device = 0;
    if (!probeDevice(&device, &why)) return why;
    cudaDeviceProp prop;
    const cudaError_t e = cudaGetDeviceProperties(&prop, device);
    if (e != cudaSuccess)
      return "CUDA device " + std::to_string(device) + ": cudaGetDeviceProperties returned " +
             describe(e);
    int count = 0;
    (void)cudaGetDeviceCount(&count);
    char buf[512];
    std::snprintf(buf, sizeof buf, "%s, compute capability %d.%d, %.1f GiB (device %d of %d)",
                  prop.name, prop.major, prop.minor,
                  static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0), device,
                  count);
    return buf;
  } catch (...) {
    // Only std::string allocation can throw here; a summary is not worth terminating over.
    return "CUDA device summary unavailable";
  }
}

}  // namespace routecore
