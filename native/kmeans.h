// The `kmeans` predictor (the clustering router of "Harnessing the Power of Multiple Minds"):
// spherical k-means over the encoder's L2-normalised rows, k-means++ seeding, several restarts;
// each cluster stores every model's mean score on its training members, and a prompt gets the
// scores of its nearest centroid.
#pragma once
#include <cstdint>
#include <vector>

#include "sparse.h"

namespace routecore {

struct KmeansOptions {
  uint32_t clusters = 16;
  uint32_t restarts = 3;
  uint32_t maxIterations = 30;
  uint64_t seed = 1;
  void validate() const;  // throws InvalidArgument naming the option
};

struct KmeansModel {
  uint32_t clusters = 0, dim = 0, models = 0;
  std::vector<float> centroidTable;  // dim x clusters (column c = unit-norm centroid c): the layout
                                     // the backends' sparse product reads, so scoring reuses them
  std::vector<float> clusterScores;  // clusters x models
  double objective = 0;              // mean cosine of rows to their centroid (best restart)
};

/// x: unit-norm rows; labels: rows x models in [0,1], NaN = missing.
KmeansModel trainKmeans(const CsrBatch& x, uint32_t dim, const std::vector<float>& labels, uint32_t models,
                        const KmeansOptions& options);

}  // namespace routecore
