// Answers of herald-edge outside its event streams: JSON errors through
// Pistache's writer, whole responses written by hand (for answers that come
// later from a gRPC thread), and the header types Pistache 0.0.5 lacks.
#pragma once

#include <pistache/http.h>

#include <optional>
#include <ostream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"

namespace herald::edge {

namespace Http = Pistache::Http;

// CORS header lines for a response written outside Pistache.
std::string CorsLines(const std::optional<std::string>& origin);

// A JSON error body ({"error": ..., "message": ...}) through Pistache.
void SendJson(Http::ResponseWriter& response, Http::Code code, absl::string_view error,
              absl::string_view message);

// A whole JSON response, for writing outside Pistache; the connection closes
// after it. `extra` holds whole header lines.
std::string JsonResponse(int status, const std::string& body, const std::string& extra = "");

// The answer for a call that ended with a gRPC error: its code mapped to HTTP
// (DESIGN.md), with a JSON error body.
std::string GrpcErrorResponse(const grpc::Status& status, const std::string& cors);

// Pistache writes only typed headers: these are the ones it lacks.
#define HERALD_TEXT_HEADER(Class, HeaderName)                            \
  class Class final : public Http::Header::Header {                      \
   public:                                                               \
    NAME(HeaderName)                                                     \
    explicit Class(std::string value = "") : value_(std::move(value)) {} \
    void parse(const std::string& text) override { value_ = text; }      \
    void write(std::ostream& os) const override { os << value_; }        \
                                                                         \
   private:                                                              \
    std::string value_;                                                  \
  };
HERALD_TEXT_HEADER(Vary, "Vary")
HERALD_TEXT_HEADER(AllowCredentials, "Access-Control-Allow-Credentials")
HERALD_TEXT_HEADER(MaxAge, "Access-Control-Max-Age")
HERALD_TEXT_HEADER(WwwAuthenticate, "WWW-Authenticate")
HERALD_TEXT_HEADER(CacheControlText, "Cache-Control")
HERALD_TEXT_HEADER(NoSniff, "X-Content-Type-Options")
HERALD_TEXT_HEADER(ContentSecurityPolicy, "Content-Security-Policy")
#undef HERALD_TEXT_HEADER

// Retry-After, likewise.
class RetryAfter final : public Http::Header::Header {
 public:
  NAME("Retry-After")
  explicit RetryAfter(int seconds = 0) : seconds_(seconds) {}
  void parse(const std::string& text) override { (void)absl::SimpleAtoi(text, &seconds_); }
  void write(std::ostream& os) const override { os << seconds_; }

 private:
  int seconds_;
};

}  // namespace herald::edge
