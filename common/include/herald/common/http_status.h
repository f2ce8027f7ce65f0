// gRPC status codes as HTTP answers, as grpc-gateway maps them (DESIGN.md):
// INVALID_ARGUMENT 400, UNAUTHENTICATED 401, PERMISSION_DENIED 403,
// NOT_FOUND 404, ALREADY_EXISTS 409, RESOURCE_EXHAUSTED 429, UNAVAILABLE 503,
// DEADLINE_EXCEEDED 504, and the rest likewise.
#pragma once

#include <string>

#include "grpcpp/support/status.h"

namespace herald::common {

int HttpStatusForGrpc(grpc::StatusCode code);

// "invalid_argument", "unavailable", ...: the `code` of a JSON error body.
std::string GrpcCodeName(grpc::StatusCode code);

// {"error":{"code":"<name>","message":"<message>"}}
std::string JsonErrorBody(const std::string& code_name, const std::string& message);

}  // namespace herald::common
