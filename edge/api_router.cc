// Routing: every request, whatever protocol carried it, to its endpoint.
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "http_handler.h"

namespace herald::edge {

ApiRequest::Method ApiRequest::MethodOf(absl::string_view name) {
  if (name == "GET") return Method::kGet;
  if (name == "POST") return Method::kPost;
  if (name == "HEAD") return Method::kHead;
  if (name == "OPTIONS") return Method::kOptions;
  return Method::kOther;
}

const std::string* ApiRequest::Header(absl::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

const std::string* ApiRequest::Cookie(absl::string_view name) const {
  for (const auto& [key, value] : cookies) {
    if (key == name) return &value;
  }
  return nullptr;
}

bool ApiRequest::IsJson() const {
  const std::string* type = Header("content-type");
  if (type == nullptr) return false;
  const absl::string_view mime =
      absl::StripAsciiWhitespace(absl::string_view(*type).substr(0, type->find(';')));
  return absl::EqualsIgnoreCase(mime, "application/json");
}

void EdgeServer::Router::Reply(Call& call, ApiAnswer answer) const {
  for (auto& header : CorsHeaders(call.origin)) answer.headers.push_back(std::move(header));
  call.exchange.Answer(std::move(answer));
}

void EdgeServer::Router::ReplyJson(Call& call, int status, absl::string_view error,
                                   absl::string_view message) const {
  Reply(call, JsonAnswer(status, error, message));
}

std::function<void(ApiAnswer)> EdgeServer::Router::AnswerLater(Call& call) const {
  EdgeServer& s = *server_;
  ++s.calls_in_flight_;
  return [&s, answer = call.exchange.AnswerLater(), cors = CorsHeaders(call.origin)](ApiAnswer a) {
    for (const auto& header : cors) a.headers.push_back(header);
    answer(std::move(a));
    --s.calls_in_flight_;
  };
}

void EdgeServer::Router::Route(const ApiRequest& request, ApiExchange& exchange) const {
  EdgeServer& s = *server_;
  Call call{request, exchange, std::nullopt};
  const std::string& path = request.path;
  if (const std::string* origin = request.Header("origin"); origin != nullptr) {
    call.origin = s.AllowedOrigin(*origin);
    if (request.method == ApiRequest::Method::kOptions) {
      Preflight(call, *origin);
      return;
    }
  }
  static constexpr absl::string_view kStreams = "/v1/streams/";
  static constexpr absl::string_view kRpc = "/v1/rpc/";
  static constexpr absl::string_view kEvents = "/events";
  const bool get = request.method == ApiRequest::Method::kGet;
  if (absl::StartsWith(path, kStreams) && absl::EndsWith(path, kEvents) &&
      path.size() > kStreams.size() + kEvents.size()) {
    if (request.method != ApiRequest::Method::kPost) {
      ReplyJson(call, 405, "method_not_allowed",
                "POST an event here: {\"type\": ..., \"data\": ...}");
      return;
    }
    PostEvent(call, absl::string_view(path).substr(kStreams.size(),
                                                   path.size() - kStreams.size() - kEvents.size()));
  } else if (absl::StartsWith(path, kRpc)) {
    Rpc(call, absl::string_view(path).substr(kRpc.size()));
  } else if (path == "/v1/events") {
    if (!get) {
      ReplyJson(call, 405, "method_not_allowed", "GET /v1/events opens a stream");
      return;
    }
    Events(call);
  } else if (path == "/healthz") {
    Reply(call, {.status = 200, .content_type = "text/plain", .body = "ok\n"});
  } else if (path == "/readyz") {
    const bool ready = s.Ready();
    Reply(call, {.status = ready ? 200 : 503,
                 .content_type = "text/plain",
                 .body = ready ? "ready\n" : "not ready\n"});
  } else if (path == "/metrics") {
    Reply(
        call,
        {.status = 200, .content_type = "text/plain; version=0.0.4", .body = s.metrics_.Render()});
  } else if (const StaticFile* file =
                 s.options_.static_files != nullptr ? s.options_.static_files->Find(path) : nullptr;
             file != nullptr && (get || request.method == ApiRequest::Method::kHead)) {
    Reply(call, {.status = 200,
                 .content_type = file->content_type,
                 .headers = {{"Cache-Control", file->cache_control},
                             {"X-Content-Type-Options", "nosniff"},
                             {"Content-Security-Policy",
                              "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src "
                              "'self' data:"}},
                 .body = get ? file->body : std::string()});
  } else {
    ReplyJson(call, 404, "not_found", absl::StrCat("no such resource: ", path));
  }
}

}  // namespace herald::edge
