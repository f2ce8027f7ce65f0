#include "herald/common/json.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace herald::common {
namespace {

TEST(JsonQuoteTest, EscapesWhatJsonRequires) {
  EXPECT_EQ(JsonQuote("plain"), "\"plain\"");
  EXPECT_EQ(JsonQuote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonQuote("l1\nl2\r\t"), "\"l1\\nl2\\r\\t\"");
  EXPECT_EQ(JsonQuote(std::string("\x01\0", 2)), "\"\\u0001\\u0000\"");
}

TEST(JsonQuoteTest, KeepsUtf8AndReplacesBrokenBytes) {
  EXPECT_EQ(JsonQuote("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
  EXPECT_EQ(JsonQuote("a\xff"
                      "b"),
            "\"a\xef\xbf\xbd"
            "b\"");
  EXPECT_EQ(JsonQuote("\xc3"), "\"\xef\xbf\xbd\"");
}

TEST(ParseJsonObjectTest, KeepsEachMemberValueAsSent) {
  const std::string body = R"( { "type" : "order.created", "data": {"id": 7, "tags": ["a", 1.5e3]},
                                 "n": -0.25, "ok": true, "none": null, "s": "x\"y" } )";
  absl::StatusOr<JsonMembers> m = ParseJsonObject(body);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->at("type"), R"("order.created")");
  EXPECT_EQ(m->at("data"), R"({"id": 7, "tags": ["a", 1.5e3]})");
  EXPECT_EQ(m->at("n"), "-0.25");
  EXPECT_EQ(m->at("ok"), "true");
  EXPECT_EQ(m->at("none"), "null");
  EXPECT_EQ(JsonUnquote(m->at("s")).value(), "x\"y");
  EXPECT_TRUE(ParseJsonObject("{}").ok());
}

TEST(ParseJsonObjectTest, RefusesWhatIsNotJsonAndSaysWhere) {
  for (const char* bad :
       {"", "[]", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\":01}", "{\"a\":1.}",
        "{\"a\":tru}", "{\"a\":\"\x01\"}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":1} x",
        "{a:1}", "{\"a\":\"\xff\"}", "{\"a\":[1 2]}", "{\"a\":'x'}"}) {
    absl::StatusOr<JsonMembers> m = ParseJsonObject(bad);
    EXPECT_FALSE(m.ok()) << bad;
    EXPECT_THAT(m.status().message(), ::testing::HasSubstr("invalid JSON")) << bad;
  }
  EXPECT_THAT(ParseJsonObject("{\"a\":1,\"a\":2}").status().message(),
              ::testing::HasSubstr("appears twice"));
  EXPECT_THAT(ParseJsonObject("{\"a\":1 ]").status().message(), ::testing::HasSubstr("at byte 7"));
  std::string deep(100, '[');
  deep = "{\"a\":" + deep + std::string(100, ']') + "}";
  EXPECT_THAT(ParseJsonObject(deep).status().message(), ::testing::HasSubstr("nested too deeply"));
}

TEST(JsonUnquoteTest, EscapesAndSurrogates) {
  EXPECT_EQ(JsonUnquote(R"("a\nb\t\\\/\"")").value(), "a\nb\t\\/\"");
  EXPECT_EQ(JsonUnquote(R"("\u00e9\ud83d\ude00")").value(), "\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(JsonUnquote(R"("\ud800x")").value(), "\xef\xbf\xbdx");  // a lone surrogate
  EXPECT_FALSE(JsonUnquote("abc").ok());
  EXPECT_FALSE(JsonUnquote(R"("a" )").ok());
}

}  // namespace
}  // namespace herald::common
