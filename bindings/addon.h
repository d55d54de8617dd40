// Per-environment state of the addon (one per main thread or worker_thread that loads it).
#pragma once
#include <napi.h>

#include <map>
#include <memory>
#include <string>

#include "backend.h"
#include "worker.h"

namespace routecore_bindings {

class RoutecoreAddon : public Napi::Addon<RoutecoreAddon> {
 public:
  RoutecoreAddon(Napi::Env env, Napi::Object exports);

  Worker& worker() { return *worker_; }
  Napi::FunctionReference routerConstructor;
  Napi::FunctionReference staticEncoderConstructor;

  /// Backends are probed once per (request, threads) and shared by every router of this env.
  std::shared_ptr<routecore::Backend> backend(const std::string& request, unsigned threads,
                                              routecore::BackendReport* report);

 private:
  Napi::Value BackendInfo(const Napi::CallbackInfo& info);
  std::unique_ptr<Worker> worker_;
  std::map<std::string, std::pair<std::shared_ptr<routecore::Backend>, routecore::BackendReport>> backends_;
};

}  // namespace routecore_bindings
