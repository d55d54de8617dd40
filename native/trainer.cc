#include "trainer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "error.h"
#include "rng.h"

namespace routecore {

namespace {

inline float sigmoid(float z) {
  return 1.f / (1.f + std::exp(-z));
}

// Numerically stable BCE from the logit: log(1+e^z) - y z.
inline double bceFromLogit(float z, float y) {
  double zz = z;
  double softplus = zz > 0 ? zz + std::log1p(std::exp(-zz)) : std::log1p(std::exp(zz));
  return softplus - y * zz;
}

struct Adam {
  float lr, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, decay;
  std::vector<float> m, v;
  Adam(size_t n, float lr_, float decay_) : lr(lr_), decay(decay_), m(n, 0.f), v(n, 0.f) {}
  // Updates params[begin, end) with grads at the same positions; `decayed` selects weight decay.
  void step(float* params, const float* grads, size_t begin, size_t end, float corr1, float corr2, bool decayed) {
    for (size_t i = begin; i < end; ++i) {
      float g = grads[i - begin];
      m[i] = beta1 * m[i] + (1 - beta1) * g;
      v[i] = beta2 * v[i] + (1 - beta2) * g * g;
      float update = (m[i] / corr1) / (std::sqrt(v[i] / corr2) + eps);
      if (decayed) update += decay * params[i - begin];
      params[i - begin] -= lr * update;
    }
  }
};

// Forward pass for one row keeping the intermediates backprop needs.
void forwardRow(const DenseNet& net, const CsrBatch& x, uint32_t row, std::vector<float>& z0, std::vector<float>& z1) {
  const uint32_t w0 = net.width0;
  std::memcpy(z0.data(), net.tableBias.data(), w0 * sizeof(float));
  for (uint32_t k = x.rowStart[row]; k < x.rowStart[row + 1]; ++k) {
    const float* trow = net.table.data() + static_cast<size_t>(x.index[k]) * w0;
    const float v = x.value[k];
    for (uint32_t j = 0; j < w0; ++j) z0[j] += v * trow[j];
  }
  if (net.layers.empty()) return;
  const DenseLayer& l = net.layers[0];
  std::memcpy(z1.data(), l.bias.data(), l.out * sizeof(float));
  for (uint32_t i = 0; i < l.in; ++i) {
    float a = net.hiddenRelu && z0[i] < 0 ? 0 : z0[i];
    if (a == 0) continue;
    const float* w = l.weight.data() + static_cast<size_t>(i) * l.out;
    for (uint32_t o = 0; o < l.out; ++o) z1[o] += a * w[o];
  }
}

}  // namespace

void validateLabels(const std::vector<float>& labels, size_t rows, uint32_t M) {
  if (labels.size() != rows * M)
    throw Error(ErrorCode::InvalidArgument, "labels has " + std::to_string(labels.size()) +
                                                " values, expected rows x models = " + std::to_string(rows * M));
  for (size_t i = 0; i < labels.size(); ++i) {
    float y = labels[i];
    if (!std::isnan(y) && !(y >= 0.f && y <= 1.f))
      throw Error(ErrorCode::BadData, "label of row " + std::to_string(i / M) + ", model " + std::to_string(i % M) +
                                          " is " + std::to_string(y) + ", outside [0,1]");
  }
}

void validatePairwise(const PairwiseTargets& p, size_t rows, uint32_t M) {
  if (p.a.size() != rows || p.b.size() != rows || p.y.size() != rows)
    throw Error(ErrorCode::InvalidArgument, "pairwise targets must hold one battle per training row");
  for (size_t i = 0; i < rows; ++i) {
    if (p.a[i] >= M || p.b[i] >= M || p.a[i] == p.b[i])
      throw Error(ErrorCode::BadData, "battle of row " + std::to_string(i) + " names models " + std::to_string(p.a[i]) +
                                          " and " + std::to_string(p.b[i]) + ": they must differ and be < " +
                                          std::to_string(M));
    if (!(p.y[i] >= 0.f && p.y[i] <= 1.f))
      throw Error(ErrorCode::BadData,
                  "battle of row " + std::to_string(i) + " has outcome " + std::to_string(p.y[i]) + ", outside [0,1]");
  }
}

void TrainOptions::validate() const {
  auto fail = [](const std::string& m) { throw Error(ErrorCode::InvalidArgument, m); };
  if (hidden > 4096) fail("options.hidden must be in [0, 4096], got " + std::to_string(hidden));
  if (!(learningRate > 0 && learningRate < 1)) fail("options.learningRate must be in (0, 1)");
  if (!(weightDecay >= 0 && weightDecay < 1)) fail("options.weightDecay must be in [0, 1)");
  if (batchSize < 1 || batchSize > 65536) fail("options.batchSize must be in [1, 65536]");
  if (maxEpochs < 1 || maxEpochs > 10000) fail("options.maxEpochs must be in [1, 10000]");
  if (!(validationFraction >= 0 && validationFraction < 0.9f)) fail("options.validationFraction must be in [0, 0.9)");
}

double meanCrossEntropy(const DenseNet& net, const CsrBatch& x, const TrainTargets& targets,
                        const std::vector<uint32_t>& rows) {
  const uint32_t M = net.outputs();
  std::vector<float> z0(net.width0), z1(net.layers.empty() ? 0 : net.layers[0].out);
  double loss = 0;
  size_t n = 0;
  for (uint32_t r : rows) {
    forwardRow(net, x, r, z0, z1);
    const float* z = net.layers.empty() ? z0.data() : z1.data();
    if (targets.pairs) {
      const PairwiseTargets& p = *targets.pairs;
      loss += bceFromLogit(z[p.a[r]] - z[p.b[r]], p.y[r]);
      ++n;
      continue;
    }
    for (uint32_t m = 0; m < M; ++m) {
      float y = (*targets.labels)[static_cast<size_t>(r) * M + m];
      if (std::isnan(y)) continue;
      loss += bceFromLogit(z[m], y);
      ++n;
    }
  }
  return n ? loss / n : std::numeric_limits<double>::quiet_NaN();
}

DenseNet trainNet(const CsrBatch& x, const TrainTargets& targets, uint32_t inputDim, const TrainOptions& opt,
                  TrainReport* report, const ProgressFn& progress) {
  opt.validate();
  const uint32_t rows = static_cast<uint32_t>(x.rows());
  const uint32_t M = targets.models;
  if (rows == 0) throw Error(ErrorCode::BadData, "no training rows");
  if (M == 0) throw Error(ErrorCode::BadData, "no models to learn");
  if ((targets.labels == nullptr) == (targets.pairs == nullptr))
    throw Error(ErrorCode::InvalidArgument, "training needs either per-model labels or pairwise battles");
  static const std::vector<float> kNoLabels;
  const std::vector<float>& labels = targets.labels ? *targets.labels : kNoLabels;
  const PairwiseTargets* pairs = targets.pairs;
  if (pairs)
    validatePairwise(*pairs, rows, M);
  else
    validateLabels(labels, rows, M);
  for (uint32_t b : x.index)
    if (b >= inputDim) throw Error(ErrorCode::InvalidArgument, "feature index beyond the input dimension");

  SplitMix64 rng(opt.seed);
  // Hold out a validation slice, chosen by a seeded shuffle.
  std::vector<uint32_t> order(rows);
  for (uint32_t i = 0; i < rows; ++i) order[i] = i;
  for (uint32_t i = rows; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  uint32_t valRows = rows >= 20 ? static_cast<uint32_t>(rows * opt.validationFraction) : 0;
  std::vector<uint32_t> val(order.begin(), order.begin() + valRows);
  std::vector<uint32_t> train(order.begin() + valRows, order.end());

  // Initialise. Rows are L2-normalised, so a table entry's scale is the pre-activation's scale.
  DenseNet net;
  net.inputDim = inputDim;
  const bool linear = opt.hidden == 0;
  const uint32_t W0 = linear ? M : opt.hidden;
  net.width0 = W0;
  net.hiddenRelu = opt.hiddenRelu;
  net.table.resize(static_cast<size_t>(inputDim) * W0);
  // mf (no ReLU) starts smaller: its projection is a plain low-rank linear map, and large random
  // directions there are noise every prompt carries into every model's score.
  const float tableStd = linear ? 0.01f : opt.hiddenRelu ? 0.5f : 0.1f;
  for (auto& w : net.table) w = tableStd * rng.normal();
  net.tableBias.assign(W0, 0.f);
  if (!linear) {
    DenseLayer l;
    l.in = W0;
    l.out = M;
    l.weight.resize(static_cast<size_t>(W0) * M);
    const float std1 = std::sqrt(2.f / (W0 + M));
    for (auto& w : l.weight) w = std1 * rng.normal();
    l.bias.assign(M, 0.f);
    net.layers.push_back(std::move(l));
  }
  // Start each output at the base rate of its model: the first epochs then learn what varies.
  // (Battles only identify differences between models: their biases start at 0.)
  if (!pairs) {
    std::vector<double> sum(M, 0);
    std::vector<size_t> cnt(M, 0);
    for (uint32_t r : train)
      for (uint32_t m = 0; m < M; ++m) {
        float y = labels[static_cast<size_t>(r) * M + m];
        if (!std::isnan(y)) sum[m] += y, ++cnt[m];
      }
    std::vector<float>& outBias = linear ? net.tableBias : net.layers[0].bias;
    for (uint32_t m = 0; m < M; ++m) {
      double p = cnt[m] ? sum[m] / cnt[m] : 0.5;
      p = std::min(std::max(p, 1e-3), 1 - 1e-3);
      outBias[m] = static_cast<float>(std::log(p / (1 - p)));
    }
  }

  Adam adamTable(net.table.size(), opt.learningRate, opt.weightDecay);
  Adam adamTableBias(W0, opt.learningRate, 0);
  Adam adamW1(linear ? 0 : net.layers[0].weight.size(), opt.learningRate, opt.weightDecay);
  Adam adamB1(linear ? 0 : M, opt.learningRate, 0);

  // Gradient accumulators. The table's gradient is sparse: only rows the batch touched.
  std::vector<float> gTable(net.table.size(), 0.f);
  std::vector<uint8_t> rowTouched(inputDim, 0);
  std::vector<uint32_t> touched;
  std::vector<float> gTableBias(W0), gW1(linear ? 0 : net.layers[0].weight.size()), gB1(linear ? 0 : M);
  std::vector<float> z0(W0), z1(linear ? 0 : M), dz0(W0), dz1(M);

  DenseNet best = net;
  double bestLoss = std::numeric_limits<double>::infinity();
  uint32_t sinceBest = 0;
  uint64_t step = 0;
  TrainReport rep;
  rep.trainRows = static_cast<uint32_t>(train.size());
  rep.validationRows = valRows;

  for (uint32_t epoch = 1; epoch <= opt.maxEpochs; ++epoch) {
    for (uint32_t i = static_cast<uint32_t>(train.size()); i > 1; --i) std::swap(train[i - 1], train[rng.below(i)]);
    double epochLoss = 0;
    size_t epochCount = 0;
    for (size_t start = 0; start < train.size(); start += opt.batchSize) {
      const size_t stop = std::min(train.size(), start + opt.batchSize);
      std::fill(gTableBias.begin(), gTableBias.end(), 0.f);
      std::fill(gW1.begin(), gW1.end(), 0.f);
      std::fill(gB1.begin(), gB1.end(), 0.f);
      size_t observed = pairs ? stop - start : 0;
      if (!pairs)
        for (size_t i = start; i < stop; ++i)
          for (uint32_t m = 0; m < M; ++m) observed += !std::isnan(labels[static_cast<size_t>(train[i]) * M + m]);
      if (observed == 0) continue;
      const float scale = 1.f / observed;

      for (size_t i = start; i < stop; ++i) {
        const uint32_t r = train[i];
        forwardRow(net, x, r, z0, z1);
        const float* z = linear ? z0.data() : z1.data();
        if (pairs) {
          const uint32_t a = pairs->a[r], b = pairs->b[r];
          const float d = z[a] - z[b], y = pairs->y[r];
          epochLoss += bceFromLogit(d, y);
          ++epochCount;
          std::fill(dz1.begin(), dz1.end(), 0.f);
          dz1[a] = (sigmoid(d) - y) * scale;
          dz1[b] = -dz1[a];
        } else {
          for (uint32_t m = 0; m < M; ++m) {
            float y = labels[static_cast<size_t>(r) * M + m];
            if (std::isnan(y)) {
              dz1[m] = 0;
              continue;
            }
            epochLoss += bceFromLogit(z[m], y);
            ++epochCount;
            dz1[m] = (sigmoid(z[m]) - y) * scale;
          }
        }
        if (linear) {
          std::memcpy(dz0.data(), dz1.data(), M * sizeof(float));
        } else {
          const DenseLayer& l = net.layers[0];
          for (uint32_t m = 0; m < M; ++m) gB1[m] += dz1[m];
          for (uint32_t h = 0; h < W0; ++h) {
            const bool active = !opt.hiddenRelu || z0[h] > 0;
            float a = active ? z0[h] : 0;
            const float* w = l.weight.data() + static_cast<size_t>(h) * M;
            float* g = gW1.data() + static_cast<size_t>(h) * M;
            float back = 0;
            for (uint32_t m = 0; m < M; ++m) {
              g[m] += a * dz1[m];
              back += w[m] * dz1[m];
            }
            dz0[h] = active ? back : 0;
          }
        }
        for (uint32_t h = 0; h < W0; ++h) gTableBias[h] += dz0[h];
        for (uint32_t k = x.rowStart[r]; k < x.rowStart[r + 1]; ++k) {
          const uint32_t b = x.index[k];
          if (!rowTouched[b]) {
            rowTouched[b] = 1;
            touched.push_back(b);
          }
          float* g = gTable.data() + static_cast<size_t>(b) * W0;
          const float v = x.value[k];
          for (uint32_t h = 0; h < W0; ++h) g[h] += v * dz0[h];
        }
      }

      ++step;
      const float c1 = 1.f - std::pow(adamTable.beta1, static_cast<float>(step));
      const float c2 = 1.f - std::pow(adamTable.beta2, static_cast<float>(step));
      // Lazy Adam on the table: only touched rows move (as sparse Adam does), which keeps an
      // epoch proportional to the data, not to the 2^k x width table.
      for (uint32_t b : touched) {
        const size_t off = static_cast<size_t>(b) * W0;
        adamTable.step(net.table.data() + off, gTable.data() + off, off, off + W0, c1, c2, true);
        std::fill(gTable.begin() + off, gTable.begin() + off + W0, 0.f);
        rowTouched[b] = 0;
      }
      touched.clear();
      adamTableBias.step(net.tableBias.data(), gTableBias.data(), 0, W0, c1, c2, false);
      if (!linear) {
        adamW1.step(net.layers[0].weight.data(), gW1.data(), 0, gW1.size(), c1, c2, true);
        adamB1.step(net.layers[0].bias.data(), gB1.data(), 0, M, c1, c2, false);
      }
    }

    EpochInfo info;
    info.epoch = epoch;
    info.maxEpochs = opt.maxEpochs;
    info.trainLoss = epochCount ? epochLoss / epochCount : 0;
    info.validationLoss =
        val.empty() ? std::numeric_limits<double>::quiet_NaN() : meanCrossEntropy(net, x, targets, val);
    rep.history.push_back(info);
    rep.epochs = epoch;
    rep.finalTrainLoss = info.trainLoss;
    if (progress && !progress(info)) throw Error(ErrorCode::InvalidArgument, "training cancelled");
    if (val.empty()) continue;
    if (info.validationLoss < bestLoss - 1e-6) {
      bestLoss = info.validationLoss;
      best = net;
      rep.bestEpoch = epoch;
      sinceBest = 0;
    } else if (++sinceBest >= opt.patience) {
      rep.stoppedEarly = true;
      break;
    }
  }
  if (val.empty()) {
    best = std::move(net);
    rep.bestEpoch = rep.epochs;
    bestLoss = std::numeric_limits<double>::quiet_NaN();
  }
  rep.bestValidationLoss = bestLoss;
  if (report) *report = std::move(rep);
  return best;
}

}  // namespace routecore
