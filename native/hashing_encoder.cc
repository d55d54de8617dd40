#include "hashing_encoder.h"

#include <cmath>
#include <cstring>

#include "error.h"
#include "unicode_fold.h"

namespace routecore {

namespace {

// Distinct seeds keep a word "abc" and the character trigram "abc" in different buckets.
constexpr uint64_t kSeedWord = 0x9e3779b97f4a7c15ULL;
constexpr uint64_t kSeedBigram = 0xc2b2ae3d27d4eb4fULL;
constexpr uint64_t kSeedChar = 0x165667b19e3779f9ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;

// MurmurHash3's 64-bit finaliser: FNV's low bits are weak, this spreads every input bit.
inline uint64_t finalize(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

inline uint64_t step(uint64_t h, uint32_t cp) {
  return (h ^ cp) * kFnvPrime;
}

// Prompts are mostly ASCII: classify those inline and call into the Unicode tables only beyond.
inline bool wordChar(uint32_t c) {
  if (c < 128) return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || (c >= 'A' && c <= 'Z');
  return isWordChar(c);
}
inline bool standalone(uint32_t c) {
  return c >= 0x0E00 && isStandaloneWordChar(c);
}

// Every n-gram's bucket is appended to `touched`, repeats included: testing "first time in this
// bucket?" was a branch the CPU mispredicted on most n-grams. Readers of `touched` zero each count
// as they take it, so a repeat finds 0 and is skipped. `touched` is sized for the worst case first.
//
// A local value whose address never escapes, with a 64-bit shift: then the compiler keeps all of it
// in registers. When it was referenced from elsewhere, or `shift` was a uint32_t (which the stores
// through `touched` may alias), every add reloaded and stored `n` and `shift`, a chain through memory.
struct Counter {
  int32_t* counts;
  uint32_t* touched;
  size_t n;
  uint64_t shift;  // 64 - log2Buckets: the top bits pick the bucket, the lowest bit the sign
  inline void add(uint64_t hash) {
    uint64_t f = finalize(hash);
    uint32_t bucket = static_cast<uint32_t>(f >> shift);
    counts[bucket] += static_cast<int32_t>(f & 1) * 2 - 1;
    touched[n++] = bucket;
  }
};

// Character kLo..kHi-grams at every position with a full window of kHi code points; returns the
// first position it did not take. Inlined into countBuckets so `counter` stays in registers.
template <size_t kLo, size_t kHi>
__attribute__((always_inline)) inline size_t countCharNgramsFixed(const uint32_t* cp, size_t n, Counter& counter) {
  size_t i = 0;
  for (; i + kHi <= n; ++i) {
    uint64_t h = kSeedChar;
#pragma GCC unroll 8
    for (size_t j = 0; j < kHi; ++j) {
      h = step(h, cp[i + j]);
      if (j + 1 >= kLo) counter.add(h ^ (j + 1));
    }
  }
  return i;
}

// 1 + ln(c) for small counts, which cover nearly every bucket of a prompt.
struct SublinearTable {
  float v[256];
  SublinearTable() {
    v[0] = 0.f;
    for (int c = 1; c < 256; ++c) v[c] = 1.f + std::log(static_cast<float>(c));
  }
};
const SublinearTable kSublinear;

// sign(c)(1 + ln|c|), 0 for 0, with the sign applied by a bit operation rather than a branch.
inline float signedSublinear(int32_t c) {
  const uint32_t signBit = static_cast<uint32_t>(c) & 0x80000000u;
  const uint32_t a = c < 0 ? 0u - static_cast<uint32_t>(c) : static_cast<uint32_t>(c);
  const float w = a < 256 ? kSublinear.v[a] : 1.f + std::log(static_cast<float>(a));
  uint32_t bits;
  std::memcpy(&bits, &w, sizeof bits);
  bits ^= signBit;
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

}  // namespace

void HashingConfig::validate() const {
  if (log2Buckets < 8 || log2Buckets > 24)
    throw Error(ErrorCode::InvalidArgument,
                "encoder.log2_buckets must be in [8, 24], got " + std::to_string(log2Buckets));
  if (wordNgramMax > 3)
    throw Error(ErrorCode::InvalidArgument,
                "encoder.word_ngram_max must be in [0, 3], got " + std::to_string(wordNgramMax));
  if (charNgramMax != 0 && (charNgramMin < 1 || charNgramMin > charNgramMax || charNgramMax > 8))
    throw Error(ErrorCode::InvalidArgument, "encoder.char_ngram range must satisfy 1 <= min <= max <= 8, got " +
                                                std::to_string(charNgramMin) + ".." + std::to_string(charNgramMax));
  if (wordNgramMax == 0 && charNgramMax == 0)
    throw Error(ErrorCode::InvalidArgument, "encoder has neither word nor character n-grams");
}

HashingEncoder::HashingEncoder(const HashingConfig& config, std::vector<float> idf)
    : config_(config), idf_(std::move(idf)) {
  config_.validate();
  if (idf_.size() != config_.buckets())
    throw Error(ErrorCode::BadArtifact, "encoder.idf has " + std::to_string(idf_.size()) +
                                            " entries but the encoder has " + std::to_string(config_.buckets()) +
                                            " buckets");
}

void HashingEncoder::countBuckets(const HashingConfig& config, const char* text, size_t len, EncodeScratch& s) {
  s.codepoints.clear();
  // Pad with spaces so character n-grams see word starts and ends.
  s.codepoints.push_back(' ');
  foldUtf8(text, len, s.codepoints);
  s.codepoints.push_back(' ');
  if (s.counts.size() != config.buckets()) s.counts.assign(config.buckets(), 0);
  const uint32_t* cp = s.codepoints.data();
  const size_t n = s.codepoints.size();
  // At most one word n-gram of each order per word start and one character n-gram of each length
  // per position.
  const size_t charLengths = config.charNgramMax > 0 ? config.charNgramMax - config.charNgramMin + 1 : 0;
  s.touched.resize(n * (config.wordNgramMax + charLengths));
  Counter counter{s.counts.data(), s.touched.data(), 0, 64u - config.log2Buckets};
  if (n == 2) {  // nothing but the padding
    s.touched.clear();
    return;
  }

  if (config.wordNgramMax > 0) {
    uint64_t prev = 0, prev2 = 0;
    int have = 0;  // how many previous words are in prev/prev2
    size_t i = 0;
    while (i < n) {
      uint32_t c = cp[i];
      uint64_t h = kSeedWord;
      if (standalone(c)) {
        h = step(h, c);
        ++i;
      } else if (wordChar(c)) {
        while (i < n && wordChar(cp[i]) && !standalone(cp[i])) h = step(h, cp[i++]);
      } else {
        ++i;
        continue;
      }
      counter.add(h);
      if (config.wordNgramMax >= 2 && have >= 1) counter.add(kSeedBigram ^ (prev * kFnvPrime + h));
      if (config.wordNgramMax >= 3 && have >= 2)
        counter.add(kSeedBigram ^ ((prev2 * kFnvPrime + prev) * kFnvPrime + h) ^ 3);
      prev2 = prev;
      prev = h;
      if (have < 2) ++have;
    }
  }

  if (config.charNgramMax > 0) {
    const size_t lo = config.charNgramMin, hi = config.charNgramMax;
    size_t i = 0;
    // Positions with a full window of hi characters, for the usual ranges, with the lengths known
    // to the compiler: the unrolled loop has no per-length branch (11% less counting time, measured
    // on the P1 prompts). Same n-grams, same order as the loop below.
    if (lo == 3 && hi == 5)
      i = countCharNgramsFixed<3, 5>(cp, n, counter);
    else if (lo == 2 && hi == 4)
      i = countCharNgramsFixed<2, 4>(cp, n, counter);
    else if (lo == 3 && hi == 4)
      i = countCharNgramsFixed<3, 4>(cp, n, counter);
    for (; i + lo <= n; ++i) {
      uint64_t h = kSeedChar;
      size_t end = i + hi <= n ? hi : n - i;
      for (size_t j = 0; j < end; ++j) {
        h = step(h, cp[i + j]);
        if (j + 1 >= lo) counter.add(h ^ (j + 1));
      }
    }
  }
  s.touched.resize(counter.n);  // nothing after the counting can throw
}

void HashingEncoder::encode(const char* text, size_t len, EncodeScratch& s, CsrBatch& out) const {
  countBuckets(config_, text, len, s);
  // Written through raw pointers into space sized for the worst case (every n-gram its own bucket)
  // and trimmed after: push_back's capacity check and the vectors' members, which the compiler
  // reloaded on every feature for fear of aliasing, took as long as the weighting itself.
  const size_t start = out.index.size();
  out.index.resize(start + s.touched.size());
  out.value.resize(start + s.touched.size());
  uint32_t* index = out.index.data() + start;
  float* value = out.value.data() + start;
  int32_t* counts = s.counts.data();
  const float* idf = idf_.data();
  size_t kept = 0;
  // Branch-free: whether a count is 0 (a repeat of a bucket already taken, or n-grams that
  // cancelled out) and its sign are coin flips to the branch predictor, and the mispredictions cost
  // more than the rest of the loop. A zero count is written and then overwritten by the next one.
  for (uint32_t b : s.touched) {
    const int32_t c = counts[b];
    counts[b] = 0;  // leave scratch zeroed for the next call
    index[kept] = b;
    value[kept] = signedSublinear(c) * idf[b];
    kept += c != 0;
  }
  // Four partial sums: one running double sum is a chain of dependent adds.
  double n0 = 0, n1 = 0, n2 = 0, n3 = 0;
  size_t k = 0;
  for (; k + 4 <= kept; k += 4) {
    n0 += static_cast<double>(value[k]) * value[k];
    n1 += static_cast<double>(value[k + 1]) * value[k + 1];
    n2 += static_cast<double>(value[k + 2]) * value[k + 2];
    n3 += static_cast<double>(value[k + 3]) * value[k + 3];
  }
  for (; k < kept; ++k) n0 += static_cast<double>(value[k]) * value[k];
  const double norm2 = (n0 + n1) + (n2 + n3);
  if (norm2 > 0) {
    const float inv = static_cast<float>(1.0 / std::sqrt(norm2));
    for (k = 0; k < kept; ++k) value[k] *= inv;
  }
  out.index.resize(start + kept);
  out.value.resize(start + kept);
  out.rowStart.push_back(static_cast<uint32_t>(out.index.size()));
}

std::vector<float> HashingEncoder::fitIdf(const HashingConfig& config, const std::vector<std::string>& docs) {
  config.validate();
  std::vector<uint32_t> df(config.buckets(), 0);
  EncodeScratch s;
  for (const auto& d : docs) {
    countBuckets(config, d.data(), d.size(), s);
    for (uint32_t b : s.touched) {
      if (s.counts[b] != 0) ++df[b];
      s.counts[b] = 0;
    }
  }
  std::vector<float> idf(config.buckets());
  const double n = static_cast<double>(docs.size());
  for (size_t b = 0; b < idf.size(); ++b) idf[b] = static_cast<float>(std::log((1.0 + n) / (1.0 + df[b])) + 1.0);
  return idf;
}

}  // namespace routecore
