#include "auth.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "support/tokens.h"

namespace herald::edge {
namespace {

using ::herald::testing::Claims;
using ::herald::testing::KeyPair;
using ::herald::testing::SignToken;
using ::testing::HasSubstr;

constexpr char kSecret[] = "0123456789abcdef0123456789abcdef-secret";

class AuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = new KeyPair(testing::NewRsaKey());
    ec_ = new KeyPair(testing::NewEcKey());
  }
  static void TearDownTestSuite() {
    delete rsa_;
    delete ec_;
  }
  void TearDown() override {
    for (const std::string& f : files_) std::filesystem::remove(f);
  }

  std::string File(absl::string_view name, absl::string_view text) {
    files_.push_back(testing::WriteTempFile(name, text));
    return files_.back();
  }

  std::unique_ptr<Authenticator> Make(AuthOptions options = {}) {
    if (options.hs256_secret_file.empty()) {
      options.hs256_secret_file = File("hs256.secret", absl::StrCat(kSecret, "\n"));
    }
    if (options.rs256_public_key_file.empty()) {
      options.rs256_public_key_file = File("rs256.pem", rsa_->public_pem);
    }
    if (options.es256_public_key_file.empty()) {
      options.es256_public_key_file = File("es256.pem", ec_->public_pem);
    }
    absl::StatusOr<std::unique_ptr<Authenticator>> auth = Authenticator::Create(options);
    EXPECT_TRUE(auth.ok()) << auth.status();
    return std::move(*auth);
  }

  static KeyPair* rsa_;
  static KeyPair* ec_;
  std::vector<std::string> files_;
};

KeyPair* AuthTest::rsa_ = nullptr;
KeyPair* AuthTest::ec_ = nullptr;

TEST(GlobTest, Matches) {
  EXPECT_TRUE(GlobMatch("prices.*", "prices.eu"));
  EXPECT_TRUE(GlobMatch("prices.*", "prices."));
  EXPECT_FALSE(GlobMatch("prices.*", "prices"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("a?c", "abc"));
  EXPECT_FALSE(GlobMatch("a?c", "ac"));
  EXPECT_TRUE(GlobMatch("*.eu.*", "orders.eu.paris"));
  EXPECT_FALSE(GlobMatch("orders", "orders.eu"));
  EXPECT_TRUE(GlobMatch("herald.demo.v1.Orders/*", "herald.demo.v1.Orders/PlaceOrder"));
  EXPECT_FALSE(GlobMatch("herald.demo.v1.Orders/*", "herald.demo.v1.Admin/Drop"));
  // Many stars against a long non-matching text stay fast (no exponential backtracking).
  EXPECT_FALSE(GlobMatch("*a*a*a*a*a*a*a*a*b", std::string(200, 'a')));
}

TEST(TokenFromHeadersTest, BearerThenCookie) {
  EXPECT_EQ(TokenFromHeaders("Bearer abc.def.ghi", std::nullopt), "abc.def.ghi");
  EXPECT_EQ(TokenFromHeaders("bearer   abc", "herald_token=zzz"), "abc");
  EXPECT_EQ(TokenFromHeaders(std::nullopt, "a=1; herald_token=xyz; b=2"), "xyz");
  EXPECT_EQ(TokenFromHeaders(std::nullopt, "a=1"), std::nullopt);
  EXPECT_EQ(TokenFromHeaders(std::nullopt, std::nullopt), std::nullopt);
  // Other schemes are not silently ignored: the empty token is refused.
  EXPECT_EQ(TokenFromHeaders("Basic dXNlcjpwYXNz", std::nullopt), "");
}

TEST_F(AuthTest, AcceptsEachConfiguredAlgorithm) {
  auto auth = Make();
  EXPECT_EQ(auth->algorithms(), "HS256, RS256, ES256");
  const std::string claims = Claims("ada", R"("subscribe":["a.*"],"publish":["p"],"rpc":["m/*"])");
  for (const auto& [alg, key] : {std::pair<std::string, std::string>{"HS256", kSecret},
                                 {"RS256", rsa_->private_pem},
                                 {"ES256", ec_->private_pem}}) {
    absl::StatusOr<Principal> who = auth->Verify(SignToken(alg, key, claims));
    ASSERT_TRUE(who.ok()) << alg << ": " << who.status();
    EXPECT_EQ(who->subject, "ada");
    EXPECT_EQ(who->subscribe, std::vector<std::string>{"a.*"});
    EXPECT_EQ(who->publish, std::vector<std::string>{"p"});
    EXPECT_EQ(who->rpc, std::vector<std::string>{"m/*"});
  }
}

TEST_F(AuthTest, RefusesHostileAndStaleTokens) {
  auto auth = Make();
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  auto refused = [&](const std::string& token, absl::string_view reason) {
    absl::StatusOr<Principal> who = auth->Verify(token);
    EXPECT_TRUE(absl::IsUnauthenticated(who.status())) << who.status();
    EXPECT_EQ(Authenticator::ReasonOf(who.status()), reason) << who.status();
    // The message never repeats the token.
    if (token.size() > 8) {
      EXPECT_THAT(std::string(who.status().message()), ::testing::Not(HasSubstr(token)));
    }
  };
  const std::string good = Claims("ada", "");
  refused(testing::UnsignedToken(good), "algorithm");
  // HS256 signed with the RS256 public key as the secret.
  refused(SignToken("HS256", rsa_->public_pem, good), "signature");
  // Another RSA key.
  refused(SignToken("RS256", testing::NewRsaKey().private_pem, good), "signature");
  refused(SignToken("HS256", "another-secret-another-secret-another", good), "signature");
  refused(SignToken("HS384", kSecret, good), "algorithm");
  refused(SignToken("HS256", kSecret, absl::StrCat(R"({"sub":"ada","exp":)", now - 120, "}")),
          "expired");
  refused(
      SignToken("HS256", kSecret,
                absl::StrCat(R"({"sub":"ada","exp":)", now + 600, R"(,"nbf":)", now + 300, "}")),
      "not_yet_valid");
  refused(SignToken("HS256", kSecret, R"({"sub":"ada"})"), "claims");  // no exp
  refused(SignToken("HS256", kSecret, absl::StrCat(R"({"exp":)", now + 60, "}")), "claims");
  refused(SignToken("HS256", kSecret, Claims("ada", R"("subscribe":"a")")), "claims");
  refused(SignToken("HS256", kSecret, Claims("ada", R"("rpc":[1])")), "claims");
  refused("", "malformed");
  refused("not-a-token", "malformed");
  refused("e30.e30.", "malformed");  // {} has no alg
  refused(std::string(9000, 'a'), "malformed");
  // A signature cut off, or a payload swapped under the signature.
  const std::string token = SignToken("HS256", kSecret, good);
  refused(token.substr(0, token.size() - 4), "signature");
  const std::string other = SignToken("HS256", kSecret, Claims("eve", R"("subscribe":["*"])"));
  const size_t dot1 = token.find('.'), dot2 = token.rfind('.');
  const size_t odot1 = other.find('.'), odot2 = other.rfind('.');
  refused(token.substr(0, dot1) + other.substr(odot1, odot2 - odot1) + token.substr(dot2),
          "signature");
}

TEST_F(AuthTest, LeewayAllowsSmallClockSkew) {
  auto auth = Make();
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  EXPECT_TRUE(
      auth->Verify(SignToken("HS256", kSecret, absl::StrCat(R"({"sub":"a","exp":)", now - 5, "}")))
          .ok());
  EXPECT_TRUE(auth->Verify(SignToken("HS256", kSecret,
                                     absl::StrCat(R"({"sub":"a","exp":)", now + 60, R"(,"nbf":)",
                                                  now + 5, "}")))
                  .ok());
}

TEST_F(AuthTest, OnlyConfiguredAlgorithmsAreAccepted) {
  AuthOptions options;
  options.rs256_public_key_file = File("only-rs.pem", rsa_->public_pem);
  absl::StatusOr<std::unique_ptr<Authenticator>> auth = Authenticator::Create(options);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ((*auth)->algorithms(), "RS256");
  const std::string good = Claims("ada", "");
  EXPECT_TRUE((*auth)->Verify(SignToken("RS256", rsa_->private_pem, good)).ok());
  absl::StatusOr<Principal> confused = (*auth)->Verify(SignToken("HS256", rsa_->public_pem, good));
  EXPECT_TRUE(absl::IsUnauthenticated(confused.status()));
  EXPECT_EQ(Authenticator::ReasonOf(confused.status()), "algorithm");
}

TEST_F(AuthTest, IssuerAndAudience) {
  AuthOptions options;
  options.issuer = "https://login.example.com";
  options.audience = "herald";
  auto auth = Make(options);
  EXPECT_TRUE(
      auth->Verify(SignToken("HS256", kSecret,
                             Claims("a", R"("iss":"https://login.example.com","aud":"herald")")))
          .ok());
  EXPECT_TRUE(
      auth->Verify(
              SignToken("HS256", kSecret,
                        Claims("a", R"("iss":"https://login.example.com","aud":["x","herald"])")))
          .ok());
  EXPECT_FALSE(
      auth->Verify(SignToken("HS256", kSecret, Claims("a", R"("iss":"evil","aud":"herald")")))
          .ok());
  EXPECT_FALSE(
      auth->Verify(SignToken("HS256", kSecret,
                             Claims("a", R"("iss":"https://login.example.com","aud":"x")")))
          .ok());
}

TEST_F(AuthTest, BadKeysAreRefusedAtStart) {
  AuthOptions short_secret;
  short_secret.hs256_secret_file = File("short", "tooshort\n");
  EXPECT_THAT(std::string(Authenticator::Create(short_secret).status().message()),
              HasSubstr("at least 32"));
  AuthOptions not_pem;
  not_pem.rs256_public_key_file = File("notpem", "hello");
  EXPECT_THAT(std::string(Authenticator::Create(not_pem).status().message()),
              HasSubstr("no PEM public key"));
  AuthOptions wrong_type;
  wrong_type.rs256_public_key_file = File("ec-as-rsa", ec_->public_pem);
  EXPECT_THAT(std::string(Authenticator::Create(wrong_type).status().message()),
              HasSubstr("not an RSA key"));
  AuthOptions missing;
  missing.es256_public_key_file = "/nonexistent/key.pem";
  EXPECT_THAT(std::string(Authenticator::Create(missing).status().message()),
              HasSubstr("cannot read"));
}

TEST_F(AuthTest, GrantsAreAllOrNothing) {
  AuthOptions options;
  options.public_streams = {"public.*"};
  options.public_methods = {"herald.demo.v1.Orders/Quote"};
  auto auth = Make(options);
  absl::StatusOr<Principal> who = auth->Verify(SignToken(
      "HS256", kSecret,
      Claims("ada",
             R"("subscribe":["a"],"publish":["a"],"rpc":["herald.demo.v1.Orders/Place*"])")));
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_TRUE(auth->MaySubscribe(&*who, {"a", "public.x"}).ok());
  absl::Status half = auth->MaySubscribe(&*who, {"a", "b"});
  EXPECT_TRUE(absl::IsPermissionDenied(half)) << half;
  EXPECT_THAT(std::string(half.message()), HasSubstr("subscribe to b"));
  EXPECT_TRUE(absl::IsPermissionDenied(auth->MayPublish(&*who, "b")));
  EXPECT_TRUE(auth->MayPublish(&*who, "a").ok());
  EXPECT_TRUE(auth->MayCall(&*who, "herald.demo.v1.Orders/PlaceOrder").ok());
  EXPECT_TRUE(absl::IsPermissionDenied(auth->MayCall(&*who, "herald.demo.v1.Orders/Cancel")));
  // Without a token: only what is public.
  EXPECT_TRUE(auth->MaySubscribe(nullptr, {"public.a", "public.b"}).ok());
  EXPECT_TRUE(absl::IsUnauthenticated(auth->MaySubscribe(nullptr, {"public.a", "a"})));
  EXPECT_TRUE(absl::IsUnauthenticated(auth->MayPublish(nullptr, "public.a")));
  EXPECT_TRUE(auth->MayCall(nullptr, "herald.demo.v1.Orders/Quote").ok());
  EXPECT_TRUE(absl::IsUnauthenticated(auth->MayCall(nullptr, "herald.demo.v1.Orders/PlaceOrder")));
}

TEST(AuthOffTest, WithoutKeysEverythingIsAllowed) {
  absl::StatusOr<std::unique_ptr<Authenticator>> auth = Authenticator::Create({});
  ASSERT_TRUE(auth.ok());
  EXPECT_FALSE((*auth)->enabled());
  EXPECT_TRUE((*auth)->MaySubscribe(nullptr, {"a", "b"}).ok());
  EXPECT_TRUE((*auth)->MayPublish(nullptr, "a").ok());
  EXPECT_TRUE((*auth)->MayCall(nullptr, "x.Y/Z").ok());
}

}  // namespace
}  // namespace herald::edge
