#include "kmeans.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "error.h"
#include "rng.h"

namespace routecore {

namespace {

double dotRow(const CsrBatch& x, size_t r, const float* centroid) {
  double s = 0;
  for (uint32_t k = x.rowStart[r]; k < x.rowStart[r + 1]; ++k) s += x.value[k] * centroid[x.index[k]];
  return s;
}

void setToRow(const CsrBatch& x, size_t r, float* centroid, uint32_t dim) {
  std::fill(centroid, centroid + dim, 0.f);
  for (uint32_t k = x.rowStart[r]; k < x.rowStart[r + 1]; ++k) centroid[x.index[k]] += x.value[k];
}

struct Run {
  std::vector<float> centroids;  // clusters x dim, row-major
  std::vector<uint32_t> assign;
  double objective = -1;
};

Run runOnce(const CsrBatch& x, uint32_t dim, uint32_t k, uint32_t maxIterations, SplitMix64& rng) {
  const size_t n = x.rows();
  Run run;
  run.centroids.assign(static_cast<size_t>(k) * dim, 0.f);
  run.assign.assign(n, 0);
  // k-means++ with distance 1 - cos: later seeds favour rows far from every seed so far.
  std::vector<double> dist(n, std::numeric_limits<double>::infinity());
  size_t first = static_cast<size_t>(rng.next() % n);
  setToRow(x, first, run.centroids.data(), dim);
  for (uint32_t c = 1; c < k; ++c) {
    const float* prev = run.centroids.data() + static_cast<size_t>(c - 1) * dim;
    double total = 0;
    for (size_t r = 0; r < n; ++r) {
      dist[r] = std::min(dist[r], std::max(0.0, 1.0 - dotRow(x, r, prev)));
      total += dist[r] * dist[r];
    }
    size_t pick = static_cast<size_t>(rng.next() % n);
    if (total > 0) {
      double target = rng.uniform() * total;
      for (size_t r = 0; r < n; ++r) {
        target -= dist[r] * dist[r];
        if (target <= 0) {
          pick = r;
          break;
        }
      }
    }
    setToRow(x, pick, run.centroids.data() + static_cast<size_t>(c) * dim, dim);
  }
  for (uint32_t it = 0; it < maxIterations; ++it) {
    bool changed = it == 0;
    double objective = 0;
    for (size_t r = 0; r < n; ++r) {
      uint32_t best = 0;
      double bestSim = -std::numeric_limits<double>::infinity();
      for (uint32_t c = 0; c < k; ++c) {
        double s = dotRow(x, r, run.centroids.data() + static_cast<size_t>(c) * dim);
        if (s > bestSim) bestSim = s, best = c;
      }
      if (run.assign[r] != best) changed = true;
      run.assign[r] = best;
      objective += bestSim;
    }
    run.objective = objective / n;
    if (!changed) break;
    // Spherical update: the normalised sum of the members; an empty cluster keeps its centroid.
    std::vector<float> sums(static_cast<size_t>(k) * dim, 0.f);
    std::vector<uint32_t> counts(k, 0);
    for (size_t r = 0; r < n; ++r) {
      float* s = sums.data() + static_cast<size_t>(run.assign[r]) * dim;
      for (uint32_t j = x.rowStart[r]; j < x.rowStart[r + 1]; ++j) s[x.index[j]] += x.value[j];
      ++counts[run.assign[r]];
    }
    for (uint32_t c = 0; c < k; ++c) {
      if (counts[c] == 0) continue;
      float* s = sums.data() + static_cast<size_t>(c) * dim;
      double norm = 0;
      for (uint32_t j = 0; j < dim; ++j) norm += static_cast<double>(s[j]) * s[j];
      if (norm <= 0) continue;
      const float inv = static_cast<float>(1.0 / std::sqrt(norm));
      float* dst = run.centroids.data() + static_cast<size_t>(c) * dim;
      for (uint32_t j = 0; j < dim; ++j) dst[j] = s[j] * inv;
    }
  }
  return run;
}

}  // namespace

void KmeansOptions::validate() const {
  if (clusters < 1 || clusters > 4096)
    throw Error(ErrorCode::InvalidArgument, "options.clusters must be in [1, 4096], got " + std::to_string(clusters));
  if (restarts < 1 || restarts > 100)
    throw Error(ErrorCode::InvalidArgument, "options.restarts must be in [1, 100], got " + std::to_string(restarts));
  if (maxIterations < 1 || maxIterations > 10000)
    throw Error(ErrorCode::InvalidArgument, "options.maxEpochs (k-means iterations) must be in [1, 10000]");
}

KmeansModel trainKmeans(const CsrBatch& x, uint32_t dim, const std::vector<float>& labels, uint32_t M,
                        const KmeansOptions& options) {
  options.validate();
  const size_t n = x.rows();
  if (n == 0) throw Error(ErrorCode::BadData, "no training rows");
  if (labels.size() != n * M) throw Error(ErrorCode::InvalidArgument, "labels must hold rows x models values");
  const uint32_t k = static_cast<uint32_t>(std::min<size_t>(options.clusters, n));
  // Spherical k-means needs unit rows: precomputed embeddings arrive at any length, and with them
  // cosines were not cosines (objectives below -1, float products overflowing to inf and NaN).
  // Normalised here in double on a copy; an all-zero row stays zero.
  CsrBatch unit = x;
  for (size_t r = 0; r < n; ++r) {
    double norm2 = 0;
    for (uint32_t j = unit.rowStart[r]; j < unit.rowStart[r + 1]; ++j)
      norm2 += static_cast<double>(unit.value[j]) * unit.value[j];
    if (!(norm2 > 0) || !std::isfinite(norm2)) {
      if (!std::isfinite(norm2))
        throw Error(ErrorCode::BadData, "training row " + std::to_string(r) + " is not finite");
      continue;
    }
    const double inv = 1.0 / std::sqrt(norm2);
    for (uint32_t j = unit.rowStart[r]; j < unit.rowStart[r + 1]; ++j)
      unit.value[j] = static_cast<float>(unit.value[j] * inv);
  }
  SplitMix64 rng(options.seed);
  // The first restart is the best so far whatever it scored (there is no placeholder objective a
  // real run could fail to beat); later ones replace it only when strictly better.
  Run best;
  for (uint32_t r = 0; r < options.restarts; ++r) {
    Run run = runOnce(unit, dim, k, options.maxIterations, rng);
    if (r == 0 || run.objective > best.objective) best = std::move(run);
  }
  if (best.assign.size() != n || best.centroids.size() != static_cast<size_t>(k) * dim)
    throw Error(ErrorCode::Internal, "kmeans: the best restart holds no assignment");
  KmeansModel m;
  m.clusters = k;
  m.dim = dim;
  m.models = M;
  m.objective = best.objective;
  m.centroidTable.assign(static_cast<size_t>(dim) * k, 0.f);
  for (uint32_t c = 0; c < k; ++c)
    for (uint32_t j = 0; j < dim; ++j)
      m.centroidTable[static_cast<size_t>(j) * k + c] = best.centroids[static_cast<size_t>(c) * dim + j];
  // Cluster scores: members' mean per model; a model no member scored gets its global mean.
  std::vector<double> sum(static_cast<size_t>(k) * M, 0), globalSum(M, 0);
  std::vector<uint32_t> cnt(static_cast<size_t>(k) * M, 0), globalCnt(M, 0);
  for (size_t r = 0; r < n; ++r)
    for (uint32_t j = 0; j < M; ++j) {
      float y = labels[r * M + j];
      if (std::isnan(y)) continue;
      sum[best.assign[r] * M + j] += y;
      ++cnt[best.assign[r] * M + j];
      globalSum[j] += y;
      ++globalCnt[j];
    }
  m.clusterScores.resize(static_cast<size_t>(k) * M);
  for (uint32_t c = 0; c < k; ++c)
    for (uint32_t j = 0; j < M; ++j) {
      size_t i = static_cast<size_t>(c) * M + j;
      m.clusterScores[i] =
          static_cast<float>(cnt[i] ? sum[i] / cnt[i] : (globalCnt[j] ? globalSum[j] / globalCnt[j] : 0.5));
    }
  return m;
}

}  // namespace routecore
