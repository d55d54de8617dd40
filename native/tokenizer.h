// A tokenizer for the Hugging Face `tokenizer.json` format, the part of it that static
// (model2vec) and sentence-transformer encoders use: text -> token ids, no special tokens added
// (what model2vec asks of its tokenizer).
//
// Supported: models WordPiece and Unigram; normalizers BertNormalizer, Lowercase, StripAccents,
// NFD, Strip, Replace (string patterns), Prepend and Sequence of them; pre-tokenizers
// BertPreTokenizer, Metaspace, WhitespaceSplit and Sequence of them; added tokens (split out of the
// raw text, or of the normalized text when they are "normalized"). Anything else in the file is
// refused with ErrorCode::BadModel naming the field, never silently tokenized differently.
//
// Behaviour follows the `tokenizers` crate (the reference of model2vec and sentence-transformers);
// test/tokenizer-parity.test.ts checks ids against @huggingface/tokenizers on real files.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace routecore {

class Tokenizer {
 public:
  /// Parses a tokenizer.json. Throws ErrorCode::BadModel naming `source` and what is wrong or
  /// unsupported.
  static std::unique_ptr<Tokenizer> fromJson(std::string_view json, const std::string& source);
  virtual ~Tokenizer() = default;

  /// Appends the ids of UTF-8 `text` to `out` (invalid UTF-8 reads as U+FFFD). Thread-safe.
  virtual void encode(const char* text, size_t len, std::vector<uint32_t>& out) const = 0;
  /// One more than the largest id encode() can return.
  virtual uint32_t vocabSize() const = 0;
  /// The id of the unknown token, or UINT32_MAX when the model has none.
  virtual uint32_t unkId() const = 0;
  /// "WordPiece" or "Unigram".
  virtual const char* modelType() const = 0;
};

}  // namespace routecore
