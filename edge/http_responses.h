// Answers of herald-edge outside its event streams: JSON errors, CORS
// headers, and an answer in HTTP/1.1's words (Pistache's writer for answers
// given at once, text written by hand for answers that come later from a
// gRPC thread).
#pragma once

#include <pistache/http.h>

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "api.h"
#include "grpcpp/support/status.h"

namespace herald::edge {

namespace Http = Pistache::Http;

// The CORS headers of an answer to an allowed origin (none without one).
HeaderList CorsHeaders(const std::optional<std::string>& origin);

// A JSON error ({"error": {"code", "message"}}).
ApiAnswer JsonAnswer(int status, absl::string_view error, absl::string_view message);

// The answer for a call that ended with a gRPC error: its code mapped to HTTP
// (DESIGN.md), with a JSON error body.
ApiAnswer GrpcErrorAnswer(const grpc::Status& status);

// `answer` as a whole HTTP/1.1 response after which the connection closes.
std::string Http1Text(const ApiAnswer& answer);

// `answer` through Pistache's writer (the connection stays open when the
// request allows it).
void SendThroughPistache(Http::ResponseWriter& response, const ApiAnswer& answer, bool head_only);

}  // namespace herald::edge
