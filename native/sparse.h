// A batch of sparse feature rows in CSR layout: row r owns entries [rowStart[r], rowStart[r+1]).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace routecore {

struct CsrBatch {
  std::vector<uint32_t> rowStart{0};  // size rows()+1
  std::vector<uint32_t> index;        // feature (bucket) ids
  std::vector<float> value;           // feature values

  size_t rows() const { return rowStart.size() - 1; }
  size_t nnz() const { return index.size(); }
  void clear() {
    rowStart.assign(1, 0);
    index.clear();
    value.clear();
  }
};

}  // namespace routecore
