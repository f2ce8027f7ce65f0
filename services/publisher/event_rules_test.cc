#include "event_rules.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace herald::publisher {
namespace {

using ::testing::HasSubstr;

v1::Event Good() {
  v1::Event e;
  e.set_stream("orders.eu");
  e.set_type("order.created");
  e.set_text(R"({"id":1})");
  return e;
}

void ExpectInvalid(const v1::Event& e, const std::string& why, EventLimits limits = {}) {
  absl::Status s = ValidateEvent(e, limits);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << why;
  EXPECT_THAT(s.message(), HasSubstr(why));
}

TEST(EventRulesTest, AcceptsAGoodEvent) { EXPECT_TRUE(ValidateEvent(Good(), {}).ok()); }

TEST(EventRulesTest, AcceptsProtoPayload) {
  v1::Event e = Good();
  e.mutable_proto()->set_type_url("type.googleapis.com/herald.v1.Position");
  EXPECT_TRUE(ValidateEvent(e, {}).ok());
  e.mutable_proto()->clear_type_url();
  ExpectInvalid(e, "no type_url");
}

TEST(EventRulesTest, RejectsEachBadField) {
  v1::Event e = Good();
  e.set_stream("bad stream");
  ExpectInvalid(e, "stream name");
  e = Good();
  e.set_type("");
  ExpectInvalid(e, "event type is empty");
  e = Good();
  e.set_type("herald.reset");
  ExpectInvalid(e, "reserved");
  e = Good();
  e.clear_text();
  ExpectInvalid(e, "no payload");
  e = Good();
  e.set_text("\xff");
  ExpectInvalid(e, "UTF-8");
  e = Good();
  e.set_text(std::string(101, 'x'));
  ExpectInvalid(e, "101 bytes; the limit is 100", {.max_payload_bytes = 100});
  e = Good();
  e.set_idempotency_key(std::string(300, 'k'));
  ExpectInvalid(e, "idempotency key");
  e = Good();
  for (int i = 0; i < 40; ++i) (*e.mutable_headers())["h" + std::to_string(i)] = "v";
  ExpectInvalid(e, "40 headers");
  e = Good();
  e.mutable_position()->set_offset(1);
  ExpectInvalid(e, "position");
}

TEST(EventRulesTest, EmptyTextIsAPayload) {
  v1::Event e = Good();
  e.set_text("");
  EXPECT_TRUE(ValidateEvent(e, {}).ok());
}

}  // namespace
}  // namespace herald::publisher
