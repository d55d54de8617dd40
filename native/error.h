// Errors thrown by the routecore core. Each carries a stable code that the bindings copy onto
// the JS Error's `.code`, so callers can branch on it without parsing messages.
#pragma once
#include <stdexcept>
#include <string>

namespace routecore {

enum class ErrorCode {
  InvalidArgument,     // a caller passed a value the core cannot use
  BadArtifact,         // a .router file that is truncated, corrupt or not a router at all
  ArtifactVersion,     // a .router file written by a newer format version
  BackendUnavailable,  // an explicitly requested backend cannot run here
  BadBackend,          // an unknown backend name
  BadData,             // training data the core cannot learn from
  Io,                  // a file could not be read or written
  BadModel,            // an encoder's model files (tokenizer.json, model.safetensors) are unusable
  ModelMismatch,       // a router's encoder model is missing or not the one it was trained with
  Internal,            // a broken invariant: a bug in routecore
};

/// Stable string form, e.g. "ERR_ROUTECORE_BAD_ARTIFACT".
const char* errorCodeName(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace routecore
