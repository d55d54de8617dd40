#include "hashing_encoder.h"

#include <cmath>

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

inline uint64_t step(uint64_t h, uint32_t cp) { return (h ^ cp) * kFnvPrime; }

// Prompts are mostly ASCII: classify those inline and call into the Unicode tables only beyond.
inline bool wordChar(uint32_t c) {
  if (c < 128) return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || (c >= 'A' && c <= 'Z');
  return isWordChar(c);
}
inline bool standalone(uint32_t c) { return c >= 0x0E00 && isStandaloneWordChar(c); }

// Every n-gram's bucket is appended to `touched`, repeats included: testing "first time in this
// bucket?" was a branch the CPU mispredicted on most n-grams. Readers of `touched` zero each count
// as they take it, so a repeat finds 0 and is skipped. `touched` is sized for the worst case first.
struct Counter {
  int32_t* counts;
  uint32_t* touched;
  size_t n = 0;
  uint32_t shift;  // 64 - log2Buckets: the top bits pick the bucket, the lowest bit the sign
  inline void add(uint64_t hash) {
    uint64_t f = finalize(hash);
    uint32_t bucket = static_cast<uint32_t>(f >> shift);
    counts[bucket] += static_cast<int32_t>(f & 1) * 2 - 1;
    touched[n++] = bucket;
  }
};

// 1 + ln(c) for small counts, which cover nearly every bucket of a prompt.
struct SublinearTable {
  float v[256];
  SublinearTable() {
    v[0] = 0.f;
    for (int c = 1; c < 256; ++c) v[c] = 1.f + std::log(static_cast<float>(c));
  }
};
const SublinearTable kSublinear;

inline float sublinear(int32_t c) {
  uint32_t a = static_cast<uint32_t>(c < 0 ? -c : c);
  float w = a < 256 ? kSublinear.v[a] : 1.f + std::log(static_cast<float>(a));
  return c < 0 ? -w : w;
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
                                            " entries but the encoder has " +
                                            std::to_string(config_.buckets()) + " buckets");
}

void HashingEncoder::countBuckets(const HashingConfig& config, const char* text, size_t len,
                                  EncodeScratch& s) {
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
  Counter counter{s.counts.data(), s.touched.data(), 0, 64 - config.log2Buckets};
  struct Trim {  // leaves `touched` holding exactly what was counted, on every return path
    EncodeScratch& s;
    Counter& c;
    ~Trim() { s.touched.resize(c.n); }
  } trim{s, counter};
  if (n == 2) return;  // nothing but the padding

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
    for (size_t i = 0; i + lo <= n; ++i) {
      uint64_t h = kSeedChar;
      size_t end = i + hi <= n ? hi : n - i;
      for (size_t j = 0; j < end; ++j) {
        h = step(h, cp[i + j]);
        if (j + 1 >= lo) counter.add(h ^ (j + 1));
      }
    }
  }
}

void HashingEncoder::encode(const char* text, size_t len, EncodeScratch& s, CsrBatch& out) const {
  countBuckets(config_, text, len, s);
  const size_t start = out.index.size();
  double norm2 = 0;
  for (uint32_t b : s.touched) {
    int32_t c = s.counts[b];
    s.counts[b] = 0;  // leave scratch zeroed for the next call
    if (c == 0) continue;  // n-grams that cancelled out
    float w = sublinear(c) * idf_[b];
    out.index.push_back(b);
    out.value.push_back(w);
    norm2 += static_cast<double>(w) * w;
  }
  if (norm2 > 0) {
    float inv = static_cast<float>(1.0 / std::sqrt(norm2));
    for (size_t k = start; k < out.value.size(); ++k) out.value[k] *= inv;
  }
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
