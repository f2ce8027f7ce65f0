// Keys and JSON Web Tokens for tests of the edge's authentication: real key
// pairs made with OpenSSL, tokens signed with libjwt, and the hostile tokens
// the edge must refuse (`alg: none`, HS256 signed with an RSA public key).
//
//   KeyPair rsa = NewRsaKey();
//   std::string token = SignToken("RS256", rsa.private_pem,
//                                 R"({"sub":"ada","exp":1999999999,"subscribe":["a.*"]})");
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace herald::testing {

struct KeyPair {
  std::string private_pem;
  std::string public_pem;
};

KeyPair NewRsaKey();  // 2048 bits
KeyPair NewEcKey();   // P-256

// A compact JWS: `alg` is HS256 (key: the secret), RS256 or ES256 (key: the
// private PEM); `claims_json` is the payload object.
std::string SignToken(absl::string_view alg, absl::string_view key, absl::string_view claims_json);

// {"alg":"none"} with the claims and an empty signature.
std::string UnsignedToken(absl::string_view claims_json);

// Claims for `subject` valid from now for an hour, plus `extra` members
// (e.g. R"("subscribe":["a"])"; may be empty).
std::string Claims(absl::string_view subject, absl::string_view extra);

// Writes `text` to a new file under the test's temporary directory; the path.
std::string WriteTempFile(absl::string_view name, absl::string_view text);

}  // namespace herald::testing
