// Routers of every predictor with seeded random weights, built straight through the RouterModel
// constructor on a chosen backend (no training: the same router can be made on two backends and
// fed the same inputs). Shared by test_backend_fallback.cc and test_cuda_equivalence.cc.
//
// RouterSpec picks the predictor, the input (hashing text or precomputed dense embeddings) and the
// table precision (F16: every first-layer / reference value rounded to binary16 first and flagged,
// as an F16 router file is). Values are finite and the knn references unit-norm, as a valid router
// file's are.
#pragma once
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "artifact.h"
#include "backend.h"
#include "dense_net.h"
#include "hashing_encoder.h"
#include "knn.h"
#include "rng.h"
#include "router_model.h"
#include "thread_pool.h"

namespace fixtures {

struct RouterSpec {
  std::string predictor;  // mlp, linear, mf, kmeans, knn
  bool dense = false;     // precomputed embeddings instead of hashing text
  bool half = false;      // F16 tables
  uint64_t seed = 1;
};

constexpr uint32_t kModels = 5;
constexpr uint32_t kLog2Buckets = 12;
constexpr uint32_t kEmbeddingDim = 384;
constexpr uint32_t kKnnRefs = 3000;
constexpr uint32_t kKnnK = 10;
constexpr uint32_t kKnnProjection = 64;
constexpr uint32_t kClusters = 8;

inline std::string describe(const RouterSpec& s) {
  return s.predictor + (s.dense ? " dense" : " sparse") + (s.half ? " F16" : " F32");
}

inline void roundToHalves(std::vector<float>& v) {
  std::vector<uint16_t> h(v.size());
  routecore::floatsToHalves(v.data(), v.size(), h.data());
  routecore::halvesToFloats(h.data(), h.size(), v.data());
}

inline std::vector<float> uniformVector(routecore::SplitMix64& rng, size_t n, double lo, double hi) {
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(lo + (hi - lo) * rng.uniform());
  return v;
}

/// Everything a router is made of, before it is handed to a backend: make() can be called for
/// several backends and gives routers with the very same weights.
struct RouterParts {
  RouterSpec spec;
  routecore::DenseNet net;
  routecore::PredictorTables tables;
  std::vector<float> idf;  // empty for dense
  routecore::HashingConfig encoder;

  std::unique_ptr<routecore::RouterModel> make(std::shared_ptr<routecore::Backend> backend,
                                               std::shared_ptr<routecore::ThreadPool> pool) const {
    std::unique_ptr<routecore::HashingEncoder> enc;
    if (!spec.dense) enc = std::make_unique<routecore::HashingEncoder>(encoder, idf);
    return std::make_unique<routecore::RouterModel>(std::move(enc), spec.predictor, net,
                                                    std::map<std::string, std::string>{}, std::move(backend),
                                                    std::move(pool), tables);
  }
};

inline RouterParts makeParts(const RouterSpec& spec) {
  routecore::SplitMix64 rng(spec.seed * 7919 + 17);
  RouterParts p;
  p.spec = spec;
  p.encoder.log2Buckets = kLog2Buckets;
  const uint32_t inputDim = spec.dense ? kEmbeddingDim : p.encoder.buckets();
  if (!spec.dense) {
    p.idf = uniformVector(rng, inputDim, 1.0, 4.0);
  }
  routecore::DenseNet& net = p.net;
  net.inputDim = inputDim;
  const std::string& kind = spec.predictor;
  if (kind == "knn") {
    const uint32_t dim = spec.dense ? inputDim : kKnnProjection;
    auto table = std::make_shared<routecore::KnnTable>();
    table->rows = kKnnRefs;
    table->dim = dim;
    table->data.resize(static_cast<size_t>(kKnnRefs) * dim);
    for (float& x : table->data) x = rng.normal();
    routecore::normalizeRows(table->data.data(), kKnnRefs, dim);
    if (spec.half) {
      roundToHalves(table->data);
      table->isHalf = true;
    }
    p.tables.references = table;
    p.tables.k = kKnnK;
    p.tables.projectionSeed = spec.seed;
    p.tables.referenceScores = uniformVector(rng, static_cast<size_t>(kKnnRefs) * kModels, 0.0, 1.0);
    // A tenth of the scores missing (NaN in a knn.scores tensor means "not scored").
    for (size_t i = 0; i < p.tables.referenceScores.size(); i += 10) p.tables.referenceScores[i] = std::nanf("");
    p.tables.modelMeans = uniformVector(rng, kModels, 0.3, 0.7);
    return p;
  }
  uint32_t width0 = 0;
  if (kind == "linear")
    width0 = kModels;
  else if (kind == "mlp")
    width0 = 48;
  else if (kind == "mf")
    width0 = 16;
  else if (kind == "kmeans")
    width0 = kClusters;
  net.width0 = width0;
  // Sparse rows are L2-normalised TF-IDF (a few hundred entries), dense ones unit embeddings:
  // weights of this size put the logits at order 1, away from the sigmoid's flat tails.
  const double scale = spec.dense ? 1.0 : 2.0;
  net.table = uniformVector(rng, static_cast<size_t>(inputDim) * width0, -scale, scale);
  if (kind == "kmeans") {
    // Centroid columns of unit length: the product is a cosine.
    for (uint32_t c = 0; c < width0; ++c) {
      double n2 = 0;
      for (uint32_t i = 0; i < inputDim; ++i)
        n2 += double(net.table[size_t(i) * width0 + c]) * net.table[size_t(i) * width0 + c];
      const double inv = 1.0 / std::sqrt(n2);
      for (uint32_t i = 0; i < inputDim; ++i)
        net.table[size_t(i) * width0 + c] = static_cast<float>(net.table[size_t(i) * width0 + c] * inv);
    }
    net.tableBias.assign(width0, 0.f);
    p.tables.clusterScores = uniformVector(rng, static_cast<size_t>(width0) * kModels, 0.0, 1.0);
  } else {
    net.tableBias = uniformVector(rng, width0, -0.3, 0.3);
  }
  if (spec.half) {
    roundToHalves(net.table);
    net.tableIsHalf = true;
  }
  if (kind == "mlp" || kind == "mf") {
    routecore::DenseLayer l;
    l.in = width0;
    l.out = kModels;
    const double a = std::sqrt(6.0 / width0);
    l.weight = uniformVector(rng, static_cast<size_t>(width0) * kModels, -a, a);
    l.bias = uniformVector(rng, kModels, -0.2, 0.2);
    net.layers.push_back(std::move(l));
    net.hiddenRelu = kind == "mlp";
  }
  return p;
}

/// n prompts of random words (some long, some one word), as one UTF-8 buffer and n+1 offsets.
struct Prompts {
  std::string text;
  std::vector<uint32_t> offsets{0};
  size_t size() const { return offsets.size() - 1; }
};

inline Prompts makePrompts(uint64_t seed, size_t n) {
  static const char* words[] = {"route",   "the",  "prompt", "model", "solve",  "equation", "history",
                                "emperor", "rome", "sum",    "code",  "python", "déjà",     "vu",
                                "naïve",   "数学", "问题",   "war",   "treaty", "compute",  "x"};
  constexpr uint32_t kWords = sizeof(words) / sizeof(words[0]);
  routecore::SplitMix64 rng(seed);
  Prompts p;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t len = i % 9 == 4 ? 1 : i % 9 == 7 ? 200 + rng.below(200) : 3 + rng.below(30);
    for (uint32_t w = 0; w < len; ++w) {
      if (w) p.text += ' ';
      p.text += words[rng.below(kWords)];
      if (rng.below(4) == 0) p.text += std::to_string(rng.below(1000));
    }
    p.offsets.push_back(static_cast<uint32_t>(p.text.size()));
  }
  return p;
}

/// n x dim rows of unit vectors.
inline std::vector<float> makeEmbeddings(uint64_t seed, size_t n, uint32_t dim) {
  routecore::SplitMix64 rng(seed);
  std::vector<float> x(n * dim);
  for (float& v : x) v = rng.normal();
  routecore::normalizeRows(x.data(), n, dim);
  return x;
}

/// Scores n inputs of the router's kind (prompts for hashing, embeddings for precomputed).
inline std::vector<float> scoreInputs(const routecore::RouterModel& m, const Prompts& prompts,
                                      const std::vector<float>& embeddings, size_t n) {
  std::vector<float> out(n * m.outputs(), -1.f);
  if (std::string(m.encoderKind()) == "hashing")
    m.score(prompts.text.data(), prompts.offsets.data(), n, out.data());
  else
    m.scoreEmbeddings(embeddings.data(), n, out.data());
  return out;
}

}  // namespace fixtures
