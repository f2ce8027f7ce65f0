// Who may do what: CORS, authentication, grants, the POST rate limit, and
// the 4xx answers that say what was wrong.
#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "herald/common/http_status.h"
#include "herald/common/json.h"
#include "http_handler.h"

namespace herald::edge {
namespace {

constexpr char kCorsAllowHeaders[] =
    "Content-Type, Authorization, Idempotency-Key, traceparent, Last-Event-ID";

}  // namespace

void EdgeServer::Handler::Preflight(const Http::Request& request, Http::ResponseWriter& response,
                                    const std::string& origin) {
  if (!current_origin_.has_value()) {
    SendJson(response, Http::Code::Forbidden, "permission_denied",
             absl::StrCat("origin ", origin, " may not use this edge"));
    return;
  }
  response.headers().add<Http::Header::AccessControlAllowOrigin>(*current_origin_);
  response.headers().add<AllowCredentials>("true");
  response.headers().add<Vary>("Origin");
  response.headers().add<Http::Header::AccessControlAllowMethods>("GET, POST, OPTIONS");
  response.headers().add<Http::Header::AccessControlAllowHeaders>(kCorsAllowHeaders);
  response.headers().add<MaxAge>("600");
  (void)request;
  response.send(Http::Code::No_Content);
}

bool EdgeServer::Handler::Authenticate(const Http::Request& request, Http::ResponseWriter& response,
                                       std::optional<Principal>* who) {
  const Authenticator* auth = server_->options_.auth;
  if (auth == nullptr || !auth->enabled()) return true;
  std::optional<std::string> authorization;
  if (auto typed = request.headers().tryGet<Http::Header::Authorization>(); typed != nullptr) {
    authorization = typed->value();
  } else if (auto raw = request.headers().tryGetRaw("Authorization"); raw.has_value()) {
    authorization = raw->value();
  }
  std::optional<std::string> cookie;
  if (request.cookies().has("herald_token")) {
    cookie = absl::StrCat("herald_token=", request.cookies().get("herald_token").value);
  }
  const std::optional<std::string> token = TokenFromHeaders(authorization, cookie);
  if (!token.has_value()) return true;
  absl::StatusOr<Principal> verified = auth->Verify(*token);
  if (!verified.ok()) {
    Deny(response, verified.status());
    return false;
  }
  *who = std::move(*verified);
  return true;
}

bool EdgeServer::Handler::Permit(const absl::Status& allowed, Http::ResponseWriter& response) {
  if (allowed.ok()) return true;
  Deny(response, allowed);
  return false;
}

void EdgeServer::Handler::Deny(Http::ResponseWriter& response, const absl::Status& status) {
  EdgeServer& s = *server_;
  if (absl::IsPermissionDenied(status)) {
    s.forbidden_.Increment();
    SendJson(response, Http::Code::Forbidden, "permission_denied", status.message());
    return;
  }
  const absl::string_view reason = Authenticator::ReasonOf(status);
  s.auth_failures_.at(std::string(reason))->Increment();
  response.headers().add<WwwAuthenticate>(
      reason == "missing" ? std::string(R"(Bearer realm="herald")")
                          : absl::StrCat(R"(Bearer realm="herald", error="invalid_token")"));
  SendJson(response, Http::Code::Unauthorized, "unauthenticated", status.message());
}

bool EdgeServer::Handler::MayWriteNow(const std::optional<Principal>& who,
                                      const Http::Request& request,
                                      Http::ResponseWriter& response) {
  EdgeServer& s = *server_;
  if (s.draining_.load()) {
    response.headers().add<RetryAfter>(1);
    SendJson(response, Http::Code::Service_Unavailable, "unavailable",
             "this edge is shutting down; retry");
    return false;
  }
  const std::string key = who.has_value() ? absl::StrCat("sub ", who->subject)
                                          : absl::StrCat("ip ", request.address().host());
  const int wait = s.PostDelay(key);
  if (wait == 0) return true;
  s.rate_limited_.Increment();
  response.headers().add<RetryAfter>(wait);
  SendJson(response, Http::Code::Too_Many_Requests, "resource_exhausted",
           absl::StrCat("more than ", s.options_.post_rate, " requests per second from ",
                        absl::StartsWith(key, "sub ") ? "this subject" : "this client",
                        "; retry in ", wait, " s"));
  return false;
}

void EdgeServer::Handler::BadRequest(Http::ResponseWriter& response, absl::string_view message) {
  server_->bad_requests_.Increment();
  SendJson(response, Http::Code::Bad_Request, "invalid_argument", message);
}

bool EdgeServer::Handler::IsJson(const Http::Request& request, Http::ResponseWriter& response,
                                 absl::string_view what) {
  auto content_type = request.headers().tryGet<Http::Header::ContentType>();
  if (content_type != nullptr && content_type->mime() == MIME(Application, Json)) return true;
  server_->bad_requests_.Increment();
  SendJson(response, Http::Code::Unsupported_Media_Type, "unsupported_media_type",
           absl::StrCat("send ", what, " as Content-Type: application/json"));
  return false;
}

std::optional<std::string> EdgeServer::AllowedOrigin(const std::string& origin) const {
  for (const std::string& allowed : options_.cors_origins) {
    if (allowed == "*" || allowed == origin) return origin;
  }
  return std::nullopt;
}

int EdgeServer::PostDelay(const std::string& client) {
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&buckets_mu_);
  if (buckets_.size() > 100'000) {
    // Forget clients whose buckets have refilled: bounded memory.
    absl::erase_if(buckets_, [&](const auto& b) {
      return b.second.tokens + absl::ToDoubleSeconds(now - b.second.updated) * options_.post_rate >=
             options_.post_burst;
    });
  }
  auto [it, created] = buckets_.try_emplace(client, Bucket{options_.post_burst, now});
  Bucket& b = it->second;
  b.tokens = std::min(options_.post_burst,
                      b.tokens + absl::ToDoubleSeconds(now - b.updated) * options_.post_rate);
  b.updated = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  return std::max(1, static_cast<int>(std::ceil((1 - b.tokens) / options_.post_rate)));
}

}  // namespace herald::edge
