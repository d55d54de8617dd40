// NativeTokenizer and NativeStaticEncoder: the JS faces of routecore::Tokenizer (tokenizer.json ->
// ids, for parity tests and tools) and routecore::StaticEncoder (text -> L2-normalised embedding).
// Both take prompts as one UTF-8 buffer plus offsets, like NativeRouter.
#pragma once
#include <napi.h>

#include <memory>

#include "static_encoder.h"
#include "tokenizer.h"

namespace routecore_bindings {

class NativeTokenizer : public Napi::ObjectWrap<NativeTokenizer> {
 public:
  static Napi::Function Init(Napi::Env env);
  /// new NativeTokenizer(json: Uint8Array, source: string)
  explicit NativeTokenizer(const Napi::CallbackInfo& info);

 private:
  /// encode(text, offsets, count) -> { ids: Uint32Array, offsets: Uint32Array (count + 1) }
  Napi::Value Encode(const Napi::CallbackInfo& info);
  Napi::Value VocabSize(const Napi::CallbackInfo& info);
  Napi::Value UnkId(const Napi::CallbackInfo& info);
  Napi::Value ModelType(const Napi::CallbackInfo& info);
  std::unique_ptr<routecore::Tokenizer> tokenizer_;
};

class NativeStaticEncoder : public Napi::ObjectWrap<NativeStaticEncoder> {
 public:
  static Napi::Function Init(Napi::Env env);
  /// new NativeStaticEncoder(tokenizerJson: Uint8Array, tokenizerSource: string,
  ///                         safetensors: Uint8Array, safetensorsSource: string, maxTokens: number,
  ///                         halfTable?: boolean)
  explicit NativeStaticEncoder(const Napi::CallbackInfo& info);
  const std::shared_ptr<const routecore::StaticEncoder>& encoder() const { return encoder_; }

 private:
  /// embed(text, offsets, count, out: Float32Array of count x dim) -> tokens used per prompt (Uint32Array)
  Napi::Value Embed(const Napi::CallbackInfo& info);
  Napi::Value Dim(const Napi::CallbackInfo& info);
  Napi::Value Rows(const Napi::CallbackInfo& info);
  std::shared_ptr<const routecore::StaticEncoder> encoder_;
};

class RoutecoreAddon;

/// The encoder of a NativeStaticEncoder passed as `value` (named `name` in errors); null for
/// undefined. Anything else is an invalid-argument error.
std::shared_ptr<const routecore::StaticEncoder> unwrapStaticEncoder(Napi::Env env, Napi::Value value, const char* name);

}  // namespace routecore_bindings
