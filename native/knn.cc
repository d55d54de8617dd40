#include "knn.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "error.h"

namespace routecore {

void KnnOptions::validate() const {
  if (k < 1 || k > 256)
    throw Error(ErrorCode::InvalidArgument, "options.k must be in [1, 256], got " + std::to_string(k));
  if (dim < 8 || dim > 4096 || dim % 8 != 0)
    throw Error(ErrorCode::InvalidArgument,
                "options.dim must be a multiple of 8 in [8, 4096], got " + std::to_string(dim));
}

namespace {

inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

void knnProject(const uint32_t* index, const float* value, size_t count, uint32_t dim, uint64_t seed, float* out) {
  std::fill(out, out + dim, 0.f);
  const uint64_t base = mix64(seed ^ 0x6b6e6e70726f6a31ULL);
  for (size_t i = 0; i < count; ++i) {
    uint32_t vbits;
    std::memcpy(&vbits, &value[i], sizeof vbits);
    // Two 64-bit hashes give the bucket's kProjectionNonzeros (position, sign) pairs: 16 bits
    // each, 15 for the position (scaled to [0, dim) by a multiply and shift: a division per
    // coordinate cost more than the rest of the projection), 1 for the sign.
    const uint64_t key = base + static_cast<uint64_t>(index[i]) * 2;
    for (uint32_t half = 0; half < 2; ++half) {
      uint64_t bits = mix64(key + half);
      for (uint32_t t = 0; t < kProjectionNonzeros / 2; ++t, bits >>= 16) {
        const uint32_t field = static_cast<uint32_t>(bits & 0xffff);
        // The sign bit flips v's own sign bit: a branch here mispredicted half the time.
        const uint32_t signed_ = vbits ^ ((~field & 0x8000u) << 16);
        float add;
        std::memcpy(&add, &signed_, sizeof add);
        out[((field & 0x7fff) * dim) >> 15] += add;
      }
    }
  }
}

void normalizeRows(float* x, size_t rows, uint32_t dim) {
  for (size_t r = 0; r < rows; ++r) {
    float* row = x + r * dim;
    double n = 0;
    for (uint32_t j = 0; j < dim; ++j) n += static_cast<double>(row[j]) * row[j];
    if (n <= 0) continue;
    const float inv = static_cast<float>(1.0 / std::sqrt(n));
    for (uint32_t j = 0; j < dim; ++j) row[j] *= inv;
  }
}

namespace {
void requireNeighbours(const uint32_t* index, uint32_t k, uint32_t references) {
  for (uint32_t i = 0; i < k; ++i)
    if (index[i] >= references)
      throw Error(ErrorCode::Internal, "knn neighbour " + std::to_string(i) + " is reference " +
                                           std::to_string(index[i]) + " of " + std::to_string(references));
}
}  // namespace

void knnWeightedMean(const uint32_t* index, const float* similarity, uint32_t k, const float* refScores,
                     uint32_t references, uint32_t M, const float* fallback, float* out) {
  requireNeighbours(index, k, references);
  for (uint32_t m = 0; m < M; ++m) {
    double num = 0, den = 0;
    for (uint32_t i = 0; i < k; ++i) {
      const float y = refScores[static_cast<size_t>(index[i]) * M + m];
      if (std::isnan(y)) continue;
      const double w = knnWeight(similarity[i]);
      num += w * y;
      den += w;
    }
    out[m] = den > 0 ? static_cast<float>(num / den) : fallback[m];
  }
}

namespace {

// Solves A x = b for a symmetric positive-definite A (n x n, overwritten) by Cholesky.
void solveSpd(std::vector<double>& A, std::vector<double>& b, uint32_t n) {
  for (uint32_t j = 0; j < n; ++j) {
    double d = A[j * n + j];
    for (uint32_t p = 0; p < j; ++p) d -= A[j * n + p] * A[j * n + p];
    d = std::sqrt(std::max(d, 1e-12));
    A[j * n + j] = d;
    for (uint32_t i = j + 1; i < n; ++i) {
      double v = A[i * n + j];
      for (uint32_t p = 0; p < j; ++p) v -= A[i * n + p] * A[j * n + p];
      A[i * n + j] = v / d;
    }
  }
  for (uint32_t i = 0; i < n; ++i) {
    double v = b[i];
    for (uint32_t p = 0; p < i; ++p) v -= A[i * n + p] * b[p];
    b[i] = v / A[i * n + i];
  }
  for (uint32_t i = n; i-- > 0;) {
    double v = b[i];
    for (uint32_t p = i + 1; p < n; ++p) v -= A[p * n + i] * b[p];
    b[i] = v / A[i * n + i];
  }
}

inline double sigmoidD(double z) {
  return 1.0 / (1.0 + std::exp(-z));
}

}  // namespace

void knnBradleyTerry(const uint32_t* index, const float* similarity, uint32_t k, const float* refPairs,
                     uint32_t references, uint32_t M, float* out) {
  requireNeighbours(index, k, references);
  for (uint32_t i = 0; i < k; ++i) {
    const float* p = refPairs + static_cast<size_t>(index[i]) * 3;
    if (!(p[0] >= 0 && p[0] < M && p[1] >= 0 && p[1] < M))
      throw Error(ErrorCode::Internal,
                  "knn battle " + std::to_string(index[i]) + " names a model outside [0, " + std::to_string(M) + ")");
  }
  // Maximise sum_i w_i [y_i log s(d_i) + (1 - y_i) log s(-d_i)] - prior/2 |s|^2, d_i = s_a - s_b.
  // Concave with a positive-definite Hessian (the prior), so Newton converges in a few steps.
  std::vector<double> s(M, 0.0), grad(M), hess(static_cast<size_t>(M) * M);
  for (int iter = 0; iter < 25; ++iter) {
    for (uint32_t m = 0; m < M; ++m) grad[m] = -kPairwisePrior * s[m];
    std::fill(hess.begin(), hess.end(), 0.0);
    for (uint32_t m = 0; m < M; ++m) hess[static_cast<size_t>(m) * M + m] = kPairwisePrior;
    for (uint32_t i = 0; i < k; ++i) {
      const float* p = refPairs + static_cast<size_t>(index[i]) * 3;
      const uint32_t a = static_cast<uint32_t>(p[0]), b = static_cast<uint32_t>(p[1]);
      const double w = knnWeight(similarity[i]);
      const double q = sigmoidD(s[a] - s[b]);
      const double g = w * (p[2] - q), h = w * q * (1 - q);
      grad[a] += g;
      grad[b] -= g;
      hess[static_cast<size_t>(a) * M + a] += h;
      hess[static_cast<size_t>(b) * M + b] += h;
      hess[static_cast<size_t>(a) * M + b] -= h;
      hess[static_cast<size_t>(b) * M + a] -= h;
    }
    solveSpd(hess, grad, M);  // grad now holds the Newton step
    double step = 0;
    for (uint32_t m = 0; m < M; ++m) {
      s[m] += grad[m];
      step = std::max(step, std::fabs(grad[m]));
    }
    if (step < 1e-7) break;
  }
  for (uint32_t m = 0; m < M; ++m) out[m] = static_cast<float>(sigmoidD(s[m]));
}

}  // namespace routecore
