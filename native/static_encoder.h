// The `static` encoder, model2vec's StaticModel: tokenize, look up one row of an embedding table
// per token, take the (optionally per-token weighted) mean and L2-normalise. No network runs, so a
// prompt costs its tokenization plus one row gather per token.
//
// The model is what model2vec's potion models ship: tokenizer.json (tokenizer.h) and
// model.safetensors holding "embeddings" [vocab x dim] (F32, F16, BF16 or F64), optionally
// "weights" [vocab] (per-token weights) and "mapping" [vocab] (token id -> table row, for
// vocabulary-quantized models). As model2vec does, the unknown token is skipped and a prompt keeps
// at most maxTokens tokens; a prompt with no known token encodes to all zeros.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sparse.h"
#include "tokenizer.h"

namespace routecore {

struct StaticTables {
  uint32_t rows = 0, dim = 0;
  std::vector<float> embeddings;  // rows x dim
  std::vector<float> weights;     // empty, or one per token id
  std::vector<uint32_t> mapping;  // empty, or token id -> row
  bool storedHalf = false;        // the source held F16 values (a router may store them so again)
};

class StaticEncoder {
 public:
  /// Checks that every id the tokenizer can produce has a row (and a weight and a mapping entry
  /// when those are given). Throws ErrorCode::BadModel naming `source`.
  StaticEncoder(std::string tokenizerJson, StaticTables tables, uint32_t maxTokens, const std::string& source);

  /// Reads model2vec's files: tokenizer.json text and model.safetensors bytes. halfTable rounds a
  /// wider table to binary16 (then held and gathered as such: half the memory traffic of a
  /// gather, cosines moved by ~1e-4); an F16 table is binary16 either way.
  static std::unique_ptr<StaticEncoder> fromFiles(const std::string& tokenizerJson, const std::string& tokenizerSource,
                                                  const uint8_t* safetensors, size_t size,
                                                  const std::string& safetensorsSource, uint32_t maxTokens,
                                                  bool halfTable = false);

  /// Writes dim() floats: the L2-normalised weighted mean of the prompt's token rows.
  /// Returns the number of tokens used (0: the row is all zeros). Thread-safe.
  uint32_t encode(const char* text, size_t len, float* out) const;
  /// Appends one CSR row for `text`: the table row of each token encode() would average, its
  /// weight as the value (what a StaticGatherer takes).
  void tokenRow(const char* text, size_t len, CsrBatch& out) const;
  /// The token ids encode() would average (unknowns dropped, truncated to maxTokens).
  void tokenIds(const char* text, size_t len, std::vector<uint32_t>& ids) const;

  uint32_t dim() const { return tables_.dim; }
  uint32_t maxTokens() const { return maxTokens_; }
  const StaticTables& tables() const { return tables_; }
  const std::string& tokenizerJson() const { return tokenizerJson_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  size_t weightBytes() const;

 private:
  std::string tokenizerJson_;
  std::unique_ptr<Tokenizer> tokenizer_;
  StaticTables tables_;
  // An F16 table is also kept as binary16 for the gather: half the memory traffic of the rows a
  // prompt reads, which (not the arithmetic) is what a gather costs once the table leaves cache.
  std::vector<uint16_t> half_;
  uint32_t maxTokens_;
};

/// model2vec's default: at most 512 tokens of a prompt are averaged.
constexpr uint32_t kStaticDefaultMaxTokens = 512;

}  // namespace routecore
