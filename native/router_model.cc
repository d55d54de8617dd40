#include "router_model.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
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
  // strtoul alone would accept " 5", "+5" and wrap "-1": the text must be digits only.
  if (v.empty() || v[0] < '0' || v[0] > '9' || *end != '\0' || x > 0xFFFFFFFFul)
    throw Error(ErrorCode::BadArtifact, "metadata \"" + key + "\" is not an unsigned integer: \"" + v + "\"");
  return static_cast<uint32_t>(x);
}

// The layout of mlp and mf: a table [inputDim x width] + bias, then one layer [width x models] +
// bias. `widthKey` is the metadata entry holding the width; names: table, table bias, layer
// weight, layer bias. net.inputDim must be set.
void readTableAndLayer(Artifact& a, const std::string& widthKey, const std::array<const char*, 4>& names,
                       uint32_t models, DenseNet& net) {
  const uint32_t width = metaUint(a, widthKey);
  if (width == 0) throw Error(ErrorCode::BadArtifact, "metadata \"" + widthKey + "\" is 0");
  net.width0 = width;
  Tensor& table = a.require(names[0], {net.inputDim, width});
  net.tableIsHalf = table.storeHalf;
  net.table = std::move(table.data);
  net.tableBias = std::move(a.require(names[1], {width}).data);
  DenseLayer l;
  l.in = width;
  l.out = models;
  l.weight = std::move(a.require(names[2], {width, models}).data);
  l.bias = std::move(a.require(names[3], {models}).data);
  net.layers.push_back(std::move(l));
}

// The static encoder of a router file: carried inside (tensors "encoder.static.*" and the
// tokenizer.json text in metadata) or named by it and passed in by the caller (`external`).
std::shared_ptr<const StaticEncoder> readStaticEncoder(Artifact& a, std::shared_ptr<const StaticEncoder> external) {
  const uint32_t dim = metaUint(a, "encoder.static.dim");
  const uint32_t rows = metaUint(a, "encoder.static.rows");
  const uint32_t maxTokens = metaUint(a, "encoder.static.max_tokens");
  auto embedded = a.metadata.find("encoder.static.embedded");
  if (embedded != a.metadata.end() && embedded->second == "false") {
    auto model = a.metadata.find("encoder.static.model");
    const std::string named = model == a.metadata.end() ? std::string("its static model") : "\"" + model->second + "\"";
    if (!external)
      throw Error(ErrorCode::ModelMismatch, "this router was trained with the static encoder " + named +
                                                ", which the file does not carry: load it with that model directory");
    auto precision = a.metadata.find("encoder.static.precision");
    if (precision != a.metadata.end() && (precision->second == "f16") != external->tables().storedHalf)
      throw Error(ErrorCode::ModelMismatch, "the static model given holds its table in " +
                                                std::string(external->tables().storedHalf ? "f16" : "f32") +
                                                ", but this router was trained with " + named + " in " +
                                                precision->second);
    if (external->dim() != dim || external->tables().rows != rows)
      throw Error(ErrorCode::ModelMismatch, "the static model given has a " + std::to_string(external->tables().rows) +
                                                " x " + std::to_string(external->dim()) +
                                                " table, but this router was trained with " + named + " (" +
                                                std::to_string(rows) + " x " + std::to_string(dim) + ")");
    return external;
  }
  StaticTables t;
  Tensor& e = a.require("encoder.static.embeddings", {rows, dim});
  t.rows = rows;
  t.dim = dim;
  t.storedHalf = e.storeHalf;
  t.embeddings = std::move(e.data);
  if (Tensor* w = const_cast<Tensor*>(a.find("encoder.static.weights"))) {
    if (w->shape.size() != 1) throw Error(ErrorCode::BadArtifact, "tensor \"encoder.static.weights\" must be 1-D");
    t.weights = std::move(w->data);
  }
  if (const Tensor* m = a.find("encoder.static.mapping")) {
    if (m->shape.size() != 1) throw Error(ErrorCode::BadArtifact, "tensor \"encoder.static.mapping\" must be 1-D");
    for (float v : m->data) {
      if (!(v >= 0 && v < static_cast<float>(rows) && v == std::floor(v)))
        throw Error(ErrorCode::BadArtifact, "tensor \"encoder.static.mapping\" holds a value that is not a row index");
      t.mapping.push_back(static_cast<uint32_t>(v));
    }
  }
  try {
    return std::make_shared<StaticEncoder>(a.requireMeta("encoder.static.tokenizer"), std::move(t), maxTokens,
                                           "the router's static encoder");
  } catch (const Error& err) {
    if (err.code() != ErrorCode::BadModel) throw;
    throw Error(ErrorCode::BadArtifact, err.what());
  }
}

void writeStaticEncoder(const StaticEncoder& s, Artifact& a, bool halfPrecision) {
  auto embedded = a.metadata.find("encoder.static.embedded");
  if (embedded != a.metadata.end() && embedded->second == "false") return;
  const StaticTables& t = s.tables();
  a.metadata["encoder.static.tokenizer"] = s.tokenizerJson();
  a.tensors.push_back({"encoder.static.embeddings", {t.rows, t.dim}, t.embeddings, t.storedHalf || halfPrecision});
  if (!t.weights.empty())
    a.tensors.push_back({"encoder.static.weights", {static_cast<int64_t>(t.weights.size())}, t.weights, false});
  if (!t.mapping.empty())
    a.tensors.push_back({"encoder.static.mapping",
                         {static_cast<int64_t>(t.mapping.size())},
                         std::vector<float>(t.mapping.begin(), t.mapping.end()),
                         false});
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
      throw Error(ErrorCode::InvalidArgument,
                  "offsets[" + std::to_string(i + 1) + "] is out of order or past the text");
    size_t len = offsets[i + 1] - offsets[i];
    if (len == 0) throw Error(ErrorCode::InvalidArgument, "prompt " + std::to_string(i) + " is empty");
    if (len > kMaxPromptBytes)
      throw Error(ErrorCode::InvalidArgument, "prompt " + std::to_string(i) + " is " + std::to_string(len) +
                                                  " bytes, over the limit of " + std::to_string(kMaxPromptBytes));
  }
}

RouterModel::RouterModel(std::unique_ptr<HashingEncoder> encoder, std::string predictor, DenseNet net,
                         std::map<std::string, std::string> metadata, std::shared_ptr<Backend> backend,
                         std::shared_ptr<ThreadPool> pool, PredictorTables tables,
                         std::shared_ptr<const StaticEncoder> staticEncoder)
    : encoder_(std::move(encoder)),
      staticEncoder_(std::move(staticEncoder)),
      tables_(std::move(tables)),
      predictor_(std::move(predictor)),
      net_(std::move(net)),
      metadata_(std::move(metadata)),
      pool_(std::move(pool)),
      backend_(std::move(backend)) {
  if (readsText()) {
    const uint32_t features =
        (encoder_ ? encoder_->config().buckets() : 0) + (staticEncoder_ ? staticEncoder_->dim() : 0);
    if (net_.inputDim != features)
      throw Error(ErrorCode::BadArtifact, "predictor input dimension " + std::to_string(net_.inputDim) +
                                              " does not match the " + encoderKind() + " encoder's " +
                                              std::to_string(features) + " features");
  }
  const std::vector<float>& clusterScores = tables_.clusterScores;
  if (predictor_ == "kmeans") {
    if (!net_.layers.empty() || net_.width0 == 0 || clusterScores.empty() || clusterScores.size() % net_.width0 != 0)
      throw Error(ErrorCode::BadArtifact, "kmeans router has inconsistent centroid and cluster-score tensors");
    models_ = static_cast<uint32_t>(clusterScores.size() / net_.width0);
    // The scores a prompt gets are copied from here: they must be probabilities (a file with -0.03
    // here loaded, and routed with it, before the artifact fuzzer found it).
    for (size_t i = 0; i < clusterScores.size(); ++i)
      if (!(clusterScores[i] >= 0 && clusterScores[i] <= 1))
        throw Error(ErrorCode::BadArtifact, "kmeans router: cluster score " + std::to_string(i) + " is " +
                                                std::to_string(clusterScores[i]) + ", outside [0, 1]");
  } else if (predictor_ == "knn") {
    validateKnnTables();
  } else {
    models_ = net_.outputs();
  }
  describeInMetadata();
  backendName_ = backend_->name();
  mayFallBack_ = backendName_ != "cpu";
  try {
    prepareOn(*backend_);
  } catch (const Error& e) {
    // A device that cannot take the weights (out of memory, or failed earlier) is a reason to
    // compute on the CPU, not to refuse the router.
    if (!mayFallBack_ || e.code() != ErrorCode::BackendUnavailable) throw;
    fallBackToCpu(e.what());
  }
  if (executor_ && !net_.table.empty()) {
    if (executor_->hostHalfTable() || executor_->hostFloatTable()) {
      std::vector<float>().swap(net_.table);
    } else if (net_.tableIsHalf) {
      tableHalf_.resize(net_.table.size());
      floatsToHalves(net_.table.data(), net_.table.size(), tableHalf_.data());
      std::vector<float>().swap(net_.table);
    }
  }
}

void RouterModel::prepareOn(const Backend& backend) {
  // knn has no network: the projection is hashed on the CPU and the backend does the search.
  if (predictor_ == "knn")
    searcher_ = backend.prepareKnn(tables_.references);
  else
    executor_ = backend.prepare(net_);
  if (staticEncoder_ && predictor_ != "knn") {
    const StaticTables& t = staticEncoder_->tables();
    staticGatherer_ = backend.prepareStatic(t.embeddings.data(), t.rows, t.dim, t.storedHalf);
  }
}

std::shared_ptr<const NetExecutor> RouterModel::currentExecutor() const {
  if (!mayFallBack_) return executor_;
  std::lock_guard<std::mutex> lock(backendMu_);
  return executor_;
}

std::string RouterModel::backendName() const {
  if (!mayFallBack_) return backendName_;
  std::lock_guard<std::mutex> lock(backendMu_);
  return backendName_;
}

std::string RouterModel::fallbackReason() const {
  if (!mayFallBack_) return std::string();
  std::lock_guard<std::mutex> lock(backendMu_);
  return fallbackReason_;
}

void RouterModel::runOnBackend(const std::function<void(const NetExecutor*, const KnnSearcher*)>& fn) const {
  if (!mayFallBack_) return fn(executor_.get(), searcher_.get());
  std::shared_ptr<const NetExecutor> ex;
  std::shared_ptr<const KnnSearcher> se;
  {
    std::lock_guard<std::mutex> lock(backendMu_);
    ex = executor_;
    se = searcher_;
  }
  try {
    return fn(ex.get(), se.get());
  } catch (const Error& e) {
    if (e.code() != ErrorCode::BackendUnavailable) throw;
    fallBackToCpu(e.what());
  }
  {
    std::lock_guard<std::mutex> lock(backendMu_);
    ex = executor_;
    se = searcher_;
  }
  fn(ex.get(), se.get());
}

void RouterModel::fallBackToCpu(const std::string& reason) const {
  std::lock_guard<std::mutex> lock(backendMu_);
  if (!fallbackReason_.empty()) return;  // a concurrent call got here first
  std::shared_ptr<Backend> cpu = makeCpuBackend(pool_ ? pool_->size() : 0);
  if (predictor_ == "knn") {
    searcher_ = cpu->prepareKnn(tables_.references);  // the router holds the table in host memory
  } else {
    // The failed backend kept its weights on the device; the router has the host copy (net_,
    // its table in net_.table or tableHalf_, or the failed executor's host copy).
    DenseNet net = net_;
    if (net.table.empty()) {
      const NetExecutor* failed = executor_.get();
      if (const std::vector<float>* full = failed ? failed->hostFloatTable() : nullptr) {
        net.table = *full;
      } else {
        const std::vector<uint16_t>* half = tableHalf_.empty() && failed ? failed->hostHalfTable() : &tableHalf_;
        if (!half || half->empty()) throw Error(ErrorCode::Internal, "no host copy of the table to fall back on");
        net.table.resize(half->size());
        halvesToFloats(half->data(), half->size(), net.table.data());
      }
    }
    executor_ = cpu->prepare(net);
  }
  staticGatherer_.reset();  // the CPU backend gathers on the calling thread
  fallbackReason_ = "the " + backendName_ + " backend failed: " + reason;
  noteBackendFallback(predictor_ + " router moved from " + backendName_ + " to cpu: " + reason);
  backend_ = std::move(cpu);
  backendName_ = "cpu";
}

std::vector<float> RouterModel::tableFloats() const {
  const std::shared_ptr<const NetExecutor> executor = currentExecutor();
  if (!net_.table.empty() || !executor) return net_.table;
  if (const std::vector<float>* full = executor->hostFloatTable()) return *full;
  const std::vector<uint16_t>* half = tableHalf_.empty() ? executor->hostHalfTable() : &tableHalf_;
  if (!half) return net_.table;
  std::vector<float> out(half->size());
  halvesToFloats(half->data(), half->size(), out.data());
  return out;
}

void RouterModel::validateKnnTables() {
  const PredictorTables& t = tables_;
  auto bad = [](const std::string& m) { throw Error(ErrorCode::BadArtifact, "knn router: " + m); };
  if (!t.references) bad("no reference table");
  const KnnTable& refs = *t.references;
  if (refs.rows == 0 || (!readsText() && refs.dim != net_.inputDim) ||
      refs.data.size() != static_cast<size_t>(refs.rows) * refs.dim)
    bad("the reference table must hold references x " + std::to_string(readsText() ? refs.dim : net_.inputDim) +
        " floats");
  if (t.k < 1 || t.k > std::min(refs.rows, kMaxKnnK))
    bad("k = " + std::to_string(t.k) + " is outside [1, min(references, " + std::to_string(kMaxKnnK) + ")]");
  // Unit rows (or all-zero ones, which a prompt with no features projects to): the searcher's dot
  // products are then cosines in [-1, 1] and cannot overflow. 2e-2 covers F16 rounding.
  for (uint32_t i = 0; i < refs.rows; ++i) {
    const float* row = refs.data.data() + static_cast<size_t>(i) * refs.dim;
    double norm2 = 0;
    for (uint32_t j = 0; j < refs.dim; ++j) norm2 += static_cast<double>(row[j]) * row[j];
    if (!(norm2 == 0 || std::fabs(std::sqrt(norm2) - 1) <= 2e-2))
      bad("reference " + std::to_string(i) + " has L2 norm " + std::to_string(std::sqrt(norm2)) +
          "; references must be unit vectors");
  }
  if (!t.referencePairs.empty()) {
    if (t.referencePairs.size() != static_cast<size_t>(refs.rows) * 3 || t.models < 2)
      bad("the battle table must hold references x 3 values and name at least two models");
    for (uint32_t i = 0; i < refs.rows; ++i) {
      const float* p = t.referencePairs.data() + static_cast<size_t>(i) * 3;
      if (!(p[0] >= 0 && p[0] < t.models && p[0] == std::floor(p[0]) && p[1] >= 0 && p[1] < t.models &&
            p[1] == std::floor(p[1]) && p[0] != p[1] && p[2] >= 0 && p[2] <= 1))
        bad("battle " + std::to_string(i) + " is not (model a, model b, outcome in [0,1]) with a != b < " +
            std::to_string(t.models));
    }
    models_ = t.models;
  } else {
    if (t.modelMeans.empty() || t.referenceScores.size() != static_cast<size_t>(refs.rows) * t.modelMeans.size())
      bad("the score table must hold references x models values and the model means one per model");
    for (size_t i = 0; i < t.referenceScores.size(); ++i)
      if (!(std::isnan(t.referenceScores[i]) || (t.referenceScores[i] >= 0 && t.referenceScores[i] <= 1)))
        bad("score " + std::to_string(i) + " is " + std::to_string(t.referenceScores[i]) + ", outside [0, 1]");
    for (size_t m = 0; m < t.modelMeans.size(); ++m)
      if (!(t.modelMeans[m] >= 0 && t.modelMeans[m] <= 1))
        bad("model mean " + std::to_string(m) + " is outside [0, 1]");
    models_ = static_cast<uint32_t>(t.modelMeans.size());
  }
}

namespace {
// The coverage sketch of a router file, or null when it has none.
std::shared_ptr<const KnnTable> readCoverageSketch(Artifact& a, uint64_t* seed) {
  Tensor* t = const_cast<Tensor*>(a.find("coverage.sketch"));
  if (!t) return nullptr;
  if (t->shape.size() != 2 || t->shape[0] < 1 || t->shape[0] > kCoverageSketchRows || t->shape[1] != kCoverageDim)
    throw Error(ErrorCode::BadArtifact, "tensor \"coverage.sketch\" must be rows x " + std::to_string(kCoverageDim) +
                                            " with 1 <= rows <= " + std::to_string(kCoverageSketchRows));
  const std::string& s = a.requireMeta("coverage.seed");
  char* end = nullptr;
  *seed = std::strtoull(s.c_str(), &end, 10);
  if (s.empty() || s[0] < '0' || s[0] > '9' || *end != '\0')
    throw Error(ErrorCode::BadArtifact, "metadata \"coverage.seed\" is not an unsigned integer: \"" + s + "\"");
  auto table = std::make_shared<KnnTable>();
  table->rows = static_cast<uint32_t>(t->shape[0]);
  table->dim = kCoverageDim;
  table->isHalf = t->storeHalf;
  table->data = std::move(t->data);
  for (uint32_t i = 0; i < table->rows; ++i) {
    double norm2 = 0;
    for (uint32_t j = 0; j < kCoverageDim; ++j)
      norm2 += static_cast<double>(table->data[i * kCoverageDim + j]) * table->data[i * kCoverageDim + j];
    if (!(norm2 == 0 || std::fabs(std::sqrt(norm2) - 1) <= 2e-2))
      throw Error(ErrorCode::BadArtifact, "coverage sketch row " + std::to_string(i) + " is not a unit vector");
  }
  return table;
}
}  // namespace

std::unique_ptr<RouterModel> RouterModel::fromArtifact(Artifact a, std::shared_ptr<Backend> backend,
                                                       std::shared_ptr<ThreadPool> pool,
                                                       std::shared_ptr<const StaticEncoder> external) {
  uint64_t seed = 0;
  std::shared_ptr<const KnnTable> sketch = readCoverageSketch(a, &seed);
  std::unique_ptr<RouterModel> model =
      fromArtifactBody(std::move(a), std::move(backend), std::move(pool), std::move(external));
  if (sketch) {
    if (!model->readsText())
      throw Error(ErrorCode::BadArtifact, "a coverage sketch in a router that does not read text");
    model->setCoverageSketch(std::move(sketch), seed);
  }
  return model;
}

std::unique_ptr<RouterModel> RouterModel::fromArtifactBody(Artifact a, std::shared_ptr<Backend> backend,
                                                           std::shared_ptr<ThreadPool> pool,
                                                           std::shared_ptr<const StaticEncoder> external) {
  const std::string& enc = a.requireMeta("encoder");
  std::unique_ptr<HashingEncoder> encoder;
  std::shared_ptr<const StaticEncoder> staticEncoder;
  int64_t V;
  if (enc == "static" || enc == "mixed") staticEncoder = readStaticEncoder(a, std::move(external));
  if (enc == "hashing" || enc == "mixed") {
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
    encoder = std::make_unique<HashingEncoder>(cfg, std::move(a.require("encoder.idf", {V}).data));
    if (staticEncoder) V += staticEncoder->dim();
  } else if (enc == "static") {
    V = staticEncoder->dim();
  } else if (enc == "precomputed") {
    V = metaUint(a, "encoder.dim");
    if (V == 0 || V > (1 << 20)) throw Error(ErrorCode::BadArtifact, "metadata \"encoder.dim\" must be in [1, 2^20]");
  } else {
    throw Error(
        ErrorCode::BadArtifact,
        "encoder \"" + enc + "\" is not supported by this build (expected hashing, static, mixed or precomputed)");
  }

  const std::string& predictor = a.requireMeta("predictor");
  const uint32_t models = metaUint(a, "predictor.outputs");
  if (models == 0) throw Error(ErrorCode::BadArtifact, "metadata \"predictor.outputs\" is 0");
  DenseNet net;
  net.inputDim = static_cast<uint32_t>(V);
  if (predictor == "linear") {
    net.width0 = models;
    Tensor& table = a.require("linear.weight", {V, models});
    net.tableIsHalf = table.storeHalf;
    net.table = std::move(table.data);
    net.tableBias = std::move(a.require("linear.bias", {models}).data);
  } else if (predictor == "mlp") {
    readTableAndLayer(a, "predictor.hidden", {"mlp.table", "mlp.table_bias", "mlp.out_weight", "mlp.out_bias"}, models,
                      net);
  } else if (predictor == "kmeans") {
    const uint32_t clusters = metaUint(a, "predictor.clusters");
    if (clusters == 0) throw Error(ErrorCode::BadArtifact, "metadata \"predictor.clusters\" is 0");
    Tensor& centroids = a.require("kmeans.centroids", {V, clusters});
    net.width0 = clusters;
    net.tableIsHalf = centroids.storeHalf;
    net.table = std::move(centroids.data);
    net.tableBias.assign(clusters, 0.f);
    PredictorTables tables;
    tables.clusterScores = std::move(a.require("kmeans.cluster_scores", {clusters, models}).data);
    return std::make_unique<RouterModel>(std::move(encoder), predictor, std::move(net), a.metadata, std::move(backend),
                                         std::move(pool), std::move(tables), std::move(staticEncoder));
  } else if (predictor == "mf") {
    readTableAndLayer(a, "predictor.dim",
                      {"mf.projection", "mf.projection_bias", "mf.model_embedding", "mf.model_bias"}, models, net);
    net.hiddenRelu = false;
  } else if (predictor == "knn") {
    PredictorTables tables;
    tables.k = metaUint(a, "predictor.k");
    const bool text = encoder || staticEncoder;
    const uint32_t dim = text ? metaUint(a, "predictor.dim") : static_cast<uint32_t>(V);
    if (text) {
      if (dim == 0 || dim % 8 != 0 || dim > 4096)
        throw Error(ErrorCode::BadArtifact, "metadata \"predictor.dim\" must be a multiple of 8 in [8, 4096]");
      const std::string& seed = a.requireMeta("predictor.seed");
      char* end = nullptr;
      tables.projectionSeed = std::strtoull(seed.c_str(), &end, 10);
      if (seed.empty() || seed[0] < '0' || seed[0] > '9' || *end != '\0')
        throw Error(ErrorCode::BadArtifact, "metadata \"predictor.seed\" is not an unsigned integer: \"" + seed + "\"");
    }
    Tensor* refs = const_cast<Tensor*>(a.find("knn.references"));  // `a` is ours: its data moves out
    if (!refs || refs->shape.size() != 2 || refs->shape[1] != dim || refs->shape[0] < 1 || refs->shape[0] > (1 << 30))
      throw Error(ErrorCode::BadArtifact, "tensor \"knn.references\" must be references x " + std::to_string(dim));
    const int64_t N = refs->shape[0];
    auto table = std::make_shared<KnnTable>();
    table->rows = static_cast<uint32_t>(N);
    table->dim = dim;
    table->isHalf = refs->storeHalf;
    table->data = std::move(refs->data);
    tables.references = std::move(table);
    if (a.requireMeta("predictor.objective") == "pairwise") {
      tables.models = models;
      tables.referencePairs = std::move(a.require("knn.battles", {N, 3}).data);
    } else {
      tables.referenceScores = std::move(a.require("knn.scores", {N, models}).data);
      tables.modelMeans = std::move(a.require("knn.model_means", {models}).data);
    }
    return std::make_unique<RouterModel>(std::move(encoder), predictor, std::move(net), a.metadata, std::move(backend),
                                         std::move(pool), std::move(tables), std::move(staticEncoder));
  } else {
    throw Error(ErrorCode::BadArtifact, "predictor \"" + predictor + "\" is not supported by this build");
  }
  return std::make_unique<RouterModel>(std::move(encoder), predictor, std::move(net), a.metadata, std::move(backend),
                                       std::move(pool), PredictorTables{}, std::move(staticEncoder));
}

void RouterModel::setMetadata(const std::string& key, const std::string& value) {
  if (key.empty() || key.rfind("format", 0) == 0 || key.rfind("encoder", 0) == 0 || key.rfind("predictor", 0) == 0 ||
      key.rfind("coverage", 0) == 0)
    throw Error(ErrorCode::InvalidArgument, "metadata key \"" + key + "\" is reserved for the core");
  metadata_[key] = value;
}

size_t RouterModel::weightBytes() const {
  size_t n = net_.table.size() + net_.tableBias.size() + (tables_.references ? tables_.references->data.size() : 0) +
             tables_.referenceScores.size() + tables_.referencePairs.size() + tables_.clusterScores.size();
  for (const auto& l : net_.layers) n += l.weight.size() + l.bias.size();
  if (encoder_) n += encoder_->idf().size();
  if (staticEncoder_) n += staticEncoder_->weightBytes() / sizeof(float);
  // The table, wherever it is kept: here, or in the backend's host copy the router relies on.
  size_t halves = tableHalf_.size();
  const std::shared_ptr<const NetExecutor> executor = currentExecutor();
  if (executor && (net_.table.empty() || mayFallBack_)) {
    // After a fallback the CPU executor's copy sits beside the router's own.
    if (const std::vector<float>* full = executor->hostFloatTable()) n += full->size();
    if (const std::vector<uint16_t>* half = executor->hostHalfTable()) halves += half->size();
  }
  return n * sizeof(float) + halves * sizeof(uint16_t);
}

void RouterModel::requireHashing(const char* what) const {
  if (!readsText())
    throw Error(ErrorCode::InvalidArgument,
                std::string(what) + ": this router was trained on precomputed embeddings; pass embeddings, not text");
}

void RouterModel::describeInMetadata() {
  if (staticEncoder_) {
    const StaticEncoder& s = *staticEncoder_;
    metadata_["encoder.static.dim"] = std::to_string(s.dim());
    metadata_["encoder.static.rows"] = std::to_string(s.tables().rows);
    metadata_["encoder.static.max_tokens"] = std::to_string(s.maxTokens() == UINT32_MAX ? 0 : s.maxTokens());
    metadata_["encoder.static.tokenizer_model"] = s.tokenizer().modelType();
    metadata_["encoder.static.precision"] = s.tables().storedHalf ? "f16" : "f32";
    if (metadata_.find("encoder.static.embedded") == metadata_.end()) metadata_["encoder.static.embedded"] = "true";
  }
  // The tokenizer.json text rides in the file's metadata but is the encoder's, not the router's
  // (toArtifact writes it back): metadata() stays small.
  metadata_.erase("encoder.static.tokenizer");
  if (encoder_) {
    const HashingConfig& cfg = encoder_->config();
    metadata_["encoder"] = staticEncoder_ ? "mixed" : "hashing";
    metadata_["encoder.log2_buckets"] = std::to_string(cfg.log2Buckets);
    metadata_["encoder.word_ngram_max"] = std::to_string(cfg.wordNgramMax);
    metadata_["encoder.char_ngram_min"] = std::to_string(cfg.charNgramMin);
    metadata_["encoder.char_ngram_max"] = std::to_string(cfg.charNgramMax);
  } else if (staticEncoder_) {
    metadata_["encoder"] = "static";
  } else {
    metadata_["encoder"] = "precomputed";
    metadata_["encoder.dim"] = std::to_string(net_.inputDim);
  }
  metadata_["predictor"] = predictor_;
  metadata_["predictor.outputs"] = std::to_string(models_);
  if (predictor_ == "mlp") metadata_["predictor.hidden"] = std::to_string(net_.width0);
  if (predictor_ == "mf") metadata_["predictor.dim"] = std::to_string(net_.width0);
  if (predictor_ == "kmeans") metadata_["predictor.clusters"] = std::to_string(net_.width0);
  if (predictor_ == "knn") {
    metadata_["predictor.k"] = std::to_string(tables_.k);
    metadata_["predictor.dim"] = std::to_string(tables_.references->dim);
    if (readsText()) metadata_["predictor.seed"] = std::to_string(tables_.projectionSeed);
  }
  // What the outputs mean: probabilities of success per model, or Bradley–Terry strengths
  // through a sigmoid (P(a beats b) = sigmoid(logit q_a - logit q_b)) for pairwise training.
  if (metadata_.find("predictor.objective") == metadata_.end() || predictor_ == "knn")
    metadata_["predictor.objective"] = predictor_ == "knn" && !tables_.referencePairs.empty() ? "pairwise" : "scores";
  metadata_["format"] = kArtifactFormatName;
  metadata_["format_version"] = std::to_string(kArtifactFormatVersion);
}

Artifact RouterModel::toArtifact(bool halfPrecision) const {
  Artifact a;
  a.metadata = metadata_;
  const int64_t V = net_.inputDim;
  const std::vector<float> table = predictor_ == "knn" ? std::vector<float>() : tableFloats();
  if (encoder_) a.tensors.push_back({"encoder.idf", {encoder_->config().buckets()}, encoder_->idf(), false});
  if (staticEncoder_) writeStaticEncoder(*staticEncoder_, a, halfPrecision);
  if (coverageSketch_) {
    a.tensors.push_back(
        {"coverage.sketch", {coverageSketch_->rows, coverageSketch_->dim}, coverageSketch_->data, true});
  }
  if (predictor_ == "kmeans") {
    a.tensors.push_back({"kmeans.centroids", {V, net_.width0}, table, halfPrecision});
    a.tensors.push_back({"kmeans.cluster_scores", {net_.width0, models_}, tables_.clusterScores, false});
  } else if (predictor_ == "knn") {
    const KnnTable& refs = *tables_.references;
    a.tensors.push_back({"knn.references", {refs.rows, refs.dim}, refs.data, halfPrecision});
    if (!tables_.referencePairs.empty()) {
      a.tensors.push_back({"knn.battles", {refs.rows, 3}, tables_.referencePairs, false});
    } else {
      a.tensors.push_back({"knn.scores", {refs.rows, models_}, tables_.referenceScores, false});
      a.tensors.push_back({"knn.model_means", {models_}, tables_.modelMeans, false});
    }
  } else if (predictor_ == "mf") {
    const DenseLayer& l = net_.layers.at(0);
    a.tensors.push_back({"mf.projection", {V, net_.width0}, table, halfPrecision});
    a.tensors.push_back({"mf.projection_bias", {net_.width0}, net_.tableBias, false});
    a.tensors.push_back({"mf.model_embedding", {l.in, l.out}, l.weight, false});
    a.tensors.push_back({"mf.model_bias", {l.out}, l.bias, false});
  } else if (predictor_ == "linear") {
    a.tensors.push_back({"linear.weight", {V, net_.width0}, table, halfPrecision});
    a.tensors.push_back({"linear.bias", {net_.width0}, net_.tableBias, false});
  } else {
    const DenseLayer& l = net_.layers.at(0);
    a.tensors.push_back({"mlp.table", {V, net_.width0}, table, halfPrecision});
    a.tensors.push_back({"mlp.table_bias", {net_.width0}, net_.tableBias, false});
    a.tensors.push_back({"mlp.out_weight", {l.in, l.out}, l.weight, false});
    a.tensors.push_back({"mlp.out_bias", {l.out}, l.bias, false});
  }
  return a;
}

void RouterModel::encode(const char* utf8, const uint32_t* offsets, size_t n, CsrBatch& out) const {
  requireHashing("encode");
  EncodeScratch& scratch = threadScratch();
  for (size_t i = 0; i < n; ++i)
    appendTextFeatures(encoder_.get(), staticEncoder_.get(), utf8 + offsets[i], offsets[i + 1] - offsets[i], scratch,
                       out);
}

void appendTextFeatures(const HashingEncoder* hashing, const StaticEncoder* stat, const char* text, size_t len,
                        EncodeScratch& scratch, CsrBatch& out) {
  if (hashing) {
    hashing->encode(text, len, scratch, out);
    if (!stat) return;
    out.rowStart.pop_back();  // the static dims join the same row
  }
  const float scale = hashing ? static_cast<float>(M_SQRT1_2) : 1.f;
  if (hashing)
    for (size_t i = out.rowStart.back(); i < out.value.size(); ++i) out.value[i] *= scale;
  const uint32_t dim = stat->dim();
  thread_local std::vector<float> row;
  row.resize(dim);
  stat->encode(text, len, row.data());
  const uint32_t base = hashing ? hashing->config().buckets() : 0;
  for (uint32_t j = 0; j < dim; ++j) {
    if (row[j] == 0.f) continue;
    out.index.push_back(base + j);
    out.value.push_back(row[j] * scale);
  }
  out.rowStart.push_back(static_cast<uint32_t>(out.index.size()));
}

namespace {

// A branch-free pass (a NaN or infinity has every exponent bit set) that the compiler vectorises:
// the per-value isfinite() branch took a quarter of a batch-64 dense forward pass. Kept apart from
// the throwing code below: GCC's target clones and exception unwinding do not mix.
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
bool anyNonFinite(const float* x, size_t count) {
  uint32_t nonFinite = 0;
  for (size_t i = 0; i < count; ++i) {
    uint32_t bits;
    std::memcpy(&bits, x + i, sizeof bits);
    nonFinite |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
  }
  return nonFinite != 0;
}

}  // namespace

void validateEmbeddings(const float* x, size_t rows, uint32_t dim) {
  if (!anyNonFinite(x, rows * dim)) return;
  for (size_t i = 0; i < rows * dim; ++i)
    if (!std::isfinite(x[i]))
      throw Error(ErrorCode::InvalidArgument,
                  "embedding row " + std::to_string(i / dim) + ", column " + std::to_string(i % dim) + " is " +
                      (std::isnan(x[i]) ? "NaN" : "infinite") + "; embeddings must be finite");
}

void RouterModel::runNet(const NetExecutor& ex, const CsrBatch* const* parts, size_t count, const float* dense,
                         size_t rows, float* out) const {
  const std::vector<float>& clusterScores = tables_.clusterScores;
  const bool kmeans = !clusterScores.empty();
  // kmeans: the product gives sigmoid(cosine) per centroid; the sigmoid keeps the order, so the
  // largest is the nearest centroid, whose scores the prompt gets.
  const uint32_t k = net_.width0;
  thread_local std::vector<float> sims;
  if (kmeans) sims.resize(rows * k);
  float* target = kmeans ? sims.data() : out;
  if (!parts)
    ex.forwardDense(dense, rows, target);
  else if (count == 1)
    ex.forward(*parts[0], target);
  else
    ex.forwardParts(parts, count, target);
  if (!kmeans) return;
  for (size_t r = 0; r < rows; ++r) {
    const float* s = sims.data() + r * k;
    uint32_t best = 0;
    for (uint32_t c = 1; c < k; ++c)
      if (s[c] > s[best]) best = c;
    std::copy(clusterScores.begin() + static_cast<size_t>(best) * models_,
              clusterScores.begin() + static_cast<size_t>(best + 1) * models_, out + r * models_);
  }
}

void RouterModel::scoreEmbeddings(const float* x, size_t n, float* out) const {
  if (readsText())
    throw Error(ErrorCode::InvalidArgument, std::string("this router encodes text itself (") + encoderKind() +
                                                " encoder); pass prompts, not embeddings");
  const uint32_t dim = net_.inputDim, M = outputs();
  validateEmbeddings(x, n, dim);
  if (predictor_ == "knn") {
    std::vector<float> queries(x, x + n * dim);
    return searchKnn(queries.data(), n, out);
  }
  if (n == 0) return;
  runOnBackend([&](const NetExecutor* ex, const KnnSearcher*) {
    // A GPU executor takes the whole batch in one product (one upload, one download).
    if (ex->takesWholeBatch()) return runNet(*ex, nullptr, 0, x, n, out);
    forEachSlice(n, kRowsPerTask, [&](size_t begin, size_t end) {
      runNet(*ex, nullptr, 0, x + begin * dim, end - begin, out + begin * M);
    });
  });
}

void RouterModel::score(const char* utf8, const uint32_t* offsets, size_t n, float* out) const {
  requireHashing("score");
  const uint32_t M = outputs();
  if (predictor_ == "knn") {
    // Encode and project in parallel slices, then search in the slices the backend wants.
    const uint32_t dim = tables_.references->dim;
    std::vector<float> queries(n * dim);
    forEachSlice(n, kRowsPerTask, [&](size_t begin, size_t end) {
      thread_local CsrBatch batch;
      batch.clear();
      encode(utf8, offsets + begin, end - begin, batch);
      for (size_t r = 0; r < end - begin; ++r) {
        const uint32_t b = batch.rowStart[r], e = batch.rowStart[r + 1];
        knnProject(batch.index.data() + b, batch.value.data() + b, e - b, dim, tables_.projectionSeed,
                   queries.data() + (begin + r) * dim);
      }
    });
    return searchKnn(queries.data(), n, out);
  }
  if (n == 0) return;
  runOnBackend([&](const NetExecutor* ex, const KnnSearcher*) {
    if (staticEncoder_ && ex->takesWholeBatch()) {
      std::shared_ptr<const StaticGatherer> gatherer;
      {
        std::lock_guard<std::mutex> lock(backendMu_);
        gatherer = staticGatherer_;
      }
      if (gatherer) return scoreGathered(*ex, *gatherer, utf8, offsets, n, out);
    }
    if (!ex->takesWholeBatch()) {
      // Encode and run each slice on the thread that encoded it, while its rows are in cache.
      forEachSlice(n, kRowsPerTask, [&](size_t begin, size_t end) {
        thread_local CsrBatch batch;
        batch.clear();
        encode(utf8, offsets + begin, end - begin, batch);
        // encode() reads offsets relative to the buffer start, so the slice above stays valid.
        const CsrBatch* part = &batch;
        runNet(*ex, &part, 1, nullptr, end - begin, out + begin * M);
      });
      return;
    }
    // Encode in parallel slices, then one forward pass over all of them.
    std::vector<CsrBatch> parts((n + kRowsPerTask - 1) / kRowsPerTask);
    forEachSlice(n, kRowsPerTask, [&](size_t begin, size_t end) {
      encode(utf8, offsets + begin, end - begin, parts[begin / kRowsPerTask]);
    });
    std::vector<const CsrBatch*> partPointers;
    partPointers.reserve(parts.size());
    for (const CsrBatch& p : parts) partPointers.push_back(&p);
    runNet(*ex, partPointers.data(), partPointers.size(), nullptr, n, out);
  });
}

void RouterModel::scoreGathered(const NetExecutor& ex, const StaticGatherer& gatherer, const char* utf8,
                                const uint32_t* offsets, size_t n, float* out) const {
  const size_t slices = (n + kRowsPerTask - 1) / kRowsPerTask;
  std::vector<CsrBatch> tokens(slices), hashed(encoder_ ? slices : 0);
  forEachSlice(n, kRowsPerTask, [&](size_t begin, size_t end) {
    EncodeScratch& scratch = threadScratch();
    CsrBatch& t = tokens[begin / kRowsPerTask];
    for (size_t i = begin; i < end; ++i) {
      staticEncoder_->tokenRow(utf8 + offsets[i], offsets[i + 1] - offsets[i], t);
      if (encoder_)
        encoder_->encode(utf8 + offsets[i], offsets[i + 1] - offsets[i], scratch, hashed[begin / kRowsPerTask]);
    }
  });
  CsrBatch all;
  for (const CsrBatch& t : tokens) {
    const uint32_t base = static_cast<uint32_t>(all.index.size());
    all.index.insert(all.index.end(), t.index.begin(), t.index.end());
    all.value.insert(all.value.end(), t.value.begin(), t.value.end());
    for (size_t r = 1; r < t.rowStart.size(); ++r) all.rowStart.push_back(base + t.rowStart[r]);
  }
  const uint32_t dim = staticEncoder_->dim();
  std::vector<float> dense(n * dim);
  gatherer.gather(all, dense.data());
  if (!encoder_) return runNet(ex, nullptr, 0, dense.data(), n, out);
  // mixed: each hashing row, then the static dims after the buckets, both halves scaled by 1/sqrt(2).
  const float scale = static_cast<float>(M_SQRT1_2);
  const uint32_t buckets = encoder_->config().buckets();
  CsrBatch rows;
  size_t r = 0;
  for (const CsrBatch& h : hashed) {
    for (size_t i = 0; i < h.rows(); ++i, ++r) {
      for (uint32_t k = h.rowStart[i]; k < h.rowStart[i + 1]; ++k) {
        rows.index.push_back(h.index[k]);
        rows.value.push_back(h.value[k] * scale);
      }
      for (uint32_t j = 0; j < dim; ++j) {
        const float v = dense[r * dim + j];
        if (v == 0.f) continue;
        rows.index.push_back(buckets + j);
        rows.value.push_back(v * scale);
      }
      rows.rowStart.push_back(static_cast<uint32_t>(rows.index.size()));
    }
  }
  const CsrBatch* part = &rows;
  runNet(ex, &part, 1, nullptr, n, out);
}

void RouterModel::setCoverageSketch(std::shared_ptr<const KnnTable> sketch, uint64_t seed) {
  if (!sketch || sketch->dim != kCoverageDim || sketch->rows == 0)
    throw Error(ErrorCode::Internal, "coverage sketch must hold rows x " + std::to_string(kCoverageDim) + " floats");
  coverageSearcher_ = makeCpuBackend(1)->prepareKnn(sketch);
  coverageSketch_ = std::move(sketch);
  coverageSeed_ = seed;
  metadata_["coverage.seed"] = std::to_string(seed);  // as the file will hold it
}

void RouterModel::coverage(const char* utf8, const uint32_t* offsets, size_t n, float* out) const {
  if (!coverageSketch_)
    throw Error(ErrorCode::InvalidArgument,
                readsText() ? "this router file has no coverage sketch (it was written before routecore kept one); "
                              "retrain it to measure coverage"
                            : "coverage needs a router that reads text; this one takes precomputed embeddings");
  std::vector<float> queries(n * kCoverageDim);
  forEachSlice(n, kRowsPerTask, [&](size_t begin, size_t end) {
    thread_local CsrBatch batch;
    batch.clear();
    encode(utf8, offsets + begin, end - begin, batch);
    for (size_t r = 0; r < end - begin; ++r) {
      const uint32_t b = batch.rowStart[r], e = batch.rowStart[r + 1];
      knnProject(batch.index.data() + b, batch.value.data() + b, e - b, kCoverageDim, coverageSeed_,
                 queries.data() + (begin + r) * kCoverageDim);
    }
    normalizeRows(queries.data() + begin * kCoverageDim, end - begin, kCoverageDim);
    std::vector<uint32_t> index(end - begin);
    coverageSearcher_->search(queries.data() + begin * kCoverageDim, end - begin, 1, index.data(), out + begin);
  });
}

/// The coverage sketch of freshly encoded training rows: an even stride of at most
/// kCoverageSketchRows of them, projected and normalised (rows with no features are skipped).
static std::shared_ptr<const KnnTable> buildCoverageSketch(const CsrBatch& x, uint64_t seed) {
  const size_t rows = x.rows();
  const size_t take = std::min<size_t>(rows, kCoverageSketchRows);
  auto table = std::make_shared<KnnTable>();
  table->dim = kCoverageDim;
  for (size_t i = 0; i < take; ++i) {
    const size_t r = i * rows / take;
    const uint32_t b = x.rowStart[r], e = x.rowStart[r + 1];
    if (e == b) continue;
    table->data.resize(table->data.size() + kCoverageDim);
    float* row = table->data.data() + table->data.size() - kCoverageDim;
    knnProject(x.index.data() + b, x.value.data() + b, e - b, kCoverageDim, seed, row);
    normalizeRows(row, 1, kCoverageDim);
    // Stored as F16: round now, so the sketch a router holds is the one its file holds.
    uint16_t h[kCoverageDim];
    floatsToHalves(row, kCoverageDim, h);
    halvesToFloats(h, kCoverageDim, row);
    ++table->rows;
  }
  table->isHalf = true;
  return table->rows ? table : nullptr;
}

void RouterModel::forEachSlice(size_t n, size_t rowsPerSlice, const std::function<void(size_t, size_t)>& fn) const {
  const size_t slices = n == 0 ? 0 : 1 + (n - 1) / rowsPerSlice;  // rowsPerSlice may be SIZE_MAX
  auto run = [&](size_t slice) {
    const size_t begin = slice * rowsPerSlice;
    fn(begin, std::min(n, begin + rowsPerSlice));
  };
  if (slices <= 1) {
    if (n) run(0);
  } else {
    pool_->parallelFor(slices, run);
  }
}

void RouterModel::searchKnn(float* queries, size_t n, float* out) const {
  const uint32_t dim = tables_.references->dim, k = tables_.k, M = models_;
  normalizeRows(queries, n, dim);
  if (n == 0) return;
  runOnBackend([&](const NetExecutor*, const KnnSearcher* searcher) {
    forEachSlice(n, searcher->rowsPerCall(), [&](size_t begin, size_t end) {
      const size_t rows = end - begin;
      thread_local std::vector<float> sims;
      thread_local std::vector<uint32_t> index;
      // Filled with an index no table has: a slot a searcher failed to write is then refused by
      // knnWeightedMean / knnBradleyTerry instead of reusing an index from an earlier, larger router.
      index.assign(rows * k, UINT32_MAX);
      sims.resize(rows * k);
      searcher->search(queries + begin * dim, rows, k, index.data(), sims.data());
      for (size_t r = 0; r < rows; ++r) {
        float* row = out + (begin + r) * M;
        if (!tables_.referencePairs.empty())
          knnBradleyTerry(index.data() + r * k, sims.data() + r * k, k, tables_.referencePairs.data(),
                          tables_.references->rows, M, row);
        else
          knnWeightedMean(index.data() + r * k, sims.data() + r * k, k, tables_.referenceScores.data(),
                          tables_.references->rows, M, tables_.modelMeans.data(), row);
      }
    });
  });
}

// The knn part of trainRouter: the training rows become the reference set. x holds the encoded
// prompts of a hashing router and nothing for a precomputed one.
static std::unique_ptr<RouterModel> trainKnn(const TrainInput& in, std::unique_ptr<HashingEncoder> encoder,
                                             const CsrBatch& x, size_t rows, uint32_t inputDim,
                                             const std::map<std::string, std::string>& metadata,
                                             std::shared_ptr<Backend> backend, std::shared_ptr<ThreadPool> pool);

static std::unique_ptr<RouterModel> trainRouterBody(const TrainInput& in, std::shared_ptr<Backend> backend,
                                                    std::shared_ptr<ThreadPool> pool, TrainReport* report,
                                                    const ProgressFn& progress, CsrBatch& x);

std::unique_ptr<RouterModel> trainRouter(const TrainInput& in, std::shared_ptr<Backend> backend,
                                         std::shared_ptr<ThreadPool> pool, TrainReport* report,
                                         const ProgressFn& progress) {
  CsrBatch x;
  std::unique_ptr<RouterModel> model = trainRouterBody(in, std::move(backend), std::move(pool), report, progress, x);
  // Text routers keep a sketch of their training prompts for coverage(); x holds their features
  // (precomputed routers' x may be empty for knn, and they have no text to compare).
  if (model->readsText() && x.rows() > 0) {
    const uint64_t seed = in.options.seed + 0x5eed;
    if (auto sketch = buildCoverageSketch(x, seed)) model->setCoverageSketch(std::move(sketch), seed);
  }
  return model;
}

static std::unique_ptr<RouterModel> trainRouterBody(const TrainInput& in, std::shared_ptr<Backend> backend,
                                                    std::shared_ptr<ThreadPool> pool, TrainReport* report,
                                                    const ProgressFn& progress, CsrBatch& x) {
  std::unique_ptr<HashingEncoder> encoder;
  size_t rows;
  uint32_t inputDim;
  if (!in.prompts.empty()) {
    rows = in.prompts.size();
    const bool hashing = !in.staticEncoder || in.mixed;
    if (hashing) {
      in.encoder.validate();
      encoder = std::make_unique<HashingEncoder>(in.encoder, HashingEncoder::fitIdf(in.encoder, in.prompts));
    }
    EncodeScratch scratch;
    for (const auto& p : in.prompts)
      appendTextFeatures(encoder.get(), in.staticEncoder.get(), p.data(), p.size(), scratch, x);
    inputDim = (hashing ? in.encoder.buckets() : 0) + (in.staticEncoder ? in.staticEncoder->dim() : 0);
  } else {
    if (in.embeddingDim == 0 || in.embeddings.empty() || in.embeddings.size() % in.embeddingDim != 0)
      throw Error(ErrorCode::BadData, "no training prompts or embeddings");
    rows = in.embeddings.size() / in.embeddingDim;
    validateEmbeddings(in.embeddings.data(), rows, in.embeddingDim);
    // knn keeps the embeddings as they are; only the trained predictors read them as sparse rows
    // (a copy three times the size of the embeddings).
    if (in.predictor != "knn") appendDenseRows(in.embeddings.data(), rows, in.embeddingDim, x);
    inputDim = in.embeddingDim;
  }
  const bool pairwise = in.pairs.size() > 0;
  if (pairwise ? in.pairs.size() != rows : in.labels.size() != rows * in.models)
    throw Error(ErrorCode::InvalidArgument,
                pairwise ? "pairwise data must hold one battle per prompt" : "labels must hold rows x models values");
  std::string predictor = !in.predictor.empty() ? in.predictor : in.options.hidden == 0 ? "linear" : "mlp";
  if (report) {
    *report = TrainReport{};
    report->trainRows = static_cast<uint32_t>(rows);
    report->bestValidationLoss = std::numeric_limits<double>::quiet_NaN();
  }
  std::map<std::string, std::string> metadata = in.metadata;
  metadata["predictor.objective"] = pairwise ? "pairwise" : "scores";
  if (in.staticEncoder) metadata["encoder.static.embedded"] = in.embedStatic ? "true" : "false";
  if (predictor == "kmeans") {
    if (pairwise)
      throw Error(ErrorCode::InvalidArgument, "the kmeans predictor trains on per-model scores, not pairwise battles");
    KmeansModel km = trainKmeans(x, inputDim, in.labels, in.models, in.kmeans);
    DenseNet net;
    net.inputDim = inputDim;
    net.width0 = km.clusters;
    net.table = std::move(km.centroidTable);
    net.tableBias.assign(km.clusters, 0.f);
    PredictorTables tables;
    tables.clusterScores = std::move(km.clusterScores);
    auto model =
        std::make_unique<RouterModel>(std::move(encoder), predictor, std::move(net), metadata, std::move(backend),
                                      std::move(pool), std::move(tables), in.staticEncoder);
    model->setMetadata("kmeans.objective", std::to_string(km.objective));
    return model;
  }
  if (predictor == "knn")
    return trainKnn(in, std::move(encoder), x, rows, inputDim, metadata, std::move(backend), std::move(pool));
  if (predictor != "mlp" && predictor != "linear" && predictor != "mf")
    throw Error(ErrorCode::InvalidArgument,
                "unknown predictor \"" + predictor + "\": expected mlp, linear, mf, knn or kmeans");
  if ((predictor == "linear") != (in.options.hidden == 0))
    throw Error(ErrorCode::InvalidArgument, predictor == "linear"
                                                ? "options.hidden must be 0 for linear"
                                                : "options.hidden (mf: dim) must be > 0 for " + predictor);
  TrainOptions options = in.options;
  options.hiddenRelu = predictor != "mf";
  TrainTargets targets;
  targets.models = in.models;
  if (pairwise)
    targets.pairs = &in.pairs;
  else
    targets.labels = &in.labels;
  DenseNet net = trainNet(x, targets, inputDim, options, report, progress);
  return std::make_unique<RouterModel>(std::move(encoder), predictor, std::move(net), metadata, std::move(backend),
                                       std::move(pool), PredictorTables{}, in.staticEncoder);
}

static std::unique_ptr<RouterModel> trainKnn(const TrainInput& in, std::unique_ptr<HashingEncoder> encoder,
                                             const CsrBatch& x, size_t rows, uint32_t inputDim,
                                             const std::map<std::string, std::string>& metadata,
                                             std::shared_ptr<Backend> backend, std::shared_ptr<ThreadPool> pool) {
  in.knn.validate();
  const uint32_t M = in.models;
  PredictorTables tables;
  tables.k = static_cast<uint32_t>(std::min<size_t>(in.knn.k, rows));
  auto table = std::make_shared<KnnTable>();
  KnnTable& refs = *table;
  refs.rows = static_cast<uint32_t>(rows);
  DenseNet net;  // knn keeps no network, only the input dimension
  net.inputDim = inputDim;
  if (encoder || in.staticEncoder) {
    // The references are the training prompts through the same projection queries will take.
    tables.projectionSeed = in.knn.seed;
    refs.dim = in.knn.dim;
    refs.data.resize(rows * refs.dim);
    for (size_t r = 0; r < rows; ++r)
      knnProject(x.index.data() + x.rowStart[r], x.value.data() + x.rowStart[r], x.rowStart[r + 1] - x.rowStart[r],
                 refs.dim, tables.projectionSeed, refs.data.data() + r * refs.dim);
  } else {
    refs.dim = inputDim;
    refs.data = in.embeddings;
  }
  normalizeRows(refs.data.data(), rows, refs.dim);
  tables.references = std::move(table);
  if (in.pairs.size() > 0) {
    if (M < 2) throw Error(ErrorCode::BadData, "pairwise data must name at least two models");
    validatePairwise(in.pairs, rows, M);
    tables.models = M;
    tables.referencePairs.resize(rows * 3);
    for (size_t i = 0; i < rows; ++i) {
      tables.referencePairs[i * 3] = static_cast<float>(in.pairs.a[i]);
      tables.referencePairs[i * 3 + 1] = static_cast<float>(in.pairs.b[i]);
      tables.referencePairs[i * 3 + 2] = in.pairs.y[i];
    }
  } else {
    validateLabels(in.labels, rows, M);
    tables.referenceScores = in.labels;
    tables.modelMeans.assign(M, 0.5f);  // a model nobody scored
    for (uint32_t m = 0; m < M; ++m) {
      double sum = 0;
      size_t n = 0;
      for (size_t r = 0; r < rows; ++r) {
        const float y = in.labels[r * M + m];
        if (!std::isnan(y)) sum += y, ++n;
      }
      if (n) tables.modelMeans[m] = static_cast<float>(sum / n);
    }
  }
  return std::make_unique<RouterModel>(std::move(encoder), "knn", std::move(net), metadata, std::move(backend),
                                       std::move(pool), std::move(tables), in.staticEncoder);
}

}  // namespace routecore
