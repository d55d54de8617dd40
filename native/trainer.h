// Native training of the `mlp` and `linear` predictors: multi-label, one sigmoid per model, binary
// cross-entropy on soft labels in [0,1], Adam, early stopping on a held-out slice.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dense_net.h"
#include "sparse.h"

namespace routecore {

struct TrainOptions {
  uint32_t hidden = 64;    // 0 trains the `linear` predictor (no hidden layer)
  bool hiddenRelu = true;  // false: no ReLU after the table (the `mf` predictor)
  float learningRate = 2e-3f;
  float weightDecay = 1e-4f;  // decoupled (AdamW), applied to weights, not biases
  uint32_t batchSize = 64;
  uint32_t maxEpochs = 30;
  uint32_t patience = 4;  // epochs without validation improvement before stopping
  float validationFraction = 0.1f;
  uint64_t seed = 1;
  void validate() const;  // throws InvalidArgument naming the option
};

struct EpochInfo {
  uint32_t epoch = 0;  // 1-based
  uint32_t maxEpochs = 0;
  double trainLoss = 0, validationLoss = 0;  // validationLoss is NaN without a validation slice
};

struct TrainReport {
  uint32_t epochs = 0, bestEpoch = 0;
  uint32_t trainRows = 0, validationRows = 0;
  double bestValidationLoss = 0, finalTrainLoss = 0;
  bool stoppedEarly = false;
  std::vector<EpochInfo> history;
};

/// Return false to cancel; training then throws ErrorCode::InvalidArgument ("training cancelled").
using ProgressFn = std::function<bool(const EpochInfo&)>;

/// Pairwise training targets, one per training row: model a vs model b, y = 1 when a won,
/// 0 when b won, 0.5 for a tie.
struct PairwiseTargets {
  std::vector<uint32_t> a, b;
  std::vector<float> y;
  size_t size() const { return y.size(); }
};

/// Checks one battle per row: a and b different models < `models`, y in [0,1]; throws BadData
/// naming the first bad row (InvalidArgument when the three lists are not `rows` long).
void validatePairwise(const PairwiseTargets& pairs, size_t rows, uint32_t models);

/// What a row of training data says about the models: either per-model outcomes (labels: rows x
/// models, row-major, in [0,1], NaN = missing, which contributes no loss) or one pairwise battle
/// per row (Bradley–Terry loss: P(a beats b) = sigmoid(z_a - z_b), z the output logits).
struct TrainTargets {
  const std::vector<float>* labels = nullptr;
  const PairwiseTargets* pairs = nullptr;
  uint32_t models = 0;
};

/// Checks rows x models labels: each in [0,1] or NaN (missing); names the first bad row and model.
void validateLabels(const std::vector<float>& labels, size_t rows, uint32_t models);

/// x: one feature row per example (inputDim columns).
DenseNet trainNet(const CsrBatch& x, const TrainTargets& targets, uint32_t inputDim, const TrainOptions& options,
                  TrainReport* report, const ProgressFn& progress);

/// Mean binary cross-entropy of `net` on rows [rows) of x (per observed outcome, or per battle):
/// exposed for tests and evaluation.
double meanCrossEntropy(const DenseNet& net, const CsrBatch& x, const TrainTargets& targets,
                        const std::vector<uint32_t>& rows);

}  // namespace routecore
