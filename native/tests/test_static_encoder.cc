// The static (model2vec) encoder's parts: the tokenizer.json reader on small hand-made models (the
// parity with the reference on real files is test/tokenizer-parity.test.ts), the safetensors
// reader on hostile files, and the gather / weighted mean / L2 of StaticEncoder.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "artifact.h"
#include "check.h"
#include "error.h"
#include "safetensors.h"
#include "static_encoder.h"
#include "tokenizer.h"

using namespace routecore;

namespace {

const std::string kWordPiece = R"({
  "added_tokens": [{"id": 1, "content": "[UNK]", "normalized": false}],
  "normalizer": {"type": "BertNormalizer", "lowercase": true, "strip_accents": null, "clean_text": true, "handle_chinese_chars": true},
  "pre_tokenizer": {"type": "BertPreTokenizer"},
  "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 10,
            "vocab": {"[PAD]": 0, "[UNK]": 1, "hello": 2, "world": 3, "un": 4, "##aff": 5, "##able": 6, "!": 7, "cafe": 8, "中": 9}}
})";

const std::string kUnigram = R"({
  "normalizer": null,
  "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": true},
  "model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0], ["\u2581", -2], ["\u2581ab", -1], ["a", -3], ["b", -3], ["\u2581a", -2.5], ["c", -4]]}
})";

std::vector<uint32_t> ids(const Tokenizer& t, const std::string& s) {
  std::vector<uint32_t> out;
  t.encode(s.data(), s.size(), out);
  return out;
}

// A safetensors file of the given header and data section.
std::vector<uint8_t> fileOf(const std::string& header, const std::vector<uint8_t>& body) {
  std::string s(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(n >> (8 * i));
  s += header;
  s.append(body.begin(), body.end());
  return std::vector<uint8_t>(s.begin(), s.end());
}

std::vector<uint8_t> floatsBytes(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// The embeddings of the WordPiece model above: 10 tokens x 2 dims.
std::vector<float> table10x2() {
  std::vector<float> t(20);
  for (int i = 0; i < 10; ++i) t[i * 2] = static_cast<float>(i), t[i * 2 + 1] = 1.f;
  return t;
}

std::string tensorHeader(const std::string& dtype, const std::string& shape, uint64_t begin, uint64_t end,
                         const std::string& extra = "") {
  return "{\"embeddings\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
         std::to_string(begin) + "," + std::to_string(end) + "]}" + extra + "}";
}

}  // namespace

TEST(wordpiece_greedy_longest_match_with_bert_normalizer) {
  auto t = Tokenizer::fromJson(kWordPiece, "wp.json");
  CHECK(std::string(t->modelType()) == "WordPiece");
  CHECK(t->vocabSize() == 10);
  CHECK((ids(*t, "Hello, WORLD!") == std::vector<uint32_t>{2, 1, 3, 7}));  // ',' is not in the vocabulary
  CHECK((ids(*t, "unaffable") == std::vector<uint32_t>{4, 5, 6}));
  CHECK((ids(*t, "Café") == std::vector<uint32_t>{8}));                     // lower-cased, accent stripped
  CHECK((ids(*t, "unaffablex") == std::vector<uint32_t>{1}));               // one failed piece: the word is [UNK]
  CHECK((ids(*t, "helloworldhello") == std::vector<uint32_t>{1}));          // 15 chars > max_input_chars_per_word
  CHECK((ids(*t, "x中x") == std::vector<uint32_t>{1, 9, 1}));               // CJK padded with spaces
  CHECK((ids(*t, "hello [UNK] world") == std::vector<uint32_t>{2, 1, 3}));  // added token split from raw text
  CHECK(ids(*t, "").empty());
  CHECK(ids(*t, " \t\n ").empty());
  CHECK((ids(*t, "\xff hello") == std::vector<uint32_t>{2}));  // invalid UTF-8 -> U+FFFD, dropped by clean_text
}

TEST(unigram_viterbi_and_unknown_fusing) {
  auto t = Tokenizer::fromJson(kUnigram, "uni.json");
  CHECK(std::string(t->modelType()) == "Unigram");
  // "▁ab" (-1) beats "▁a" + "b" (-5.5) and "▁" + "a" + "b" (-8).
  CHECK((ids(*t, "ab") == std::vector<uint32_t>{2}));
  CHECK((ids(*t, "ab ab") == std::vector<uint32_t>{2, 2}));
  CHECK((ids(*t, "abc") == std::vector<uint32_t>{2, 6}));
  // Two unknown code points fuse into one <unk>.
  CHECK((ids(*t, "xy") == std::vector<uint32_t>{1, 0}));
  CHECK(ids(*t, "").empty());
}

TEST(tokenizer_refuses_what_it_does_not_support) {
  CHECK_THROWS(Tokenizer::fromJson("{", "t.json"), ErrorCode::BadModel, "not a valid tokenizer.json");
  CHECK_THROWS(Tokenizer::fromJson(R"({"model": {"type": "BPE", "vocab": {}, "merges": []}})", "t.json"),
               ErrorCode::BadModel, "model.type \"BPE\" is not supported");
  CHECK_THROWS(
      Tokenizer::fromJson(R"({"normalizer": {"type": "Precompiled"}, "model": {"type": "WordPiece"}})", "t.json"),
      ErrorCode::BadModel, "normalizer.type \"Precompiled\" is not supported");
  CHECK_THROWS(
      Tokenizer::fromJson(R"({"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "WordPiece"}})", "t.json"),
      ErrorCode::BadModel, "pre_tokenizer.type \"ByteLevel\" is not supported");
  CHECK_THROWS(
      Tokenizer::fromJson(R"({"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"a": 0}}})", "t.json"),
      ErrorCode::BadModel, "\"[UNK]\" is not in model.vocab");
  CHECK_THROWS(Tokenizer::fromJson(R"({"model": {"type": "Unigram", "unk_id": 0, "vocab": [["a", null]]}})", "t.json"),
               ErrorCode::BadModel, "model.vocab[0] is not [piece, score]");
  CHECK_THROWS(Tokenizer::fromJson(R"({"model": {"type": "Unigram", "unk_id": 5, "vocab": [["a", -1]]}})", "t.json"),
               ErrorCode::BadModel, "past the vocabulary");
  CHECK_THROWS(
      Tokenizer::fromJson(
          R"({"normalizer": {"type": "Replace", "pattern": {"Regex": " +"}, "content": " "}, "model": {}})", "t.json"),
      ErrorCode::BadModel, "Regex pattern is not");
}

TEST(safetensors_refuses_hostile_files) {
  const auto body = floatsBytes(table10x2());
  auto open = [](const std::vector<uint8_t>& f) { SafetensorsFile s(f.data(), f.size(), "model.safetensors"); };
  open(fileOf(tensorHeader("F32", "[10,2]", 0, 80), body));  // the good file
  CHECK_THROWS(open(std::vector<uint8_t>{1, 2, 3}), ErrorCode::BadModel, "truncated?");
  CHECK_THROWS(
      open(fileOf(tensorHeader("F32", "[10,2]", 0, 80), std::vector<uint8_t>(body.begin(), body.begin() + 40))),
      ErrorCode::BadModel, "model.safetensors: truncated");
  auto cut = fileOf(tensorHeader("F32", "[10,2]", 0, 80), body);
  cut.resize(20);  // inside the header
  CHECK_THROWS(open(cut), ErrorCode::BadModel, "truncated: the header needs");
  CHECK_THROWS(open(fileOf(tensorHeader("F32", "[10,3]", 0, 80), body)), ErrorCode::BadModel, "lying header");
  CHECK_THROWS(open(fileOf(tensorHeader("F16", "[10,2]", 0, 80), body)), ErrorCode::BadModel, "shape needs 40");
  CHECK_THROWS(open(fileOf(tensorHeader("Q4", "[10,2]", 0, 80), body)), ErrorCode::BadModel, "unknown dtype \"Q4\"");
  CHECK_THROWS(open(fileOf(tensorHeader("F32", "[18446744073709551615,2]", 0, 80), body)), ErrorCode::BadModel,
               "lying header");
  CHECK_THROWS(open(fileOf(tensorHeader("F32", "[10,2]", 80, 0), body)), ErrorCode::BadModel, "bad data_offsets");
  CHECK_THROWS(open(fileOf(tensorHeader("F32", "[10,2]", 0, 80,
                                        ",\"weights\":{\"dtype\":\"F32\",\"shape\":[10],\"data_offsets\":[40,80]}"),
                           body)),
               ErrorCode::BadModel, "overlap");
  CHECK_THROWS(open(fileOf("[1,2]", body)), ErrorCode::BadModel, "not a safetensors file");
  CHECK_THROWS(open(fileOf("{\"embeddings\":{\"dtype\":\"F32\"}}", body)), ErrorCode::BadModel,
               "lacks dtype, shape or data_offsets");
  auto nan = table10x2();
  nan[7] = std::numeric_limits<float>::quiet_NaN();
  const auto nanFile = fileOf(tensorHeader("F32", "[10,2]", 0, 80), floatsBytes(nan));
  SafetensorsFile s(nanFile.data(), nanFile.size(), "model.safetensors");
  CHECK_THROWS(s.floats(*s.find("embeddings")), ErrorCode::BadModel, "NaN at index 7");
}

TEST(static_encoder_gathers_weights_and_normalises) {
  const auto f32 = fileOf(tensorHeader("F32", "[10,2]", 0, 80), floatsBytes(table10x2()));
  auto enc = StaticEncoder::fromFiles(kWordPiece, "wp.json", f32.data(), f32.size(), "model.safetensors", 512);
  CHECK(enc->dim() == 2);
  float out[2];
  // hello (2,1) + world (3,1) = (5,2) -> normalised; the unknown ',' is skipped.
  CHECK(enc->encode("hello, world", 12, out) == 2);
  CHECK_NEAR(out[0], 5 / std::sqrt(29.0), 1e-6);
  CHECK_NEAR(out[1], 2 / std::sqrt(29.0), 1e-6);
  // Nothing known: all zeros.
  CHECK(enc->encode("zzz", 3, out) == 0);
  CHECK(out[0] == 0 && out[1] == 0);
  // maxTokens truncates after unknowns are dropped.
  auto one = StaticEncoder::fromFiles(kWordPiece, "wp.json", f32.data(), f32.size(), "model.safetensors", 1);
  one->encode("zzz hello world", 15, out);
  CHECK_NEAR(out[0], 2 / std::sqrt(5.0), 1e-6);

  // F16 table and per-token weights: world weighs 3x hello.
  std::vector<uint16_t> half(20);
  floatsToHalves(table10x2().data(), 20, half.data());
  std::vector<uint8_t> body(40);
  std::memcpy(body.data(), half.data(), 40);
  auto w = floatsBytes({0, 0, 1, 3, 0, 0, 0, 0, 0, 0});
  body.insert(body.end(), w.begin(), w.end());
  const auto f16 = fileOf(
      tensorHeader("F16", "[10,2]", 0, 40, ",\"weights\":{\"dtype\":\"F32\",\"shape\":[10],\"data_offsets\":[40,80]}"),
      body);
  auto weighted = StaticEncoder::fromFiles(kWordPiece, "wp.json", f16.data(), f16.size(), "model.safetensors", 512);
  CHECK(weighted->tables().storedHalf);
  weighted->encode("hello world", 11, out);  // (2,1) + 3 (3,1) = (11,4)
  CHECK_NEAR(out[0], 11 / std::sqrt(137.0), 1e-6);
}

TEST(static_encoder_refuses_a_table_of_another_tokenizer) {
  const auto small = fileOf(tensorHeader("F32", "[5,2]", 0, 40), floatsBytes(std::vector<float>(10, 1.f)));
  CHECK_THROWS(StaticEncoder::fromFiles(kWordPiece, "wp.json", small.data(), small.size(), "model.safetensors", 512),
               ErrorCode::BadModel, "\"embeddings\" has 5 rows but the tokenizer has 10 ids");
  const auto noEmb =
      fileOf("{\"table\":{\"dtype\":\"F32\",\"shape\":[10,2],\"data_offsets\":[0,80]}}", floatsBytes(table10x2()));
  CHECK_THROWS(StaticEncoder::fromFiles(kWordPiece, "wp.json", noEmb.data(), noEmb.size(), "model.safetensors", 512),
               ErrorCode::BadModel, "no \"embeddings\" tensor");
  const auto ints = fileOf(tensorHeader("I32", "[10,2]", 0, 80), floatsBytes(table10x2()));
  CHECK_THROWS(StaticEncoder::fromFiles(kWordPiece, "wp.json", ints.data(), ints.size(), "model.safetensors", 512),
               ErrorCode::BadModel, "has dtype I32; expected F32, F16, BF16 or F64");
  const auto oneD = fileOf(tensorHeader("F32", "[20]", 0, 80), floatsBytes(table10x2()));
  CHECK_THROWS(StaticEncoder::fromFiles(kWordPiece, "wp.json", oneD.data(), oneD.size(), "model.safetensors", 512),
               ErrorCode::BadModel, "must be 2-D");
}

CHECK_MAIN()
