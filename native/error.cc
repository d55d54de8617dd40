#include "error.h"

namespace routecore {

const char* errorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidArgument:
      return "ERR_ROUTECORE_INVALID_ARGUMENT";
    case ErrorCode::BadArtifact:
      return "ERR_ROUTECORE_BAD_ARTIFACT";
    case ErrorCode::ArtifactVersion:
      return "ERR_ROUTECORE_ARTIFACT_VERSION";
    case ErrorCode::BackendUnavailable:
      return "ERR_ROUTECORE_BACKEND_UNAVAILABLE";
    case ErrorCode::BadBackend:
      return "ERR_ROUTECORE_BAD_BACKEND";
    case ErrorCode::BadData:
      return "ERR_ROUTECORE_BAD_DATA";
    case ErrorCode::Io:
      return "ERR_ROUTECORE_IO";
    case ErrorCode::BadModel:
      return "ERR_ROUTECORE_BAD_MODEL";
    case ErrorCode::ModelMismatch:
      return "ERR_ROUTECORE_MODEL_MISMATCH";
    case ErrorCode::Internal:
      return "ERR_ROUTECORE_INTERNAL";
  }
  return "ERR_ROUTECORE_INTERNAL";
}

}  // namespace routecore
