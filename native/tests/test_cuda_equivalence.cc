// The CUDA backend must compute the same probabilities as a plain double-precision reference
// forward pass written here (independent of both backends), and as the CPU backend.
//
// Tolerance: 1e-5 absolute on every output probability. The device accumulates in float (fused
// multiply-add, a different order than the CPU), so rows of ~1000 entries carry logit errors of
// a few 1e-7..1e-6; the sigmoid's slope is at most 1/4, leaving an order of magnitude of margin.
//
// Exits 77 (ctest SKIP) when built without CUDA or when no usable device is present.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "backend.h"
#include "check.h"
#include "dense_net.h"
#include "error.h"
#include "sparse.h"
#ifdef ROUTECORE_WITH_CUDA
#include "cuda_backend.h"
#endif

#ifdef ROUTECORE_WITH_CUDA

namespace {

using routecore::CsrBatch;
using routecore::DenseLayer;
using routecore::DenseNet;
using routecore::ErrorCode;

constexpr double kTolerance = 1e-5;
constexpr uint32_t kInputDim = 1u << 12;

std::shared_ptr<routecore::Backend> gCuda;

struct Rng {
  uint64_t state;
  explicit Rng(uint64_t seed) : state(seed) {}
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform(double lo, double hi) {
    return lo + (hi - lo) * (static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0));
  }
  uint32_t below(uint32_t n) { return static_cast<uint32_t>(next() % n); }
};

// sizes: the widths after the table; empty gives a linear net whose width0 is the output count.
DenseNet makeNet(uint64_t seed, uint32_t width0, const std::vector<uint32_t>& sizes) {
  Rng rng(seed);
  DenseNet net;
  net.inputDim = kInputDim;
  net.width0 = width0;
  net.table.resize(static_cast<size_t>(kInputDim) * width0);
  // Small enough that a ~1000-entry row lands at logits of order 1, not in the saturated tails.
  for (float& w : net.table) w = static_cast<float>(rng.uniform(-0.05, 0.05));
  net.tableBias.resize(width0);
  for (float& b : net.tableBias) b = static_cast<float>(rng.uniform(-0.5, 0.5));
  uint32_t in = width0;
  for (uint32_t out : sizes) {
    DenseLayer L;
    L.in = in;
    L.out = out;
    const double a = std::sqrt(6.0 / in);
    L.weight.resize(static_cast<size_t>(in) * out);
    for (float& w : L.weight) w = static_cast<float>(rng.uniform(-a, a));
    L.bias.resize(out);
    for (float& b : L.bias) b = static_cast<float>(rng.uniform(-0.2, 0.2));
    net.layers.push_back(std::move(L));
    in = out;
  }
  return net;
}

void appendRow(Rng& rng, uint32_t entries, CsrBatch* b) {
  for (uint32_t k = 0; k < entries; ++k) {
    uint32_t idx;
    const uint32_t pick = rng.below(20);
    if (pick == 0) {
      idx = 0;
    } else if (pick == 1) {
      idx = kInputDim - 1;
    } else if (pick == 2 && !b->index.empty()) {
      idx = b->index.back();  // duplicates within a row must add up, not overwrite
    } else {
      idx = rng.below(kInputDim);
    }
    b->index.push_back(idx);
    b->value.push_back(static_cast<float>(rng.uniform(-1.0, 1.0)));
  }
  b->rowStart.push_back(static_cast<uint32_t>(b->index.size()));
}

// A mix of empty rows, ~1000-entry rows and short rows.
CsrBatch makeBatch(uint64_t seed, size_t rows) {
  Rng rng(seed);
  CsrBatch b;
  for (size_t r = 0; r < rows; ++r) {
    uint32_t entries;
    switch (r % 5) {
      case 1: entries = 0; break;
      case 3: entries = 990 + rng.below(21); break;
      default: entries = 1 + rng.below(40); break;
    }
    appendRow(rng, entries, &b);
  }
  return b;
}

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

std::vector<float> referenceForward(const DenseNet& net, const CsrBatch& batch) {
  const size_t rows = batch.rows();
  const uint32_t outputs = net.outputs();
  std::vector<float> out(rows * outputs);
  for (size_t r = 0; r < rows; ++r) {
    std::vector<double> a(net.width0);
    for (uint32_t j = 0; j < net.width0; ++j) a[j] = net.tableBias[j];
    for (uint32_t k = batch.rowStart[r]; k < batch.rowStart[r + 1]; ++k) {
      const float* row = &net.table[static_cast<size_t>(batch.index[k]) * net.width0];
      const double v = batch.value[k];
      for (uint32_t j = 0; j < net.width0; ++j) a[j] += v * row[j];
    }
    if (!net.layers.empty()) {
      for (double& v : a) v = v > 0 ? v : 0;
      for (size_t li = 0; li < net.layers.size(); ++li) {
        const DenseLayer& L = net.layers[li];
        std::vector<double> z(L.out);
        for (uint32_t o = 0; o < L.out; ++o) {
          double s = L.bias[o];
          for (uint32_t i = 0; i < L.in; ++i)
            s += a[i] * L.weight[static_cast<size_t>(i) * L.out + o];
          z[o] = s;
        }
        if (li + 1 < net.layers.size())
          for (double& v : z) v = v > 0 ? v : 0;
        a.swap(z);
      }
    }
    for (uint32_t o = 0; o < outputs; ++o) out[r * outputs + o] = static_cast<float>(sigmoid(a[o]));
  }
  return out;
}

std::vector<float> runForward(const routecore::NetExecutor& ex, const DenseNet& net,
                              const CsrBatch& batch) {
  std::vector<float> out(batch.rows() * net.outputs(), -1.0f);
  ex.forward(batch, out.data());
  return out;
}

// One CHECK per comparison (not per element) keeps a bad run's output readable.
void expectClose(const std::vector<float>& got, const std::vector<float>& want, size_t outputs,
                 const std::string& label) {
  CHECK(got.size() == want.size());
  if (got.size() != want.size()) return;
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (!(d <= worst)) {  // also catches NaN
      worst = std::isnan(d) ? INFINITY : d;
      at = i;
    }
  }
  if (!(worst <= kTolerance)) {
    std::printf("  %s: max |diff| %.3g at row %zu output %zu (got %.8g, want %.8g)\n",
                label.c_str(), worst, at / outputs, at % outputs, got[at], want[at]);
  }
  CHECK(worst <= kTolerance);
}

std::string describeNet(const DenseNet& net) {
  std::string s = "width0=" + std::to_string(net.width0);
  for (const DenseLayer& L : net.layers) s += "->" + std::to_string(L.out);
  return s;
}

// CUDA against the reference and against the CPU backend, at batch sizes 1, 7 and 1024.
void compareAllBatches(const DenseNet& net, uint64_t seed) {
  auto cuda = gCuda->prepare(net);
  auto cpu = routecore::makeCpuBackend(2)->prepare(net);
  for (size_t rows : {size_t{1}, size_t{7}, size_t{1024}}) {
    const CsrBatch batch = makeBatch(seed + rows, rows);
    const std::string label = describeNet(net) + " rows=" + std::to_string(rows);
    const std::vector<float> got = runForward(*cuda, net, batch);
    expectClose(got, referenceForward(net, batch), net.outputs(), label + " vs reference");
    expectClose(got, runForward(*cpu, net, batch), net.outputs(), label + " vs cpu backend");
  }
}

TEST(backend_is_named_cuda) { CHECK(std::string(gCuda->name()) == "cuda"); }

TEST(linear_matches_reference_and_cpu) {
  // 300 exceeds one block's columns, so the column loop of the bag kernel runs twice.
  uint64_t seed = 100;
  for (uint32_t width : {1u, 2u, 11u, 32u, 64u, 300u}) {
    compareAllBatches(makeNet(seed, width, {}), seed * 7);
    ++seed;
  }
}

TEST(mlp_one_hidden_matches_reference_and_cpu) {
  compareAllBatches(makeNet(200, 32, {2}), 1);
  compareAllBatches(makeNet(201, 64, {11}), 2);
  compareAllBatches(makeNet(202, 33, {5}), 3);  // off the 16-wide tile grid
}

TEST(mlp_two_hidden_matches_reference_and_cpu) {
  compareAllBatches(makeNet(300, 64, {32, 11}), 4);
  compareAllBatches(makeNet(301, 32, {64, 2}), 5);
  compareAllBatches(makeNet(302, 17, {40, 3}), 6);
  compareAllBatches(makeNet(303, 300, {20, 7}), 7);
}

TEST(single_rows_empty_short_and_long) {
  for (const DenseNet& net : {makeNet(400, 11, {}), makeNet(401, 64, {32, 11})}) {
    auto ex = gCuda->prepare(net);
    for (uint32_t entries : {0u, 1u, 3u, 4u, 5u, 1000u}) {
      Rng rng(entries + 17);
      CsrBatch b;
      appendRow(rng, entries, &b);
      expectClose(runForward(*ex, net, b), referenceForward(net, b), net.outputs(),
                  describeNet(net) + " one row of " + std::to_string(entries));
    }
  }
}

TEST(empty_rows_give_the_bias_path) {
  const DenseNet net = makeNet(500, 32, {16, 4});
  auto ex = gCuda->prepare(net);
  CsrBatch b;
  for (int r = 0; r < 9; ++r) b.rowStart.push_back(0);
  const std::vector<float> got = runForward(*ex, net, b);
  expectClose(got, referenceForward(net, b), net.outputs(), "all-empty batch");
  for (size_t r = 1; r < 9; ++r)
    for (uint32_t o = 0; o < net.outputs(); ++o) CHECK(got[r * net.outputs() + o] == got[o]);
}

TEST(rows_may_start_past_entry_zero) {
  const DenseNet net = makeNet(510, 16, {8});
  auto ex = gCuda->prepare(net);
  Rng rng(3);
  CsrBatch b;
  appendRow(rng, 5, &b);  // entries [0,5) then dropped from the batch's first row
  b.rowStart.erase(b.rowStart.begin());
  appendRow(rng, 7, &b);
  appendRow(rng, 0, &b);
  appendRow(rng, 2, &b);
  expectClose(runForward(*ex, net, b), referenceForward(net, b), net.outputs(), "rowStart[0] > 0");
}

TEST(zero_row_batch_writes_nothing) {
  const DenseNet net = makeNet(520, 8, {});
  auto ex = gCuda->prepare(net);
  CsrBatch b;
  float sentinel = 42.0f;
  ex->forward(b, &sentinel);
  CHECK(sentinel == 42.0f);
}

TEST(scratch_buffers_grow_and_shrink) {
  const DenseNet net = makeNet(600, 64, {32, 11});
  auto ex = gCuda->prepare(net);
  uint64_t seed = 60;
  for (size_t rows : {size_t{1024}, size_t{1}, size_t{7}, size_t{3000}, size_t{2}}) {
    const CsrBatch b = makeBatch(seed++, rows);
    expectClose(runForward(*ex, net, b), referenceForward(net, b), net.outputs(),
                "reused executor rows=" + std::to_string(rows));
  }
}

TEST(concurrent_forward_calls) {
  const DenseNet net = makeNet(700, 64, {32, 11});
  auto ex = gCuda->prepare(net);
  constexpr int kThreads = 6;
  std::vector<CsrBatch> batches;
  std::vector<std::vector<float>> want;
  for (int t = 0; t < kThreads; ++t) {
    batches.push_back(makeBatch(70 + t, t % 2 ? 7 + t : 300 + 50 * t));
    want.push_back(referenceForward(net, batches.back()));
  }
  std::vector<double> worst(kThreads, 0.0);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int it = 0; it < 25; ++it) {
          const std::vector<float> got = runForward(*ex, net, batches[t]);
          for (size_t i = 0; i < got.size(); ++i) {
            const double d = std::fabs(static_cast<double>(got[i]) - want[t][i]);
            worst[t] = std::isnan(d) || d > worst[t] ? (std::isnan(d) ? INFINITY : d) : worst[t];
          }
        }
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    if (!errors[t].empty()) std::printf("  thread %d threw: %s\n", t, errors[t].c_str());
    CHECK(errors[t].empty());
    if (!(worst[t] <= kTolerance)) std::printf("  thread %d max |diff| %.3g\n", t, worst[t]);
    CHECK(worst[t] <= kTolerance);
  }
}

TEST(executor_outlives_backend_and_net) {
  std::unique_ptr<routecore::NetExecutor> ex;
  std::vector<float> want;
  const CsrBatch b = makeBatch(80, 33);
  {
    std::string why;
    auto backend = routecore::makeCudaBackend(&why);
    CHECK(backend != nullptr);
    if (!backend) return;
    const DenseNet net = makeNet(800, 32, {2});
    ex = backend->prepare(net);
    want = referenceForward(net, b);
  }
  std::vector<float> got(b.rows() * 2);
  ex->forward(b, got.data());
  expectClose(got, want, 2, "after backend and net were freed");
}

TEST(rejects_malformed_batches_and_keeps_working) {
  const DenseNet net = makeNet(900, 8, {4});
  auto ex = gCuda->prepare(net);
  std::vector<float> out(64);

  CsrBatch bad = makeBatch(90, 3);
  bad.index.back() = kInputDim;
  CHECK_THROWS(ex->forward(bad, out.data()), ErrorCode::InvalidArgument, "out of range");

  CsrBatch shortValues = makeBatch(91, 3);
  shortValues.value.pop_back();
  CHECK_THROWS(ex->forward(shortValues, out.data()), ErrorCode::InvalidArgument, "values");

  CsrBatch decreasing = makeBatch(92, 4);
  decreasing.rowStart[2] = decreasing.rowStart[1] - 1;
  if (decreasing.rowStart[1] > 0)
    CHECK_THROWS(ex->forward(decreasing, out.data()), ErrorCode::InvalidArgument, "decreases");

  CsrBatch overrun = makeBatch(93, 2);
  overrun.rowStart.back() += 1;
  CHECK_THROWS(ex->forward(overrun, out.data()), ErrorCode::InvalidArgument, "entries");

  const CsrBatch good = makeBatch(94, 7);
  expectClose(runForward(*ex, net, good), referenceForward(net, good), net.outputs(),
              "after rejected batches");
}

TEST(rejects_inconsistent_nets) {
  DenseNet net = makeNet(950, 8, {4});
  net.table.pop_back();
  CHECK_THROWS(gCuda->prepare(net), ErrorCode::InvalidArgument, "table");
  net = makeNet(951, 8, {4});
  net.layers[0].in = 9;
  CHECK_THROWS(gCuda->prepare(net), ErrorCode::InvalidArgument, "layer 0");
}

// Not a pass/fail check: a number to read in the log when the test runs on a GPU.
TEST(report_batch_latency) {
  const DenseNet net = makeNet(990, 64, {32, 11});
  auto ex = gCuda->prepare(net);
  const CsrBatch b = makeBatch(99, 1024);
  std::vector<float> out(b.rows() * net.outputs());
  ex->forward(b, out.data());
  constexpr int kIters = 50;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kIters; ++i) ex->forward(b, out.data());
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
      kIters;
  std::printf("  forward of 1024 rows (%zu entries), 64->32->11: %.3f ms\n", b.nnz(), ms);
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
