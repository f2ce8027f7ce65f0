#include "http_responses.h"

#include "absl/strings/str_cat.h"
#include "herald/common/http_status.h"
#include "herald/common/json.h"

namespace herald::edge {

std::string CorsLines(const std::optional<std::string>& origin) {
  if (!origin.has_value()) return "";
  return absl::StrCat("Access-Control-Allow-Origin: ", *origin,
                      "\r\nAccess-Control-Allow-Credentials: true\r\nVary: Origin\r\n");
}

void SendJson(Http::ResponseWriter& response, Http::Code code, absl::string_view error,
              absl::string_view message) {
  response.headers().add<Http::Header::ContentType>(MIME(Application, Json));
  response.send(code, common::JsonErrorBody(std::string(error), std::string(message)));
}

namespace {

const char* Reason(int status) {
  switch (status) {
    case 201:
      return "Created";
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
    case 200:
      return "OK";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return status < 500 ? "Error" : "Internal Server Error";
  }
}

}  // namespace

std::string JsonResponse(int status, const std::string& body, const std::string& extra) {
  return absl::StrCat("HTTP/1.1 ", status, " ", Reason(status),
                      "\r\nContent-Type: application/json\r\nContent-Length: ", body.size(),
                      "\r\nCache-Control: no-store\r\nConnection: close\r\n", extra, "\r\n", body);
}

std::string GrpcErrorResponse(const grpc::Status& status, const std::string& cors) {
  return JsonResponse(
      common::HttpStatusForGrpc(status.error_code()),
      common::JsonErrorBody(common::GrpcCodeName(status.error_code()), status.error_message()),
      cors);
}

}  // namespace herald::edge
