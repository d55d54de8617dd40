// Compute backends. A backend turns a DenseNet into an executor that holds the weights where the
// backend computes (host memory for CPU, device memory for CUDA) and runs forward passes over
// batches of sparse rows. The core is backend-agnostic above this interface.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "dense_net.h"
#include "sparse.h"

namespace routecore {

class NetExecutor {
 public:
  virtual ~NetExecutor() = default;
  /// out: rows x net.outputs() floats, row-major, each a sigmoid probability.
  /// Safe to call from several threads at once on different inputs.
  virtual void forward(const CsrBatch& batch, float* out) const = 0;
  /// Dense input (precomputed embeddings): x is rows x inputDim, row-major. The default turns the
  /// rows into sparse ones that use every column; backends override it with a direct product.
  virtual void forwardDense(const float* x, size_t rows, float* out) const;
  /// True when the executor wants a batch in one call rather than in slices: a GPU executor pays
  /// launch and transfer latency per call, so a 1,024-row batch in 64-row slices would be 16
  /// round trips. The caller then encodes in parallel slices and hands them over together
  /// (forwardParts) and passes dense rows to forwardDense whole. False: the caller splits a batch
  /// across threads itself (the CPU executor runs on the calling thread).
  virtual bool takesWholeBatch() const { return false; }
  /// The rows of parts[0], then parts[1], ... as one batch: out holds the sum of their rows x
  /// outputs. The default copies the parts into one batch for forward().
  virtual void forwardParts(const CsrBatch* const* parts, size_t count, float* out) const;
  /// The input dimension this executor was prepared for.
  virtual uint32_t inputDim() const = 0;
  /// The first-layer table as this executor keeps it in host memory, binary16 values (the CPU
  /// backend, for an F16 router) or floats (the CPU backend otherwise); the router then keeps no
  /// table of its own. nullptr where there is no such copy (a GPU backend). Valid as long as the
  /// executor.
  virtual const std::vector<uint16_t>* hostHalfTable() const { return nullptr; }
  virtual const std::vector<float>* hostFloatTable() const { return nullptr; }
};

/// The reference set of a `knn` predictor: `rows` unit-norm vectors of `dim` floats, row-major.
struct KnnTable {
  uint32_t rows = 0, dim = 0;
  std::vector<float> data;  // rows x dim
  // True when every value is exactly a binary16 number (stored as F16): a backend may keep the
  // table in half precision with identical similarities.
  bool isHalf = false;
};

/// The largest k a knn search accepts (the CUDA top-k keeps k candidates per thread).
constexpr uint32_t kMaxKnnK = 256;

class KnnSearcher {
 public:
  virtual ~KnnSearcher() = default;
  /// queries: rows x dim(), row-major, unit norm. Writes, per query, the k references with the
  /// largest dot product (= cosine), most similar first, to index[r*k + i] and similarity[r*k + i].
  /// Ties go to the lower reference index. A NaN similarity (only from non-finite input) is
  /// replaced by -inf before ranking: it ranks equal to -inf and is reported as -inf; all k slots
  /// of every query are always written. Requires 1 <= k <= min(size(), kMaxKnnK).
  /// Safe to call from several threads at once on different inputs.
  virtual void search(const float* queries, size_t rows, uint32_t k, uint32_t* index, float* similarity) const = 0;
  virtual uint32_t dim() const = 0;
  virtual uint32_t size() const = 0;
  /// How many queries a caller should hand one search(): the CPU searcher runs on the calling
  /// thread, so callers split a batch across threads in slices of this many rows; the CUDA one
  /// wants the whole batch at once (one upload, one product, one top-k).
  virtual size_t rowsPerCall() const { return 64; }
};

/// The `static` encoder's table where a backend computes elsewhere (a GPU): the prompts' token rows
/// in, one L2-normalised weighted mean per prompt out, for a whole batch at once.
class StaticGatherer {
 public:
  virtual ~StaticGatherer() = default;
  /// tokens: one CSR row per prompt (index = table row, value = that token's weight).
  /// out: tokens.rows() x dim() floats; a row without tokens (or with a zero sum) is all zeros.
  /// Safe to call from several threads at once (calls queue on the device).
  virtual void gather(const CsrBatch& tokens, float* out) const = 0;
  virtual uint32_t dim() const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  /// The executor keeps its own copy of what it needs; `net` may be freed afterwards.
  virtual std::unique_ptr<NetExecutor> prepare(const DenseNet& net) const = 0;
  /// Brute-force nearest-neighbour search over `table` (a batched matrix product plus a top-k).
  /// The table is shared, not copied, where the backend reads it from host memory (CPU): a
  /// 100k-reference table is 100 MB, and the router keeps it too (to save it).
  virtual std::unique_ptr<KnnSearcher> prepareKnn(std::shared_ptr<const KnnTable> table) const = 0;
  /// The static encoder's table (rows x dim floats; each exactly a binary16 value when isHalf) on
  /// this backend, or nullptr where the encoder gathers rows on the calling thread (the CPU
  /// backend: a prompt's few hundred rows are in cache there, and a device round trip is not).
  virtual std::unique_ptr<StaticGatherer> prepareStatic(const float* table, uint32_t rows, uint32_t dim,
                                                        bool isHalf) const {
    (void)table, (void)rows, (void)dim, (void)isHalf;
    return nullptr;
  }
};

/// What the build and the machine offer, for `routecore info`.
struct BackendReport {
  bool cudaCompiled = false;
  bool cudaUsable = false;
  std::string cudaDetail;  // device name, or why CUDA cannot be used
  std::string chosen;      // "cpu" or "cuda"
  std::string reason;      // why `chosen` was picked
  unsigned cpuThreads = 1;
};

/// request: "auto", "cpu" or "cuda". "cuda" without a usable device throws
/// ErrorCode::BackendUnavailable; an unknown name throws ErrorCode::BadBackend.
/// threads caps the CPU backend's worker threads (0 = hardware concurrency).
std::shared_ptr<Backend> selectBackend(const std::string& request, unsigned threads, BackendReport* report);

std::shared_ptr<Backend> makeCpuBackend(unsigned threads);

#ifdef ROUTECORE_WITH_CUDA
/// Returns nullptr and fills `why` when no device can be used.
std::shared_ptr<Backend> makeCudaBackend(std::string* why);
#endif

/// Routers that left their backend at run time. A backend other than the CPU one signals that it
/// can no longer compute (a CUDA error mid-run) by throwing ErrorCode::BackendUnavailable from an
/// executor or searcher; the router then moves to the CPU backend for good and records it here,
/// so that `backendInfo()` can say so. Process-wide.
struct BackendFallbacks {
  uint64_t routers = 0;     // how many routers moved to the CPU backend
  std::string firstReason;  // the error that moved the first of them (later ones often follow from it)
  std::string lastReason;
};
void noteBackendFallback(const std::string& reason);
BackendFallbacks backendFallbacks();

}  // namespace routecore
