// NativeRouter: the JS face of routecore::RouterModel. Scoring takes one UTF-8 buffer plus
// offsets and writes into a caller-owned Float32Array, so nothing is copied or allocated per call
// on the hot path.
#pragma once
#include <napi.h>

#include <memory>

#include "router_model.h"

namespace routecore_bindings {

class RoutecoreAddon;

class NativeRouter : public Napi::ObjectWrap<NativeRouter> {
 public:
  static Napi::Function Init(Napi::Env env, RoutecoreAddon* addon);
  explicit NativeRouter(const Napi::CallbackInfo& info);
  ~NativeRouter() override;
  /// The static encoder of the router held (null for other encoders, or once disposed).
  std::shared_ptr<const routecore::StaticEncoder> staticEncoder() const {
    return model_ ? model_->staticEncoder() : nullptr;
  }

 private:
  static Napi::Value Load(const Napi::CallbackInfo& info);
  static Napi::Value Train(const Napi::CallbackInfo& info);
  static Napi::Value TrainEmbeddings(const Napi::CallbackInfo& info);
  Napi::Value ScoreEmbeddingsSync(const Napi::CallbackInfo& info);
  Napi::Value ScoreEmbeddings(const Napi::CallbackInfo& info);
  Napi::Value EncoderKind(const Napi::CallbackInfo& info);
  Napi::Value InputDim(const Napi::CallbackInfo& info);
  Napi::Value ScoreSync(const Napi::CallbackInfo& info);
  Napi::Value Score(const Napi::CallbackInfo& info);
  Napi::Value Encode(const Napi::CallbackInfo& info);
  Napi::Value Coverage(const Napi::CallbackInfo& info);
  Napi::Value Serialize(const Napi::CallbackInfo& info);
  Napi::Value Metadata(const Napi::CallbackInfo& info);
  Napi::Value SetMetadata(const Napi::CallbackInfo& info);
  Napi::Value Outputs(const Napi::CallbackInfo& info);
  Napi::Value Predictor(const Napi::CallbackInfo& info);
  Napi::Value BackendName(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  const std::shared_ptr<routecore::RouterModel>& model(Napi::Env env) const;
  void adoptModel(Napi::Env env, std::shared_ptr<routecore::RouterModel> model);

  // shared_ptr: an async job in flight keeps the model alive even if dispose() runs meanwhile.
  std::shared_ptr<routecore::RouterModel> model_;
  RoutecoreAddon* addon_ = nullptr;
  int64_t externalBytes_ = 0;
};

}  // namespace routecore_bindings
