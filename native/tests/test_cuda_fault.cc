// A real device fault in the middle of a process: routers on the CUDA backend must move to the CPU
// backend with the CUDA error as the reason, keep scoring correctly, and new routers and backend
// selections must skip the failed device. A process of its own (ctest runs each test executable
// separately): the fault leaves this process's CUDA context unusable for good.
//
// The fault is a kernel that traps (cudaInjectFaultForTesting), which puts the context in the
// sticky error state an illegal address or an uncorrectable ECC error would.
//
// Exits 77 (ctest SKIP) when built without CUDA or when no usable device is present.
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend.h"
#include "check.h"
#include "error.h"
#include "router_fixtures.h"
#include "router_model.h"
#include "thread_pool.h"
#ifdef ROUTECORE_WITH_CUDA
#include "cuda_backend.h"
#endif

#ifdef ROUTECORE_WITH_CUDA

namespace {

std::shared_ptr<routecore::Backend> gCuda;

TEST(a_device_fault_moves_routers_to_cpu_and_the_process_carries_on) {
  auto pool = routecore::ThreadPool::shared(2);
  auto cpuBackend = routecore::makeCpuBackend(2);
  const fixtures::Prompts prompts = fixtures::makePrompts(5000, 1024);
  const std::vector<float> embeddings = fixtures::makeEmbeddings(5001, 1024, fixtures::kEmbeddingDim);
  struct Pair {
    fixtures::RouterParts parts;
    std::unique_ptr<routecore::RouterModel> cuda, cpu;
  };
  std::vector<Pair> routers;
  uint64_t seed = 5100;
  for (const char* predictor : {"mlp", "linear", "mf", "kmeans", "knn"}) {
    for (bool dense : {false, true}) {
      Pair p;
      p.parts = fixtures::makeParts({predictor, dense, true, seed++});
      p.cuda = p.parts.make(gCuda, pool);
      p.cpu = p.parts.make(cpuBackend, pool);
      CHECK(p.cuda->backendName() == "cuda");
      fixtures::scoreInputs(*p.cuda, prompts, embeddings, 7);  // works before the fault
      routers.push_back(std::move(p));
    }
  }

  const std::string fault = routecore::cudaInjectFaultForTesting();
  std::printf("  injected fault: %s\n", fault.c_str());
  CHECK(!fault.empty());

  const uint64_t before = routecore::backendFallbacks().routers;
  for (Pair& p : routers) {
    const std::string label = fixtures::describe(p.parts.spec);
    // The scores after the fault are the CPU backend's, bit for bit: the router computes there now.
    const std::vector<float> got = fixtures::scoreInputs(*p.cuda, prompts, embeddings, 1024);
    const std::vector<float> want = fixtures::scoreInputs(*p.cpu, prompts, embeddings, 1024);
    if (got.size() != want.size() || std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) != 0) {
      std::printf("  %s: scores after the fault differ from the cpu router's\n", label.c_str());
      CHECK(false);
    }
    CHECK(p.cuda->backendName() == "cpu");
    const std::string reason = p.cuda->fallbackReason();
    if (reason.find("cuda backend failed") == std::string::npos || reason.find("CUDA") == std::string::npos) {
      std::printf("  %s: fallback reason \"%s\"\n", label.c_str(), reason.c_str());
      CHECK(false);
    }
  }
  const routecore::BackendFallbacks f = routecore::backendFallbacks();
  CHECK(f.routers == before + routers.size());
  std::printf("  first fallback: %s\n", f.firstReason.c_str());

  // A router made after the fault on the same backend object starts on the CPU.
  auto late = fixtures::makeParts({"mlp", false, false, 5200}).make(gCuda, pool);
  CHECK(late->backendName() == "cpu");
  CHECK(late->fallbackReason().find("unusable after an earlier error") != std::string::npos);
  // And a fresh backend selection reports the device as unusable, with the reason.
  routecore::BackendReport report;
  auto chosen = routecore::selectBackend("auto", 2, &report);
  CHECK(std::string(chosen->name()) == "cpu");
  CHECK(!report.cudaUsable);
  CHECK(report.cudaDetail.find("unusable after an earlier error") != std::string::npos);
  CHECK_THROWS(routecore::selectBackend("cuda", 2, nullptr), routecore::ErrorCode::BackendUnavailable,
               "unusable after an earlier error");
}

}  // namespace

int main() {
  std::string why;
  gCuda = routecore::makeCudaBackend(&why);
  if (!gCuda) {
    std::printf("SKIPPED: %s\n", why.c_str());
    return 77;
  }
  std::printf("device: %s\n", routecore::cudaDeviceSummary().c_str());
  const int rc = check::runAll();
  gCuda.reset();
  return rc;
}

#else  // !ROUTECORE_WITH_CUDA

int main() {
  std::printf("SKIPPED: built without the CUDA backend (ROUTECORE_WITH_CUDA not defined)\n");
  return 77;
}

#endif
