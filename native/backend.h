// Compute backends. A backend turns a DenseNet into an executor that holds the weights where the
// backend computes (host memory for CPU, device memory for CUDA) and runs forward passes over
// batches of sparse rows. The core is backend-agnostic above this interface.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "dense_net.h"
#include "sparse.h"

namespace routecore {

class NetExecutor {
 public:
  virtual ~NetExecutor() = default;
  /// out: rows x net.outputs() floats, row-major, each a sigmoid probability.
  /// Safe to call from several threads at once on different inputs.
  virtual void forward(const CsrBatch& batch, float* out) const = 0;
  /// Dense input (precomputed embeddings): x is rows x inputDim, row-major. The default turns the
  /// rows into sparse ones that use every column; backends override it with a direct product.
  virtual void forwardDense(const float* x, size_t rows, float* out) const;
  /// The input dimension this executor was prepared for.
  virtual uint32_t inputDim() const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  /// The executor keeps its own copy of what it needs; `net` may be freed afterwards.
  virtual std::unique_ptr<NetExecutor> prepare(const DenseNet& net) const = 0;
};

/// What the build and the machine offer, for `routecore info`.
struct BackendReport {
  bool cudaCompiled = false;
  bool cudaUsable = false;
  std::string cudaDetail;  // device name, or why CUDA cannot be used
  std::string chosen;      // "cpu" or "cuda"
  std::string reason;      // why `chosen` was picked
  unsigned cpuThreads = 1;
};

/// request: "auto", "cpu" or "cuda". "cuda" without a usable device throws
/// ErrorCode::BackendUnavailable; an unknown name throws ErrorCode::BadBackend.
/// threads caps the CPU backend's worker threads (0 = hardware concurrency).
std::shared_ptr<Backend> selectBackend(const std::string& request, unsigned threads,
                                       BackendReport* report);

std::shared_ptr<Backend> makeCpuBackend(unsigned threads);

#ifdef ROUTECORE_WITH_CUDA
/// Returns nullptr and fills `why` when no device can be used.
std::shared_ptr<Backend> makeCudaBackend(std::string* why);
#endif

}  // namespace routecore
