// bench_cuda: P6 (knn over 100k references, batches of 1,024 prompts, CUDA vs CPU) and whole-batch
// forward latencies of every other predictor, natively: the GPU machine has no Node, so this is
// what scripts/gpu-check.sh runs there. Built by CMake beside the tests, never run by ctest (it
// measures; it does not pass or fail on speed).
//
// P6 here: a knn router (hashing encoder, 2^16 buckets, 128-wide sparse sign projection, k = 20,
// 11 models: train()'s defaults) over 100,000 references stored F16, as bench/p6-knn.ts builds
// it, except that the references are random unit vectors rather than projected corpus prompts
// (the search costs the same; only the neighbours differ) and the queries are synthetic
// ≈500-character prompts. Timed: RouterModel::score over one batch (encoding, projection, search,
// combining the neighbours), CPU and CUDA rounds interleaved after a warm-up each, median over
// the rounds; and the search alone (KnnSearcher::search of 1,024 unit queries).
//
// Usage: bench_cuda [--quick] [--threads N] [--rounds N]
//   --quick: 5,000 references and batches of 64 (a smoke run of the code path, not a figure).
// Prints lines starting "P6 " and "FWD "; without a usable device the CUDA lines say why and only
// the CPU figures are printed (never an estimate). Exit 0 unless something threw.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "artifact.h"
#include "backend.h"
#include "error.h"
#include "hashing_encoder.h"
#include "knn.h"
#include "rng.h"
#include "router_model.h"
#include "thread_pool.h"
#ifdef ROUTECORE_WITH_CUDA
#include "cuda_backend.h"
#endif

using namespace routecore;

namespace {

double nowMs() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

struct Prompts {
  std::string text;
  std::vector<uint32_t> offsets{0};
};

// ≈500-character prompts of words drawn from a small vocabulary with numbers mixed in.
Prompts syntheticPrompts(uint64_t seed, size_t n) {
  static const char* words[] = {"explain", "the",     "difference", "between",    "python",    "list",    "tuple",
                                "solve",   "for",     "x",          "in",         "equation",  "history", "of",
                                "rome",    "write",   "a",          "function",   "that",      "returns", "sum",
                                "prove",   "theorem", "matrix",     "derivative", "translate", "into",    "french"};
  constexpr uint32_t kWords = sizeof(words) / sizeof(words[0]);
  SplitMix64 rng(seed);
  Prompts p;
  for (size_t i = 0; i < n; ++i) {
    const size_t start = p.text.size();
    const size_t target = 350 + rng.below(300);
    while (p.text.size() - start < target) {
      if (p.text.size() > start) p.text += ' ';
      p.text += words[rng.below(kWords)];
      if (rng.below(5) == 0) p.text += std::to_string(rng.below(10000));
    }
    p.offsets.push_back(static_cast<uint32_t>(p.text.size()));
  }
  return p;
}

std::vector<float> unitRows(uint64_t seed, size_t rows, uint32_t dim) {
  SplitMix64 rng(seed);
  std::vector<float> x(rows * dim);
  for (float& v : x) v = rng.normal();
  normalizeRows(x.data(), rows, dim);
  return x;
}

void roundToHalves(std::vector<float>& v) {
  std::vector<uint16_t> h(v.size());
  floatsToHalves(v.data(), v.size(), h.data());
  halvesToFloats(h.data(), h.size(), v.data());
}

std::unique_ptr<RouterModel> knnRouter(uint32_t references, std::shared_ptr<Backend> backend,
                                       std::shared_ptr<ThreadPool> pool) {
  constexpr uint32_t kModels = 11, kDim = 128;
  HashingConfig cfg;  // 2^16 buckets, word 1-2-grams, char 3-5-grams: the defaults
  SplitMix64 rng(61);
  std::vector<float> idf(cfg.buckets());
  for (float& v : idf) v = static_cast<float>(1.0 + 3.0 * rng.uniform());
  DenseNet net;
  net.inputDim = cfg.buckets();
  PredictorTables tables;
  auto table = std::make_shared<KnnTable>();
  table->rows = references;
  table->dim = kDim;
  table->data = unitRows(62, references, kDim);
  roundToHalves(table->data);  // stored F16, as P6's router file is
  table->isHalf = true;
  tables.references = table;
  tables.k = 20;
  tables.projectionSeed = 1;
  tables.referenceScores.resize(static_cast<size_t>(references) * kModels);
  for (float& v : tables.referenceScores) v = rng.below(10) == 0 ? std::nanf("") : static_cast<float>(rng.below(2));
  tables.modelMeans.assign(kModels, 0.5f);
  return std::make_unique<RouterModel>(std::make_unique<HashingEncoder>(cfg, idf), "knn", std::move(net),
                                       std::map<std::string, std::string>{}, std::move(backend), std::move(pool),
                                       std::move(tables));
}

// A router of another predictor with random weights: hashing (sparse) or 1,536-wide embeddings (dense).
std::unique_ptr<RouterModel> netRouter(const std::string& predictor, bool dense, std::shared_ptr<Backend> backend,
                                       std::shared_ptr<ThreadPool> pool) {
  constexpr uint32_t kModels = 11;
  HashingConfig cfg;
  const uint32_t inputDim = dense ? 1536 : cfg.buckets();
  SplitMix64 rng(71);
  auto uniform = [&](size_t n, double a) {
    std::vector<float> v(n);
    for (float& x : v) x = static_cast<float>(a * (2 * rng.uniform() - 1));
    return v;
  };
  DenseNet net;
  net.inputDim = inputDim;
  const uint32_t width0 = predictor == "linear" ? kModels : predictor == "mlp" ? 64 : predictor == "mf" ? 32 : 16;
  net.width0 = width0;
  net.table = uniform(static_cast<size_t>(inputDim) * width0, 0.05);
  roundToHalves(net.table);
  net.tableIsHalf = true;  // the default router ships F16
  net.tableBias = uniform(width0, 0.1);
  PredictorTables tables;
  if (predictor == "kmeans") {
    std::fill(net.tableBias.begin(), net.tableBias.end(), 0.f);
    tables.clusterScores = uniform(static_cast<size_t>(width0) * kModels, 1.0);
    for (float& v : tables.clusterScores) v = std::fabs(v);
  } else if (predictor != "linear") {
    DenseLayer l;
    l.in = width0;
    l.out = kModels;
    l.weight = uniform(static_cast<size_t>(width0) * kModels, 0.3);
    l.bias = uniform(kModels, 0.1);
    net.layers.push_back(std::move(l));
    net.hiddenRelu = predictor == "mlp";
  }
  std::unique_ptr<HashingEncoder> enc;
  if (!dense) {
    std::vector<float> idf(cfg.buckets(), 1.f);
    enc = std::make_unique<HashingEncoder>(cfg, idf);
  }
  return std::make_unique<RouterModel>(std::move(enc), predictor, std::move(net), std::map<std::string, std::string>{},
                                       std::move(backend), std::move(pool), std::move(tables));
}

// Milliseconds per call of each fn, rounds interleaved, after one warm-up call each.
template <typename Fn>
std::vector<std::vector<double>> race(std::vector<Fn>& fns, int rounds) {
  for (auto& f : fns) f();
  std::vector<std::vector<double>> ms(fns.size());
  for (int r = 0; r < rounds; ++r)
    for (size_t i = 0; i < fns.size(); ++i) {
      const double t0 = nowMs();
      fns[i]();
      ms[i].push_back(nowMs() - t0);
    }
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  unsigned threads = defaultThreadCount();
  int rounds = 7;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick")
      quick = true;
    else if (a == "--threads" && i + 1 < argc)
      threads = static_cast<unsigned>(std::atoi(argv[++i]));
    else if (a == "--rounds" && i + 1 < argc)
      rounds = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: bench_cuda [--quick] [--threads N] [--rounds N] (unknown argument \"%s\")\n",
                   a.c_str());
      return 2;
    }
  }
  if (threads < 1 || rounds < 1) {
    std::fprintf(stderr, "bench_cuda: --threads and --rounds must be >= 1\n");
    return 2;
  }
  try {
    const uint32_t references = quick ? 5000 : 100000;
    const size_t batch = quick ? 64 : 1024;
    auto pool = ThreadPool::shared(threads);
    auto cpu = makeCpuBackend(threads);
    std::shared_ptr<Backend> cuda;
    std::string why = "this build has no CUDA backend";
#ifdef ROUTECORE_WITH_CUDA
    cuda = makeCudaBackend(&why);
    if (cuda) why = cudaDeviceSummary();
#endif
    std::printf(
        "P6 setup: %u references x 128 dims (F16), k=20, 11 models, batches of %zu prompts, %u CPU threads, %d "
        "rounds%s\n",
        references, batch, threads, rounds, quick ? " (--quick: not a P6 figure)" : "");
    std::printf("P6 device: %s\n", cuda ? why.c_str() : ("none (" + why + ")").c_str());

    // Three different batches, cycled, so no round reuses the previous one's caches.
    std::vector<Prompts> batches;
    for (uint64_t b = 0; b < 3; ++b) batches.push_back(syntheticPrompts(100 + b, batch));
    const double tBuild = nowMs();
    auto cpuRouter = knnRouter(references, cpu, pool);
    std::printf("P6 router build (cpu): %.0f ms\n", nowMs() - tBuild);
    std::unique_ptr<RouterModel> cudaRouter;
    if (cuda) cudaRouter = knnRouter(references, cuda, pool);

    std::vector<std::unique_ptr<RouterModel>*> routers = {&cpuRouter};
    if (cudaRouter) routers.push_back(&cudaRouter);
    const uint32_t M = cpuRouter->outputs();
    std::vector<std::vector<float>> outs(routers.size(), std::vector<float>(batch * M));
    int call = 0;
    std::vector<std::function<void()>> fns;
    for (size_t i = 0; i < routers.size(); ++i)
      fns.push_back([&, i] {
        const Prompts& p = batches[(call++ / routers.size()) % batches.size()];
        (*routers[i])->score(p.text.data(), p.offsets.data(), batch, outs[i].data());
      });
    const auto ms = race(fns, rounds);
    const double cpuMs = median(ms[0]);
    std::printf("P6 knn router score, batch %zu: cpu median %.2f ms (%.0f prompts/s)\n", batch, cpuMs,
                batch * 1000.0 / cpuMs);
    if (cudaRouter) {
      const double cudaMs = median(ms[1]);
      std::printf(
          "P6 knn router score, batch %zu: cuda median %.2f ms (%.0f prompts/s); cpu/cuda %.1fx; cuda router on "
          "\"%s\"\n",
          batch, cudaMs, batch * 1000.0 / cudaMs, cpuMs / cudaMs, cudaRouter->backendName().c_str());
      // Agreement on the last batch both scored (the same one: rounds are interleaved).
      const Prompts& p = batches[0];
      cpuRouter->score(p.text.data(), p.offsets.data(), batch, outs[0].data());
      cudaRouter->score(p.text.data(), p.offsets.data(), batch, outs[1].data());
      double worst = 0;
      size_t over = 0;
      for (size_t i = 0; i < outs[0].size(); ++i) {
        const double d = std::fabs(static_cast<double>(outs[0][i]) - outs[1][i]);
        worst = std::max(worst, d);
        over += d > 1e-5;
      }
      std::printf(
          "P6 agreement cuda vs cpu: max |score diff| %.3g, %zu of %zu scores differ by > 1e-5 (near-ties among "
          "neighbours may swap)\n",
          worst, over, outs[0].size());
    } else {
      std::printf("P6 knn router score, batch %zu: cuda not run: %s\n", batch, why.c_str());
    }

    // The search alone: unit queries, no encoding.
    {
      auto table = std::make_shared<KnnTable>();
      table->rows = references;
      table->dim = 128;
      table->data = unitRows(62, references, 128);
      roundToHalves(table->data);
      table->isHalf = true;
      const std::vector<float> q = unitRows(63, batch, 128);
      std::vector<std::unique_ptr<KnnSearcher>> searchers;
      searchers.push_back(cpu->prepareKnn(table));
      if (cuda) searchers.push_back(cuda->prepareKnn(table));
      std::vector<uint32_t> index(batch * 20);
      std::vector<float> sim(batch * 20);
      std::vector<std::function<void()>> s;
      for (auto& searcher : searchers)
        s.push_back([&, ptr = searcher.get()] {
          // The CPU searcher runs on the calling thread: split the batch over the pool as the router does.
          const size_t per = ptr->rowsPerCall();
          const size_t slices = (batch + std::min(per, batch) - 1) / std::min(per, batch);
          pool->parallelFor(slices, [&](size_t i) {
            const size_t b = i * std::min(per, batch), e = std::min(batch, b + std::min(per, batch));
            ptr->search(q.data() + b * 128, e - b, 20, index.data() + b * 20, sim.data() + b * 20);
          });
        });
      const auto sms = race(s, rounds);
      std::printf("P6 knn search only, %zu queries x %u refs x 128, k=20: cpu median %.2f ms", batch, references,
                  median(sms[0]));
      if (cuda) std::printf(", cuda median %.2f ms, cpu/cuda %.1fx", median(sms[1]), median(sms[0]) / median(sms[1]));
      std::printf("\n");
      if (cuda) {
        std::vector<double> one;
        for (int i = 0; i < 3 * rounds; ++i) {
          const double t0 = nowMs();
          searchers[1]->search(q.data(), 1, 20, index.data(), sim.data());
          one.push_back(nowMs() - t0);
        }
        std::printf("P6 knn search only, 1 query: cuda median %.3f ms over %d runs\n", median(one), 3 * rounds);
      }
    }

    // Whole-batch forward passes of the other predictors (F16 tables), sparse and dense input.
    const Prompts& fwdPrompts = batches[1];
    SplitMix64 rng(81);
    std::vector<float> embeddings(batch * 1536);
    for (float& v : embeddings) v = rng.normal();
    normalizeRows(embeddings.data(), batch, 1536);
    for (const char* predictor : {"mlp", "linear", "mf", "kmeans"}) {
      for (bool dense : {false, true}) {
        std::vector<std::unique_ptr<RouterModel>> rs;
        rs.push_back(netRouter(predictor, dense, cpu, pool));
        if (cuda) rs.push_back(netRouter(predictor, dense, cuda, pool));
        std::vector<std::vector<float>> o(rs.size(), std::vector<float>(batch * rs[0]->outputs()));
        std::vector<std::function<void()>> f;
        for (size_t i = 0; i < rs.size(); ++i)
          f.push_back([&, i] {
            if (dense)
              rs[i]->scoreEmbeddings(embeddings.data(), batch, o[i].data());
            else
              rs[i]->score(fwdPrompts.text.data(), fwdPrompts.offsets.data(), batch, o[i].data());
          });
        const auto fms = race(f, rounds);
        std::printf("FWD %s %s batch %zu: cpu median %.2f ms", predictor, dense ? "dense-1536" : "hashing", batch,
                    median(fms[0]));
        if (cuda) {
          double worst = 0;
          for (size_t i = 0; i < o[0].size(); ++i)
            worst = std::max(worst, std::fabs(static_cast<double>(o[0][i]) - o[1][i]));
          std::printf(", cuda median %.2f ms, cpu/cuda %.1fx, max |diff| %.3g, on \"%s\"", median(fms[1]),
                      median(fms[0]) / median(fms[1]), worst, rs[1]->backendName().c_str());
        }
        std::printf("\n");
      }
    }
    const BackendFallbacks fb = backendFallbacks();
    if (fb.routers)
      std::printf("P6 WARNING: %llu router(s) fell back to cpu: %s\n", static_cast<unsigned long long>(fb.routers),
                  fb.firstReason.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda: %s\n", e.what());
    return 1;
  }
  return 0;
}
