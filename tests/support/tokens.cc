#include "support/tokens.h"

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace herald::testing {
namespace {

std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  std::string text(data, static_cast<size_t>(length));
  BIO_free(bio);
  return text;
}

KeyPair PemsOf(EVP_PKEY* key) {
  if (key == nullptr) throw std::runtime_error("OpenSSL could not make a key");
  BIO* priv = BIO_new(BIO_s_mem());
  BIO* pub = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(priv, key, nullptr, nullptr, 0, nullptr, nullptr);
  PEM_write_bio_PUBKEY(pub, key);
  EVP_PKEY_free(key);
  return {BioText(priv), BioText(pub)};
}

}  // namespace

KeyPair NewRsaKey() { return PemsOf(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})); }

KeyPair NewEcKey() { return PemsOf(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")); }

std::string SignToken(absl::string_view alg, absl::string_view key, absl::string_view claims_json) {
  jwt_t* jwt = nullptr;
  if (jwt_new(&jwt) != 0) throw std::runtime_error("jwt_new failed");
  const std::string claims(claims_json);
  const std::string alg_name(alg);
  if (jwt_add_grants_json(jwt, claims.c_str()) != 0 ||
      jwt_set_alg(jwt, jwt_str_alg(alg_name.c_str()),
                  reinterpret_cast<const unsigned char*>(key.data()),
                  static_cast<int>(key.size())) != 0) {
    jwt_free(jwt);
    throw std::runtime_error(absl::StrCat("cannot sign a ", alg, " token"));
  }
  char* encoded = jwt_encode_str(jwt);
  jwt_free(jwt);
  if (encoded == nullptr)
    throw std::runtime_error(absl::StrCat("jwt_encode_str failed (", alg, ")"));
  std::string token(encoded);
  std::free(encoded);
  return token;
}

std::string UnsignedToken(absl::string_view claims_json) {
  return absl::StrCat(absl::WebSafeBase64Escape(R"({"alg":"none","typ":"JWT"})"), ".",
                      absl::WebSafeBase64Escape(claims_json), ".");
}

std::string Claims(absl::string_view subject, absl::string_view extra) {
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  return absl::StrCat(R"({"sub":")", subject, R"(","iat":)", now, R"(,"exp":)", now + 3600,
                      extra.empty() ? "" : ",", extra, "}");
}

std::string WriteTempFile(absl::string_view name, absl::string_view text) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::filesystem::path base = dir != nullptr ? dir : std::filesystem::temp_directory_path();
  base /= absl::StrCat("herald-test-", getpid());
  std::filesystem::create_directories(base);
  const std::filesystem::path path = base / std::string(name);
  std::ofstream(path, std::ios::binary) << text;
  return path.string();
}

}  // namespace herald::testing
