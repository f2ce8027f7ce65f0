#include "request.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace herald::edge {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(PercentDecodeTest, DecodesAndRejects) {
  EXPECT_EQ(*PercentDecode("dash%2Fcpu", false), "dash/cpu");
  EXPECT_EQ(*PercentDecode("a+b", true), "a b");
  EXPECT_EQ(*PercentDecode("a+b", false), "a+b");
  EXPECT_EQ(*PercentDecode("%7e%7E", false), "~~");
  for (const char* bad : {"%", "%2", "%zz", "a%2"}) {
    EXPECT_EQ(PercentDecode(bad, false).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(EventsRequestTest, RepeatedStreamsRewindAndCursor) {
  absl::StatusOr<EventsRequest> r = ParseEventsRequest(
      "stream=orders.eu&stream=dash%2Fcpu&stream=orders.eu&rewind=50&_=123", std::nullopt, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->streams, ElementsAre("orders.eu", "dash/cpu"));
  EXPECT_EQ(r->rewind, 50u);
  EXPECT_EQ(r->cursor, "");
}

TEST(EventsRequestTest, HeaderCursorWinsOverParameter) {
  EXPECT_EQ(ParseEventsRequest("?stream=a&lastEventId=1~q~0.1", std::nullopt, {})->cursor,
            "1~q~0.1");
  EXPECT_EQ(ParseEventsRequest("stream=a&lastEventId=1~q~0.1", "1~q~0.9", {})->cursor, "1~q~0.9");
  EXPECT_EQ(ParseEventsRequest("stream=a&lastEventId=1~q~0.1", "", {})->cursor, "1~q~0.1");
}

TEST(EventsRequestTest, RejectsWithReasons) {
  struct Case {
    std::string query;
    std::string why;
  };
  for (const Case& c :
       {Case{"", "no stream"}, Case{"rewind=5", "no stream"}, Case{"stream=", "empty"},
        Case{"stream=a%20b", "0x20"}, Case{"stream=a+b", "0x20"},
        Case{"stream=%zz", "percent-escape"}, Case{"stream=a&rewind=x", "rewind"},
        Case{"stream=a&rewind=-1", "rewind"}, Case{"stream=a&rewind=1001", "0 to 1000"},
        Case{"stream=a&rewind=", "rewind"}, Case{"stream=a&stream=b&stream=c", "at most 2"},
        Case{std::string(9000, 'x'), "limit is 8192"}}) {
    absl::StatusOr<EventsRequest> r = ParseEventsRequest(c.query, std::nullopt, {.max_streams = 2});
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.query;
    EXPECT_THAT(r.status().message(), HasSubstr(c.why)) << c.query;
  }
}

TEST(PostEventTest, TypeAndDataAsSent) {
  absl::StatusOr<PostEventRequest> r =
      ParsePostEvent("orders%2Feu", R"({"type": "order.created", "data": {"id": 7,  "x": [1]}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stream, "orders/eu");
  EXPECT_EQ(r->type, "order.created");
  EXPECT_EQ(r->data, R"({"id": 7,  "x": [1]})");
  EXPECT_EQ(ParsePostEvent("s", R"({"type":"t","data":"text"})")->data, R"("text")");
}

TEST(PostEventTest, RefusalsNameTheProblem) {
  struct Case {
    const char* stream;
    const char* body;
    const char* why;
  };
  for (const Case& c : {Case{"a%20b", R"({"type":"t","data":1})", "0x20"},
                        Case{"s", R"({"type":"t","data":)", "invalid JSON"},
                        Case{"s", R"({"data":1})", "no \"type\""},
                        Case{"s", R"({"type":7,"data":1})", "must be a string"},
                        Case{"s", R"({"type":"t"})", "no \"data\""},
                        Case{"s", R"({"type":"t","data":1,"extra":2})", "unknown member"}}) {
    absl::StatusOr<PostEventRequest> r = ParsePostEvent(c.stream, c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_THAT(r.status().message(), ::testing::HasSubstr(c.why)) << c.body;
  }
}

TEST(ContentLengthTest, FromTheHead) {
  EXPECT_EQ(ContentLengthOf("POST /x HTTP/1.1\r\nHost: a\r\ncontent-LENGTH:  1234 \r\n\r\n"),
            1234u);
  EXPECT_FALSE(ContentLengthOf("POST /x HTTP/1.1\r\nHost: a\r\n\r\n").has_value());
  EXPECT_FALSE(ContentLengthOf("POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n").has_value());
}

}  // namespace
}  // namespace herald::edge
