#include "domain/result.h"

namespace loyalty::domain {

std::string_view error_code_word(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidJson: return "invalid_json";
    case ErrorCode::kInvalidEvent: return "invalid_event";
    case ErrorCode::kUnknownType: return "unknown_type";
    case ErrorCode::kConflict: return "conflict";
    case ErrorCode::kInsufficientPoints: return "insufficient_points";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kInternal: return "internal";
    case ErrorCode::kInvalidConfig: return "invalid_config";
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kForbidden: return "forbidden";
  }
  return "internal";
}

}  // namespace loyalty::domain
