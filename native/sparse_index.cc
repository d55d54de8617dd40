#include "sparse_index.h"

#include <string>

#include "error.h"

namespace routecore {

void checkRowStarts(const uint32_t* start, size_t rows, size_t entries, const char* what) {
  if (start[0] > entries)
    throw Error(ErrorCode::InvalidArgument, std::string(what) + " row start 0 is past the entries");
  for (size_t r = 0; r < rows; ++r) {
    if (start[r + 1] < start[r] || start[r + 1] > entries)
      throw Error(ErrorCode::InvalidArgument,
                  std::string(what) + " row start " + std::to_string(r + 1) + " is out of order or past the entries");
  }
}

SparseIndex::SparseIndex(const uint32_t* rowStart, size_t rows, const uint32_t* index, const float* value,
                         size_t entries, size_t buckets)
    : rows_(rows), buckets_(buckets), start_(buckets + 1, 0) {
  if (buckets == 0) throw Error(ErrorCode::InvalidArgument, "a sparse index needs at least one bucket");
  checkRowStarts(rowStart, rows, entries, "indexed");
  for (size_t e = rowStart[0]; e < rowStart[rows]; ++e)
    if (index[e] < buckets) ++start_[index[e] + 1];
  for (size_t c = 0; c < buckets; ++c) start_[c + 1] += start_[c];
  postRow_.resize(start_[buckets]);
  postValue_.resize(start_[buckets]);
  std::vector<uint32_t> fill(start_.begin(), start_.end() - 1);
  // Rows in order: each bucket's postings are in row order, the order the similarities add them in.
  for (size_t r = 0; r < rows; ++r) {
    for (uint32_t e = rowStart[r]; e < rowStart[r + 1]; ++e) {
      const uint32_t c = index[e];
      if (c >= buckets) continue;
      const uint32_t at = fill[c]++;
      postRow_[at] = static_cast<uint32_t>(r);
      postValue_[at] = value[e];
    }
  }
}

void SparseIndex::similarities(const uint32_t* queryStart, size_t count, const uint32_t* queryIndex,
                               const float* queryValue, size_t queryEntries, float* out) const {
  checkRowStarts(queryStart, count, queryEntries, "query");
  const uint32_t* postRow = postRow_.data();
  const float* postValue = postValue_.data();
  for (size_t q = 0; q < count; ++q) {
    float* sim = out + q * rows_;
    for (size_t r = 0; r < rows_; ++r) sim[r] = 0.0f;
    for (uint32_t e = queryStart[q]; e < queryStart[q + 1]; ++e) {
      const uint32_t c = queryIndex[e];
      if (c >= buckets_) continue;
      const double v = queryValue[e];
      for (uint32_t p = start_[c], end = start_[c + 1]; p < end; ++p) {
        float& s = sim[postRow[p]];
        // As TypeScript's `sim[row] += v * value` on a Float32Array: the sum in double, then rounded.
        s = static_cast<float>(static_cast<double>(s) + v * static_cast<double>(postValue[p]));
      }
    }
  }
}

}  // namespace routecore
