#include "sse.h"

#include <vector>

#include "gtest/gtest.h"
#include "support/event_stream.h"

namespace herald::edge {
namespace {

using Parsed = ::herald::testing::SseEvent;

// What a browser would see.
std::vector<Parsed> Parse(const std::string& stream) {
  return ::herald::testing::ParseEventStream(stream);
}

TEST(SseTest, PlainEvent) {
  EXPECT_EQ(RenderEventBody("order.created", R"({"id":7})"),
            "event: order.created\ndata: {\"id\":7}\n\n");
  EXPECT_EQ(RenderEventBody("message", "x"), "data: x\n\n");
}

TEST(SseTest, EveryKindOfLineBreakSplitsIntoDataLines) {
  EXPECT_EQ(RenderEventBody("t", "a\nb\rc\r\nd"),
            "event: t\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
  EXPECT_EQ(RenderEventBody("t", "\n"), "event: t\ndata: \ndata: \n\n");
  EXPECT_EQ(RenderEventBody("t", ""), "event: t\ndata: \n\n");
}

TEST(SseTest, APayloadCannotForgeFieldsOrEndTheEvent) {
  const std::string evil = "\n\nevent: x\ndata: y";
  const std::string stream = IdLine("1~e~0.5") + RenderEventBody("t", evil);
  std::vector<Parsed> events = Parse(stream);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "t");
  EXPECT_EQ(events[0].id, "1~e~0.5");
  EXPECT_EQ(events[0].data, evil);
}

TEST(SseTest, CrLfPayloadArrivesWithLfLineBreaks) {
  // The standard joins data lines with LF: CR and CRLF come back as LF.
  std::vector<Parsed> events = Parse(RenderEventBody("t", "a\r\nb\rc"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "a\nb\nc");
}

TEST(SseTest, ControlBlocks) {
  EXPECT_EQ(IdOnlyBlock("1~e"), "id: 1~e\n\n");
  EXPECT_EQ(RetryBlock(2500), "retry: 2500\n\n");
  EXPECT_EQ(CommentBlock("hb"), ": hb\n\n");
  EXPECT_EQ(CommentBlock("a\nb"), ": a b\n\n");
  EXPECT_TRUE(Parse(IdOnlyBlock("x") + CommentBlock("hb")).empty());
}

}  // namespace
}  // namespace herald::edge
