#include "herald/common/json.h"

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

}  // namespace
}  // namespace herald::common
