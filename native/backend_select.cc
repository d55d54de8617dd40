#include <mutex>

#include "backend.h"
#include "error.h"
#include "thread_pool.h"
#ifdef ROUTECORE_WITH_CUDA
#include "cuda_backend.h"
#endif

namespace routecore {

void NetExecutor::forwardDense(const float* x, size_t rows, float* out) const {
  CsrBatch batch;
  appendDenseRows(x, rows, inputDim(), batch);
  forward(batch, out);
}

void NetExecutor::forwardParts(const CsrBatch* const* parts, size_t count, float* out) const {
  if (count == 1) return forward(*parts[0], out);
  CsrBatch all;
  for (size_t i = 0; i < count; ++i) {
    const CsrBatch& p = *parts[i];
    const uint32_t base = static_cast<uint32_t>(all.index.size()) - p.rowStart[0];
    for (size_t r = 1; r < p.rowStart.size(); ++r) all.rowStart.push_back(base + p.rowStart[r]);
    all.index.insert(all.index.end(), p.index.begin() + p.rowStart[0], p.index.begin() + p.rowStart.back());
    all.value.insert(all.value.end(), p.value.begin() + p.rowStart[0], p.value.begin() + p.rowStart.back());
  }
  forward(all, out);
}

namespace {
std::mutex gFallbackMu;
BackendFallbacks gFallbacks;
}  // namespace

void noteBackendFallback(const std::string& reason) {
  std::lock_guard<std::mutex> lock(gFallbackMu);
  if (gFallbacks.routers++ == 0) gFallbacks.firstReason = reason;
  gFallbacks.lastReason = reason;
}

BackendFallbacks backendFallbacks() {
  std::lock_guard<std::mutex> lock(gFallbackMu);
  return gFallbacks;
}

std::shared_ptr<Backend> selectBackend(const std::string& request, unsigned threads, BackendReport* report) {
  BackendReport local;
  BackendReport& r = report ? *report : local;
  r.cpuThreads = threads == 0 ? defaultThreadCount() : threads;
  if (request != "auto" && request != "cpu" && request != "cuda")
    throw Error(ErrorCode::BadBackend, "unknown backend \"" + request + "\": expected one of auto, cpu, cuda");

  std::shared_ptr<Backend> cuda;
#ifdef ROUTECORE_WITH_CUDA
  r.cudaCompiled = true;
  if (request != "cpu") {
    std::string why;
    cuda = makeCudaBackend(&why);
    r.cudaUsable = cuda != nullptr;
    r.cudaDetail = cuda ? cudaDeviceSummary() : why;
  } else {
    r.cudaDetail = "not probed: the CPU backend was requested";
  }
#else
  // What the build asked for (CMakeLists.txt passes ROUTECORE_CUDA), so the reason given is the true one.
#ifndef ROUTECORE_CUDA_REQUEST
#define ROUTECORE_CUDA_REQUEST "unknown"
#endif
  r.cudaDetail = std::string(ROUTECORE_CUDA_REQUEST) == "OFF"
                     ? "this build has no CUDA backend: it was compiled CPU-only (ROUTECORE_CUDA=OFF, as the CPU "
                       "prebuilt package and the default source build are)"
                     : "this build has no CUDA backend: no CUDA compiler (nvcc) was found when it was compiled";
#endif

  if (request == "cuda") {
    if (!cuda)
      throw Error(ErrorCode::BackendUnavailable, "the cuda backend was requested but cannot be used: " + r.cudaDetail);
    r.chosen = "cuda";
    r.reason = "the cuda backend was requested";
    return cuda;
  }
  if (request == "auto" && cuda) {
    r.chosen = "cuda";
    r.reason = "auto: the CUDA backend is compiled in and a device is present";
    return cuda;
  }
  r.chosen = "cpu";
  r.reason = request == "cpu" ? "the cpu backend was requested"
                              : "auto: CUDA unavailable (" + r.cudaDetail + "), using the CPU backend";
  return makeCpuBackend(r.cpuThreads);
}

}  // namespace routecore
