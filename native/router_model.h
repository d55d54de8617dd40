// A trained router as the core sees it: the hashing encoder, the predictor's weights, the
// executor that runs them on the chosen backend, and the artifact metadata it was loaded with.
// Policies, registries and model ids beyond their order live in the TypeScript layer.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "artifact.h"
#include "backend.h"
#include "dense_net.h"
#include "hashing_encoder.h"
#include "kmeans.h"
#include "knn.h"
#include "static_encoder.h"
#include "thread_pool.h"
#include "trainer.h"

namespace routecore {

/// The coverage sketch keeps at most this many training prompts (an even stride through them), in
/// kCoverageDim projected dimensions: 1024 x 128 halves = 256 KiB in the file.
constexpr uint32_t kCoverageSketchRows = 1024;
constexpr uint32_t kCoverageDim = 128;

/// Prompts longer than this (in UTF-8 bytes) are refused: routing reads the prompt, it should
/// not be where a runaway request spends its time. 256 KiB is ~60k tokens of English.
constexpr size_t kMaxPromptBytes = 256 * 1024;

/// What the `kmeans` and `knn` predictors keep beside their DenseNet.
struct PredictorTables {
  std::vector<float> clusterScores;  // kmeans: clusters x models
  // knn: the unit-norm reference vectors and what each reference says about the models: per-model
  // scores (references x models, NaN = missing) or one battle (references x 3: a, b, y).
  std::shared_ptr<const KnnTable> references;  // shared with the CPU searcher, not copied
  std::vector<float> referenceScores;
  std::vector<float> referencePairs;
  std::vector<float> modelMeans;  // knn on scores: a model no neighbour scored gets its mean
  uint32_t models = 0;            // knn on battles: how many models the battles name
  uint32_t k = 0;
  uint64_t projectionSeed = 0;  // knn on hashing features: seed of the ±1 projection
};

class RouterModel {
 public:
  /// encoder: the hashing encoder, or null for a `precomputed` router whose callers pass
  /// embeddings of net.inputDim floats.
  /// For `kmeans`, net is the centroid table (inputDim x clusters, no layers) and
  /// tables.clusterScores holds clusters x models scores; the backend's product picks the nearest
  /// centroid. For `knn`, net holds only inputDim (hash buckets or embedding width) and tables holds
  /// the reference set and the projection seed.
  /// staticEncoder: the `static` encoder (model2vec), alone (encoder null: features are its dim
  /// floats) or beside hashing (`mixed`: the hashed buckets, then the static dims, each half
  /// scaled by 1/sqrt(2) so the row stays unit-norm).
  RouterModel(std::unique_ptr<HashingEncoder> encoder, std::string predictor, DenseNet net,
              std::map<std::string, std::string> metadata, std::shared_ptr<Backend> backend,
              std::shared_ptr<ThreadPool> pool, PredictorTables tables = {},
              std::shared_ptr<const StaticEncoder> staticEncoder = nullptr);

  /// Takes the artifact by value and moves its tables out (pass a temporary or std::move it): a
  /// copy of a multi-megabyte table costs more, in fresh pages, than parsing the file.
  /// `external`: the static encoder of a router whose file names its model instead of carrying it
  /// (metadata "encoder.static.embedded" = "false"); such a file without it, or with a model of
  /// another shape, is ErrorCode::ModelMismatch. Ignored for every other router.
  static std::unique_ptr<RouterModel> fromArtifact(Artifact artifact, std::shared_ptr<Backend> backend,
                                                   std::shared_ptr<ThreadPool> pool,
                                                   std::shared_ptr<const StaticEncoder> external = nullptr);
  /// halfPrecision stores the large tables as F16 (half the file; scores move by ~1e-3).
  Artifact toArtifact(bool halfPrecision) const;

  /// Scores n prompts given as one UTF-8 buffer and n+1 byte offsets into it.
  /// out: n x outputs() floats. Thread-safe.
  void score(const char* utf8, const uint32_t* offsets, size_t n, float* out) const;

  /// Encodes n prompts to sparse features (what `score` feeds the predictor).
  void encode(const char* utf8, const uint32_t* offsets, size_t n, CsrBatch& out) const;

  /// RouteLLM's benchmark-dataset similarity, per prompt: the largest cosine similarity between
  /// the prompt and the router's coverage sketch (up to kCoverageSketchRows training prompts, in
  /// the knn projection of the router's features). out: n floats in [-1, 1]. Throws
  /// InvalidArgument for a router without a sketch (precomputed, or a file from before sketches).
  void coverage(const char* utf8, const uint32_t* offsets, size_t n, float* out) const;
  bool hasCoverageSketch() const { return coverageSketch_ != nullptr; }
  /// Sets the sketch (rows of the training features, projected and normalised); trainRouter calls it.
  void setCoverageSketch(std::shared_ptr<const KnnTable> sketch, uint64_t seed);

  /// Scores n precomputed embeddings, row-major n x inputDim(). Throws InvalidArgument for a
  /// NaN or infinite value (naming row and column) and for a hashing router.
  void scoreEmbeddings(const float* x, size_t n, float* out) const;

  uint32_t outputs() const { return models_; }
  const std::string& predictor() const { return predictor_; }
  /// The backend this router computes on: the one it was made with, or "cpu" after that backend
  /// failed at run time (see fallbackReason).
  std::string backendName() const;
  /// Why this router moved to the CPU backend (the failing backend's error, e.g. a CUDA error),
  /// or "" while it still runs on the backend it was made with.
  std::string fallbackReason() const;
  /// The artifact metadata this router would be written with (the same whether it was trained
  /// in this process or loaded from a file).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  /// Sets a metadata entry of the caller's layer (e.g. a calibrated threshold) so the next
  /// toArtifact() carries it. Keys the core itself writes (format*, encoder*, predictor*, coverage*) are refused.
  void setMetadata(const std::string& key, const std::string& value);
  /// "hashing", "static", "mixed" (hashing and static) or "precomputed".
  const char* encoderKind() const {
    return staticEncoder_ ? (encoder_ ? "mixed" : "static") : encoder_ ? "hashing" : "precomputed";
  }
  /// True when the router reads text (every encoder but precomputed).
  bool readsText() const { return encoder_ || staticEncoder_; }
  /// The static encoder, or null.
  const std::shared_ptr<const StaticEncoder>& staticEncoder() const { return staticEncoder_; }
  uint32_t inputDim() const { return net_.inputDim; }
  /// Bytes of weights held, for the JS engine's external-memory accounting.
  size_t weightBytes() const;

 private:
  void requireHashing(const char* what) const;
  static std::unique_ptr<RouterModel> fromArtifactBody(Artifact artifact, std::shared_ptr<Backend> backend,
                                                       std::shared_ptr<ThreadPool> pool,
                                                       std::shared_ptr<const StaticEncoder> external);
  // Runs `ex` on sparse rows (the parts, one after another) or on dense ones (parts null) and
  // writes model scores (kmeans: maps centroid similarities to the nearest centroid's scores).
  void runNet(const NetExecutor& ex, const CsrBatch* const* parts, size_t count, const float* dense, size_t rows,
              float* out) const;
  // fn(executor, searcher) on the current backend. When a backend other than the CPU one throws
  // ErrorCode::BackendUnavailable (it can no longer compute: a CUDA error), the router moves to
  // the CPU backend for good and runs fn again there; any other error propagates. fn must not
  // have written anything it cannot write again.
  void runOnBackend(const std::function<void(const NetExecutor*, const KnnSearcher*)>& fn) const;
  // Prepares the network or the knn searcher on `backend` (constructor and fallback).
  void prepareOn(const Backend& backend);
  void fallBackToCpu(const std::string& reason) const;
  // knn: normalises the n query rows in place, searches them in the slices the searcher wants and
  // combines each row's neighbours into out (n x models).
  void searchKnn(float* queries, size_t n, float* out) const;
  // score() of a static or mixed router on a whole-batch executor with a device gatherer: token
  // rows in parallel slices, one gather for the batch, then one forward pass.
  void scoreGathered(const NetExecutor& ex, const StaticGatherer& gatherer, const char* utf8, const uint32_t* offsets,
                     size_t n, float* out) const;
  // fn(begin, end) over [0, n) in slices of rowsPerSlice rows, on the pool when there are several.
  void forEachSlice(size_t n, size_t rowsPerSlice, const std::function<void(size_t, size_t)>& fn) const;
  void describeInMetadata();
  void validateKnnTables();  // throws BadArtifact; sets models_
  std::unique_ptr<HashingEncoder> encoder_;
  std::shared_ptr<const StaticEncoder> staticEncoder_;
  PredictorTables tables_;
  uint32_t models_ = 0;
  std::string predictor_;
  // After construction, without its table: the router needs the table only to write itself out,
  // so it reads the backend's host copy (NetExecutor::hostHalfTable / hostFloatTable) or, where the
  // backend has none, keeps one: in half the space (tableHalf_) when the values are all binary16
  // (an F16 file), else in net_.table.
  DenseNet net_;
  std::vector<uint16_t> tableHalf_;
  std::vector<float> tableFloats() const;  // the table, from whichever copy holds it
  std::shared_ptr<const NetExecutor> currentExecutor() const;
  std::map<std::string, std::string> metadata_;
  std::shared_ptr<ThreadPool> pool_;
  // What computes, and on which backend. They change at most once, from a failing backend to the
  // CPU one (fallBackToCpu, under backendMu_); a router made on the CPU backend never changes
  // them, so it reads them without the lock.
  bool mayFallBack_ = false;
  mutable std::mutex backendMu_;
  mutable std::shared_ptr<Backend> backend_;
  mutable std::shared_ptr<const NetExecutor> executor_;  // all but knn
  mutable std::shared_ptr<const KnnSearcher> searcher_;  // knn only
  // static/mixed on a backend that gathers the table itself (CUDA); null on the CPU backend.
  mutable std::shared_ptr<const StaticGatherer> staticGatherer_;
  // The coverage sketch and its searcher (always the CPU one: k = 1 over ~1k rows).
  std::shared_ptr<const KnnTable> coverageSketch_;
  std::unique_ptr<KnnSearcher> coverageSearcher_;
  uint64_t coverageSeed_ = 0;
  mutable std::string backendName_;
  mutable std::string fallbackReason_;
};

struct TrainInput {
  std::vector<std::string> prompts;  // hashing routers
  std::vector<float> embeddings;     // precomputed routers: rows x embeddingDim, used when prompts is empty
  uint32_t embeddingDim = 0;
  std::vector<float> labels;  // prompts x models, NaN = missing
  uint32_t models = 0;
  HashingConfig encoder;
  // The static encoder: alone, or with hashing when `mixed`. embedStatic: the router file carries
  // the tokenizer and table (else it names them, and loading needs the model directory).
  std::shared_ptr<const StaticEncoder> staticEncoder;
  bool mixed = false;
  bool embedStatic = true;
  TrainOptions options;
  // Set instead of labels for pairwise (Chatbot Arena style) data: one battle per prompt/embedding
  // row. Trains `mf`, `mlp`, `linear` (Bradley–Terry loss) and `knn` (similarity-weighted ranking).
  PairwiseTargets pairs;
  // "mlp", "linear", "mf", "knn" or "kmeans"; empty: mlp, or linear when options.hidden is 0.
  // mf: options.hidden is the projection width d.
  std::string predictor;
  KmeansOptions kmeans;
  KnnOptions knn;
  std::map<std::string, std::string> metadata;  // stored in the artifact as given
};

/// Hashing: fits the encoder's IDF on the prompts, encodes them and trains the predictor.
/// Precomputed (prompts empty, embeddings set): trains the predictor on the embeddings as given.
std::unique_ptr<RouterModel> trainRouter(const TrainInput& input, std::shared_ptr<Backend> backend,
                                         std::shared_ptr<ThreadPool> pool, TrainReport* report,
                                         const ProgressFn& progress);

/// Appends one feature row for `text`: the hashing row, the static row, or both (mixed, each
/// scaled by 1/sqrt(2)). Either encoder may be null, not both.
void appendTextFeatures(const HashingEncoder* hashing, const StaticEncoder* stat, const char* text, size_t len,
                        EncodeScratch& scratch, CsrBatch& out);

/// Checks embeddings: every value finite; names the first bad row and column.
void validateEmbeddings(const float* x, size_t rows, uint32_t dim);

/// Checks a prompt buffer: offsets non-decreasing and within the buffer, each prompt non-empty
/// (after nothing but whitespace is still a prompt: empty means zero bytes) and <= kMaxPromptBytes.
void validatePrompts(const char* utf8, size_t bytes, const uint32_t* offsets, size_t n);

}  // namespace routecore
