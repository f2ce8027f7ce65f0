#include "auth.h"

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "herald/common/json.h"

namespace herald::edge {
namespace {

constexpr size_t kMaxTokenBytes = 8192;
constexpr size_t kMinSecretBytes = 32;  // RFC 7518 3.2: at least the hash's size
constexpr char kReasonKey[] = "type.herald.dev/auth-reason";

absl::Status Refused(absl::string_view reason, absl::string_view message) {
  absl::Status status = absl::UnauthenticatedError(message);
  status.SetPayload(kReasonKey, absl::Cord(reason));
  return status;
}

absl::StatusOr<std::string> ReadKeyFile(const std::string& path, absl::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The PEM's key type: EVP_PKEY_RSA or EVP_PKEY_EC (with its curve), or an error.
absl::Status CheckPublicKey(const std::string& pem, absl::string_view flag, absl::string_view path,
                            int want_type) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": ", path, " holds no PEM public key (-----BEGIN PUBLIC KEY-----)"));
  }
  absl::Status status;
  const int type = EVP_PKEY_get_base_id(key);
  if (type != want_type) {
    status = absl::InvalidArgumentError(absl::StrCat(
        flag, ": ", path, " is not ", want_type == EVP_PKEY_RSA ? "an RSA" : "an EC", " key"));
  } else if (type == EVP_PKEY_EC) {
    char curve[64] = {0};
    size_t length = 0;
    if (EVP_PKEY_get_group_name(key, curve, sizeof(curve), &length) != 1 ||
        absl::string_view(curve, length) != "prime256v1") {
      status = absl::InvalidArgumentError(
          absl::StrCat(flag, ": ", path, " is not a P-256 key (ES256 needs P-256)"));
    }
  }
  EVP_PKEY_free(key);
  return status;
}

// The `alg` of a token's header, read before anything is verified.
absl::StatusOr<std::string> HeaderAlgorithm(absl::string_view token) {
  const size_t dot = token.find('.');
  if (dot == absl::string_view::npos) return Refused("malformed", "the token is not a JWT");
  std::string header;
  if (!absl::WebSafeBase64Unescape(token.substr(0, dot), &header)) {
    return Refused("malformed", "the token's header is not base64url");
  }
  absl::StatusOr<common::JsonMembers> members = common::ParseJsonObject(header, 4);
  if (!members.ok()) return Refused("malformed", "the token's header is not a JSON object");
  for (const auto& [name, value] : *members) {
    if (name != "alg") continue;
    absl::StatusOr<std::string> alg = common::JsonUnquote(value);
    if (!alg.ok()) return Refused("malformed", "the token's alg is not a string");
    return *alg;
  }
  return Refused("malformed", "the token's header has no alg");
}

absl::StatusOr<std::vector<std::string>> StringList(const google::protobuf::Struct& claims,
                                                    const std::string& name) {
  std::vector<std::string> out;
  auto it = claims.fields().find(name);
  if (it == claims.fields().end()) return out;
  if (!it->second.has_list_value()) {
    return Refused("claims", absl::StrCat("the token's ", name, " claim is not an array"));
  }
  for (const google::protobuf::Value& v : it->second.list_value().values()) {
    if (v.kind_case() != google::protobuf::Value::kStringValue) {
      return Refused("claims", absl::StrCat("the token's ", name, " claim holds a non-string"));
    }
    out.push_back(v.string_value());
  }
  return out;
}

}  // namespace

bool GlobMatch(absl::string_view pattern, absl::string_view text) {
  // Greedy with one backtrack point (the last star): O(len(pattern) * len(text)).
  size_t p = 0, t = 0;
  size_t star = absl::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (star != absl::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool AnyGlobMatches(const std::vector<std::string>& patterns, absl::string_view text) {
  for (const std::string& pattern : patterns) {
    if (GlobMatch(pattern, text)) return true;
  }
  return false;
}

std::optional<std::string> TokenFromHeaders(std::optional<absl::string_view> authorization,
                                            std::optional<absl::string_view> cookie) {
  if (authorization.has_value()) {
    absl::string_view value = absl::StripAsciiWhitespace(*authorization);
    if (value.size() > 7 && absl::StartsWithIgnoreCase(value, "Bearer ")) {
      return std::string(absl::StripLeadingAsciiWhitespace(value.substr(7)));
    }
    return std::string();  // present but not Bearer: refused as malformed
  }
  if (cookie.has_value()) {
    for (absl::string_view pair : absl::StrSplit(*cookie, ';')) {
      pair = absl::StripAsciiWhitespace(pair);
      if (absl::ConsumePrefix(&pair, "herald_token=")) return std::string(pair);
    }
  }
  return std::nullopt;
}

struct Authenticator::Keys {
  std::string hs256;
  std::string rs256;
  std::string es256;
};

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Create(const AuthOptions& options) {
  auto keys = std::make_unique<Keys>();
  if (!options.hs256_secret_file.empty()) {
    absl::StatusOr<std::string> secret =
        ReadKeyFile(options.hs256_secret_file, "--jwt_hs256_secret_file");
    if (!secret.ok()) return secret.status();
    // A file written by `echo` ends with a line break that is not part of it.
    absl::string_view trimmed = *secret;
    if (!absl::ConsumeSuffix(&trimmed, "\r\n")) absl::ConsumeSuffix(&trimmed, "\n");
    if (trimmed.size() < kMinSecretBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("--jwt_hs256_secret_file: the secret in ", options.hs256_secret_file, " is ",
                       trimmed.size(), " bytes; HS256 needs at least ", kMinSecretBytes));
    }
    keys->hs256 = std::string(trimmed);
  }
  struct PublicKey {
    const std::string& path;
    const char* flag;
    int type;
    std::string* into;
  };
  for (const PublicKey& k : {PublicKey{options.rs256_public_key_file, "--jwt_rs256_public_key_file",
                                       EVP_PKEY_RSA, &keys->rs256},
                             PublicKey{options.es256_public_key_file, "--jwt_es256_public_key_file",
                                       EVP_PKEY_EC, &keys->es256}}) {
    if (k.path.empty()) continue;
    absl::StatusOr<std::string> pem = ReadKeyFile(k.path, k.flag);
    if (!pem.ok()) return pem.status();
    if (absl::Status s = CheckPublicKey(*pem, k.flag, k.path, k.type); !s.ok()) return s;
    *k.into = std::move(*pem);
  }
  return std::unique_ptr<Authenticator>(new Authenticator(options, std::move(keys)));
}

Authenticator::Authenticator(const AuthOptions& options, std::unique_ptr<Keys> keys)
    : options_(options), keys_(std::move(keys)) {}

Authenticator::~Authenticator() = default;

bool Authenticator::enabled() const {
  return !keys_->hs256.empty() || !keys_->rs256.empty() || !keys_->es256.empty();
}

std::string Authenticator::algorithms() const {
  std::vector<absl::string_view> algs;
  if (!keys_->hs256.empty()) algs.push_back("HS256");
  if (!keys_->rs256.empty()) algs.push_back("RS256");
  if (!keys_->es256.empty()) algs.push_back("ES256");
  return absl::StrJoin(algs, ", ");
}

absl::StatusOr<Principal> Authenticator::Verify(absl::string_view token, absl::Time now) const {
  if (token.empty()) return Refused("malformed", "the credentials are not a Bearer token");
  if (token.size() > kMaxTokenBytes) {
    return Refused("malformed", absl::StrCat("the token is over ", kMaxTokenBytes, " bytes"));
  }
  if (token.find('\0') != absl::string_view::npos) {
    return Refused("malformed", "the token is not a JWT");
  }
  absl::StatusOr<std::string> alg = HeaderAlgorithm(token);
  if (!alg.ok()) return alg.status();
  // Each key verifies its own algorithm only; `none` has no key.
  const std::string* key = nullptr;
  jwt_alg_t expected = JWT_ALG_INVAL;
  if (*alg == "HS256" && !keys_->hs256.empty()) {
    key = &keys_->hs256;
    expected = JWT_ALG_HS256;
  } else if (*alg == "RS256" && !keys_->rs256.empty()) {
    key = &keys_->rs256;
    expected = JWT_ALG_RS256;
  } else if (*alg == "ES256" && !keys_->es256.empty()) {
    key = &keys_->es256;
    expected = JWT_ALG_ES256;
  }
  if (key == nullptr) {
    return Refused("algorithm", absl::StrCat("tokens signed with ", common::JsonQuote(*alg),
                                             " are not accepted (accepted: ", algorithms(), ")"));
  }
  const std::string text(token);
  jwt_t* jwt = nullptr;
  if (jwt_decode(&jwt, text.c_str(), reinterpret_cast<const unsigned char*>(key->data()),
                 static_cast<int>(key->size())) != 0 ||
      jwt == nullptr) {
    if (jwt != nullptr) jwt_free(jwt);
    return Refused("signature", "the token's signature does not verify");
  }
  std::unique_ptr<jwt_t, void (*)(jwt_t*)> owned(jwt, jwt_free);
  if (jwt_get_alg(jwt) != expected) {
    return Refused("algorithm", "the token's algorithm changed under verification");
  }
  char* json = jwt_get_grants_json(jwt, nullptr);
  if (json == nullptr) return Refused("claims", "the token has no claims");
  google::protobuf::Struct claims;
  const bool parsed = google::protobuf::util::JsonStringToMessage(json, &claims).ok();
  std::free(json);
  if (!parsed) return Refused("claims", "the token's claims are not a JSON object");
  const auto& fields = claims.fields();
  auto number = [&](const std::string& name) -> std::optional<double> {
    auto it = fields.find(name);
    if (it == fields.end() || it->second.kind_case() != google::protobuf::Value::kNumberValue) {
      return std::nullopt;
    }
    return it->second.number_value();
  };
  const double seconds = absl::ToDoubleSeconds(now - absl::UnixEpoch());
  const double leeway = absl::ToDoubleSeconds(options_.leeway);
  const std::optional<double> exp = number("exp");
  if (!exp.has_value()) return Refused("claims", "the token has no numeric exp claim");
  if (seconds > *exp + leeway) return Refused("expired", "the token has expired");
  if (fields.contains("nbf")) {
    const std::optional<double> nbf = number("nbf");
    if (!nbf.has_value()) return Refused("claims", "the token's nbf claim is not a number");
    if (seconds + leeway < *nbf) return Refused("not_yet_valid", "the token is not valid yet");
  }
  auto string_claim = [&](const std::string& name) -> std::optional<std::string> {
    auto it = fields.find(name);
    if (it == fields.end() || it->second.kind_case() != google::protobuf::Value::kStringValue) {
      return std::nullopt;
    }
    return it->second.string_value();
  };
  if (!options_.issuer.empty() && string_claim("iss") != options_.issuer) {
    return Refused("claims", "the token's issuer is not the one this edge trusts");
  }
  if (!options_.audience.empty()) {
    bool found = string_claim("aud") == options_.audience;
    if (auto it = fields.find("aud"); !found && it != fields.end() && it->second.has_list_value()) {
      for (const auto& v : it->second.list_value().values()) {
        found = found || v.string_value() == options_.audience;
      }
    }
    if (!found) return Refused("claims", "the token is not meant for this edge (aud)");
  }
  Principal who;
  std::optional<std::string> subject = string_claim("sub");
  if (!subject.has_value() || subject->empty()) {
    return Refused("claims", "the token has no sub claim");
  }
  who.subject = std::move(*subject);
  who.valid_until = absl::UnixEpoch() + absl::Seconds(*exp + leeway);
  for (auto [name, into] : {std::pair{"subscribe", &who.subscribe},
                            std::pair{"publish", &who.publish}, std::pair{"rpc", &who.rpc}}) {
    absl::StatusOr<std::vector<std::string>> list = StringList(claims, name);
    if (!list.ok()) return list.status();
    *into = std::move(*list);
  }
  return who;
}

absl::Status Authenticator::Check(const Principal* who,
                                  std::vector<std::string> Principal::*granted,
                                  const std::vector<std::string>& public_patterns,
                                  absl::string_view verb, absl::string_view name) const {
  if (!enabled() || AnyGlobMatches(public_patterns, name)) return absl::OkStatus();
  if (who == nullptr) {
    absl::Status status =
        absl::UnauthenticatedError(absl::StrCat("a token is needed to ", verb, " ", name));
    status.SetPayload(kReasonKey, absl::Cord("missing"));
    return status;
  }
  if (AnyGlobMatches(who->*granted, name)) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("the token of ", who->subject, " does not grant ", verb, " ", name));
}

absl::Status Authenticator::MaySubscribe(const Principal* who,
                                         const std::vector<std::string>& streams) const {
  for (const std::string& stream : streams) {
    if (absl::Status s =
            Check(who, &Principal::subscribe, options_.public_streams, "subscribe to", stream);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status Authenticator::MayPublish(const Principal* who, absl::string_view stream) const {
  // Public streams are public to read; writing always takes a grant.
  static const std::vector<std::string> kNone;
  return Check(who, &Principal::publish, kNone, "publish on", stream);
}

absl::Status Authenticator::MayCall(const Principal* who, absl::string_view method) const {
  return Check(who, &Principal::rpc, options_.public_methods, "call", method);
}

absl::string_view Authenticator::ReasonOf(const absl::Status& status) {
  static const std::string kReasons[] = {"missing", "malformed",     "algorithm", "signature",
                                         "expired", "not_yet_valid", "claims"};
  absl::optional<absl::Cord> reason = status.GetPayload(kReasonKey);
  if (!reason.has_value()) return "claims";
  for (const std::string& r : kReasons) {
    if (*reason == r) return r;
  }
  return "claims";
}

}  // namespace herald::edge
