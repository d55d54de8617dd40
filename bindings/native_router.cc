#include "native_router.h"

#include <cmath>
#include <vector>

#include "addon.h"
#include "errors.h"

namespace routecore_bindings {

namespace {

struct PromptArgs {
  const char* text = nullptr;
  size_t bytes = 0;
  const uint32_t* offsets = nullptr;
  size_t count = 0;
};

// (text: Uint8Array, offsets: Uint32Array, count: number) starting at info[first].
PromptArgs parsePrompts(const Napi::CallbackInfo& info, size_t first) {
  Napi::Env env = info.Env();
  if (info.Length() < first + 3 || !info[first].IsTypedArray() || !info[first + 1].IsTypedArray() ||
      !info[first + 2].IsNumber())
    throwInvalidArgument(env, "expected (text: Uint8Array, offsets: Uint32Array, count: number)");
  auto text = info[first].As<Napi::TypedArray>();
  auto offsets = info[first + 1].As<Napi::TypedArray>();
  if (text.TypedArrayType() != napi_uint8_array) throwInvalidArgument(env, "text must be a Uint8Array");
  if (offsets.TypedArrayType() != napi_uint32_array) throwInvalidArgument(env, "offsets must be a Uint32Array");
  PromptArgs p;
  p.text = reinterpret_cast<const char*>(text.As<Napi::Uint8Array>().Data());
  p.bytes = text.ElementLength();
  p.offsets = offsets.As<Napi::Uint32Array>().Data();
  double count = info[first + 2].As<Napi::Number>().DoubleValue();
  if (!(count >= 0) || count != std::floor(count) || count + 1 > offsets.ElementLength())
    throwInvalidArgument(env, "count must be an integer with offsets.length >= count + 1");
  p.count = static_cast<size_t>(count);
  guard(env, [&] {
    if (p.count) routecore::validatePrompts(p.text, p.bytes, p.offsets, p.count);
    return 0;
  });
  return p;
}

float* parseOut(const Napi::CallbackInfo& info, size_t index, size_t needed) {
  Napi::Env env = info.Env();
  if (info.Length() <= index || !info[index].IsTypedArray() ||
      info[index].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throwInvalidArgument(env, "out must be a Float32Array");
  auto out = info[index].As<Napi::Float32Array>();
  if (out.ElementLength() < needed)
    throwInvalidArgument(env, "out has " + std::to_string(out.ElementLength()) + " elements, needs " +
                                  std::to_string(needed));
  return out.Data();
}

std::string parseBackend(const Napi::CallbackInfo& info, size_t index, unsigned* threads) {
  if (info.Length() <= index + 1 || !info[index].IsString() || !info[index + 1].IsNumber())
    throwInvalidArgument(info.Env(), "expected (backend: string, threads: number)");
  *threads = info[index + 1].As<Napi::Number>().Uint32Value();
  return info[index].As<Napi::String>();
}

class ScoreJob final : public Job {
 public:
  ScoreJob(Napi::Env env, std::shared_ptr<routecore::RouterModel> model, PromptArgs p, float* out)
      : Job(env), model_(std::move(model)), p_(p), out_(out) {}
  void execute() override { model_->score(p_.text, p_.offsets, p_.count, out_); }
  Napi::Value result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::shared_ptr<routecore::RouterModel> model_;
  PromptArgs p_;
  float* out_;
};

struct EpochMessage final : Message {
  Napi::FunctionReference* callback;
  routecore::EpochInfo info;
  EpochMessage(Napi::FunctionReference* cb, const routecore::EpochInfo& i) : callback(cb), info(i) {}
  void deliver(Napi::Env env) override {
    if (env == nullptr || callback->IsEmpty()) return;
    Napi::HandleScope scope(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("epoch", info.epoch);
    o.Set("maxEpochs", info.maxEpochs);
    o.Set("trainLoss", info.trainLoss);
    o.Set("validationLoss", info.validationLoss);
    // A throwing progress callback must not take the process down; report it as a warning.
    try {
      callback->Call({o});
    } catch (const Napi::Error& e) {
      fprintf(stderr, "routecore: training progress callback threw: %s\n", e.Message().c_str());
    }
  }
};

class TrainJob final : public Job {
 public:
  TrainJob(Napi::Env env, RoutecoreAddon* addon, routecore::TrainInput input, std::shared_ptr<routecore::Backend> b,
           std::shared_ptr<routecore::ThreadPool> pool)
      : Job(env), addon_(addon), input_(std::move(input)), backend_(std::move(b)), pool_(std::move(pool)) {}
  ~TrainJob() override {
    if (!addon_->worker().stopping() || onEpoch.IsEmpty()) return;
    onEpoch.SuppressDestruct();
  }

  Napi::FunctionReference onEpoch;

  void execute() override {
    Worker& worker = addon_->worker();
    model_ = routecore::trainRouter(input_, backend_, pool_, &report_, [&](const routecore::EpochInfo& info) {
      if (!onEpoch.IsEmpty()) worker.post(std::make_unique<EpochMessage>(&onEpoch, info));
      return !worker.stopping();
    });
  }

  Napi::Value result(Napi::Env env) override {
    Napi::Object router = addon_->routerConstructor.New({Napi::External<std::shared_ptr<routecore::RouterModel>>::New(
        env, new std::shared_ptr<routecore::RouterModel>(std::move(model_)),
        [](Napi::Env, std::shared_ptr<routecore::RouterModel>* p) { delete p; })});
    Napi::Object report = Napi::Object::New(env);
    report.Set("epochs", report_.epochs);
    report.Set("bestEpoch", report_.bestEpoch);
    report.Set("trainRows", report_.trainRows);
    report.Set("validationRows", report_.validationRows);
    report.Set("bestValidationLoss", report_.bestValidationLoss);
    report.Set("finalTrainLoss", report_.finalTrainLoss);
    report.Set("stoppedEarly", report_.stoppedEarly);
    Napi::Object result = Napi::Object::New(env);
    result.Set("router", router);
    result.Set("report", report);
    return result;
  }

 private:
  RoutecoreAddon* addon_;
  routecore::TrainInput input_;
  std::shared_ptr<routecore::Backend> backend_;
  std::shared_ptr<routecore::ThreadPool> pool_;
  std::shared_ptr<routecore::RouterModel> model_;
  routecore::TrainReport report_;
};

uint32_t optUint(Napi::Object o, const char* key, uint32_t fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) throwInvalidArgument(o.Env(), std::string("options.") + key + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d != std::floor(d) || d > 4294967295.0)
    throwInvalidArgument(o.Env(), std::string("options.") + key + " must be a non-negative integer");
  return static_cast<uint32_t>(d);
}

float optFloat(Napi::Object o, const char* key, float fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) throwInvalidArgument(o.Env(), std::string("options.") + key + " must be a number");
  return v.As<Napi::Number>().FloatValue();
}

}  // namespace

Napi::Function NativeRouter::Init(Napi::Env env, RoutecoreAddon* addon) {
  Napi::Function ctor = DefineClass(
      env, "NativeRouter",
      {StaticMethod<&NativeRouter::Load>("load"), StaticMethod<&NativeRouter::Train>("train"),
       InstanceMethod<&NativeRouter::ScoreSync>("scoreSync"), InstanceMethod<&NativeRouter::Score>("score"),
       InstanceMethod<&NativeRouter::Encode>("encode"), InstanceMethod<&NativeRouter::Serialize>("serialize"),
       InstanceMethod<&NativeRouter::Metadata>("metadata"), InstanceMethod<&NativeRouter::Dispose>("dispose"),
       InstanceAccessor<&NativeRouter::Outputs>("outputs"), InstanceAccessor<&NativeRouter::Predictor>("predictor"),
       InstanceAccessor<&NativeRouter::BackendName>("backend")},
      addon);
  addon->routerConstructor = Napi::Persistent(ctor);
  return ctor;
}

NativeRouter::NativeRouter(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeRouter>(info) {
  addon_ = static_cast<RoutecoreAddon*>(info.Data());
  if (info.Length() != 1 || !info[0].IsExternal())
    throwInvalidArgument(info.Env(), "NativeRouter cannot be constructed directly: use NativeRouter.load()");
  adoptModel(info.Env(), *info[0].As<Napi::External<std::shared_ptr<routecore::RouterModel>>>().Data());
}

NativeRouter::~NativeRouter() = default;

void NativeRouter::adoptModel(Napi::Env env, std::shared_ptr<routecore::RouterModel> model) {
  model_ = std::move(model);
  // Tell V8 about the weights so its GC pressure heuristics see what a router really costs.
  externalBytes_ = 0;
  if (model_) {
    externalBytes_ = static_cast<int64_t>(model_->encoder().config().buckets()) * 4 * (1 + model_->outputs());
    Napi::MemoryManagement::AdjustExternalMemory(env, externalBytes_);
  }
}

const std::shared_ptr<routecore::RouterModel>& NativeRouter::model(Napi::Env env) const {
  if (!model_) throw makeError(env, "ERR_ROUTECORE_DISPOSED", "this router has been disposed");
  return model_;
}

Napi::Value NativeRouter::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* addon = env.GetInstanceData<RoutecoreAddon>();
  if (info.Length() < 4 || !info[0].IsTypedArray() || !info[1].IsString())
    throwInvalidArgument(env, "load(bytes: Uint8Array, source: string, backend: string, threads: number)");
  auto bytes = info[0].As<Napi::Uint8Array>();
  std::string source = info[1].As<Napi::String>();
  unsigned threads = 0;
  std::string request = parseBackend(info, 2, &threads);
  auto model = guard(env, [&] {
    auto backend = addon->backend(request, threads, nullptr);
    routecore::Artifact a = routecore::readArtifact(bytes.Data(), bytes.ElementLength(), source);
    return std::shared_ptr<routecore::RouterModel>(
        routecore::RouterModel::fromArtifact(a, backend, routecore::ThreadPool::shared(threads)));
  });
  return addon->routerConstructor.New({Napi::External<std::shared_ptr<routecore::RouterModel>>::New(
      env, new std::shared_ptr<routecore::RouterModel>(std::move(model)),
      [](Napi::Env, std::shared_ptr<routecore::RouterModel>* p) { delete p; })});
}

// train(text, offsets, count, labels: Float32Array, models, options, metadata, backend, threads, onEpoch?)
Napi::Value NativeRouter::Train(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* addon = env.GetInstanceData<RoutecoreAddon>();
  PromptArgs p = parsePrompts(info, 0);
  if (info.Length() < 9 || !info[3].IsTypedArray() || !info[4].IsNumber() || !info[5].IsObject() ||
      !info[6].IsObject())
    throwInvalidArgument(env, "train(text, offsets, count, labels, models, options, metadata, backend, threads, onEpoch?)");
  auto labels = info[3].As<Napi::TypedArray>();
  if (labels.TypedArrayType() != napi_float32_array) throwInvalidArgument(env, "labels must be a Float32Array");
  routecore::TrainInput in;
  in.models = info[4].As<Napi::Number>().Uint32Value();
  if (labels.ElementLength() != p.count * in.models)
    throwInvalidArgument(env, "labels must hold count x models values");
  const float* l = labels.As<Napi::Float32Array>().Data();
  in.labels.assign(l, l + labels.ElementLength());
  in.prompts.reserve(p.count);
  for (size_t i = 0; i < p.count; ++i) in.prompts.emplace_back(p.text + p.offsets[i], p.offsets[i + 1] - p.offsets[i]);
  Napi::Object o = info[5].As<Napi::Object>();
  in.encoder.log2Buckets = optUint(o, "log2Buckets", in.encoder.log2Buckets);
  in.encoder.wordNgramMax = optUint(o, "wordNgramMax", in.encoder.wordNgramMax);
  in.encoder.charNgramMin = optUint(o, "charNgramMin", in.encoder.charNgramMin);
  in.encoder.charNgramMax = optUint(o, "charNgramMax", in.encoder.charNgramMax);
  in.options.hidden = optUint(o, "hidden", in.options.hidden);
  in.options.learningRate = optFloat(o, "learningRate", in.options.learningRate);
  in.options.weightDecay = optFloat(o, "weightDecay", in.options.weightDecay);
  in.options.batchSize = optUint(o, "batchSize", in.options.batchSize);
  in.options.maxEpochs = optUint(o, "maxEpochs", in.options.maxEpochs);
  in.options.patience = optUint(o, "patience", in.options.patience);
  in.options.validationFraction = optFloat(o, "validationFraction", in.options.validationFraction);
  in.options.seed = optUint(o, "seed", 1);
  guard(env, [&] {
    in.encoder.validate();
    in.options.validate();
    return 0;
  });
  Napi::Object meta = info[6].As<Napi::Object>();
  Napi::Array keys = meta.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    Napi::Value k = keys.Get(i), v = meta.Get(k);
    if (!v.IsString()) throwInvalidArgument(env, "metadata values must be strings");
    in.metadata[k.ToString()] = v.As<Napi::String>();
  }
  unsigned threads = 0;
  std::string request = parseBackend(info, 7, &threads);
  auto backend = guard(env, [&] { return addon->backend(request, threads, nullptr); });
  auto job = std::make_unique<TrainJob>(env, addon, std::move(in), backend, routecore::ThreadPool::shared(threads));
  if (info.Length() > 9 && info[9].IsFunction()) job->onEpoch = Napi::Persistent(info[9].As<Napi::Function>());
  Napi::Promise promise = job->promise();
  addon->worker().submit(env, std::move(job));
  return promise;
}

// scoreSync(text, offsets, count, out): fills out[count x outputs].
Napi::Value NativeRouter::ScoreSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& m = model(env);
  PromptArgs p = parsePrompts(info, 0);
  float* out = parseOut(info, 3, p.count * m->outputs());
  guard(env, [&] {
    m->score(p.text, p.offsets, p.count, out);
    return 0;
  });
  return env.Undefined();
}

// score(text, offsets, count, out) -> Promise<void>, computed on the addon's worker thread.
Napi::Value NativeRouter::Score(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& m = model(env);
  PromptArgs p = parsePrompts(info, 0);
  float* out = parseOut(info, 3, p.count * m->outputs());
  auto job = std::make_unique<ScoreJob>(env, m, p, out);
  // The job reads text/offsets and writes out from another thread: keep all three alive.
  job->keepAlive(info[0]);
  job->keepAlive(info[1]);
  job->keepAlive(info[3]);
  job->keepAlive(info.This());
  Napi::Promise promise = job->promise();
  addon_->worker().submit(env, std::move(job));
  return promise;
}

// encode(text, offsets, count) -> { rowStart: Uint32Array, index: Uint32Array, value: Float32Array }
Napi::Value NativeRouter::Encode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& m = model(env);
  PromptArgs p = parsePrompts(info, 0);
  routecore::CsrBatch batch;
  guard(env, [&] {
    m->encode(p.text, p.offsets, p.count, batch);
    return 0;
  });
  auto rowStart = Napi::Uint32Array::New(env, batch.rowStart.size());
  std::copy(batch.rowStart.begin(), batch.rowStart.end(), rowStart.Data());
  auto index = Napi::Uint32Array::New(env, batch.index.size());
  std::copy(batch.index.begin(), batch.index.end(), index.Data());
  auto value = Napi::Float32Array::New(env, batch.value.size());
  std::copy(batch.value.begin(), batch.value.end(), value.Data());
  Napi::Object o = Napi::Object::New(env);
  o.Set("rowStart", rowStart);
  o.Set("index", index);
  o.Set("value", value);
  return o;
}

Napi::Value NativeRouter::Serialize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& m = model(env);
  bool half = info.Length() > 0 && info[0].ToBoolean();
  std::vector<uint8_t> bytes = guard(env, [&] { return routecore::writeArtifact(m->toArtifact(half)); });
  return Napi::Buffer<uint8_t>::Copy(env, bytes.data(), bytes.size());
}

Napi::Value NativeRouter::Metadata(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  for (const auto& kv : model(env)->metadata()) o.Set(kv.first, kv.second);
  return o;
}

Napi::Value NativeRouter::Outputs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), model(info.Env())->outputs());
}
Napi::Value NativeRouter::Predictor(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), model(info.Env())->predictor());
}
Napi::Value NativeRouter::BackendName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), model(info.Env())->backendName());
}

Napi::Value NativeRouter::Dispose(const Napi::CallbackInfo& info) {
  if (model_) {
    Napi::MemoryManagement::AdjustExternalMemory(info.Env(), -externalBytes_);
    externalBytes_ = 0;
    model_.reset();  // jobs in flight hold their own reference
  }
  return info.Env().Undefined();
}

}  // namespace routecore_bindings
