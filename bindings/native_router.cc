#include "native_router.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "addon.h"
#include "errors.h"
#include "native_static.h"

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

struct EmbeddingArgs {
  const float* x = nullptr;
  size_t count = 0;
  uint32_t dim = 0;
};

// (x: Float32Array, count: number, dim: number) from info[first]; expectedDim 0 = any.
EmbeddingArgs parseEmbeddings(const Napi::CallbackInfo& info, size_t first, uint32_t expectedDim) {
  Napi::Env env = info.Env();
  if (info.Length() < first + 3 || !info[first].IsTypedArray() ||
      info[first].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array || !info[first + 1].IsNumber() ||
      !info[first + 2].IsNumber())
    throwInvalidArgument(env, "expected (embeddings: Float32Array, count: number, dim: number)");
  auto x = info[first].As<Napi::Float32Array>();
  EmbeddingArgs e;
  e.x = x.Data();
  e.count = info[first + 1].As<Napi::Number>().Uint32Value();
  e.dim = info[first + 2].As<Napi::Number>().Uint32Value();
  if (e.dim == 0 || x.ElementLength() != e.count * e.dim)
    throwInvalidArgument(env, "embeddings must hold count x dim floats (" + std::to_string(x.ElementLength()) +
                                  " given for " + std::to_string(e.count) + " x " + std::to_string(e.dim) + ")");
  if (expectedDim && e.dim != expectedDim)
    throwInvalidArgument(env, "this router takes " + std::to_string(expectedDim) + "-dimensional embeddings, got " +
                                  std::to_string(e.dim));
  return e;
}

std::string parseBackend(const Napi::CallbackInfo& info, size_t index, unsigned* threads) {
  if (info.Length() <= index + 1 || !info[index].IsString() || !info[index + 1].IsNumber())
    throwInvalidArgument(info.Env(), "expected (backend: string, threads: number)");
  *threads = info[index + 1].As<Napi::Number>().Uint32Value();
  return info[index].As<Napi::String>();
}

class ScoreEmbeddingsJob final : public OwnedOutputJob {
 public:
  ScoreEmbeddingsJob(Napi::Env env, std::shared_ptr<routecore::RouterModel> model, const EmbeddingArgs& e)
      : OwnedOutputJob(env, e.count * model->outputs()),
        model_(std::move(model)),
        x_(e.x, e.x + e.count * e.dim),
        count_(e.count) {}
  void execute() override { model_->scoreEmbeddings(x_.data(), count_, scores_.data()); }

 private:
  std::shared_ptr<routecore::RouterModel> model_;
  std::vector<float> x_;
  size_t count_;
};

class ScoreJob final : public OwnedOutputJob {
 public:
  ScoreJob(Napi::Env env, std::shared_ptr<routecore::RouterModel> model, const PromptArgs& p)
      : OwnedOutputJob(env, p.count * model->outputs()),
        model_(std::move(model)),
        text_(p.text, p.text + (p.count ? p.offsets[p.count] : 0)),
        offsets_(p.offsets, p.offsets + p.count + 1),
        count_(p.count) {}
  void execute() override {
    // Checked again on the copies: they are what the core reads (parsePrompts checked the
    // caller's arrays, which the caller may change once this call has returned).
    if (count_) routecore::validatePrompts(text_.data(), text_.size(), offsets_.data(), count_);
    model_->score(text_.data(), offsets_.data(), count_, scores_.data());
  }

 private:
  std::shared_ptr<routecore::RouterModel> model_;
  std::string text_;  // the bytes up to the last prompt's end
  std::vector<uint32_t> offsets_;
  size_t count_;
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
       StaticMethod<&NativeRouter::TrainEmbeddings>("trainEmbeddings"),
       InstanceMethod<&NativeRouter::ScoreEmbeddingsSync>("scoreEmbeddingsSync"),
       InstanceMethod<&NativeRouter::ScoreEmbeddings>("scoreEmbeddings"),
       InstanceAccessor<&NativeRouter::EncoderKind>("encoder"), InstanceAccessor<&NativeRouter::InputDim>("inputDim"),
       InstanceMethod<&NativeRouter::ScoreSync>("scoreSync"), InstanceMethod<&NativeRouter::Score>("score"),
       InstanceMethod<&NativeRouter::Encode>("encode"), InstanceMethod<&NativeRouter::Coverage>("coverage"),
       InstanceMethod<&NativeRouter::Serialize>("serialize"), InstanceMethod<&NativeRouter::Metadata>("metadata"),
       InstanceMethod<&NativeRouter::SetMetadata>("setMetadata"), InstanceMethod<&NativeRouter::Dispose>("dispose"),
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
    externalBytes_ = static_cast<int64_t>(model_->weightBytes());
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
    throwInvalidArgument(env,
                         "load(bytes: Uint8Array, source: string, backend: string, threads: number, staticEncoder?)");
  auto bytes = info[0].As<Napi::Uint8Array>();
  std::string source = info[1].As<Napi::String>();
  unsigned threads = 0;
  std::string request = parseBackend(info, 2, &threads);
  // The static encoder of a router file that names its model instead of carrying it.
  auto external = unwrapStaticEncoder(env, info.Length() > 4 ? info[4] : env.Undefined(), "staticEncoder");
  auto model = guard(env, [&] {
    auto backend = addon->backend(request, threads, nullptr);
    routecore::Artifact a = routecore::readArtifact(bytes.Data(), bytes.ElementLength(), source);
    return std::shared_ptr<routecore::RouterModel>(
        routecore::RouterModel::fromArtifact(std::move(a), backend, routecore::ThreadPool::shared(threads), external));
  });
  return addon->routerConstructor.New({Napi::External<std::shared_ptr<routecore::RouterModel>>::New(
      env, new std::shared_ptr<routecore::RouterModel>(std::move(model)),
      [](Napi::Env, std::shared_ptr<routecore::RouterModel>* p) { delete p; })});
}

namespace {

// The arguments both train() and trainEmbeddings() take after their inputs:
// (labels: Float32Array, models, options, metadata, backend, threads, onEpoch?) from info[first].
Napi::Value submitTraining(const Napi::CallbackInfo& info, size_t first, size_t rows, routecore::TrainInput in) {
  Napi::Env env = info.Env();
  auto* addon = env.GetInstanceData<RoutecoreAddon>();
  if (info.Length() < first + 6 || !info[first].IsTypedArray() || !info[first + 1].IsNumber() ||
      !info[first + 2].IsObject() || !info[first + 3].IsObject())
    throwInvalidArgument(env, "expected (..., labels, models, options, metadata, backend, threads, onEpoch?)");
  auto labels = info[first].As<Napi::TypedArray>();
  if (labels.TypedArrayType() != napi_float32_array) throwInvalidArgument(env, "labels must be a Float32Array");
  in.models = info[first + 1].As<Napi::Number>().Uint32Value();
  Napi::Object o = info[first + 2].As<Napi::Object>();
  // Pairwise data comes as rows x 3 values (model a, model b, outcome) instead of rows x models.
  const bool pairwise = o.Get("pairwise").ToBoolean();
  const size_t perRow = pairwise ? 3 : in.models;
  if (in.models == 0 || labels.ElementLength() != rows * perRow)
    throwInvalidArgument(
        env, pairwise ? "pairwise labels must hold rows x 3 values" : "labels must hold rows x models values");
  const float* l = labels.As<Napi::Float32Array>().Data();
  if (pairwise) {
    for (size_t r = 0; r < rows; ++r) {
      const float a = l[r * 3], b = l[r * 3 + 1];
      if (!(a >= 0 && a < in.models && b >= 0 && b < in.models))
        throwInvalidArgument(env, "pairwise row " + std::to_string(r) + " names a model outside [0, models)");
      in.pairs.a.push_back(static_cast<uint32_t>(a));
      in.pairs.b.push_back(static_cast<uint32_t>(b));
      in.pairs.y.push_back(l[r * 3 + 2]);
    }
  } else {
    in.labels.assign(l, l + labels.ElementLength());
  }
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
  in.kmeans.clusters = optUint(o, "clusters", in.kmeans.clusters);
  in.kmeans.restarts = optUint(o, "restarts", in.kmeans.restarts);
  in.kmeans.maxIterations = optUint(o, "maxEpochs", in.kmeans.maxIterations);
  in.kmeans.seed = in.options.seed;
  in.knn.k = optUint(o, "k", in.knn.k);
  in.knn.dim = optUint(o, "dim", in.knn.dim);
  in.knn.seed = in.options.seed;
  // The static (model2vec) encoder: alone, or beside hashing with `mixed`; `embedStatic: false`
  // writes a router file that names the model instead of carrying it.
  in.staticEncoder = unwrapStaticEncoder(env, o.Get("staticEncoder"), "options.staticEncoder");
  in.mixed = o.Get("mixed").ToBoolean();
  in.embedStatic = !o.Has("embedStatic") || o.Get("embedStatic").IsUndefined() || o.Get("embedStatic").ToBoolean();
  if (in.mixed && !in.staticEncoder) throwInvalidArgument(env, "options.mixed needs options.staticEncoder");
  if (in.staticEncoder && in.prompts.empty())
    throwInvalidArgument(env, "a static encoder reads prompts, not embeddings");
  Napi::Value predictor = o.Get("predictor");
  if (!predictor.IsUndefined()) {
    if (!predictor.IsString()) throwInvalidArgument(env, "options.predictor must be a string");
    in.predictor = predictor.As<Napi::String>();
  }
  guard(env, [&] {
    if (!in.prompts.empty() && (!in.staticEncoder || in.mixed)) in.encoder.validate();
    in.options.validate();
    if (in.predictor == "kmeans") in.kmeans.validate();
    if (in.predictor == "knn") in.knn.validate();
    return 0;
  });
  Napi::Object meta = info[first + 3].As<Napi::Object>();
  Napi::Array keys = meta.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    Napi::Value k = keys.Get(i), v = meta.Get(k);
    if (!v.IsString()) throwInvalidArgument(env, "metadata values must be strings");
    in.metadata[k.ToString()] = v.As<Napi::String>();
  }
  unsigned threads = 0;
  std::string request = parseBackend(info, first + 4, &threads);
  auto backend = guard(env, [&] { return addon->backend(request, threads, nullptr); });
  auto job = std::make_unique<TrainJob>(env, addon, std::move(in), backend, routecore::ThreadPool::shared(threads));
  if (info.Length() > first + 6 && info[first + 6].IsFunction())
    job->onEpoch = Napi::Persistent(info[first + 6].As<Napi::Function>());
  Napi::Promise promise = job->promise();
  addon->worker().submit(env, std::move(job));
  return promise;
}

}  // namespace

// train(text, offsets, count, labels, models, options, metadata, backend, threads, onEpoch?) -> Promise
Napi::Value NativeRouter::Train(const Napi::CallbackInfo& info) {
  PromptArgs p = parsePrompts(info, 0);
  routecore::TrainInput in;
  in.prompts.reserve(p.count);
  for (size_t i = 0; i < p.count; ++i) in.prompts.emplace_back(p.text + p.offsets[i], p.offsets[i + 1] - p.offsets[i]);
  return submitTraining(info, 3, p.count, std::move(in));
}

// trainEmbeddings(x: Float32Array, count, dim, labels, models, options, metadata, backend, threads, onEpoch?)
Napi::Value NativeRouter::TrainEmbeddings(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EmbeddingArgs e = parseEmbeddings(info, 0, 0);
  routecore::TrainInput in;
  in.embeddingDim = e.dim;
  in.embeddings.assign(e.x, e.x + e.count * e.dim);
  guard(env, [&] {
    routecore::validateEmbeddings(e.x, e.count, e.dim);
    return 0;
  });
  return submitTraining(info, 3, e.count, std::move(in));
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

// score(text, offsets, count, out) -> Promise<void>, computed on the addon's worker thread from
// copies of text and offsets; out is filled when the promise settles.
Napi::Value NativeRouter::Score(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& m = model(env);
  PromptArgs p = parsePrompts(info, 0);
  parseOut(info, 3, p.count * m->outputs());
  auto job = std::make_unique<ScoreJob>(env, m, p);
  job->keepAlive(info[3]);  // kept(0): result() writes the scores here
  job->keepAlive(info.This());
  Napi::Promise promise = job->promise();
  addon_->worker().submit(env, std::move(job));
  return promise;
}

// scoreEmbeddingsSync(x, count, dim, out)
Napi::Value NativeRouter::ScoreEmbeddingsSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& m = model(env);
  EmbeddingArgs e = parseEmbeddings(info, 0, m->inputDim());
  float* out = parseOut(info, 3, e.count * m->outputs());
  guard(env, [&] {
    m->scoreEmbeddings(e.x, e.count, out);
    return 0;
  });
  return env.Undefined();
}

// scoreEmbeddings(x, count, dim, out) -> Promise<void>, on a copy of x (see OwnedOutputJob).
Napi::Value NativeRouter::ScoreEmbeddings(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& m = model(env);
  EmbeddingArgs e = parseEmbeddings(info, 0, m->inputDim());
  parseOut(info, 3, e.count * m->outputs());
  guard(env, [&] {
    routecore::validateEmbeddings(e.x, e.count, e.dim);  // fail fast, on the caller's stack
    return 0;
  });
  auto job = std::make_unique<ScoreEmbeddingsJob>(env, m, e);
  job->keepAlive(info[3]);  // kept(0)
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

// coverage(text, offsets, count, out): out[i] = the largest cosine of prompt i to the router's
// coverage sketch. Runs on the calling thread (a sketch of ~1k rows costs tens of µs per prompt).
Napi::Value NativeRouter::Coverage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& m = model(env);
  PromptArgs p = parsePrompts(info, 0);
  float* out = parseOut(info, 3, p.count);
  guard(env, [&] {
    m->coverage(p.text, p.offsets, p.count, out);
    return 0;
  });
  return env.Undefined();
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

// setMetadata(key: string, value: string). The model is shared with in-flight jobs, which never
// read metadata, and this runs on the JS thread like serialize(), so no lock is needed.
Napi::Value NativeRouter::SetMetadata(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& m = model(env);
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString())
    throwInvalidArgument(env, "setMetadata(key: string, value: string)");
  guard(env, [&] {
    m->setMetadata(info[0].As<Napi::String>(), info[1].As<Napi::String>());
    return 0;
  });
  return env.Undefined();
}

Napi::Value NativeRouter::Outputs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), model(info.Env())->outputs());
}
Napi::Value NativeRouter::EncoderKind(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), model(info.Env())->encoderKind());
}
Napi::Value NativeRouter::InputDim(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), model(info.Env())->inputDim());
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
