#include "herald/common/cursor.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace herald::common {
namespace {

using ::testing::HasSubstr;

TEST(CursorTest, RoundTrips) {
  Cursor c{.epoch = "4f1c0de2a9b3", .next = {{0, 1200}, {3, 88}, {11, 0}}};
  const std::string text = EncodeCursor(c);
  EXPECT_EQ(text, "1~4f1c0de2a9b3~0.1200~3.88~11.0");
  absl::StatusOr<Cursor> back = DecodeCursor(text);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, c);
}

TEST(CursorTest, NoPartitionsIsValid) {
  absl::StatusOr<Cursor> c = DecodeCursor("1~abc");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->next.empty());
}

TEST(CursorTest, OnlyHeaderAndUrlSafeBytes) {
  const std::string text = EncodeCursor({.epoch = "0123456789ab", .next = {{65535, 1LL << 61}}});
  EXPECT_EQ(text.find_first_not_of("0123456789abcdef~."), std::string::npos) << text;
}

TEST(CursorTest, RejectsMalformedWithReason) {
  struct Case {
    std::string text;
    std::string why;
  };
  for (const Case& c : {
           Case{"", "empty"},
           Case{"2~abc~0.1", "version"},
           Case{"garbage", "version"},
           Case{"1~", "no epoch"},
           Case{"1~ABC", "lowercase hex"},
           Case{"1~abc~0", "<partition>.<offset>"},
           Case{"1~abc~0.", "<partition>.<offset>"},
           Case{"1~abc~x.1", "<partition>.<offset>"},
           Case{"1~abc~0.-1", "<partition>.<offset>"},
           Case{"1~abc~0.+1", "<partition>.<offset>"},
           Case{"1~abc~0.1.2", "<partition>.<offset>"},
           Case{"1~abc~0.1~0.2", "appears twice"},
           Case{"1~abc~70000.1", "partition 70000"},
           Case{"1~abc~0.99999999999999999999", "<partition>.<offset>"},
           Case{"1~abc~0.9223372036854775807", "out of range"},
           Case{"1~abc~~0.1", "<partition>.<offset>"},
           Case{std::string(9000, '1'), "over the limit"},
       }) {
    absl::StatusOr<Cursor> r = DecodeCursor(c.text);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(r.status().message(), HasSubstr(c.why)) << c.text;
  }
}

TEST(EpochTest, StableAndSensitiveToEachPart) {
  const std::string e = ComputeEpoch("q1Sh-9_ISia_zwGINzRvyQ", "herald.events", 6);
  EXPECT_EQ(e.size(), 12u);
  EXPECT_EQ(e, ComputeEpoch("q1Sh-9_ISia_zwGINzRvyQ", "herald.events", 6));
  EXPECT_NE(e, ComputeEpoch("other-cluster", "herald.events", 6));
  EXPECT_NE(e, ComputeEpoch("q1Sh-9_ISia_zwGINzRvyQ", "herald.other", 6));
  EXPECT_NE(e, ComputeEpoch("q1Sh-9_ISia_zwGINzRvyQ", "herald.events", 12));
  EXPECT_NE(ComputeEpoch("ab", "c", 1), ComputeEpoch("a", "bc", 1));
  // A topic deleted and created again has another id, and another epoch.
  EXPECT_NE(ComputeEpoch("q1Sh-9_ISia_zwGINzRvyQ", "herald.events", 6, "9f0c"),
            ComputeEpoch("q1Sh-9_ISia_zwGINzRvyQ", "herald.events", 6, "7a21"));
  EXPECT_NE(e, ComputeEpoch("q1Sh-9_ISia_zwGINzRvyQ", "herald.events", 6, "9f0c"));
  EXPECT_TRUE(DecodeCursor(EncodeCursor({.epoch = e})).ok());
}

}  // namespace
}  // namespace herald::common
