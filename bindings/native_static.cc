#include "native_static.h"

#include <cmath>
#include <string>
#include <vector>

#include "addon.h"
#include "errors.h"
#include "native_router.h"

namespace routecore_bindings {
namespace {

struct Texts {
  const char* text = nullptr;
  size_t bytes = 0;
  const uint32_t* offsets = nullptr;
  size_t count = 0;
};

// (text: Uint8Array, offsets: Uint32Array, count: number) at info[0..2]; empty prompts allowed.
Texts parseTexts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[2].IsNumber() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
    throwInvalidArgument(env, "expected (text: Uint8Array, offsets: Uint32Array, count: number)");
  Texts t;
  auto text = info[0].As<Napi::Uint8Array>();
  auto offsets = info[1].As<Napi::Uint32Array>();
  t.text = reinterpret_cast<const char*>(text.Data());
  t.bytes = text.ElementLength();
  t.offsets = offsets.Data();
  const double count = info[2].As<Napi::Number>().DoubleValue();
  if (!(count >= 0) || count != std::floor(count) || count + 1 > offsets.ElementLength())
    throwInvalidArgument(env, "count must be an integer with offsets.length >= count + 1");
  t.count = static_cast<size_t>(count);
  if (t.offsets[0] != 0) throwInvalidArgument(env, "offsets[0] must be 0");
  for (size_t i = 0; i < t.count; ++i)
    if (t.offsets[i + 1] < t.offsets[i] || t.offsets[i + 1] > t.bytes)
      throwInvalidArgument(env, "offsets[" + std::to_string(i + 1) + "] is out of order or past the text");
  return t;
}

std::string bytesArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throwInvalidArgument(info.Env(), std::string(name) + " must be a Uint8Array");
  auto a = info[i].As<Napi::Uint8Array>();
  return std::string(reinterpret_cast<const char*>(a.Data()), a.ElementLength());
}

std::string stringArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsString())
    throwInvalidArgument(info.Env(), std::string(name) + " must be a string");
  return info[i].As<Napi::String>();
}

}  // namespace

Napi::Function NativeTokenizer::Init(Napi::Env env) {
  return DefineClass(env, "NativeTokenizer",
                     {InstanceMethod("encode", &NativeTokenizer::Encode),
                      InstanceAccessor("vocabSize", &NativeTokenizer::VocabSize, nullptr),
                      InstanceAccessor("unkId", &NativeTokenizer::UnkId, nullptr),
                      InstanceAccessor("modelType", &NativeTokenizer::ModelType, nullptr)});
}

NativeTokenizer::NativeTokenizer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeTokenizer>(info) {
  Napi::Env env = info.Env();
  const std::string json = bytesArg(info, 0, "json");
  const std::string source = stringArg(info, 1, "source");
  tokenizer_ = guard(env, [&] { return routecore::Tokenizer::fromJson(json, source); });
}

Napi::Value NativeTokenizer::Encode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Texts t = parseTexts(info);
  std::vector<uint32_t> ids;
  std::vector<uint32_t> starts{0};
  guard(env, [&] {
    for (size_t i = 0; i < t.count; ++i) {
      tokenizer_->encode(t.text + t.offsets[i], t.offsets[i + 1] - t.offsets[i], ids);
      starts.push_back(static_cast<uint32_t>(ids.size()));
    }
    return 0;
  });
  auto outIds = Napi::Uint32Array::New(env, ids.size());
  std::copy(ids.begin(), ids.end(), outIds.Data());
  auto outStarts = Napi::Uint32Array::New(env, starts.size());
  std::copy(starts.begin(), starts.end(), outStarts.Data());
  Napi::Object o = Napi::Object::New(env);
  o.Set("ids", outIds);
  o.Set("offsets", outStarts);
  return o;
}

Napi::Value NativeTokenizer::VocabSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), tokenizer_->vocabSize());
}
Napi::Value NativeTokenizer::UnkId(const Napi::CallbackInfo& info) {
  const uint32_t unk = tokenizer_->unkId();
  return unk == UINT32_MAX ? info.Env().Null() : Napi::Number::New(info.Env(), unk);
}
Napi::Value NativeTokenizer::ModelType(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), tokenizer_->modelType());
}

Napi::Function NativeStaticEncoder::Init(Napi::Env env) {
  return DefineClass(env, "NativeStaticEncoder",
                     {InstanceMethod("embed", &NativeStaticEncoder::Embed),
                      InstanceAccessor("dim", &NativeStaticEncoder::Dim, nullptr),
                      InstanceAccessor("rows", &NativeStaticEncoder::Rows, nullptr)});
}

NativeStaticEncoder::NativeStaticEncoder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeStaticEncoder>(info) {
  Napi::Env env = info.Env();
  const std::string json = bytesArg(info, 0, "tokenizerJson");
  const std::string jsonSource = stringArg(info, 1, "tokenizerSource");
  if (info.Length() <= 2 || !info[2].IsTypedArray() ||
      info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throwInvalidArgument(env, "safetensors must be a Uint8Array");
  auto st = info[2].As<Napi::Uint8Array>();
  const std::string stSource = stringArg(info, 3, "safetensorsSource");
  if (info.Length() <= 4 || !info[4].IsNumber()) throwInvalidArgument(env, "maxTokens must be a number");
  const uint32_t maxTokens = info[4].As<Napi::Number>().Uint32Value();
  const bool halfTable = info.Length() > 5 && info[5].ToBoolean();
  encoder_ = guard(env, [&] {
    return std::shared_ptr<const routecore::StaticEncoder>(routecore::StaticEncoder::fromFiles(
        json, jsonSource, st.Data(), st.ElementLength(), stSource, maxTokens, halfTable));
  });
  Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(encoder_->weightBytes()));
}

Napi::Value NativeStaticEncoder::Embed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Texts t = parseTexts(info);
  const uint32_t dim = encoder_->dim();
  if (info.Length() < 4 || !info[3].IsTypedArray() ||
      info[3].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throwInvalidArgument(env, "out must be a Float32Array");
  auto out = info[3].As<Napi::Float32Array>();
  if (out.ElementLength() < t.count * dim)
    throwInvalidArgument(
        env, "out has " + std::to_string(out.ElementLength()) + " floats, needs " + std::to_string(t.count * dim));
  auto used = Napi::Uint32Array::New(env, t.count);
  guard(env, [&] {
    for (size_t i = 0; i < t.count; ++i)
      used[i] = encoder_->encode(t.text + t.offsets[i], t.offsets[i + 1] - t.offsets[i], out.Data() + i * dim);
    return 0;
  });
  return used;
}

Napi::Value NativeStaticEncoder::Dim(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), encoder_->dim());
}
Napi::Value NativeStaticEncoder::Rows(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), encoder_->tables().rows);
}

std::shared_ptr<const routecore::StaticEncoder> unwrapStaticEncoder(Napi::Env env, Napi::Value value,
                                                                    const char* name) {
  if (value.IsUndefined() || value.IsNull()) return nullptr;
  auto* addon = env.GetInstanceData<RoutecoreAddon>();
  if (value.IsObject() && value.As<Napi::Object>().InstanceOf(addon->staticEncoderConstructor.Value()))
    return NativeStaticEncoder::Unwrap(value.As<Napi::Object>())->encoder();
  // A loaded router shares its static encoder: how an ensemble's members, which name the model
  // instead of carrying it, load beside the router that holds it.
  if (value.IsObject() && value.As<Napi::Object>().InstanceOf(addon->routerConstructor.Value())) {
    auto encoder = NativeRouter::Unwrap(value.As<Napi::Object>())->staticEncoder();
    if (!encoder) throwInvalidArgument(env, std::string(name) + " is a router without a static encoder");
    return encoder;
  }
  throwInvalidArgument(env, std::string(name) + " must be a NativeStaticEncoder or a NativeRouter with one");
}

}  // namespace routecore_bindings
