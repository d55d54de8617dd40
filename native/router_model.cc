#include "router_model.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "error.h"

namespace routecore {

namespace {

// Rows per task when a batch is split across threads: big enough to amortise the hand-off.
constexpr size_t kRowsPerTask = 64;

uint32_t metaUint(const Artifact& a, const std::string& key) {
  const std::string& v = a.requireMeta(key);
  char* end = nullptr;
  unsigned long x = std::strtoul(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || x > 0xFFFFFFFFul)
    throw Error(ErrorCode::BadArtifact, "metadata \"" + key + "\" is not an unsigned integer: \"" + v + "\"");
  return static_cast<uint32_t>(x);
}

// Per-thread scratch so concurrent score() calls never share buffers.
EncodeScratch& threadScratch() {
  thread_local EncodeScratch scratch;
  return scratch;
}

}  // namespace

void validatePrompts(const char* utf8, size_t bytes, const uint32_t* offsets, size_t n) {
  (void)utf8;
  if (offsets[0] != 0) throw Error(ErrorCode::InvalidArgument, "offsets[0] must be 0");
  for (size_t i = 0; i < n; ++i) {
    if (offsets[i + 1] < offsets[i] || offsets[i + 1] > bytes)
      throw Error(ErrorCode::InvalidArgument, "offsets[" + std::to_string(i + 1) + "] is out of order or past the text");
    size_t len = offsets[i + 1] - offsets[i];
    if (len == 0) throw Error(ErrorCode::InvalidArgument, "prompt " + std::to_string(i) + " is empty");
    if (len > kMaxPromptBytes)
      throw Error(ErrorCode::InvalidArgument, "prompt " + std::to_string(i) + " is " + std::to_string(len) +
                                                  " bytes, over the limit of " + std::to_string(kMaxPromptBytes));
  }
}

RouterModel::RouterModel(std::unique_ptr<HashingEncoder> encoder, std::string predictor, DenseNet net,
                         std::map<std::string, std::string> metadata, std::shared_ptr<Backend> backend,
                         std::shared_ptr<ThreadPool> pool, std::vector<float> clusterScores)
    : encoder_(std::move(encoder)),
      clusterScores_(std::move(clusterScores)),
      predictor_(std::move(predictor)),
      net_(std::move(net)),
      metadata_(std::move(metadata)),
      backend_(std::move(backend)),
      pool_(std::move(pool)) {
  if (encoder_ && net_.inputDim != encoder_->config().buckets())
    throw Error(ErrorCode::BadArtifact, "predictor input dimension " + std::to_string(net_.inputDim) +
                                            " does not match the encoder's " +
                                            std::to_string(encoder_->config().buckets()) + " buckets");
  if (predictor_ == "kmeans") {
    if (!net_.layers.empty() || net_.width0 == 0 || clusterScores_.empty() || clusterScores_.size() % net_.width0 != 0)
      throw Error(ErrorCode::BadArtifact, "kmeans router has inconsistent centroid and cluster-score tensors");
    models_ = static_cast<uint32_t>(clusterScores_.size() / net_.width0);
  } else {
    models_ = net_.outputs();
  }
  describeInMetadata();
  executor_ = backend_->prepare(net_);
  backendName_ = backend_->name();
}

std::unique_ptr<RouterModel> RouterModel::fromArtifact(const Artifact& a, std::shared_ptr<Backend> backend,
                                                       std::shared_ptr<ThreadPool> pool) {
  const std::string& enc = a.requireMeta("encoder");
  std::unique_ptr<HashingEncoder> encoder;
  int64_t V;
  if (enc == "hashing") {
    HashingConfig cfg;
    cfg.log2Buckets = metaUint(a, "encoder.log2_buckets");
    cfg.wordNgramMax = metaUint(a, "encoder.word_ngram_max");
    cfg.charNgramMin = metaUint(a, "encoder.char_ngram_min");
    cfg.charNgramMax = metaUint(a, "encoder.char_ngram_max");
    try {
      cfg.validate();
    } catch (const Error& e) {
      throw Error(ErrorCode::BadArtifact, std::string("bad encoder metadata: ") + e.what());
    }
    V = cfg.buckets();
    encoder = std::make_unique<HashingEncoder>(cfg, a.require("encoder.idf", {V}).data);
  } else if (enc == "precomputed") {
    V = metaUint(a, "encoder.dim");
    if (V == 0 || V > (1 << 20)) throw Error(ErrorCode::BadArtifact, "metadata \"encoder.dim\" must be in [1, 2^20]");
  } else {
    throw Error(ErrorCode::BadArtifact,
                "encoder \"" + enc + "\" is not supported by this build (expected \"hashing\" or \"precomputed\")");
  }

  const std::string& predictor = a.requireMeta("predictor");
  const uint32_t models = metaUint(a, "predictor.outputs");
  if (models == 0) throw Error(ErrorCode::BadArtifact, "metadata \"predictor.outputs\" is 0");
  DenseNet net;
  net.inputDim = static_cast<uint32_t>(V);
  if (predictor == "linear") {
    net.width0 = models;
    const Tensor& table = a.require("linear.weight", {V, models});
    net.table = table.data;
    net.tableIsHalf = table.storeHalf;
    net.tableBias = a.require("linear.bias", {models}).data;
  } else if (predictor == "mlp") {
    const uint32_t hidden = metaUint(a, "predictor.hidden");
    if (hidden == 0) throw Error(ErrorCode::BadArtifact, "metadata \"predictor.hidden\" is 0");
    net.width0 = hidden;
    const Tensor& table = a.require("mlp.table", {V, hidden});
    net.table = table.data;
    net.tableIsHalf = table.storeHalf;
    net.tableBias = a.require("mlp.table_bias", {hidden}).data;
    DenseLayer l;
    l.in = hidden;
    l.out = models;
    l.weight = a.require("mlp.out_weight", {hidden, models}).data;
    l.bias = a.require("mlp.out_bias", {models}).data;
    net.layers.push_back(std::move(l));
  } else if (predictor == "kmeans") {
    const uint32_t clusters = metaUint(a, "predictor.clusters");
    if (clusters == 0) throw Error(ErrorCode::BadArtifact, "metadata \"predictor.clusters\" is 0");
    const Tensor& centroids = a.require("kmeans.centroids", {V, clusters});
    net.width0 = clusters;
    net.table = centroids.data;
    net.tableIsHalf = centroids.storeHalf;
    net.tableBias.assign(clusters, 0.f);
    std::vector<float> clusterScores = a.require("kmeans.cluster_scores", {clusters, models}).data;
    return std::make_unique<RouterModel>(std::move(encoder), predictor, std::move(net), a.metadata, std::move(backend),
                                         std::move(pool), std::move(clusterScores));
  } else {
    throw Error(ErrorCode::BadArtifact, "predictor \"" + predictor + "\" is not supported by this build");
  }
  return std::make_unique<RouterModel>(std::move(encoder), predictor, std::move(net), a.metadata, std::move(backend),
                                       std::move(pool));
}

void RouterModel::setMetadata(const std::string& key, const std::string& value) {
  if (key.empty() || key.rfind("format", 0) == 0 || key.rfind("encoder", 0) == 0 || key.rfind("predictor", 0) == 0)
    throw Error(ErrorCode::InvalidArgument, "metadata key \"" + key + "\" is reserved for the core");
  metadata_[key] = value;
}

size_t RouterModel::weightBytes() const {
  size_t n = net_.table.size() + net_.tableBias.size();
  for (const auto& l : net_.layers) n += l.weight.size() + l.bias.size();
  if (encoder_) n += encoder_->idf().size();
  return n * sizeof(float);
}

void RouterModel::requireHashing(const char* what) const {
  if (!encoder_)
    throw Error(ErrorCode::InvalidArgument, std::string(what) +
                                                ": this router was trained on precomputed embeddings; pass embeddings, not text");
}

void RouterModel::describeInMetadata() {
  if (encoder_) {
    const HashingConfig& cfg = encoder_->config();
    metadata_["encoder"] = "hashing";
    metadata_["encoder.log2_buckets"] = std::to_string(cfg.log2Buckets);
    metadata_["encoder.word_ngram_max"] = std::to_string(cfg.wordNgramMax);
    metadata_["encoder.char_ngram_min"] = std::to_string(cfg.charNgramMin);
    metadata_["encoder.char_ngram_max"] = std::to_string(cfg.charNgramMax);
  } else {
    metadata_["encoder"] = "precomputed";
    metadata_["encoder.dim"] = std::to_string(net_.inputDim);
  }
  metadata_["predictor"] = predictor_;
  metadata_["predictor.outputs"] = std::to_string(models_);
  if (!net_.layers.empty()) metadata_["predictor.hidden"] = std::to_string(net_.width0);
  if (predictor_ == "kmeans") metadata_["predictor.clusters"] = std::to_string(net_.width0);
  metadata_["format"] = kArtifactFormatName;
  metadata_["format_version"] = std::to_string(kArtifactFormatVersion);
}

Artifact RouterModel::toArtifact(bool halfPrecision) const {
  Artifact a;
  a.metadata = metadata_;
  const int64_t V = net_.inputDim;
  if (encoder_) a.tensors.push_back({"encoder.idf", {V}, encoder_->idf(), false});
  if (predictor_ == "kmeans") {
    a.tensors.push_back({"kmeans.centroids", {V, net_.width0}, net_.table, halfPrecision});
    a.tensors.push_back({"kmeans.cluster_scores", {net_.width0, models_}, clusterScores_, false});
  } else if (predictor_ == "linear") {
    a.tensors.push_back({"linear.weight", {V, net_.width0}, net_.table, halfPrecision});
    a.tensors.push_back({"linear.bias", {net_.width0}, net_.tableBias, false});
  } else {
    const DenseLayer& l = net_.layers.at(0);
    a.tensors.push_back({"mlp.table", {V, net_.width0}, net_.table, halfPrecision});
    a.tensors.push_back({"mlp.table_bias", {net_.width0}, net_.tableBias, false});
    a.tensors.push_back({"mlp.out_weight", {l.in, l.out}, l.weight, false});
    a.tensors.push_back({"mlp.out_bias", {l.out}, l.bias, false});
  }
  return a;
}

void RouterModel::encode(const char* utf8, const uint32_t* offsets, size_t n, CsrBatch& out) const {
  requireHashing("encode");
  EncodeScratch& scratch = threadScratch();
  for (size_t i = 0; i < n; ++i) encoder_->encode(utf8 + offsets[i], offsets[i + 1] - offsets[i], scratch, out);
}

void validateEmbeddings(const float* x, size_t rows, uint32_t dim) {
  for (size_t i = 0; i < rows * dim; ++i)
    if (!std::isfinite(x[i]))
      throw Error(ErrorCode::InvalidArgument, "embedding row " + std::to_string(i / dim) + ", column " +
                                                  std::to_string(i % dim) + " is " +
                                                  (std::isnan(x[i]) ? "NaN" : "infinite") + "; embeddings must be finite");
}

void RouterModel::scoreChunk(const CsrBatch* sparse, const float* dense, size_t rows, float* out) const {
  if (clusterScores_.empty()) {
    if (sparse) executor_->forward(*sparse, out);
    else executor_->forwardDense(dense, rows, out);
    return;
  }
  // kmeans: the product gives sigmoid(cosine) per centroid; the sigmoid keeps the order, so the
  // largest is the nearest centroid, whose scores the prompt gets.
  const uint32_t k = net_.width0;
  thread_local std::vector<float> sims;
  sims.resize(rows * k);
  if (sparse) executor_->forward(*sparse, sims.data());
  else executor_->forwardDense(dense, rows, sims.data());
  for (size_t r = 0; r < rows; ++r) {
    const float* s = sims.data() + r * k;
    uint32_t best = 0;
    for (uint32_t c = 1; c < k; ++c)
      if (s[c] > s[best]) best = c;
    std::copy(clusterScores_.begin() + static_cast<size_t>(best) * models_,
              clusterScores_.begin() + static_cast<size_t>(best + 1) * models_, out + r * models_);
  }
}

void RouterModel::scoreEmbeddings(const float* x, size_t n, float* out) const {
  if (encoder_)
    throw Error(ErrorCode::InvalidArgument, "this router encodes text itself (hashing encoder); pass prompts, not embeddings");
  const uint32_t dim = net_.inputDim, M = outputs();
  validateEmbeddings(x, n, dim);
  const size_t tasks = (n + kRowsPerTask - 1) / kRowsPerTask;
  auto run = [&](size_t task) {
    const size_t begin = task * kRowsPerTask, end = std::min(n, begin + kRowsPerTask);
    scoreChunk(nullptr, x + begin * dim, end - begin, out + begin * M);
  };
  if (tasks <= 1) {
    if (n) run(0);
  } else {
    pool_->parallelFor(tasks, run);
  }
}

void RouterModel::score(const char* utf8, const uint32_t* offsets, size_t n, float* out) const {
  requireHashing("score");
  const uint32_t M = outputs();
  const size_t tasks = (n + kRowsPerTask - 1) / kRowsPerTask;
  auto run = [&](size_t task) {
    const size_t begin = task * kRowsPerTask, end = std::min(n, begin + kRowsPerTask);
    thread_local CsrBatch batch;
    batch.clear();
    encode(utf8, offsets + begin, end - begin, batch);
    // encode() reads offsets relative to the buffer start, so the slice above stays valid.
    scoreChunk(&batch, nullptr, end - begin, out + begin * M);
  };
  if (tasks <= 1) {
    if (n) run(0);
  } else {
    pool_->parallelFor(tasks, run);
  }
}

std::unique_ptr<RouterModel> trainRouter(const TrainInput& in, std::shared_ptr<Backend> backend,
                                         std::shared_ptr<ThreadPool> pool, TrainReport* report,
                                         const ProgressFn& progress) {
  std::unique_ptr<HashingEncoder> encoder;
  CsrBatch x;
  size_t rows;
  uint32_t inputDim;
  if (!in.prompts.empty()) {
    in.encoder.validate();
    rows = in.prompts.size();
    encoder = std::make_unique<HashingEncoder>(in.encoder, HashingEncoder::fitIdf(in.encoder, in.prompts));
    EncodeScratch scratch;
    for (const auto& p : in.prompts) encoder->encode(p.data(), p.size(), scratch, x);
    inputDim = in.encoder.buckets();
  } else {
    if (in.embeddingDim == 0 || in.embeddings.empty() || in.embeddings.size() % in.embeddingDim != 0)
      throw Error(ErrorCode::BadData, "no training prompts or embeddings");
    rows = in.embeddings.size() / in.embeddingDim;
    validateEmbeddings(in.embeddings.data(), rows, in.embeddingDim);
    appendDenseRows(in.embeddings.data(), rows, in.embeddingDim, x);
    inputDim = in.embeddingDim;
  }
  if (in.labels.size() != rows * in.models)
    throw Error(ErrorCode::InvalidArgument, "labels must hold rows x models values");
  std::string predictor = !in.predictor.empty() ? in.predictor : in.options.hidden == 0 ? "linear" : "mlp";
  if (predictor == "kmeans") {
    KmeansModel km = trainKmeans(x, inputDim, in.labels, in.models, in.kmeans);
    DenseNet net;
    net.inputDim = inputDim;
    net.width0 = km.clusters;
    net.table = std::move(km.centroidTable);
    net.tableBias.assign(km.clusters, 0.f);
    if (report) {
      *report = TrainReport{};
      report->trainRows = static_cast<uint32_t>(x.rows());
      report->bestValidationLoss = std::numeric_limits<double>::quiet_NaN();
    }
    auto model = std::make_unique<RouterModel>(std::move(encoder), predictor, std::move(net), in.metadata,
                                               std::move(backend), std::move(pool), std::move(km.clusterScores));
    model->setMetadata("kmeans.objective", std::to_string(km.objective));
    return model;
  }
  if (predictor != "mlp" && predictor != "linear")
    throw Error(ErrorCode::InvalidArgument, "unknown predictor \"" + predictor + "\": expected mlp, linear or kmeans");
  if ((predictor == "mlp") != (in.options.hidden > 0))
    throw Error(ErrorCode::InvalidArgument, "options.hidden must be > 0 for mlp and 0 for linear");
  DenseNet net = trainNet(x, in.labels, in.models, inputDim, in.options, report, progress);
  return std::make_unique<RouterModel>(std::move(encoder), predictor, std::move(net), in.metadata, std::move(backend),
                                       std::move(pool));
}

}  // namespace routecore
