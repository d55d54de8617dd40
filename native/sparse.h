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

/// Appends dense rows (rows x dim, row-major) as sparse rows that use every column: how dense
/// input reaches code written for sparse rows (training, a backend's generic dense path).
inline void appendDenseRows(const float* x, size_t rows, uint32_t dim, CsrBatch& out) {
  out.index.reserve(out.index.size() + rows * dim);
  out.value.reserve(out.value.size() + rows * dim);
  for (size_t r = 0; r < rows; ++r) {
    for (uint32_t j = 0; j < dim; ++j) {
      out.index.push_back(j);
      out.value.push_back(x[r * dim + j]);
    }
    out.rowStart.push_back(static_cast<uint32_t>(out.index.size()));
  }
}

}  // namespace routecore
