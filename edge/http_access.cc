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

void EdgeServer::Router::Preflight(Call& call, const std::string& origin) const {
  if (!call.origin.has_value()) {
    ReplyJson(call, 403, "permission_denied",
              absl::StrCat("origin ", origin, " may not use this edge"));
    return;
  }
  ApiAnswer answer{.status = 204,
                   .headers = {{"Access-Control-Allow-Methods", "GET, POST, OPTIONS"},
                               {"Access-Control-Allow-Headers", kCorsAllowHeaders},
                               {"Access-Control-Max-Age", "600"}}};
  Reply(call, std::move(answer));
}

bool EdgeServer::Router::Authenticate(Call& call, std::optional<Principal>* who) const {
  const Authenticator* auth = server_->options_.auth;
  if (auth == nullptr || !auth->enabled()) return true;
  std::optional<std::string> authorization;
  if (const std::string* header = call.request.Header("authorization"); header != nullptr) {
    authorization = *header;
  }
  std::optional<std::string> cookie;
  if (const std::string* value = call.request.Cookie("herald_token"); value != nullptr) {
    cookie = absl::StrCat("herald_token=", *value);
  }
  const std::optional<std::string> token = TokenFromHeaders(authorization, cookie);
  if (!token.has_value()) return true;
  absl::StatusOr<Principal> verified = auth->Verify(*token);
  if (!verified.ok()) {
    Deny(call, verified.status());
    return false;
  }
  *who = std::move(*verified);
  return true;
}

bool EdgeServer::Router::Permit(Call& call, const absl::Status& allowed) const {
  if (allowed.ok()) return true;
  Deny(call, allowed);
  return false;
}

void EdgeServer::Router::Deny(Call& call, const absl::Status& status) const {
  EdgeServer& s = *server_;
  if (absl::IsPermissionDenied(status)) {
    s.forbidden_.Increment();
    ReplyJson(call, 403, "permission_denied", status.message());
    return;
  }
  const absl::string_view reason = Authenticator::ReasonOf(status);
  s.auth_failures_.at(std::string(reason))->Increment();
  ApiAnswer answer = JsonAnswer(401, "unauthenticated", status.message());
  answer.headers.emplace_back("WWW-Authenticate",
                              reason == "missing"
                                  ? std::string(R"(Bearer realm="herald")")
                                  : std::string(R"(Bearer realm="herald", error="invalid_token")"));
  Reply(call, std::move(answer));
}

bool EdgeServer::Router::MayWriteNow(Call& call, const std::optional<Principal>& who) const {
  EdgeServer& s = *server_;
  if (s.draining_.load()) {
    ApiAnswer answer = JsonAnswer(503, "unavailable", "this edge is shutting down; retry");
    answer.headers.emplace_back("Retry-After", "1");
    Reply(call, std::move(answer));
    return false;
  }
  const std::string key = who.has_value() ? absl::StrCat("sub ", who->subject)
                                          : absl::StrCat("ip ", call.request.client_ip);
  const int wait = s.PostDelay(key);
  if (wait == 0) return true;
  s.rate_limited_.Increment();
  ApiAnswer answer =
      JsonAnswer(429, "resource_exhausted",
                 absl::StrCat("more than ", s.options_.post_rate, " requests per second from ",
                              absl::StartsWith(key, "sub ") ? "this subject" : "this client",
                              "; retry in ", wait, " s"));
  answer.headers.emplace_back("Retry-After", absl::StrCat(wait));
  Reply(call, std::move(answer));
  return false;
}

void EdgeServer::Router::BadRequest(Call& call, absl::string_view message) const {
  server_->bad_requests_.Increment();
  ReplyJson(call, 400, "invalid_argument", message);
}

bool EdgeServer::Router::IsJson(Call& call, absl::string_view what) const {
  if (call.request.IsJson()) return true;
  server_->bad_requests_.Increment();
  ReplyJson(call, 415, "unsupported_media_type",
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
