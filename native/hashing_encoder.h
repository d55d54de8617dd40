// The `hashing` encoder: text -> sparse TF-IDF features over hashed n-grams.
//
// Folded text (unicode_fold.h) is cut into word 1..wordNgramMax-grams and character
// charNgramMin..charNgramMax-grams; each n-gram is hashed (64-bit, seeded per n-gram kind) to one
// of 2^log2Buckets buckets with a sign bit, so colliding n-grams tend to cancel rather than add.
// A bucket's signed count c becomes sign(c)(1 + ln|c|) (sublinear TF), times the bucket's IDF
// fitted at training time, and the row is L2-normalised.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sparse.h"

namespace routecore {

struct HashingConfig {
  uint32_t log2Buckets = 16;
  uint32_t wordNgramMax = 2;  // 0 disables word n-grams
  uint32_t charNgramMin = 3;
  uint32_t charNgramMax = 5;  // 0 disables character n-grams
  uint32_t buckets() const { return 1u << log2Buckets; }
  void validate() const;  // throws InvalidArgument
};

/// Per-thread scratch space, reused across calls so encoding allocates nothing once warm.
struct EncodeScratch {
  std::vector<uint32_t> codepoints;
  std::vector<int32_t> counts;    // [buckets], zero between calls
  std::vector<uint32_t> touched;  // every bucket counted, in order, repeats included
};

class HashingEncoder {
 public:
  HashingEncoder(const HashingConfig& config, std::vector<float> idf);
  const HashingConfig& config() const { return config_; }
  const std::vector<float>& idf() const { return idf_; }

  /// Appends one L2-normalised row to `out` (buckets in first-seen order: the consumers only sum
  /// over a row, so sorting would be wasted time). Empty text gives an empty row.
  void encode(const char* text, size_t len, EncodeScratch& scratch, CsrBatch& out) const;

  /// Counts, for each bucket, the documents whose row touches it, and returns smoothed IDF:
  /// ln((1 + n) / (1 + df)) + 1, the scikit-learn convention.
  static std::vector<float> fitIdf(const HashingConfig& config, const std::vector<std::string>& docs);

  /// Signed bucket counts before weighting (what fitIdf and encode share). Exposed for tests.
  static void countBuckets(const HashingConfig& config, const char* text, size_t len, EncodeScratch& scratch);

 private:
  HashingConfig config_;
  std::vector<float> idf_;
};

}  // namespace routecore
