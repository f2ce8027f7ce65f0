// Authentication and authorization of browsers: JSON Web Tokens and grants.
//
// A token comes in `Authorization: Bearer <jwt>` or, for EventSource (which
// cannot set headers), the `herald_token` cookie. It is accepted only when:
//   - its header's `alg` is one the edge has a key for (HS256, RS256, ES256):
//     `none` and any other algorithm are refused before anything is verified,
//     and each key verifies only its own algorithm, so an HS256 token signed
//     with the RS256 public key as its secret fails (algorithm confusion);
//   - the signature verifies (libjwt);
//   - `exp` is present and not past, and `nbf`, if present, is not ahead, both
//     with a small leeway for clock skew; `iss` and `aud` match when set;
//   - `sub` is a non-empty string: the subject, forwarded to services and used
//     for rate limits.
// Grants are arrays of glob patterns (`*` any run, `?` one character):
//
//   {"sub": "ada", "exp": 1790000000,
//    "subscribe": ["prices.*", "orders.ada"],
//    "publish": ["chat.*"],
//    "rpc": ["herald.demo.v1.Orders/*"]}
//
// Streams configured as public need no token to subscribe to (publishing on
// one always takes a grant); methods configured as public need none to call. With no key
// configured at all, authentication is off and everything is allowed (for
// local development; the edge logs a warning).
//
// Tokens are never logged, and no error message repeats one.
//
// Thread-safety: all const methods may be called from any thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace herald::edge {

struct AuthOptions {
  std::string hs256_secret_file;      // the shared secret, at least 32 bytes
  std::string rs256_public_key_file;  // PEM, an RSA public key
  std::string es256_public_key_file;  // PEM, a P-256 public key
  absl::Duration leeway = absl::Seconds(30);
  std::string issuer;                       // when set, `iss` must equal it
  std::string audience;                     // when set, `aud` (a string or an array) must hold it
  std::vector<std::string> public_streams;  // glob patterns; subscribing only, never publishing
  std::vector<std::string> public_methods;  // glob patterns over "package.Service/Method"
};

// What a verified token grants.
struct Principal {
  std::string subject;
  // When the token stops being accepted (exp plus the leeway): an open
  // stream authorized by it ends then.
  absl::Time valid_until = absl::InfiniteFuture();
  std::vector<std::string> subscribe;
  std::vector<std::string> publish;
  std::vector<std::string> rpc;
};

// Whether `text` matches the glob `pattern` (`*` any run of characters, `?`
// exactly one; everything else literal). Linear in practice, never exponential.
bool GlobMatch(absl::string_view pattern, absl::string_view text);
bool AnyGlobMatches(const std::vector<std::string>& patterns, absl::string_view text);

// The token a request carries: the Bearer credentials of `authorization`, or
// else the herald_token cookie in `cookie`. nullopt when there is none.
std::optional<std::string> TokenFromHeaders(std::optional<absl::string_view> authorization,
                                            std::optional<absl::string_view> cookie);

class Authenticator final {
 public:
  // Loads and checks the keys. InvalidArgument names the file and the
  // problem (unreadable, not PEM, the wrong key type, a short secret).
  static absl::StatusOr<std::unique_ptr<Authenticator>> Create(const AuthOptions& options);
  ~Authenticator();

  // False when no key is configured: everything is allowed.
  bool enabled() const;
  // The algorithms accepted, e.g. "HS256, RS256".
  std::string algorithms() const;

  // Unauthenticated with the reason (never the token) for a token that is
  // malformed, of a refused algorithm, badly signed, expired, not yet valid or
  // missing a required claim.
  absl::StatusOr<Principal> Verify(absl::string_view token, absl::Time now = absl::Now()) const;

  // The access checks: OK; Unauthenticated when there is no principal (no
  // token) and something asked for is not public; PermissionDenied naming the
  // first stream or method the principal is not granted. All or nothing: a
  // request for several streams is refused whole if one is forbidden.
  absl::Status MaySubscribe(const Principal* who, const std::vector<std::string>& streams) const;
  absl::Status MayPublish(const Principal* who, absl::string_view stream) const;
  absl::Status MayCall(const Principal* who, absl::string_view method) const;

  // Why a token was refused, for the metrics' `reason` label: one of missing,
  // malformed, algorithm, signature, expired, not_yet_valid, claims.
  static absl::string_view ReasonOf(const absl::Status& status);

 private:
  struct Keys;
  explicit Authenticator(const AuthOptions& options, std::unique_ptr<Keys> keys);
  absl::Status Check(const Principal* who, std::vector<std::string> Principal::*granted,
                     const std::vector<std::string>& public_patterns, absl::string_view verb,
                     absl::string_view name) const;

  AuthOptions options_;
  std::unique_ptr<Keys> keys_;
};

}  // namespace herald::edge
