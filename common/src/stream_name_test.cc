#include "herald/common/stream_name.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace herald::common {
namespace {

using ::testing::HasSubstr;

TEST(StreamNameTest, AcceptsTheWholeAlphabet) {
  for (const char* name : {"orders.eu", "dash/cpu", "a", "A-Z_0:9", "x/y/z.w-v_u:t"}) {
    EXPECT_TRUE(ValidateStreamName(name).ok()) << name;
  }
  EXPECT_TRUE(ValidateStreamName(std::string(200, 's')).ok());
}

TEST(StreamNameTest, RejectsEmpty) {
  absl::Status status = ValidateStreamName("");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("empty"));
}

TEST(StreamNameTest, RejectsTooLongAndSaysTheLimit) {
  absl::Status status = ValidateStreamName(std::string(201, 's'));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("201 bytes"));
  EXPECT_THAT(status.message(), HasSubstr("200"));
  // The message quotes a bounded prefix, never the whole input.
  EXPECT_LT(status.message().size(), 200u);
}

TEST(StreamNameTest, RejectsForbiddenBytesAndNamesTheOffset) {
  struct Case {
    std::string name;
    std::string expected;
  };
  for (const Case& c : {Case{"orders eu", "0x20 at offset 6"}, Case{"a\nb", "0x0a at offset 1"},
                        Case{"caf\xc3\xa9", "0xc3 at offset 3"}, Case{"x?y", "0x3f"},
                        Case{std::string("a\0b", 3), "0x00 at offset 1"}, Case{"%2F", "0x25"}}) {
    absl::Status status = ValidateStreamName(c.name);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(status.message(), HasSubstr(c.expected)) << c.name;
  }
}

TEST(EventTypeTest, SameAlphabetShorterLimit) {
  EXPECT_TRUE(ValidateEventType("order.created").ok());
  EXPECT_TRUE(ValidateEventType(std::string(100, 't')).ok());
  EXPECT_EQ(ValidateEventType(std::string(101, 't')).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ValidateEventType("").message(), HasSubstr("event type is empty"));
}

TEST(QuoteForMessageTest, EscapesAndTruncates) {
  EXPECT_EQ(QuoteForMessage("ab\"c\n"), "\"ab\\x22c\\x0a\"");
  EXPECT_EQ(QuoteForMessage("abcdef", 3), "\"abc...\"");
}

}  // namespace
}  // namespace herald::common
