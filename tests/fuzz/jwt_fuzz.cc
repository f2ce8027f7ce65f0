// libFuzzer: token verification and the grant checks. The first byte picks:
//   0: the rest as a token, verified against HS256, RS256 and ES256 keys;
//   1: the rest as a claims object, signed with the HS256 key and verified,
//      so that claim parsing is reached (then the grants are checked);
//   2: a glob pattern, NUL, a name: GlobMatch and the header parsing.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>

#include "auth.h"
#include "support/tokens.h"

namespace {

constexpr char kSecret[] = "fuzz-secret-fuzz-secret-fuzz-secret-0123";
herald::edge::Authenticator* auth = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  herald::edge::AuthOptions options;
  options.hs256_secret_file = herald::testing::WriteTempFile("fuzz-hs256", kSecret);
  options.rs256_public_key_file =
      herald::testing::WriteTempFile("fuzz-rs256.pem", herald::testing::NewRsaKey().public_pem);
  options.es256_public_key_file =
      herald::testing::WriteTempFile("fuzz-es256.pem", herald::testing::NewEcKey().public_pem);
  options.public_streams = {"public.*"};
  auto created = herald::edge::Authenticator::Create(options);
  if (!created.ok()) __builtin_trap();
  // The keys are read: the files are not needed any more.
  for (const std::string& file :
       {options.hs256_secret_file, options.rs256_public_key_file, options.es256_public_key_file}) {
    std::remove(file.c_str());
  }
  auth = created->release();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      absl::StatusOr<herald::edge::Principal> who = auth->Verify(rest);
      // Nothing but a real signature gets through.
      if (who.ok()) __builtin_trap();
      break;
    }
    case 1: {
      std::string token;
      try {
        token = herald::testing::SignToken("HS256", kSecret, rest);
      } catch (const std::exception&) {
        return 0;  // libjwt does not take it as a claims object
      }
      absl::StatusOr<herald::edge::Principal> who = auth->Verify(token);
      if (who.ok()) {
        (void)auth->MaySubscribe(&*who, {"a", "public.b"});
        (void)auth->MayPublish(&*who, "a");
        (void)auth->MayCall(&*who, "x.Y/Z");
      }
      break;
    }
    case 2: {
      const size_t nul = rest.find('\0');
      const std::string pattern = rest.substr(0, nul);
      const std::string name = nul == std::string::npos ? "" : rest.substr(nul + 1);
      (void)herald::edge::GlobMatch(pattern, name);
      (void)herald::edge::TokenFromHeaders(pattern, name);
      (void)herald::edge::TokenFromHeaders(std::nullopt, rest);
      break;
    }
  }
  return 0;
}
