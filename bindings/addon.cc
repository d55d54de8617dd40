#include "addon.h"

#include "errors.h"
#include "native_router.h"
#include "native_sparse.h"
#include "native_static.h"

namespace routecore_bindings {

RoutecoreAddon::RoutecoreAddon(Napi::Env env, Napi::Object exports) : worker_(std::make_unique<Worker>(env)) {
  exports.Set("NativeRouter", NativeRouter::Init(env, this));
  exports.Set("NativeTokenizer", NativeTokenizer::Init(env));
  exports.Set("NativeSparseIndex", NativeSparseIndex::Init(env, this));
  Napi::Function staticEncoder = NativeStaticEncoder::Init(env);
  staticEncoderConstructor = Napi::Persistent(staticEncoder);
  exports.Set("NativeStaticEncoder", staticEncoder);
  DefineAddon(exports, {InstanceMethod("backendInfo", &RoutecoreAddon::BackendInfo)});
}

std::shared_ptr<routecore::Backend> RoutecoreAddon::backend(const std::string& request, unsigned threads,
                                                            routecore::BackendReport* report) {
  const std::string key = request + "/" + std::to_string(threads);
  auto it = backends_.find(key);
  if (it == backends_.end()) {
    routecore::BackendReport r;
    auto b = routecore::selectBackend(request, threads, &r);  // throws for cuda without a device
    it = backends_.emplace(key, std::make_pair(b, r)).first;
  }
  if (report) *report = it->second.second;
  return it->second.first;
}

// backendInfo(request: string, threads: number) -> report object. Throws as selectBackend does.
Napi::Value RoutecoreAddon::BackendInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber())
    throwInvalidArgument(env, "backendInfo(request: string, threads: number)");
  routecore::BackendReport r;
  guard(env, [&] { return backend(info[0].As<Napi::String>(), info[1].As<Napi::Number>().Uint32Value(), &r); });
  Napi::Object o = Napi::Object::New(env);
  Napi::Array compiled = Napi::Array::New(env);
  compiled.Set(0u, Napi::String::New(env, "cpu"));
  if (r.cudaCompiled) compiled.Set(1u, Napi::String::New(env, "cuda"));
  o.Set("compiled", compiled);
  o.Set("cudaCompiled", r.cudaCompiled);
  o.Set("cudaUsable", r.cudaUsable);
  o.Set("cudaDetail", r.cudaDetail);
  o.Set("chosen", r.chosen);
  o.Set("reason", r.reason);
  o.Set("cpuThreads", r.cpuThreads);
  // Routers that left a failing backend (a CUDA error) for the CPU one, process-wide.
  const routecore::BackendFallbacks fallbacks = routecore::backendFallbacks();
  o.Set("fallbackRouters", static_cast<double>(fallbacks.routers));
  o.Set("fallbackReason", fallbacks.firstReason);
  return o;
}

}  // namespace routecore_bindings

// The macro pastes the class name into an identifier, so it needs an unqualified name.
using routecore_bindings::RoutecoreAddon;
NODE_API_ADDON(RoutecoreAddon)
