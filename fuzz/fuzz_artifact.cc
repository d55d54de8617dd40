// libFuzzer harness: a .router file from hostile bytes. Reading, building the router on the CPU
// backend and scoring one prompt (or one embedding) must either work, with finite scores in
// [0, 1], or throw routecore::Error; anything else (a crash, a sanitizer report, another
// exception, a non-finite score) is a finding.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "artifact.h"
#include "backend.h"
#include "error.h"
#include "router_model.h"
#include "thread_pool.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::shared_ptr<routecore::Backend> backend = routecore::makeCpuBackend(1);
  static const std::shared_ptr<routecore::ThreadPool> pool = routecore::ThreadPool::shared(1);
  try {
    auto model =
        routecore::RouterModel::fromArtifact(routecore::readArtifact(data, size, "fuzz.router"), backend, pool);
    std::vector<float> out(2 * model->outputs());
    if (std::string(model->encoderKind()) == "hashing") {
      const std::string text = "Compute 12 + 30, then explain the result. Ünïcödé ǅ ß";
      const uint32_t offsets[] = {0, 20, static_cast<uint32_t>(text.size())};
      model->score(text.data(), offsets, 2, out.data());
    } else {
      std::vector<float> x(2 * model->inputDim());
      for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(static_cast<float>(i));
      model->scoreEmbeddings(x.data(), 2, out.data());
    }
    for (float v : out)
      if (!(v >= 0.f && v <= 1.f)) std::abort();  // a router that loads must score probabilities
    // Writing it back out must give a file that reads again.
    std::vector<uint8_t> bytes = routecore::writeArtifact(model->toArtifact(false));
    routecore::readArtifact(bytes.data(), bytes.size(), "rewritten.router");
  } catch (const routecore::Error&) {
  }
  return 0;
}
