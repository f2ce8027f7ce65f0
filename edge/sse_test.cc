#include "sse.h"

#include <vector>

#include "gtest/gtest.h"

namespace herald::edge {
namespace {

// A minimal parser following the HTML standard's event-stream rules, to check
// what a browser would see.
struct Parsed {
  std::string type = "message";
  std::string data;
  std::string id;
};
std::vector<Parsed> Parse(const std::string& stream) {
  std::vector<Parsed> events;
  Parsed current;
  std::string data;
  bool has_data = false;
  size_t start = 0;
  while (start < stream.size()) {
    size_t end = stream.find_first_of("\r\n", start);
    if (end == std::string::npos) break;
    std::string line = stream.substr(start, end - start);
    start =
        end + ((stream[end] == '\r' && end + 1 < stream.size() && stream[end + 1] == '\n') ? 2 : 1);
    if (line.empty()) {
      if (has_data) {
        if (!data.empty() && data.back() == '\n') data.pop_back();
        current.data = data;
        events.push_back(current);
      }
      current.type = "message";
      data.clear();
      has_data = false;
      continue;
    }
    if (line[0] == ':') continue;
    const size_t colon = line.find(':');
    std::string field = line.substr(0, colon);
    std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    if (field == "data") {
      data += value + "\n";
      has_data = true;
    } else if (field == "event") {
      current.type = value;
    } else if (field == "id") {
      current.id = value;
    }
  }
  return events;
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
