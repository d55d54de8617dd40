// The router's side of the GPU path, tested without a GPU: a stand-in backend ("flaky") that
// computes with the CPU backend's executors but can be told to fail the way a failing device does
// (ErrorCode::BackendUnavailable from prepare, forward or search), and can ask for whole batches
// the way the CUDA executor does (takesWholeBatch).
//
// Checked: a router on a backend that fails moves to the CPU backend for good, its scores equal a
// CPU router's bit for bit (the stand-in computes with the CPU code, so exact equality is the
// right bar), the reason is kept (RouterModel::fallbackReason, backendFallbacks() for
// backendInfo), other errors are not swallowed, and a whole-batch executor gets every row of a
// batch in one call, in order. Every predictor; F32 and F16 tables; sparse and dense input.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backend.h"
#include "check.h"
#include "error.h"
#include "router_fixtures.h"
#include "router_model.h"
#include "thread_pool.h"

using namespace routecore;

namespace {

// What the stand-in does, shared by the backend and everything it prepared.
struct FlakyControl {
  std::atomic<bool> failPrepare{false};
  std::atomic<bool> failRun{false};
  std::atomic<bool> invalidRun{false};  // throw InvalidArgument instead: not a device failure
  std::atomic<bool> wholeBatch{false};
  std::atomic<int> runCalls{0};
  std::mutex mu;
  std::vector<size_t> rowsPerCall;  // rows handed over by each forward / forwardParts / forwardDense / search

  void ran(size_t rows) {
    ++runCalls;
    std::lock_guard<std::mutex> lock(mu);
    rowsPerCall.push_back(rows);
  }
  void check() const {
    if (invalidRun) throw Error(ErrorCode::InvalidArgument, "flaky: a bad input");
    if (failRun) throw Error(ErrorCode::BackendUnavailable, "flaky device: injected failure");
  }
};

class FlakyExecutor final : public NetExecutor {
 public:
  FlakyExecutor(std::unique_ptr<NetExecutor> inner, std::shared_ptr<FlakyControl> c)
      : inner_(std::move(inner)), c_(std::move(c)) {}
  void forward(const CsrBatch& batch, float* out) const override {
    c_->check();
    c_->ran(batch.rows());
    inner_->forward(batch, out);
  }
  void forwardDense(const float* x, size_t rows, float* out) const override {
    c_->check();
    c_->ran(rows);
    inner_->forwardDense(x, rows, out);
  }
  // forwardParts is not overridden: the stand-in takes NetExecutor's default (one packed batch
  // through forward), which this test exercises too.
  bool takesWholeBatch() const override { return c_->wholeBatch; }
  uint32_t inputDim() const override { return inner_->inputDim(); }
  // Like the CUDA executor, no host copy of the table: the router keeps its own.

 private:
  std::unique_ptr<NetExecutor> inner_;
  std::shared_ptr<FlakyControl> c_;
};

class FlakySearcher final : public KnnSearcher {
 public:
  FlakySearcher(std::unique_ptr<KnnSearcher> inner, std::shared_ptr<FlakyControl> c)
      : inner_(std::move(inner)), c_(std::move(c)) {}
  void search(const float* q, size_t rows, uint32_t k, uint32_t* index, float* sim) const override {
    c_->check();
    c_->ran(rows);
    inner_->search(q, rows, k, index, sim);
  }
  uint32_t dim() const override { return inner_->dim(); }
  uint32_t size() const override { return inner_->size(); }
  size_t rowsPerCall() const override { return c_->wholeBatch ? SIZE_MAX : inner_->rowsPerCall(); }

 private:
  std::unique_ptr<KnnSearcher> inner_;
  std::shared_ptr<FlakyControl> c_;
};

class FlakyBackend final : public Backend {
 public:
  explicit FlakyBackend(std::shared_ptr<FlakyControl> c) : c_(std::move(c)) {}
  const char* name() const override { return "flaky"; }
  std::unique_ptr<NetExecutor> prepare(const DenseNet& net) const override {
    if (c_->failPrepare) throw Error(ErrorCode::BackendUnavailable, "flaky device: out of memory at prepare");
    return std::make_unique<FlakyExecutor>(cpu_->prepare(net), c_);
  }
  std::unique_ptr<KnnSearcher> prepareKnn(std::shared_ptr<const KnnTable> table) const override {
    if (c_->failPrepare) throw Error(ErrorCode::BackendUnavailable, "flaky device: out of memory at prepare");
    return std::make_unique<FlakySearcher>(cpu_->prepareKnn(std::move(table)), c_);
  }

 private:
  std::shared_ptr<FlakyControl> c_;
  std::shared_ptr<Backend> cpu_ = makeCpuBackend(2);
};

const std::vector<fixtures::RouterSpec>& allSpecs() {
  static const std::vector<fixtures::RouterSpec> specs = [] {
    std::vector<fixtures::RouterSpec> v;
    uint64_t seed = 1;
    for (const char* p : {"mlp", "linear", "mf", "kmeans", "knn"})
      for (bool dense : {false, true})
        for (bool half : {false, true}) v.push_back({p, dense, half, seed++});
    return v;
  }();
  return specs;
}

struct Inputs {
  fixtures::Prompts prompts = fixtures::makePrompts(42, 1024);
  std::vector<float> embeddings = fixtures::makeEmbeddings(43, 1024, fixtures::kEmbeddingDim);
};
const Inputs& inputs() {
  static const Inputs in;
  return in;
}

std::vector<float> scoreN(const RouterModel& m, size_t n) {
  return fixtures::scoreInputs(m, inputs().prompts, inputs().embeddings, n);
}

bool sameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST(a_failing_backend_moves_each_router_to_cpu_with_the_reason) {
  auto pool = ThreadPool::shared(2);
  for (const auto& spec : allSpecs()) {
    const std::string label = fixtures::describe(spec);
    const fixtures::RouterParts parts = fixtures::makeParts(spec);
    auto cpuRouter = parts.make(makeCpuBackend(2), pool);
    auto control = std::make_shared<FlakyControl>();
    auto router = parts.make(std::make_shared<FlakyBackend>(control), pool);
    CHECK(router->backendName() == "flaky");
    CHECK(router->fallbackReason().empty());
    const uint64_t before = backendFallbacks().routers;
    for (size_t n : {size_t{1}, size_t{7}, size_t{1024}}) {
      const std::vector<float> want = scoreN(*cpuRouter, n);
      if (!sameBits(scoreN(*router, n), want)) {
        std::printf("  %s n=%zu: the stand-in differs from cpu before any failure\n", label.c_str(), n);
        CHECK(false);
      }
    }
    control->failRun = true;
    const int callsBefore = control->runCalls;
    for (size_t n : {size_t{1024}, size_t{7}, size_t{1}}) {
      const std::vector<float> want = scoreN(*cpuRouter, n);
      if (!sameBits(scoreN(*router, n), want)) {
        std::printf("  %s n=%zu: after the failure the scores differ from cpu\n", label.c_str(), n);
        CHECK(false);
      }
    }
    CHECK(router->backendName() == "cpu");
    CHECK(router->fallbackReason().find("flaky device: injected failure") != std::string::npos);
    CHECK(router->fallbackReason().find("flaky backend") != std::string::npos);
    CHECK(backendFallbacks().routers == before + 1);
    CHECK(backendFallbacks().lastReason.find(spec.predictor + " router moved from flaky to cpu") != std::string::npos);
    // Once moved, the failed backend is not asked again.
    control->failRun = false;
    scoreN(*router, 7);
    CHECK(control->runCalls == callsBefore);
    // The router still writes itself out with its weights (from its own host copy).
    const std::vector<uint8_t> bytes = writeArtifact(router->toArtifact(spec.half));
    auto back =
        RouterModel::fromArtifact(readArtifact(bytes.data(), bytes.size(), "t.router"), makeCpuBackend(2), pool);
    if (!sameBits(scoreN(*back, 7), scoreN(*cpuRouter, 7))) {
      std::printf("  %s: the fallen-back router's artifact scores differently\n", label.c_str());
      CHECK(false);
    }
  }
}

TEST(a_backend_that_fails_at_prepare_gives_a_cpu_router) {
  auto pool = ThreadPool::shared(2);
  for (const auto& spec : allSpecs()) {
    const fixtures::RouterParts parts = fixtures::makeParts(spec);
    auto control = std::make_shared<FlakyControl>();
    control->failPrepare = true;
    auto router = parts.make(std::make_shared<FlakyBackend>(control), pool);
    CHECK(router->backendName() == "cpu");
    CHECK(router->fallbackReason().find("out of memory at prepare") != std::string::npos);
    auto cpuRouter = parts.make(makeCpuBackend(2), pool);
    CHECK(sameBits(scoreN(*router, 7), scoreN(*cpuRouter, 7)));
    CHECK(control->runCalls == 0);
    // An F32 table moved to the CPU executor: the router holds no second copy of it.
    if (!spec.half && spec.predictor != "knn") CHECK(router->weightBytes() == cpuRouter->weightBytes());
  }
}

TEST(other_errors_are_not_taken_for_a_failing_backend) {
  auto pool = ThreadPool::shared(2);
  for (const char* predictor : {"mlp", "knn"}) {
    const fixtures::RouterParts parts = fixtures::makeParts({predictor, false, false, 99});
    auto control = std::make_shared<FlakyControl>();
    control->invalidRun = true;
    auto router = parts.make(std::make_shared<FlakyBackend>(control), pool);
    CHECK_THROWS(scoreN(*router, 7), ErrorCode::InvalidArgument, "flaky: a bad input");
    CHECK(router->backendName() == "flaky");
    CHECK(router->fallbackReason().empty());
  }
  // And a CPU router never falls back: a BackendUnavailable there would be a bug, and propagates.
  auto cpuRouter = fixtures::makeParts({"mlp", false, false, 98}).make(makeCpuBackend(2), pool);
  CHECK(cpuRouter->fallbackReason().empty());
}

TEST(a_whole_batch_executor_gets_the_batch_in_one_call) {
  // The CUDA executor asks for whole batches; the router must then encode in parallel slices and
  // hand all rows over at once (a 1,024-prompt batch in one call, not 16 of 64 rows), in order.
  auto pool = ThreadPool::shared(4);
  for (const auto& spec : allSpecs()) {
    const std::string label = fixtures::describe(spec);
    const fixtures::RouterParts parts = fixtures::makeParts(spec);
    auto cpuRouter = parts.make(makeCpuBackend(2), pool);
    auto control = std::make_shared<FlakyControl>();
    control->wholeBatch = true;
    auto router = parts.make(std::make_shared<FlakyBackend>(control), pool);
    for (size_t n : {size_t{1}, size_t{7}, size_t{65}, size_t{1024}}) {
      {
        std::lock_guard<std::mutex> lock(control->mu);
        control->rowsPerCall.clear();
      }
      const std::vector<float> got = scoreN(*router, n);
      if (!sameBits(got, scoreN(*cpuRouter, n))) {
        std::printf("  %s n=%zu: whole-batch scores differ from cpu\n", label.c_str(), n);
        CHECK(false);
      }
      std::lock_guard<std::mutex> lock(control->mu);
      if (control->rowsPerCall != std::vector<size_t>{n}) {
        std::printf("  %s n=%zu: %zu calls instead of one of %zu rows\n", label.c_str(), n, control->rowsPerCall.size(),
                    n);
        CHECK(false);
      }
    }
  }
  // Without the request the CPU path is unchanged: 64-row slices.
  const fixtures::RouterParts parts = fixtures::makeParts({"mlp", false, false, 5});
  auto control = std::make_shared<FlakyControl>();
  auto router = parts.make(std::make_shared<FlakyBackend>(control), pool);
  scoreN(*router, 1024);
  CHECK(control->rowsPerCall.size() == 16);
  CHECK(std::all_of(control->rowsPerCall.begin(), control->rowsPerCall.end(), [](size_t r) { return r == 64; }));
}

TEST(forward_parts_default_packs_parts_with_offsets) {
  // NetExecutor::forwardParts (the default a whole-batch executor may keep) must give what one
  // forward over the concatenated rows gives, also for parts whose rowStart does not start at 0
  // and for empty parts.
  const fixtures::RouterParts parts = fixtures::makeParts({"mlp", false, false, 7});
  auto ex = makeCpuBackend(1)->prepare(parts.net);
  SplitMix64 rng(3);
  auto randomPart = [&](size_t rows, uint32_t skip) {
    CsrBatch b;
    for (uint32_t i = 0; i < skip; ++i) b.index.push_back(rng.below(parts.net.inputDim)), b.value.push_back(9.f);
    b.rowStart[0] = skip;
    for (size_t r = 0; r < rows; ++r) {
      const uint32_t n = rng.below(30);
      for (uint32_t i = 0; i < n; ++i)
        b.index.push_back(rng.below(parts.net.inputDim)), b.value.push_back(static_cast<float>(rng.uniform()));
      b.rowStart.push_back(static_cast<uint32_t>(b.index.size()));
    }
    return b;
  };
  const CsrBatch a = randomPart(5, 0), empty = randomPart(0, 0), b = randomPart(3, 4), c = randomPart(9, 11);
  const CsrBatch* list[] = {&a, &empty, &b, &c};
  std::vector<float> got(17 * fixtures::kModels), want;
  ex->forwardParts(list, 4, got.data());
  for (const CsrBatch* p : list) {
    std::vector<float> one(p->rows() * fixtures::kModels);
    ex->forward(*p, one.data());
    want.insert(want.end(), one.begin(), one.end());
  }
  CHECK(sameBits(got, want));
}

TEST(concurrent_callers_see_one_fallback_and_correct_scores) {
  auto pool = ThreadPool::shared(2);
  for (const char* predictor : {"mlp", "knn", "kmeans"}) {
    const fixtures::RouterParts parts = fixtures::makeParts({predictor, false, false, 77});
    auto cpuRouter = parts.make(makeCpuBackend(2), pool);
    auto control = std::make_shared<FlakyControl>();
    control->wholeBatch = true;
    auto router = parts.make(std::make_shared<FlakyBackend>(control), pool);
    const std::vector<float> want = scoreN(*cpuRouter, 300);
    const uint64_t before = backendFallbacks().routers;
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 20; ++i) {
          if (t == 0 && i == 5) control->failRun = true;
          if (!sameBits(scoreN(*router, 300), want)) ++wrong;
        }
      });
    }
    for (auto& th : threads) th.join();
    CHECK(wrong == 0);
    CHECK(router->backendName() == "cpu");
    CHECK(backendFallbacks().routers == before + 1);
  }
}

int main() {
  return check::runAll();
}
