#include "herald/common/http_status.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "herald/common/json.h"

namespace herald::common {

int HttpStatusForGrpc(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::CANCELLED:
      return 499;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::ABORTED:
      return 409;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::UNIMPLEMENTED:
      return 501;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    default:  // UNKNOWN, INTERNAL, DATA_LOSS
      return 500;
  }
}

std::string GrpcCodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {"ok",
                                           "cancelled",
                                           "unknown",
                                           "invalid_argument",
                                           "deadline_exceeded",
                                           "not_found",
                                           "already_exists",
                                           "permission_denied",
                                           "resource_exhausted",
                                           "failed_precondition",
                                           "aborted",
                                           "out_of_range",
                                           "unimplemented",
                                           "internal",
                                           "unavailable",
                                           "data_loss",
                                           "unauthenticated"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < static_cast<int>(std::size(kNames)) ? kNames[i] : "unknown";
}

std::string JsonErrorBody(const std::string& code_name, const std::string& message) {
  return absl::StrCat("{\"error\":{\"code\":", JsonQuote(code_name),
                      ",\"message\":", JsonQuote(message), "}}\n");
}

}  // namespace herald::common
