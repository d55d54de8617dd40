// libFuzzer harness: Unicode folding and the hashing encoder on arbitrary bytes (invalid UTF-8,
// lone surrogates encoded as CESU-8, overlong forms, every script). The first byte picks the
// encoder configuration, the rest is the prompt. Invariants: folded code points are valid scalar
// values; every feature index is inside the bucket range; values are finite; a non-empty row has
// unit L2 norm.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "error.h"
#include "hashing_encoder.h"
#include "unicode_fold.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t pick = data[0];
  const char* text = reinterpret_cast<const char*>(data + 1);
  const size_t len = size - 1;

  std::vector<uint32_t> folded;
  routecore::foldUtf8(text, len, folded);
  for (uint32_t cp : folded)
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000) || cp < 0x20) std::abort();

  routecore::HashingConfig cfg;
  cfg.log2Buckets = 8 + (pick & 3);
  cfg.wordNgramMax = (pick >> 2) & 3;
  cfg.charNgramMin = 1 + ((pick >> 4) & 3);
  cfg.charNgramMax = (pick & 0x40) ? cfg.charNgramMin + 2 : 0;
  if (cfg.wordNgramMax == 0 && cfg.charNgramMax == 0) cfg.wordNgramMax = 1;
  cfg.validate();
  static std::vector<float> idf[4];
  std::vector<float>& w = idf[pick & 3];
  if (w.empty()) w.assign(cfg.buckets(), 1.5f);
  routecore::HashingEncoder encoder(cfg, w);
  routecore::EncodeScratch scratch;
  routecore::CsrBatch batch;
  encoder.encode(text, len, scratch, batch);
  if (batch.rows() != 1) std::abort();
  double norm2 = 0;
  for (size_t i = 0; i < batch.nnz(); ++i) {
    if (batch.index[i] >= cfg.buckets() || !std::isfinite(batch.value[i])) std::abort();
    norm2 += static_cast<double>(batch.value[i]) * batch.value[i];
  }
  if (batch.nnz() > 0 && norm2 > 0 && std::fabs(norm2 - 1) > 1e-3) std::abort();
  // The scratch's bucket counts must be back to zero for the next call (encode's contract).
  for (int32_t c : scratch.counts)
    if (c != 0) std::abort();
  return 0;
}
