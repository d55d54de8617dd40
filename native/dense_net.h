// The weights shared by the `mlp`, `linear` and `mf` predictors (and the centroids of `kmeans`).
//
// All start with a sparse "embedding bag": the hashed feature row x (dimension inputDim) times a
// table W0 [inputDim x width0], plus b0. For `linear` that is the output layer (width0 = models);
// for `mlp` a ReLU follows and dense layers map on to the models; for `mf` (matrix factorisation)
// the table is the prompt projection and no ReLU follows it (hiddenRelu = false). The last layer
// goes through a sigmoid: every output is the predicted score of one model, in [0,1].
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace routecore {

struct DenseLayer {
  uint32_t in = 0, out = 0;
  std::vector<float> weight;  // row-major [in x out]
  std::vector<float> bias;    // [out]
};

struct DenseNet {
  uint32_t inputDim = 0;         // number of hash buckets
  uint32_t width0 = 0;           // columns of the sparse table
  std::vector<float> table;      // row-major [inputDim x width0]
  std::vector<float> tableBias;  // [width0]
  // True when every table value is exactly a binary16 number (the router file stored the table
  // as F16): a backend may then keep the table in half precision with identical results.
  bool tableIsHalf = false;
  // Applied after the table when non-empty; ReLU between layers (see hiddenRelu), sigmoid after
  // the last.
  std::vector<DenseLayer> layers;
  // False for `mf`: the projection feeds the model embeddings directly (a low-rank linear model).
  bool hiddenRelu = true;

  uint32_t outputs() const { return layers.empty() ? width0 : layers.back().out; }
};

}  // namespace routecore
