// The `knn` predictor: cosine k-nearest training prompts.
//
// Prompts become unit vectors: a precomputed router uses the caller's embeddings; a hashing router
// projects its sparse TF-IDF row to `dim` dimensions with a sparse random sign projection (each hash
// bucket adds ±value to kProjectionNonzeros hashed coordinates: a Johnson–Lindenstrauss sketch
// that keeps cosines within about 1/sqrt(dim), like a dense ±1 projection), because a dense table
// of 2^16-wide references would not fit and a dense matrix product is what both backends do
// fastest. Positions and signs are hashed from (seed, bucket) on the fly: nothing of the projection
// is stored but its seed. Measured at dim 256: a dense ±1 table (F16) read per feature cost ~390 µs
// per ≈500-character prompt (scattered cache misses); dense signs hashed on the fly 146 µs and
// these 8 hashed coordinates 58 µs per 3,000-feature row (one core, microbenchmark).
//
// Two ways to turn neighbours into scores:
//  - outcome records: the similarity-weighted mean of the neighbours' scores per model (RouterBench
//    KNN, weighted); a model none of the neighbours has gets its training mean;
//  - pairwise records (RouteLLM's similarity-weighted ranking): a Bradley–Terry fit over the
//    neighbours' battles, each weighted by its similarity; model m's score is sigmoid(s_m), so that
//    P(a beats b) = sigmoid(logit q_a - logit q_b).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace routecore {

struct KnnOptions {
  uint32_t k = 20;
  // Projection width for hashing routers (ignored for precomputed ones). 128, not 256: 5-fold CV
  // on the training splits (routerbench, open7-gsm8k, open7-mmlu, routellm-gsm8k) was the same
  // within noise, and a lone query reads every reference, so half the width is half the memory
  // traffic (2,225 references x 256 floats = 2.2 MB, past L2).
  uint32_t dim = 128;
  uint64_t seed = 1;      // projection seed
  void validate() const;  // throws InvalidArgument naming the option
};

/// Coordinates each hash bucket touches in the knn projection.
constexpr uint32_t kProjectionNonzeros = 8;

/// The projection of one sparse row (count entries of index/value) of a hashing knn router to dim
/// floats (not normalised): each entry adds ±value at kProjectionNonzeros coordinates hashed from
/// (seed, bucket), the same on every platform.
void knnProject(const uint32_t* index, const float* value, size_t count, uint32_t dim, uint64_t seed, float* out);

/// Scales each row to unit L2 norm; an all-zero row stays zero.
void normalizeRows(float* x, size_t rows, uint32_t dim);

/// Similarity weight of one neighbour: its cosine, floored just above zero so that a query far
/// from everything still gets the plain mean of its neighbours.
inline float knnWeight(float similarity) {
  return similarity > 0.f ? similarity + 1e-6f : 1e-6f;
}

/// Outcome records: out[m] = weighted mean over neighbours with a score for m (refScores is
/// references x M, NaN = missing), else fallback[m]. Throws Internal for a neighbour index outside
/// [0, references): a searcher bug must not become an out-of-bounds read.
void knnWeightedMean(const uint32_t* index, const float* similarity, uint32_t k, const float* refScores,
                     uint32_t references, uint32_t M, const float* fallback, float* out);

/// Pairwise records: Bradley–Terry strengths fitted by Newton's method on the neighbours' battles
/// (refPairs is references x 3: a, b, y), with an L2 prior of kPairwisePrior that keeps models
/// with no battle at 0.5 and every fit finite; out[m] = sigmoid(s_m).
constexpr double kPairwisePrior = 0.1;
/// Throws Internal for a neighbour index outside [0, references) or a battle naming a model >= M.
void knnBradleyTerry(const uint32_t* index, const float* similarity, uint32_t k, const float* refPairs,
                     uint32_t references, uint32_t M, float* out);

}  // namespace routecore
