#include "herald/broker/event_codec.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace herald::broker {
namespace {

using ::testing::HasSubstr;

broker::Record AsRecord(const EncodedRecord& e, int32_t partition, int64_t offset) {
  return {.position = {partition, offset}, .key = e.key, .value = e.value, .headers = e.headers};
}

TEST(EventCodecTest, HeraldEventRoundTripsWithPosition) {
  v1::Event event;
  event.set_stream("orders.eu");
  event.set_type("order.created");
  event.set_text(R"({"id":7})");
  event.set_idempotency_key("k-1");
  (*event.mutable_headers())["traceparent"] = "00-abc-def-01";
  event.mutable_position()->set_offset(999);  // never stored
  const EncodedRecord encoded = EncodeForKafka(event);
  EXPECT_EQ(encoded.key, "orders.eu");
  EXPECT_THAT(encoded.headers, ::testing::Contains(broker::Header{"herald-format", "event-v1"}));
  EXPECT_THAT(encoded.headers,
              ::testing::Contains(broker::Header{"herald-idempotency-key", "k-1"}));
  EXPECT_THAT(encoded.headers, ::testing::Contains(broker::Header{"traceparent", "00-abc-def-01"}));

  absl::StatusOr<v1::Event> decoded = DecodeFromKafka(AsRecord(encoded, 3, 42));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->text(), R"({"id":7})");
  EXPECT_EQ(decoded->type(), "order.created");
  EXPECT_EQ(decoded->position().partition(), 3);
  EXPECT_EQ(decoded->position().offset(), 42);
}

TEST(EventCodecTest, RawRecordsBecomeEvents) {
  broker::Record raw{.position = {1, 5},
                     .key = "dash/cpu",
                     .value = R"({"cpu":0.5})",
                     .headers = {{"herald-type", "sample"}},
                     .timestamp_ms = 1'700'000'000'123};
  absl::StatusOr<v1::Event> e = DecodeFromKafka(raw);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->stream(), "dash/cpu");
  EXPECT_EQ(e->type(), "sample");
  EXPECT_EQ(e->text(), R"({"cpu":0.5})");
  EXPECT_EQ(e->publish_time().seconds(), 1'700'000'000);
  EXPECT_EQ(e->publish_time().nanos(), 123'000'000);

  raw.headers.clear();
  EXPECT_EQ(DecodeFromKafka(raw)->type(), "message");
}

TEST(EventCodecTest, RejectsWhatCannotBeServed) {
  struct Case {
    broker::Record record;
    std::string why;
  };
  v1::Event other;
  other.set_stream("b");
  other.set_type("t");
  const std::string other_value = other.SerializeAsString();
  for (const Case& c : {
           Case{{.key = "bad key", .value = "x"}, "key is not a stream"},
           Case{{.key = "", .value = "x"}, "key is not a stream"},
           Case{{.key = "a", .value = "\xff\xfe"}, "not UTF-8"},
           Case{{.key = "a", .value = "x", .headers = {{"herald-type", "bad type"}}}, "event type"},
           Case{{.key = "a", .value = "\x0a\xff", .headers = {{"herald-format", "event-v1"}}},
                "not a herald.v1.Event"},
           Case{{.key = "a", .value = other_value, .headers = {{"herald-format", "event-v1"}}},
                "but the key is"},
           Case{{.key = "a", .value = "x", .headers = {{"herald-format", "event-v9"}}},
                "unknown herald-format"},
       }) {
    absl::StatusOr<v1::Event> e = DecodeFromKafka(c.record);
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << c.why;
    EXPECT_THAT(e.status().message(), HasSubstr(c.why));
  }
}

}  // namespace
}  // namespace herald::broker
