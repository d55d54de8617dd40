// Mapping core errors onto JS errors with a stable `.code`, and cheap argument guards. The
// friendly validation happens in TypeScript (src/); these guards only keep bad values from
// reaching the core when the raw binding is called directly.
#pragma once
#include <napi.h>

#include <string>

#include "error.h"

namespace routecore_bindings {

Napi::Error makeError(Napi::Env env, const char* code, const std::string& message);
Napi::Error makeError(Napi::Env env, const routecore::Error& e);
/// For exceptions caught off the JS thread and carried back as std::exception_ptr.
Napi::Error makeError(Napi::Env env, const std::exception_ptr& e);

[[noreturn]] void throwInvalidArgument(Napi::Env env, const std::string& message);

/// info[index] as a Float32Array of at least `needed` elements (its data), else an invalid-argument error.
float* parseOut(const Napi::CallbackInfo& info, size_t index, size_t needed);

/// Runs fn, turning routecore::Error and std::exception into JS exceptions.
template <typename Fn>
auto guard(Napi::Env env, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const routecore::Error& e) {
    throw makeError(env, e);
  } catch (const std::exception& e) {
    throw makeError(env, "ERR_ROUTECORE_INTERNAL", e.what());
  }
}

}  // namespace routecore_bindings
