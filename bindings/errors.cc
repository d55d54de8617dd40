#include "errors.h"

namespace routecore_bindings {

Napi::Error makeError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

Napi::Error makeError(Napi::Env env, const routecore::Error& e) {
  return makeError(env, routecore::errorCodeName(e.code()), e.what());
}

Napi::Error makeError(Napi::Env env, const std::exception_ptr& ptr) {
  try {
    std::rethrow_exception(ptr);
  } catch (const routecore::Error& e) {
    return makeError(env, e);
  } catch (const std::bad_alloc&) {
    return makeError(env, "ERR_ROUTECORE_INTERNAL", "out of memory");
  } catch (const std::exception& e) {
    return makeError(env, "ERR_ROUTECORE_INTERNAL", e.what());
  } catch (...) {
    return makeError(env, "ERR_ROUTECORE_INTERNAL", "unknown native exception");
  }
}

void throwInvalidArgument(Napi::Env env, const std::string& message) {
  throw makeError(env, "ERR_ROUTECORE_INVALID_ARGUMENT", message);
}

float* parseOut(const Napi::CallbackInfo& info, size_t index, size_t needed) {
  Napi::Env env = info.Env();
  if (info.Length() <= index || !info[index].IsTypedArray() ||
      info[index].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throwInvalidArgument(env, "out must be a Float32Array");
  auto out = info[index].As<Napi::Float32Array>();
  if (out.ElementLength() < needed)
    throwInvalidArgument(
        env, "out has " + std::to_string(out.ElementLength()) + " elements, needs " + std::to_string(needed));
  return out.Data();
}

}  // namespace routecore_bindings
