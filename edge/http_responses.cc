#include "http_responses.h"

#include <ostream>

#include "absl/strings/str_cat.h"
#include "herald/common/http_status.h"
#include "herald/common/json.h"

namespace herald::edge {
namespace {

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 499:
      return "Client Closed Request";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return status < 500 ? "Error" : "Internal Server Error";
  }
}

// Pistache writes only typed headers: one whose name is known at run time.
class TextHeader final : public Http::Header::Header {
 public:
  TextHeader(std::string name, std::string value)
      : name_(std::move(name)), value_(std::move(value)) {}
  const char* name() const override { return name_.c_str(); }
  void parse(const std::string& text) override { value_ = text; }
  void write(std::ostream& os) const override { os << value_; }
  uint64_t hash() const override { return std::hash<std::string>()(name_); }

 private:
  std::string name_;
  std::string value_;
};

}  // namespace

HeaderList CorsHeaders(const std::optional<std::string>& origin) {
  if (!origin.has_value()) return {};
  return {{"Access-Control-Allow-Origin", *origin},
          {"Access-Control-Allow-Credentials", "true"},
          {"Vary", "Origin"}};
}

ApiAnswer JsonAnswer(int status, absl::string_view error, absl::string_view message) {
  return ApiAnswer{.status = status,
                   .content_type = "application/json",
                   .body = common::JsonErrorBody(std::string(error), std::string(message))};
}

ApiAnswer GrpcErrorAnswer(const grpc::Status& status) {
  return JsonAnswer(common::HttpStatusForGrpc(status.error_code()),
                    common::GrpcCodeName(status.error_code()), status.error_message());
}

std::string Http1Text(const ApiAnswer& answer) {
  std::string text = absl::StrCat("HTTP/1.1 ", answer.status, " ", Reason(answer.status), "\r\n");
  if (!answer.content_type.empty())
    absl::StrAppend(&text, "Content-Type: ", answer.content_type, "\r\n");
  absl::StrAppend(&text, "Content-Length: ", answer.body.size(),
                  "\r\nCache-Control: no-store\r\nConnection: close\r\n");
  for (const auto& [name, value] : answer.headers)
    absl::StrAppend(&text, name, ": ", value, "\r\n");
  absl::StrAppend(&text, "\r\n", answer.body);
  return text;
}

void SendThroughPistache(Http::ResponseWriter& response, const ApiAnswer& answer, bool head_only) {
  if (!answer.content_type.empty()) {
    response.headers().add(std::make_shared<TextHeader>("Content-Type", answer.content_type));
  }
  for (const auto& [name, value] : answer.headers) {
    response.headers().add(std::make_shared<TextHeader>(name, value));
  }
  response.send(static_cast<Http::Code>(answer.status), head_only ? std::string() : answer.body);
}

}  // namespace herald::edge
