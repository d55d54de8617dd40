#include "router_model.h"

#include <algorithm>
#include <cstdlib>

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

RouterModel::RouterModel(HashingEncoder encoder, std::string predictor, DenseNet net,
                         std::map<std::string, std::string> metadata, std::shared_ptr<Backend> backend,
                         std::shared_ptr<ThreadPool> pool)
    : encoder_(std::move(encoder)),
      predictor_(std::move(predictor)),
      net_(std::move(net)),
      metadata_(std::move(metadata)),
      backend_(std::move(backend)),
      pool_(std::move(pool)) {
  if (net_.inputDim != encoder_.config().buckets())
    throw Error(ErrorCode::BadArtifact, "predictor input dimension " + std::to_string(net_.inputDim) +
                                            " does not match the encoder's " +
                                            std::to_string(encoder_.config().buckets()) + " buckets");
  executor_ = backend_->prepare(net_);
  backendName_ = backend_->name();
}

std::unique_ptr<RouterModel> RouterModel::fromArtifact(const Artifact& a, std::shared_ptr<Backend> backend,
                                                       std::shared_ptr<ThreadPool> pool) {
  const std::string& enc = a.requireMeta("encoder");
  if (enc != "hashing")
    throw Error(ErrorCode::BadArtifact, "encoder \"" + enc + "\" is not supported by this build (expected \"hashing\")");
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
  const int64_t V = cfg.buckets();
  const Tensor& idf = a.require("encoder.idf", {V});
  HashingEncoder encoder(cfg, idf.data);

  const std::string& predictor = a.requireMeta("predictor");
  const uint32_t models = metaUint(a, "predictor.outputs");
  if (models == 0) throw Error(ErrorCode::BadArtifact, "metadata \"predictor.outputs\" is 0");
  DenseNet net;
  net.inputDim = static_cast<uint32_t>(V);
  if (predictor == "linear") {
    net.width0 = models;
    net.table = a.require("linear.weight", {V, models}).data;
    net.tableBias = a.require("linear.bias", {models}).data;
  } else if (predictor == "mlp") {
    const uint32_t hidden = metaUint(a, "predictor.hidden");
    if (hidden == 0) throw Error(ErrorCode::BadArtifact, "metadata \"predictor.hidden\" is 0");
    net.width0 = hidden;
    net.table = a.require("mlp.table", {V, hidden}).data;
    net.tableBias = a.require("mlp.table_bias", {hidden}).data;
    DenseLayer l;
    l.in = hidden;
    l.out = models;
    l.weight = a.require("mlp.out_weight", {hidden, models}).data;
    l.bias = a.require("mlp.out_bias", {models}).data;
    net.layers.push_back(std::move(l));
  } else {
    throw Error(ErrorCode::BadArtifact, "predictor \"" + predictor + "\" is not supported by this build");
  }
  return std::make_unique<RouterModel>(std::move(encoder), predictor, std::move(net), a.metadata, std::move(backend),
                                       std::move(pool));
}

Artifact RouterModel::toArtifact(bool halfPrecision) const {
  Artifact a;
  a.metadata = metadata_;
  const HashingConfig& cfg = encoder_.config();
  a.metadata["encoder"] = "hashing";
  a.metadata["encoder.log2_buckets"] = std::to_string(cfg.log2Buckets);
  a.metadata["encoder.word_ngram_max"] = std::to_string(cfg.wordNgramMax);
  a.metadata["encoder.char_ngram_min"] = std::to_string(cfg.charNgramMin);
  a.metadata["encoder.char_ngram_max"] = std::to_string(cfg.charNgramMax);
  a.metadata["predictor"] = predictor_;
  a.metadata["predictor.outputs"] = std::to_string(net_.outputs());
  const int64_t V = net_.inputDim;
  a.tensors.push_back({"encoder.idf", {V}, encoder_.idf(), false});
  if (predictor_ == "linear") {
    a.tensors.push_back({"linear.weight", {V, net_.width0}, net_.table, halfPrecision});
    a.tensors.push_back({"linear.bias", {net_.width0}, net_.tableBias, false});
  } else {
    const DenseLayer& l = net_.layers.at(0);
    a.metadata["predictor.hidden"] = std::to_string(net_.width0);
    a.tensors.push_back({"mlp.table", {V, net_.width0}, net_.table, halfPrecision});
    a.tensors.push_back({"mlp.table_bias", {net_.width0}, net_.tableBias, false});
    a.tensors.push_back({"mlp.out_weight", {l.in, l.out}, l.weight, false});
    a.tensors.push_back({"mlp.out_bias", {l.out}, l.bias, false});
  }
  return a;
}

void RouterModel::encode(const char* utf8, const uint32_t* offsets, size_t n, CsrBatch& out) const {
  EncodeScratch& scratch = threadScratch();
  for (size_t i = 0; i < n; ++i) encoder_.encode(utf8 + offsets[i], offsets[i + 1] - offsets[i], scratch, out);
}

void RouterModel::score(const char* utf8, const uint32_t* offsets, size_t n, float* out) const {
  const uint32_t M = outputs();
  const size_t tasks = (n + kRowsPerTask - 1) / kRowsPerTask;
  auto run = [&](size_t task) {
    const size_t begin = task * kRowsPerTask, end = std::min(n, begin + kRowsPerTask);
    thread_local CsrBatch batch;
    batch.clear();
    encode(utf8, offsets + begin, end - begin, batch);
    // encode() reads offsets relative to the buffer start, so the slice above stays valid.
    executor_->forward(batch, out + begin * M);
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
  in.encoder.validate();
  if (in.prompts.empty()) throw Error(ErrorCode::BadData, "no training prompts");
  if (in.labels.size() != in.prompts.size() * in.models)
    throw Error(ErrorCode::InvalidArgument, "labels must hold prompts x models values");
  std::vector<float> idf = HashingEncoder::fitIdf(in.encoder, in.prompts);
  HashingEncoder encoder(in.encoder, std::move(idf));
  CsrBatch x;
  EncodeScratch scratch;
  for (const auto& p : in.prompts) encoder.encode(p.data(), p.size(), scratch, x);
  DenseNet net = trainNet(x, in.labels, in.models, in.encoder.buckets(), in.options, report, progress);
  std::string predictor = in.options.hidden == 0 ? "linear" : "mlp";
  return std::make_unique<RouterModel>(std::move(encoder), predictor, std::move(net), in.metadata, std::move(backend),
                                       std::move(pool));
}

}  // namespace routecore
