// The CUDA backend must compute the same probabilities as a plain double-precision reference
// forward pass written here (independent of both backends), and as the CPU backend; and its knn
// searcher must find the same neighbours as a double-precision brute-force search written here,
// and as the CPU backend's searcher.
//
// Tolerance: 1e-5 absolute on every output probability. The device accumulates in float (fused
// multiply-add, a different order than the CPU), so rows of ~1000 entries carry logit errors of
// a few 1e-7..1e-6; the sigmoid's slope is at most 1/4, leaving an order of magnitude of margin.
// Nets without the output sigmoid (knn projections) get no such damping: their raw outputs are of
// order 1 and carry errors of a few 1e-6 at most, still inside 1e-5.
//
// knn tolerance: at every (query, rank) the similarity must be within 1e-5 absolute of the
// reference's similarity at that rank (ranks are order statistics, so this holds whatever the
// order of near-equal neighbours). The index must equal the reference's, except at a near-tie: a
// rank whose similarity is within 1e-5 of the reference's previous or next rank (the reference
// keeps k + 1 neighbours so that the last rank has a next one), where float rounding may swap
// neighbours. Always: indices in range, distinct within a query, and each reported similarity
// within 1e-5 of the double-precision dot product of the query with the reported reference.
// Unit vectors of dimension <= 384 give float dot products with errors of ~1e-7..1e-6. Exact ties
// (duplicate references) must come out in ascending index order with no tolerance.
//
// Dense input (forwardDense: the first layer as a product on the device) and F16 tables (kept as
// binary16 on the device) are held to the same tolerance against the reference and the CPU
// backend, and an F16 table must give exactly what the same values as float32 give.
//
// Whole routers (RouterModel on cuda vs the same weights on cpu, every predictor, F32/F16,
// sparse/dense, batches 1, 7, 1024): see the tolerance note above routers_match_cpu_for_every_predictor.
// knn NaN handling follows the rule both backends share (knn_topk_nan_ranks_as_minus_inf).
//
// Speed is not measured here: bench_cuda (native/bench/bench_cuda.cc) prints P6 and the forward
// latencies; scripts/gpu-check.sh runs both on a GPU machine.
//
// Exits 77 (ctest SKIP) when built without CUDA or when no usable device is present.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "artifact.h"
#include "backend.h"
#include "check.h"
#include "dense_net.h"
#include "error.h"
#include "router_fixtures.h"
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
bool gDryRun = false;  // main(): --dry-run-on-cpu
const char* const kDeviceName = "cuda";
// The backend name a router on gCuda reports ("cpu" in a dry run).
std::string deviceName() {
  return gDryRun ? "cpu" : kDeviceName;
}

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
DenseNet makeNet(uint64_t seed, uint32_t width0, const std::vector<uint32_t>& sizes, uint32_t inputDim = kInputDim) {
  Rng rng(seed);
  DenseNet net;
  net.inputDim = inputDim;
  net.width0 = width0;
  net.table.resize(static_cast<size_t>(inputDim) * width0);
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
      case 1:
        entries = 0;
        break;
      case 3:
        entries = 990 + rng.below(21);
        break;
      default:
        entries = 1 + rng.below(40);
        break;
    }
    appendRow(rng, entries, &b);
  }
  return b;
}

double sigmoid(double z) {
  return 1.0 / (1.0 + std::exp(-z));
}

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
    // ReLU between layers unless hiddenRelu is off (`mf`); sigmoid at the end.
    if (!net.layers.empty()) {
      if (net.hiddenRelu)
        for (double& v : a) v = v > 0 ? v : 0;
      for (size_t li = 0; li < net.layers.size(); ++li) {
        const DenseLayer& L = net.layers[li];
        std::vector<double> z(L.out);
        for (uint32_t o = 0; o < L.out; ++o) {
          double s = L.bias[o];
          for (uint32_t i = 0; i < L.in; ++i) s += a[i] * L.weight[static_cast<size_t>(i) * L.out + o];
          z[o] = s;
        }
        if (li + 1 < net.layers.size() && net.hiddenRelu)
          for (double& v : z) v = v > 0 ? v : 0;
        a.swap(z);
      }
    }
    for (uint32_t o = 0; o < outputs; ++o) out[r * outputs + o] = static_cast<float>(sigmoid(a[o]));
  }
  return out;
}

std::vector<float> runForward(const routecore::NetExecutor& ex, const DenseNet& net, const CsrBatch& batch) {
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
    std::printf("  %s: max |diff| %.3g at row %zu output %zu (got %.8g, want %.8g)\n", label.c_str(), worst,
                at / outputs, at % outputs, got[at], want[at]);
  }
  CHECK(worst <= kTolerance);
}

std::string describeNet(const DenseNet& net) {
  std::string s = "width0=" + std::to_string(net.width0);
  for (const DenseLayer& L : net.layers) s += "->" + std::to_string(L.out);
  if (!net.hiddenRelu) s += " no-relu";
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

TEST(backend_is_named_cuda) {
  CHECK(std::string(gCuda->name()) == "cuda");
}

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

TEST(mf_nets_without_hidden_relu_match_reference_and_cpu) {
  // `mf`: the table is a linear projection that feeds the model layer directly.
  DenseNet net = makeNet(1100, 32, {8});
  net.hiddenRelu = false;
  compareAllBatches(net, 11);
  net = makeNet(1101, 33, {5});  // off the 16-wide tile grid
  net.hiddenRelu = false;
  compareAllBatches(net, 12);
  net = makeNet(1102, 64, {32, 11});  // no ReLU between dense layers either
  net.hiddenRelu = false;
  compareAllBatches(net, 13);
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
  expectClose(runForward(*ex, net, good), referenceForward(net, good), net.outputs(), "after rejected batches");
}

// ---------------------------------------------------------------------------------------------
// Dense input (embeddings): the first layer is a product with the table on the device.

std::vector<float> denseRows(uint64_t seed, size_t rows, uint32_t dim) {
  Rng rng(seed);
  std::vector<float> x(rows * dim);
  for (float& v : x) v = static_cast<float>(rng.uniform(-1.0, 1.0));
  return x;
}

std::vector<float> referenceForwardDense(const DenseNet& net, const std::vector<float>& x, size_t rows) {
  CsrBatch b;
  routecore::appendDenseRows(x.data(), rows, net.inputDim, b);
  return referenceForward(net, b);
}

std::vector<float> runForwardDense(const routecore::NetExecutor& ex, const DenseNet& net, const std::vector<float>& x,
                                   size_t rows) {
  std::vector<float> out(rows * net.outputs(), -1.0f);
  ex.forwardDense(x.data(), rows, out.data());
  return out;
}

// The table rounded to binary16 and flagged, as an F16 router file gives it.
DenseNet halfTable(DenseNet net) {
  fixtures::roundToHalves(net.table);
  net.tableIsHalf = true;
  return net;
}

TEST(executor_takes_whole_batches) {
  CHECK(gCuda->prepare(makeNet(1, 8, {}))->takesWholeBatch());
}

TEST(dense_rows_match_reference_and_cpu) {
  // Widths of common embedding models (384, 1536) and one off every tile (37); linear, mlp and
  // mf nets; F32 and F16 tables.
  uint64_t seed = 3000;
  for (uint32_t dim : {37u, 384u, 1536u}) {
    for (int kind = 0; kind < 3; ++kind) {
      DenseNet net = kind == 0 ? makeNet(seed, 11, {}, dim) : makeNet(seed, 64, {11}, dim);
      if (kind == 2) net.hiddenRelu = false;
      for (bool half : {false, true}) {
        const DenseNet n = half ? halfTable(net) : net;
        auto cuda = gCuda->prepare(n);
        auto cpu = routecore::makeCpuBackend(2)->prepare(n);
        for (size_t rows : {size_t{1}, size_t{7}, size_t{1024}}) {
          const std::vector<float> x = denseRows(seed + rows, rows, dim);
          const std::string label = "dense dim=" + std::to_string(dim) + " " + describeNet(n) +
                                    (half ? " F16" : " F32") + " rows=" + std::to_string(rows);
          const std::vector<float> got = runForwardDense(*cuda, n, x, rows);
          expectClose(got, referenceForwardDense(n, x, rows), n.outputs(), label + " vs reference");
          expectClose(got, runForwardDense(*cpu, n, x, rows), n.outputs(), label + " vs cpu backend");
        }
      }
      ++seed;
    }
  }
}

TEST(half_tables_match_reference_and_cpu_sparse) {
  uint64_t seed = 3100;
  for (const DenseNet& net : {makeNet(seed, 11, {}), makeNet(seed + 1, 64, {32, 11}), makeNet(seed + 2, 300, {5})})
    compareAllBatches(halfTable(net), seed++);
}

TEST(half_tables_give_the_float_tables_results_bit_for_bit) {
  // The values are exact halves either way: widening each load must change nothing.
  const DenseNet asHalf = halfTable(makeNet(3200, 64, {32, 11}, 512));
  DenseNet asFloat = asHalf;
  asFloat.tableIsHalf = false;
  auto h = gCuda->prepare(asHalf);
  auto f = gCuda->prepare(asFloat);
  for (size_t rows : {size_t{1}, size_t{7}, size_t{1024}}) {
    const std::vector<float> x = denseRows(3201 + rows, rows, 512);
    const std::vector<float> a = runForwardDense(*h, asHalf, x, rows), b = runForwardDense(*f, asFloat, x, rows);
    CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
    CsrBatch batch = makeBatch(3202 + rows, rows);
    for (uint32_t& i : batch.index) i %= 512;
    const std::vector<float> c = runForward(*h, asHalf, batch), d = runForward(*f, asFloat, batch);
    CHECK(std::memcmp(c.data(), d.data(), c.size() * sizeof(float)) == 0);
  }
}

TEST(batches_past_one_device_pass) {
  // More rows than one pass takes (16,384): the executor splits them and the tail pass is odd.
  const DenseNet net = makeNet(3300, 8, {4}, 24);
  auto cuda = gCuda->prepare(net);
  const size_t rows = 16384 * 2 + 7;
  const std::vector<float> x = denseRows(3301, rows, 24);
  expectClose(runForwardDense(*cuda, net, x, rows), referenceForwardDense(net, x, rows), net.outputs(),
              "dense rows past one pass");
  const DenseNet sparseNet = makeNet(3302, 8, {4});
  auto sparse = gCuda->prepare(sparseNet);
  const CsrBatch b = makeBatch(3303, 16384 + 7);
  expectClose(runForward(*sparse, sparseNet, b), referenceForward(sparseNet, b), sparseNet.outputs(),
              "sparse rows past one pass");
}

TEST(forward_parts_equals_one_batch_bit_for_bit) {
  // The router hands over its encoded slices as parts; parts whose rowStart starts past 0, and
  // empty parts, must give what one batch of the same rows gives.
  const DenseNet net = makeNet(3400, 64, {32, 11});
  auto ex = gCuda->prepare(net);
  std::vector<CsrBatch> parts;
  parts.push_back(makeBatch(3401, 64));
  parts.push_back(CsrBatch{});
  parts.push_back(makeBatch(3402, 7));
  {
    Rng rng(3403);
    CsrBatch shifted;
    appendRow(rng, 5, &shifted);
    shifted.rowStart.erase(shifted.rowStart.begin());  // starts at entry 5
    appendRow(rng, 9, &shifted);
    appendRow(rng, 0, &shifted);
    parts.push_back(shifted);
  }
  parts.push_back(makeBatch(3404, 1000));
  CsrBatch all;
  std::vector<const CsrBatch*> list;
  for (const CsrBatch& p : parts) {
    list.push_back(&p);
    for (size_t r = 0; r < p.rows(); ++r) {
      for (uint32_t k = p.rowStart[r]; k < p.rowStart[r + 1]; ++k) {
        all.index.push_back(p.index[k]);
        all.value.push_back(p.value[k]);
      }
      all.rowStart.push_back(static_cast<uint32_t>(all.index.size()));
    }
  }
  std::vector<float> got(all.rows() * net.outputs(), -1.0f);
  ex->forwardParts(list.data(), list.size(), got.data());
  const std::vector<float> want = runForward(*ex, net, all);
  CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
  expectClose(got, referenceForward(net, all), net.outputs(), "forwardParts vs reference");
  // A bad part is refused before any device work, naming the problem.
  CsrBatch bad = makeBatch(3405, 3);
  bad.index.back() = kInputDim;
  list.push_back(&bad);
  CHECK_THROWS(ex->forwardParts(list.data(), list.size(), got.data()), ErrorCode::InvalidArgument, "out of range");
}

TEST(rejects_inconsistent_nets) {
  DenseNet net = makeNet(950, 8, {4});
  net.table.pop_back();
  CHECK_THROWS(gCuda->prepare(net), ErrorCode::InvalidArgument, "table");
  net = makeNet(951, 8, {4});
  net.layers[0].in = 9;
  CHECK_THROWS(gCuda->prepare(net), ErrorCode::InvalidArgument, "layer 0");
}

// ---------------------------------------------------------------------------------------------
// knn

using routecore::kMaxKnnK;
using routecore::KnnSearcher;
using routecore::KnnTable;

constexpr double kKnnTolerance = 1e-5;

// rows x dim, each row a random unit vector (normalised in double, then rounded to float).
std::vector<float> unitRows(uint64_t seed, size_t rows, uint32_t dim) {
  Rng rng(seed);
  std::vector<float> out(rows * dim);
  std::vector<double> x(dim);
  for (size_t r = 0; r < rows; ++r) {
    double norm2 = 0;
    for (uint32_t d = 0; d < dim; ++d) {
      x[d] = rng.uniform(-1.0, 1.0);
      norm2 += x[d] * x[d];
    }
    const double inv = norm2 > 0 ? 1.0 / std::sqrt(norm2) : 0.0;
    for (uint32_t d = 0; d < dim; ++d) out[r * dim + d] = static_cast<float>(x[d] * inv);
    if (norm2 == 0) out[r * dim] = 1.0f;
  }
  return out;
}

KnnTable makeTable(uint64_t seed, uint32_t rows, uint32_t dim) {
  KnnTable t;
  t.rows = rows;
  t.dim = dim;
  t.data = unitRows(seed, rows, dim);
  return t;
}

double exactDot(const float* a, const float* b, uint32_t dim) {
  double s = 0;
  for (uint32_t d = 0; d < dim; ++d) s += static_cast<double>(a[d]) * b[d];
  return s;
}

// Runs fn(begin, end) over [0, n) split across the machine's cores.
template <typename Fn>
void parallelFor(size_t n, Fn fn) {
  const size_t workers = std::max<size_t>(1, std::min<size_t>(n, std::max(1u, std::thread::hardware_concurrency())));
  std::vector<std::thread> threads;
  for (size_t w = 0; w < workers; ++w) threads.emplace_back([&, w] { fn(n * w / workers, n * (w + 1) / workers); });
  for (auto& th : threads) th.join();
}

// The double-precision brute force: per query, the `keep` best references by (similarity
// descending, index ascending).
struct KnnReference {
  uint32_t keep = 0;
  std::vector<uint32_t> index;  // rows x keep
  std::vector<double> sim;      // rows x keep
};

KnnReference referenceKnn(const KnnTable& t, const std::vector<float>& q, size_t rows, uint32_t keep) {
  KnnReference ref;
  ref.keep = keep;
  ref.index.resize(rows * keep);
  ref.sim.resize(rows * keep);
  parallelFor(rows, [&](size_t begin, size_t end) {
    std::vector<std::pair<double, uint32_t>> all(t.rows);
    for (size_t r = begin; r < end; ++r) {
      for (uint32_t j = 0; j < t.rows; ++j)
        all[j] = {exactDot(&q[r * t.dim], &t.data[static_cast<size_t>(j) * t.dim], t.dim), j};
      std::partial_sort(all.begin(), all.begin() + keep, all.end(), [](const auto& a, const auto& b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
      });
      for (uint32_t i = 0; i < keep; ++i) {
        ref.sim[r * keep + i] = all[i].first;
        ref.index[r * keep + i] = all[i].second;
      }
    }
  });
  return ref;
}

struct KnnOut {
  std::vector<uint32_t> index;
  std::vector<float> sim;
};

KnnOut runSearch(const KnnSearcher& s, const std::vector<float>& q, size_t rows, uint32_t k) {
  KnnOut out;
  out.index.assign(rows * k, 0xdeadbeefu);  // sentinels: a slot the search forgot stands out
  out.sim.assign(rows * k, std::numeric_limits<float>::quiet_NaN());
  s.search(q.data(), rows, k, out.index.data(), out.sim.data());
  return out;
}

// Compares `got` (rows x k) with `want` (rows x k, a reference or another backend), using `ref`
// (the double brute force, >= k per row, k + 1 where the table has them) to tell near-ties.
// Counts every kind of failure and prints the first of each; one CHECK per kind.
void expectKnnClose(const KnnOut& got, const std::vector<uint32_t>& wantIndex, const std::vector<double>& wantSim,
                    uint32_t k, const KnnReference& ref, const KnnTable& t, const std::vector<float>& q, size_t rows,
                    const std::string& label) {
  CHECK(got.index.size() == rows * k && got.sim.size() == rows * k);
  CHECK(wantIndex.size() == rows * k && wantSim.size() == rows * k);
  CHECK(ref.keep >= k);
  if (got.index.size() != rows * k || wantIndex.size() != rows * k || ref.keep < k) return;
  size_t badRange = 0, duplicates = 0, badSim = 0, badPair = 0, badIndex = 0;
  double worstSim = 0;
  std::string first;
  auto note = [&](const std::string& what) {
    if (first.empty()) first = what;
  };
  std::vector<uint32_t> seen;
  for (size_t r = 0; r < rows; ++r) {
    seen.assign(got.index.begin() + r * k, got.index.begin() + (r + 1) * k);
    std::sort(seen.begin(), seen.end());
    if (std::adjacent_find(seen.begin(), seen.end()) != seen.end()) {
      ++duplicates;
      note("row " + std::to_string(r) + " repeats a reference");
    }
    for (uint32_t i = 0; i < k; ++i) {
      const size_t at = r * k + i;
      const uint32_t gi = got.index[at];
      const double gs = got.sim[at];
      const double d = std::fabs(gs - wantSim[at]);
      if (!(d <= kKnnTolerance)) {  // also catches NaN
        ++badSim;
        worstSim = std::max(worstSim, std::isnan(d) ? INFINITY : d);
        char buf[160];
        std::snprintf(buf, sizeof buf, "row %zu rank %u: similarity %.9g, want %.9g", r, i, gs, wantSim[at]);
        note(buf);
      }
      if (gi >= t.rows) {
        ++badRange;
        note("row " + std::to_string(r) + " rank " + std::to_string(i) + ": index " + std::to_string(gi) +
             " out of range");
        continue;
      }
      const double exact = exactDot(&q[r * t.dim], &t.data[static_cast<size_t>(gi) * t.dim], t.dim);
      if (!(std::fabs(gs - exact) <= kKnnTolerance)) {
        ++badPair;
        char buf[160];
        std::snprintf(buf, sizeof buf, "row %zu rank %u: similarity %.9g but reference %u has %.9g", r, i, gs, gi,
                      exact);
        note(buf);
      }
      if (gi != wantIndex[at]) {
        const double* rs = &ref.sim[r * ref.keep];
        const bool nearTie =
            (i > 0 && rs[i - 1] - rs[i] <= kKnnTolerance) || (i + 1 < ref.keep && rs[i] - rs[i + 1] <= kKnnTolerance);
        if (!nearTie) {
          ++badIndex;
          char buf[200];
          std::snprintf(buf, sizeof buf, "row %zu rank %u: index %u (similarity %.9g), want %u (%.9g), no near-tie", r,
                        i, gi, gs, wantIndex[at], wantSim[at]);
          note(buf);
        }
      }
    }
  }
  if (!first.empty()) {
    std::printf(
        "  %s: %zu out of range, %zu rows with repeats, %zu similarities off (worst %.3g),"
        " %zu index/similarity mismatches, %zu wrong indices; first: %s\n",
        label.c_str(), badRange, duplicates, badSim, worstSim, badPair, badIndex, first.c_str());
  }
  CHECK(badRange == 0);
  CHECK(duplicates == 0);
  CHECK(badSim == 0);
  CHECK(badPair == 0);
  CHECK(badIndex == 0);
}

// The reference's first k of `keep` per row, as a rows x k "want".
std::pair<std::vector<uint32_t>, std::vector<double>> referencePrefix(const KnnReference& ref, size_t rows,
                                                                      uint32_t k) {
  std::pair<std::vector<uint32_t>, std::vector<double>> w;
  w.first.resize(rows * k);
  w.second.resize(rows * k);
  for (size_t r = 0; r < rows; ++r)
    for (uint32_t i = 0; i < k; ++i) {
      w.first[r * k + i] = ref.index[r * ref.keep + i];
      w.second[r * k + i] = ref.sim[r * ref.keep + i];
    }
  return w;
}

void expectKnnMatchesReference(const KnnOut& got, const KnnReference& ref, uint32_t k, const KnnTable& t,
                               const std::vector<float>& q, size_t rows, const std::string& label) {
  const auto want = referencePrefix(ref, rows, k);
  expectKnnClose(got, want.first, want.second, k, ref, t, q, rows, label);
}

void expectKnnMatchesOther(const KnnOut& got, const KnnOut& other, const KnnReference& ref, uint32_t k,
                           const KnnTable& t, const std::vector<float>& q, size_t rows, const std::string& label) {
  const std::vector<double> otherSim(other.sim.begin(), other.sim.end());
  expectKnnClose(got, other.index, otherSim, k, ref, t, q, rows, label);
}

// The k values a table of n references is searched with: 1, 10, 256 and n, where valid.
std::vector<uint32_t> knnKs(uint32_t n) {
  std::vector<uint32_t> ks;
  for (uint32_t k : {1u, 10u, kMaxKnnK, n})
    if (k >= 1 && k <= std::min(n, kMaxKnnK)) ks.push_back(k);
  std::sort(ks.begin(), ks.end());
  ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
  return ks;
}

std::string knnLabel(const KnnTable& t, size_t rows, uint32_t k) {
  return "knn n=" + std::to_string(t.rows) + " dim=" + std::to_string(t.dim) + " rows=" + std::to_string(rows) +
         " k=" + std::to_string(k);
}

// CUDA against the reference at every k, and against the CPU backend (at every k when the batch
// is cheap for the single-threaded CPU searcher, else at the largest k only).
void compareKnnAllBatches(const KnnTable& table, uint64_t seed) {
  auto cuda = gCuda->prepareKnn(std::make_shared<const routecore::KnnTable>(table));
  auto cpu = routecore::makeCpuBackend(2)->prepareKnn(std::make_shared<const routecore::KnnTable>(table));
  CHECK(cuda->size() == table.rows);
  CHECK(cuda->dim() == table.dim);
  const std::vector<uint32_t> ks = knnKs(table.rows);
  const uint32_t keep = std::min(table.rows, ks.back() + 1);
  for (size_t rows : {size_t{1}, size_t{7}, size_t{1024}}) {
    const std::vector<float> q = unitRows(seed + rows, rows, table.dim);
    const KnnReference ref = referenceKnn(table, q, rows, keep);
    const bool cpuEveryK = static_cast<double>(rows) * table.rows * table.dim <= 1e9;
    for (uint32_t k : ks) {
      const std::string label = knnLabel(table, rows, k);
      const KnnOut got = runSearch(*cuda, q, rows, k);
      expectKnnMatchesReference(got, ref, k, table, q, rows, label + " vs reference");
      if (cpuEveryK || k == ks.back())
        expectKnnMatchesOther(got, runSearch(*cpu, q, rows, k), ref, k, table, q, rows, label + " vs cpu backend");
    }
  }
}

TEST(knn_matches_reference_and_cpu) {
  // Sizes off every tile grid (37 references, dim 3), one reference, a dim that is a multiple of
  // the 16-wide slice (256) and one that is not a multiple of 128 (384), and 100k references
  // whose 1024-query batch needs two query groups (1024 x 100k floats > 256 MiB).
  const std::pair<uint32_t, uint32_t> cases[] = {{1, 3}, {37, 3}, {37, 64}, {5000, 256}, {5000, 384}, {100000, 64}};
  uint64_t seed = 1000;
  for (const auto& c : cases) {
    compareKnnAllBatches(makeTable(seed, c.first, c.second), seed * 13);
    ++seed;
  }
}

TEST(knn_millions_of_references_run_in_query_groups) {
  // 2M references: 8 MB of similarities per query, so 40 queries run as two groups of 20, and
  // each top-k block scans 2M values.
  const KnnTable table = makeTable(1300, 2000000, 5);
  auto cuda = gCuda->prepareKnn(std::make_shared<const routecore::KnnTable>(table));
  auto cpu = routecore::makeCpuBackend(2)->prepareKnn(std::make_shared<const routecore::KnnTable>(table));
  for (size_t rows : {size_t{1}, size_t{40}}) {
    const std::vector<float> q = unitRows(1301 + rows, rows, table.dim);
    const KnnReference ref = referenceKnn(table, q, rows, kMaxKnnK + 1);
    for (uint32_t k : {10u, kMaxKnnK}) {
      const std::string label = knnLabel(table, rows, k);
      const KnnOut got = runSearch(*cuda, q, rows, k);
      expectKnnMatchesReference(got, ref, k, table, q, rows, label + " vs reference");
      expectKnnMatchesOther(got, runSearch(*cpu, q, rows, k), ref, k, table, q, rows, label + " vs cpu backend");
    }
  }
}

TEST(knn_exact_ties_go_to_the_lower_index) {
  // 40 distinct vectors spread at random over 3000 references (~75 copies each): copies give
  // bit-identical similarities, so a top-256 spans several groups of exact ties, whose members
  // sit in different threads of the top-k block and must come out in ascending index order.
  constexpr uint32_t kDistinct = 40, kRefs = 3000, kDim = 24;
  const std::vector<float> distinct = unitRows(1400, kDistinct, kDim);
  Rng rng(1401);
  std::vector<uint32_t> group(kRefs);
  KnnTable table;
  table.rows = kRefs;
  table.dim = kDim;
  for (uint32_t i = 0; i < kRefs; ++i) {
    group[i] = rng.below(kDistinct);
    table.data.insert(table.data.end(), distinct.begin() + group[i] * kDim, distinct.begin() + (group[i] + 1) * kDim);
  }
  auto cuda = gCuda->prepareKnn(std::make_shared<const routecore::KnnTable>(table));
  for (size_t rows : {size_t{1}, size_t{7}, size_t{1024}}) {
    const std::vector<float> q = unitRows(1402 + rows, rows, kDim);
    for (uint32_t k : {1u, 10u, kMaxKnnK}) {
      const KnnOut got = runSearch(*cuda, q, rows, k);
      size_t checked = 0, wrong = 0;
      std::string first;
      for (size_t r = 0; r < rows; ++r) {
        // Rank the groups in double; skip queries where two groups the top k reaches are within
        // the tolerance of each other (float rounding could then order them either way).
        std::vector<std::pair<double, uint32_t>> g(kDistinct);
        for (uint32_t d = 0; d < kDistinct; ++d) g[d] = {exactDot(&q[r * kDim], &distinct[d * kDim], kDim), d};
        std::sort(g.begin(), g.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
        std::vector<uint32_t> want;
        bool clear = true;
        for (size_t gi = 0; gi < g.size() && want.size() < k; ++gi) {
          if (gi + 1 < g.size() && g[gi].first - g[gi + 1].first <= kKnnTolerance) clear = false;
          for (uint32_t i = 0; i < kRefs && want.size() < k; ++i)
            if (group[i] == g[gi].second) want.push_back(i);
        }
        if (!clear) continue;
        ++checked;
        for (uint32_t i = 0; i < k; ++i) {
          if (got.index[r * k + i] != want[i]) {
            if (first.empty())
              first = "row " + std::to_string(r) + " rank " + std::to_string(i) + ": index " +
                      std::to_string(got.index[r * k + i]) + ", want " + std::to_string(want[i]);
            ++wrong;
          }
          // Copies of one vector must report the very same float.
          if (i > 0 && got.index[r * k + i] < kRefs && got.index[r * k + i - 1] < kRefs &&
              group[got.index[r * k + i]] == group[got.index[r * k + i - 1]] &&
              got.sim[r * k + i] != got.sim[r * k + i - 1]) {
            if (first.empty()) first = "row " + std::to_string(r) + ": copies differ in similarity";
            ++wrong;
          }
        }
      }
      if (wrong > 0)
        std::printf("  ties rows=%zu k=%u: %zu wrong of %zu checked queries; first: %s\n", rows, k, wrong, checked,
                    first.c_str());
      CHECK(wrong == 0);
      CHECK(checked * 2 >= rows);  // the setup must leave most queries checkable
    }
  }
}

TEST(knn_all_neighbours_in_one_thread) {
  // The references near the queries all sit at indices that are multiples of 256, so for any
  // top-k block width (a power of two <= 256) one thread scans every one of them: its candidate
  // list must hold the whole top k, and the merge pops that thread k times in a row.
  constexpr uint32_t kRefs = 256 * 300 + 17, kDim = 16;
  const std::vector<float> axis = unitRows(2000, 1, kDim);
  KnnTable table = makeTable(2001, kRefs, kDim);
  Rng rng(2002);
  auto nearAxis = [&](float* v, double noise) {
    double norm2 = 0;
    std::vector<double> x(kDim);
    for (uint32_t d = 0; d < kDim; ++d) {
      x[d] = axis[d] + rng.uniform(-noise, noise);
      norm2 += x[d] * x[d];
    }
    for (uint32_t d = 0; d < kDim; ++d) v[d] = static_cast<float>(x[d] / std::sqrt(norm2));
  };
  for (uint32_t j = 0; j < kRefs; j += 256) nearAxis(&table.data[static_cast<size_t>(j) * kDim], 0.05);
  auto cuda = gCuda->prepareKnn(std::make_shared<const routecore::KnnTable>(table));
  for (size_t rows : {size_t{1}, size_t{7}}) {
    std::vector<float> q(rows * kDim);
    for (size_t r = 0; r < rows; ++r) nearAxis(&q[r * kDim], 0.01);
    const KnnReference ref = referenceKnn(table, q, rows, kMaxKnnK + 1);
    size_t offStride = 0;
    for (size_t r = 0; r < rows; ++r)
      for (uint32_t i = 0; i < kMaxKnnK; ++i) offStride += ref.index[r * ref.keep + i] % 256 != 0;
    CHECK(offStride == 0);  // the setup: the reference's top 256 are all on the stride
    for (uint32_t k : {10u, kMaxKnnK})
      expectKnnMatchesReference(runSearch(*cuda, q, rows, k), ref, k, table, q, rows,
                                "one-thread neighbours rows=" + std::to_string(rows) + " k=" + std::to_string(k));
  }
}

TEST(knn_non_finite_queries_still_give_distinct_references) {
  // Not part of the contract (queries are unit vectors), but a NaN must not make the top-k
  // report garbage indices or repeats: NaN similarities rank last.
  const KnnTable table = makeTable(2100, 600, 8);
  auto cuda = gCuda->prepareKnn(std::make_shared<const routecore::KnnTable>(table));
  std::vector<float> q = unitRows(2101, 2, 8);
  q[3] = std::numeric_limits<float>::quiet_NaN();  // row 0: every similarity NaN
  q[8] = std::numeric_limits<float>::infinity();   // row 1: every similarity +-inf, many tied
  q[9] = 0.0f;
  for (uint32_t k : {1u, 10u, kMaxKnnK}) {
    const KnnOut got = runSearch(*cuda, q, 2, k);
    for (size_t r = 0; r < 2; ++r) {
      std::vector<uint32_t> idx(got.index.begin() + r * k, got.index.begin() + (r + 1) * k);
      for (uint32_t i : idx) CHECK(i < table.rows);
      std::sort(idx.begin(), idx.end());
      CHECK(std::adjacent_find(idx.begin(), idx.end()) == idx.end());
    }
  }
  // And the searcher is unharmed.
  const std::vector<float> good = unitRows(2102, 3, 8);
  expectKnnMatchesReference(runSearch(*cuda, good, 3, 10), referenceKnn(table, good, 3, 11), 10, table, good, 3,
                            "after non-finite queries");
}

TEST(knn_rejects_bad_k_and_keeps_working) {
  const KnnTable small = makeTable(1500, 37, 16);
  const KnnTable big = makeTable(1501, 1000, 8);
  auto s = gCuda->prepareKnn(std::make_shared<const routecore::KnnTable>(small));
  auto b = gCuda->prepareKnn(std::make_shared<const routecore::KnnTable>(big));
  const std::vector<float> q = unitRows(1502, 3, 16);
  const std::vector<float> qb = unitRows(1503, 3, 8);
  std::vector<uint32_t> idx(3 * (kMaxKnnK + 1));
  std::vector<float> sim(3 * (kMaxKnnK + 1));
  CHECK_THROWS(s->search(q.data(), 3, 0, idx.data(), sim.data()), ErrorCode::InvalidArgument, "k = 0");
  CHECK_THROWS(s->search(q.data(), 3, 38, idx.data(), sim.data()), ErrorCode::InvalidArgument, "k = 38");
  CHECK_THROWS(b->search(qb.data(), 3, kMaxKnnK + 1, idx.data(), sim.data()), ErrorCode::InvalidArgument, "k = 257");
  // A zero-row search writes nothing.
  uint32_t sentinelIndex = 7;
  float sentinelSim = 42.0f;
  s->search(q.data(), 0, 5, &sentinelIndex, &sentinelSim);
  CHECK(sentinelIndex == 7 && sentinelSim == 42.0f);
  // Still working after the rejections, at the edges k = n and k = kMaxKnnK.
  const KnnReference ref = referenceKnn(small, q, 3, 37);
  for (uint32_t k : {5u, 37u})
    expectKnnMatchesReference(runSearch(*s, q, 3, k), ref, k, small, q, 3, "after rejected k, k=" + std::to_string(k));
  const KnnReference refb = referenceKnn(big, qb, 3, kMaxKnnK + 1);
  expectKnnMatchesReference(runSearch(*b, qb, 3, kMaxKnnK), refb, kMaxKnnK, big, qb, 3, "after rejected k, k=256");
}

TEST(knn_rejects_inconsistent_tables) {
  KnnTable t = makeTable(1600, 10, 4);
  t.data.pop_back();
  CHECK_THROWS(gCuda->prepareKnn(std::make_shared<const routecore::KnnTable>(t)), ErrorCode::InvalidArgument, "floats");
  t = makeTable(1601, 10, 4);
  t.dim = 0;
  CHECK_THROWS(gCuda->prepareKnn(std::make_shared<const routecore::KnnTable>(t)), ErrorCode::InvalidArgument, "dim");
}

TEST(knn_concurrent_searches) {
  // Results do not depend on the batch a query comes in or on other callers (no atomics, fixed
  // reduction orders), so every concurrent result must equal, bit for bit, a solo run's.
  const KnnTable table = makeTable(1700, 20000, 64);
  auto s = gCuda->prepareKnn(std::make_shared<const routecore::KnnTable>(table));
  constexpr int kThreads = 6;
  const size_t rowsOf[kThreads] = {1, 7, 300, 1024, 33, 500};
  const uint32_t kOf[kThreads] = {1, 10, kMaxKnnK, 10, 100, 3};
  std::vector<std::vector<float>> queries;
  std::vector<KnnOut> solo;
  for (int t = 0; t < kThreads; ++t) {
    queries.push_back(unitRows(1710 + t, rowsOf[t], table.dim));
    solo.push_back(runSearch(*s, queries[t], rowsOf[t], kOf[t]));
    const KnnReference ref = referenceKnn(table, queries[t], rowsOf[t], kOf[t] + 1);
    expectKnnMatchesReference(solo[t], ref, kOf[t], table, queries[t], rowsOf[t],
                              knnLabel(table, rowsOf[t], kOf[t]) + " solo");
  }
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int it = 0; it < 10; ++it) {
          const KnnOut got = runSearch(*s, queries[t], rowsOf[t], kOf[t]);
          if (got.index != solo[t].index ||
              std::memcmp(got.sim.data(), solo[t].sim.data(), got.sim.size() * sizeof(float)) != 0)
            ++mismatches[t];
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
    if (mismatches[t] != 0) std::printf("  thread %d: %d of 10 results differ from the solo run\n", t, mismatches[t]);
    CHECK(mismatches[t] == 0);
  }
}

TEST(knn_searcher_outlives_backend_and_table) {
  std::unique_ptr<KnnSearcher> s;
  KnnReference ref;
  KnnTable copy;
  const std::vector<float> q = unitRows(1801, 9, 32);
  {
    std::string why;
    auto backend = routecore::makeCudaBackend(&why);
    CHECK(backend != nullptr);
    if (!backend) return;
    const KnnTable table = makeTable(1800, 777, 32);
    s = backend->prepareKnn(std::make_shared<const routecore::KnnTable>(table));
    ref = referenceKnn(table, q, 9, 11);
    copy = table;
  }
  expectKnnMatchesReference(runSearch(*s, q, 9, 10), ref, 10, copy, q, 9, "after backend and table were freed");
}

// ---------------------------------------------------------------------------------------------
// knn NaN rule (shared with the CPU backend, see KnnSearcher::search): a NaN similarity is
// replaced by -inf before ranking, ties go to the lower index, the reported similarity is -inf,
// and all k slots are written. The CPU side has a test of the same name in the CPU suite.

TEST(knn_topk_nan_ranks_as_minus_inf) {
  auto cpuBackend = routecore::makeCpuBackend(2);
  // An all-NaN query: every similarity is NaN, so the top k are references 0..k-1, at -inf.
  {
    const KnnTable table = makeTable(2200, 600, 8);
    auto cuda = gCuda->prepareKnn(std::make_shared<const KnnTable>(table));
    auto cpu = cpuBackend->prepareKnn(std::make_shared<const KnnTable>(table));
    std::vector<float> q = unitRows(2201, 3, 8);
    for (uint32_t d = 0; d < 8; ++d) q[8 + d] = std::numeric_limits<float>::quiet_NaN();  // row 1
    for (uint32_t k : {1u, 10u, kMaxKnnK}) {
      const KnnOut got = runSearch(*cuda, q, 3, k);
      const KnnOut onCpu = runSearch(*cpu, q, 3, k);
      size_t wrong = 0;
      for (uint32_t i = 0; i < k; ++i) {
        if (got.index[k + i] != i || !(std::isinf(got.sim[k + i]) && got.sim[k + i] < 0)) ++wrong;
        if (onCpu.index[k + i] != got.index[k + i] || onCpu.sim[k + i] != got.sim[k + i]) ++wrong;
      }
      if (wrong) std::printf("  all-NaN query, k=%u: %zu slots off the rule or cpu != cuda\n", k, wrong);
      CHECK(wrong == 0);
      // The other rows are ordinary.
      const KnnReference ref = referenceKnn(table, q, 1, k + 1);
      KnnOut row0{std::vector<uint32_t>(got.index.begin(), got.index.begin() + k),
                  std::vector<float>(got.sim.begin(), got.sim.begin() + k)};
      expectKnnMatchesReference(row0, ref, k, table, q, 1, "row next to an all-NaN query");
    }
  }
  // NaN references (a table the loader would refuse; the searcher must still be total): two
  // NaN rows rank last, in index order, after every real similarity, at -inf.
  {
    KnnTable table = makeTable(2300, 200, 8);
    for (uint32_t d = 0; d < 8; ++d) {
      table.data[3 * 8 + d] = std::numeric_limits<float>::quiet_NaN();
      table.data[7 * 8 + d] = std::numeric_limits<float>::quiet_NaN();
    }
    auto cuda = gCuda->prepareKnn(std::make_shared<const KnnTable>(table));
    auto cpu = cpuBackend->prepareKnn(std::make_shared<const KnnTable>(table));
    const std::vector<float> q = unitRows(2301, 7, 8);
    for (uint32_t k : {10u, 198u, 200u}) {
      const KnnOut got = runSearch(*cuda, q, 7, k);
      const KnnOut onCpu = runSearch(*cpu, q, 7, k);
      size_t wrong = 0;
      for (size_t r = 0; r < 7; ++r) {
        for (uint32_t i = 0; i < k; ++i) {
          const uint32_t idx = got.index[r * k + i];
          const bool nanRef = idx == 3 || idx == 7;
          if (nanRef != (i >= 198)) ++wrong;  // NaN references only in the last two slots
          if (i == 198 && idx != 3) ++wrong;
          if (i == 199 && idx != 7) ++wrong;
          if (nanRef && !(std::isinf(got.sim[r * k + i]) && got.sim[r * k + i] < 0)) ++wrong;
          if (nanRef && (onCpu.index[r * k + i] != idx || onCpu.sim[r * k + i] != got.sim[r * k + i])) ++wrong;
        }
      }
      if (wrong) std::printf("  NaN references, k=%u: %zu slots off the rule or cpu != cuda\n", k, wrong);
      CHECK(wrong == 0);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Whole routers: the same router (same weights) on cpu and on cuda, the same inputs, through
// RouterModel::score / scoreEmbeddings, for every predictor, F32 and F16 tables, sparse (hashing)
// and dense (precomputed) input, batches of 1, 7 and 1,024.
//
// Tolerance: 1e-5 absolute on every score (the nets' outputs are sigmoids, see the top of this
// file). kmeans copies the nearest centroid's scores, so its outputs must be equal, except on a
// row whose two best centroids are within 1e-5 of each other on the CPU (float rounding may then
// pick either). knn averages its k neighbours' scores: within 1e-5, except on a row whose k-th
// and (k+1)-th similarities are within 1e-5 (a swap there moves the mean by up to 1/k).

// The CPU backend's view of a row: centroid similarities (kmeans) or the k+1 best similarities
// (knn), to tell a near-tie.
struct RowTies {
  std::vector<bool> nearTie;
  size_t count() const { return static_cast<size_t>(std::count(nearTie.begin(), nearTie.end(), true)); }
};

RowTies findNearTies(const fixtures::RouterParts& parts, const routecore::RouterModel& cpuRouter,
                     const fixtures::Prompts& prompts, const std::vector<float>& embeddings, size_t n) {
  RowTies t;
  t.nearTie.assign(n, false);
  const bool hashing = !parts.spec.dense;
  const std::string& kind = parts.spec.predictor;
  if (kind != "kmeans" && kind != "knn") return t;
  CsrBatch encoded;
  if (hashing) cpuRouter.encode(prompts.text.data(), prompts.offsets.data(), n, encoded);
  if (kind == "kmeans") {
    auto ex = routecore::makeCpuBackend(1)->prepare(parts.net);
    std::vector<float> sims(n * parts.net.width0);
    if (hashing)
      ex->forward(encoded, sims.data());
    else
      ex->forwardDense(embeddings.data(), n, sims.data());
    for (size_t r = 0; r < n; ++r) {
      std::vector<float> s(sims.begin() + r * parts.net.width0, sims.begin() + (r + 1) * parts.net.width0);
      std::sort(s.begin(), s.end(), std::greater<float>());
      t.nearTie[r] = s[0] - s[1] <= kTolerance;
    }
    return t;
  }
  const KnnTable& table = *parts.tables.references;
  std::vector<float> q(n * table.dim);
  if (hashing) {
    for (size_t r = 0; r < n; ++r)
      routecore::knnProject(encoded.index.data() + encoded.rowStart[r], encoded.value.data() + encoded.rowStart[r],
                            encoded.rowStart[r + 1] - encoded.rowStart[r], table.dim, parts.tables.projectionSeed,
                            q.data() + r * table.dim);
  } else {
    std::copy(embeddings.begin(), embeddings.begin() + n * table.dim, q.begin());
  }
  routecore::normalizeRows(q.data(), n, table.dim);
  const uint32_t k = parts.tables.k;
  const KnnOut best = runSearch(*routecore::makeCpuBackend(1)->prepareKnn(parts.tables.references), q, n, k + 1);
  for (size_t r = 0; r < n; ++r) t.nearTie[r] = best.sim[r * (k + 1) + k - 1] - best.sim[r * (k + 1) + k] <= kTolerance;
  return t;
}

TEST(routers_match_cpu_for_every_predictor) {
  auto pool = routecore::ThreadPool::shared(2);
  auto cpuBackend = routecore::makeCpuBackend(2);
  const fixtures::Prompts prompts = fixtures::makePrompts(4000, 1024);
  const std::vector<float> embeddings = fixtures::makeEmbeddings(4001, 1024, fixtures::kEmbeddingDim);
  uint64_t seed = 4100;
  for (const char* predictor : {"mlp", "linear", "mf", "kmeans", "knn"}) {
    for (bool dense : {false, true}) {
      for (bool half : {false, true}) {
        const fixtures::RouterParts parts = fixtures::makeParts({predictor, dense, half, seed++});
        auto onCuda = parts.make(gCuda, pool);
        auto onCpu = parts.make(cpuBackend, pool);
        CHECK(onCuda->backendName() == deviceName());
        const bool exact = parts.spec.predictor == "kmeans";
        for (size_t n : {size_t{1}, size_t{7}, size_t{1024}}) {
          const std::string label = fixtures::describe(parts.spec) + " n=" + std::to_string(n);
          const std::vector<float> got = fixtures::scoreInputs(*onCuda, prompts, embeddings, n);
          const std::vector<float> want = fixtures::scoreInputs(*onCpu, prompts, embeddings, n);
          const RowTies ties = findNearTies(parts, *onCpu, prompts, embeddings, n);
          const uint32_t M = onCpu->outputs();
          size_t badRows = 0;
          double worst = 0;
          for (size_t r = 0; r < n; ++r) {
            if (ties.nearTie[r]) continue;
            for (uint32_t m = 0; m < M; ++m) {
              const double d = std::fabs(static_cast<double>(got[r * M + m]) - want[r * M + m]);
              if (!(exact ? d == 0 : d <= kTolerance)) {
                if (badRows++ == 0)
                  std::printf("  %s: row %zu model %u: cuda %.9g, cpu %.9g\n", label.c_str(), r, m, got[r * M + m],
                              want[r * M + m]);
                worst = std::max(worst, std::isnan(d) ? INFINITY : d);
                break;
              }
            }
          }
          if (badRows) std::printf("  %s: %zu rows off (worst %.3g)\n", label.c_str(), badRows, worst);
          CHECK(badRows == 0);
          // Near-ties are rare; a setup where they are common would test nothing.
          const size_t allowed = std::max<size_t>(1, n / 20);
          if (ties.count() > allowed) std::printf("  %s: %zu near-ties\n", label.c_str(), ties.count());
          CHECK(ties.count() <= allowed);
        }
        // No silent fallback: the comparison above was cuda against cpu.
        CHECK(onCuda->backendName() == deviceName());
        CHECK(onCuda->fallbackReason().empty());
        if (dense) {
          // Non-finite embeddings: refused the same way on both backends.
          std::vector<float> bad(embeddings.begin(), embeddings.begin() + 7 * fixtures::kEmbeddingDim);
          bad[3 * fixtures::kEmbeddingDim + 5] = std::numeric_limits<float>::quiet_NaN();
          std::vector<float> out(7 * onCpu->outputs());
          CHECK_THROWS(onCuda->scoreEmbeddings(bad.data(), 7, out.data()), ErrorCode::InvalidArgument,
                       "embedding row 3, column 5 is NaN");
          CHECK_THROWS(onCpu->scoreEmbeddings(bad.data(), 7, out.data()), ErrorCode::InvalidArgument,
                       "embedding row 3, column 5 is NaN");
        }
      }
    }
  }
}

TEST(concurrent_router_batches_match_solo_runs) {
  // Callers queue for the device with whole batches; every result must equal its solo run bit
  // for bit (no state shared between batches beyond the queue).
  auto pool = routecore::ThreadPool::shared(2);
  const fixtures::Prompts prompts = fixtures::makePrompts(4200, 1024);
  const std::vector<float> none;
  for (const char* predictor : {"mlp", "knn"}) {
    auto router = fixtures::makeParts({predictor, false, true, 4201}).make(gCuda, pool);
    const size_t sizes[] = {1, 7, 1024, 300};
    std::vector<std::vector<float>> solo;
    for (size_t n : sizes) solo.push_back(fixtures::scoreInputs(*router, prompts, none, n));
    std::atomic<int> mismatches{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < 10; ++i) {
          const std::vector<float> got = fixtures::scoreInputs(*router, prompts, none, sizes[t]);
          if (std::memcmp(got.data(), solo[t].data(), got.size() * sizeof(float)) != 0) ++mismatches;
        }
      });
    for (auto& th : threads) th.join();
    CHECK(mismatches == 0);
    CHECK(router->backendName() == deviceName());
  }
}

TEST(knn_half_table_gives_the_float_tables_results_bit_for_bit) {
  KnnTable asHalf = makeTable(4300, 5000, 128);
  fixtures::roundToHalves(asHalf.data);
  asHalf.isHalf = true;
  KnnTable asFloat = asHalf;
  asFloat.isHalf = false;
  auto h = gCuda->prepareKnn(std::make_shared<const KnnTable>(asHalf));
  auto f = gCuda->prepareKnn(std::make_shared<const KnnTable>(asFloat));
  for (size_t rows : {size_t{1}, size_t{7}, size_t{1024}}) {
    const std::vector<float> q = unitRows(4301 + rows, rows, 128);
    const KnnOut a = runSearch(*h, q, rows, 20), b = runSearch(*f, q, rows, 20);
    CHECK(a.index == b.index);
    CHECK(std::memcmp(a.sim.data(), b.sim.data(), a.sim.size() * sizeof(float)) == 0);
    expectKnnMatchesReference(a, referenceKnn(asHalf, q, rows, 21), 20, asHalf, q, rows,
                              "F16 knn table rows=" + std::to_string(rows));
  }
}

// The static encoder's gather on the device (CudaStaticGatherer) against a double-precision
// weighted sum and L2 normalisation written here: F32 and F16 tables, empty rows (all zeros),
// batches of 1, 7 and 300 prompts.
TEST(static_gather_matches_reference) {
  Rng rng(77);
  const uint32_t rows = 3000, dim = 48;
  std::vector<float> table(static_cast<size_t>(rows) * dim);
  for (float& v : table) v = static_cast<float>(rng.uniform(-1, 1));
  std::vector<float> half(table.size());
  {
    std::vector<uint16_t> h(table.size());
    routecore::floatsToHalves(table.data(), table.size(), h.data());
    routecore::halvesToFloats(h.data(), h.size(), half.data());
  }
  for (bool isHalf : {false, true}) {
    const std::vector<float>& t = isHalf ? half : table;
    auto gatherer = gCuda->prepareStatic(t.data(), rows, dim, isHalf);
    CHECK(gatherer != nullptr);
    if (!gatherer) return;
    for (size_t batch : {size_t{1}, size_t{7}, size_t{300}}) {
      CsrBatch b;
      for (size_t r = 0; r < batch; ++r) {
        const uint32_t tokens = r % 5 == 3 ? 0 : 1 + rng.below(60);
        for (uint32_t k = 0; k < tokens; ++k) {
          b.index.push_back(rng.below(rows));
          b.value.push_back(static_cast<float>(rng.uniform(0.1, 3)));
        }
        b.rowStart.push_back(static_cast<uint32_t>(b.index.size()));
      }
      std::vector<float> out(batch * dim, -1.f);
      gatherer->gather(b, out.data());
      for (size_t r = 0; r < batch; ++r) {
        std::vector<double> sum(dim, 0.0);
        for (uint32_t k = b.rowStart[r]; k < b.rowStart[r + 1]; ++k)
          for (uint32_t j = 0; j < dim; ++j)
            sum[j] += static_cast<double>(b.value[k]) * t[static_cast<size_t>(b.index[k]) * dim + j];
        double norm = 0;
        for (double v : sum) norm += v * v;
        norm = std::sqrt(norm);
        for (uint32_t j = 0; j < dim; ++j) CHECK_NEAR(out[r * dim + j], norm > 0 ? sum[j] / norm : 0.0, 1e-5);
      }
    }
  }
}

}  // namespace

// `--dry-run-on-cpu`: the CPU backend stands in for the device, to check this file's own logic
// (references, tolerances, near-tie rules) on a machine without a GPU. It says nothing about the
// CUDA code; the tests that only make sense on a device are left out.
int main(int argc, char** argv) {
  const bool dryRun = argc > 1 && std::string(argv[1]) == "--dry-run-on-cpu";
  std::string why;
  if (dryRun) {
    gCuda = routecore::makeCpuBackend(2);
    gDryRun = true;
    const std::vector<std::string> deviceOnly = {
        "backend_is_named_cuda", "executor_takes_whole_batches", "executor_outlives_backend_and_net",
        "knn_searcher_outlives_backend_and_table", "rejects_malformed_batches_and_keeps_working",
        "rejects_inconsistent_nets", "knn_rejects_bad_k_and_keeps_working", "knn_rejects_inconsistent_tables",
        "forward_parts_equals_one_batch_bit_for_bit", "zero_row_batch_writes_nothing",
        // The CPU backend's dense path over an F16 table sums in another order than over floats.
        "half_tables_give_the_float_tables_results_bit_for_bit",
        // The CPU backend gathers static tables on the calling thread: it has no gatherer.
        "static_gather_matches_reference"};
    auto& cases = check::registry();
    cases.erase(std::remove_if(cases.begin(), cases.end(),
                               [&](const check::Case& c) {
                                 return std::find(deviceOnly.begin(), deviceOnly.end(), c.name) != deviceOnly.end();
                               }),
                cases.end());
    std::printf("DRY RUN: the CPU backend stands in for the device (checks the test, not CUDA)\n");
  } else {
    gCuda = routecore::makeCudaBackend(&why);
    if (!gCuda) {
      std::printf("SKIPPED: %s\n", why.c_str());
      return 77;
    }
    std::printf("device: %s\n", routecore::cudaDeviceSummary().c_str());
  }
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
