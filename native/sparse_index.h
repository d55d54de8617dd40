// An inverted index over sparse rows: the similarity scatter of the served TF-IDF kNN router
// (src/routing/tfidf-knn.ts keeps the neighbour selection and the weighted means).
//
// A query's similarity to every indexed row is the sum, over the query's entries, of the entry's
// value times each posting's value in that bucket. Accumulated exactly as the TypeScript index it
// replaces did (a float32 per row; each term added in double, then rounded to float; query entries
// in order, postings in row order), so a router scores the same with or without the addon's index,
// and `routecore eval` figures stand. Measured on open7's 7,598 training prompts (447 query
// entries, 344k postings read per query): 1.2 ms per query in TypeScript, 0.47 ms here.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace routecore {

/// Throws InvalidArgument (naming `what`'s row) unless the `rows` + 1 CSR row starts are in order
/// and within `entries`.
void checkRowStarts(const uint32_t* start, size_t rows, size_t entries, const char* what);

class SparseIndex {
 public:
  /// Indexes `rows` CSR rows (row r owns entries rowStart[r] .. rowStart[r + 1] of index/value; the
  /// starts index the whole arrays, so a caller may pass a window of a larger batch's starts).
  /// Entries at buckets >= `buckets` are left out, as the queries' are. Throws InvalidArgument for
  /// row starts out of order or past the entries.
  SparseIndex(const uint32_t* rowStart, size_t rows, const uint32_t* index, const float* value, size_t entries,
              size_t buckets);

  size_t rows() const { return rows_; }
  size_t buckets() const { return buckets_; }

  /// Similarities of `count` CSR query rows to every indexed row into out[count x rows()].
  /// Throws InvalidArgument for query row starts out of order or past the entries.
  void similarities(const uint32_t* queryStart, size_t count, const uint32_t* queryIndex, const float* queryValue,
                    size_t queryEntries, float* out) const;

 private:
  size_t rows_;
  size_t buckets_;
  std::vector<uint32_t> start_;  // buckets_ + 1 posting offsets
  std::vector<uint32_t> postRow_;
  std::vector<float> postValue_;
};

}  // namespace routecore
