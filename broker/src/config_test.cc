#include "herald/broker/config.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace herald::broker {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

TEST(ParsePropertiesTest, EmptyIsEmpty) {
  ASSERT_TRUE(ParseProperties("").ok());
  EXPECT_TRUE(ParseProperties("  ")->empty());
}

TEST(ParsePropertiesTest, ParsesAndTrims) {
  absl::StatusOr<PropertyMap> p =
      ParseProperties("security.protocol=SASL_SSL, sasl.mechanism = PLAIN ,a=b=c");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_THAT(*p, ElementsAre(Pair("a", "b=c"), Pair("sasl.mechanism", "PLAIN"),
                              Pair("security.protocol", "SASL_SSL")));
}

TEST(ParsePropertiesTest, EmptyValueIsAllowed) {
  absl::StatusOr<PropertyMap> p = ParseProperties("ssl.ca.location=");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->at("ssl.ca.location"), "");
}

TEST(ParsePropertiesTest, RejectsItemsWithoutKeyOrEquals) {
  for (const char* bad : {"novalue", "=x", "a=b,,c=d", "a=b,junk"}) {
    absl::StatusOr<PropertyMap> p = ParseProperties(bad);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(p.status().message(), HasSubstr("key=value")) << bad;
  }
}

TEST(ParsePropertiesTest, RejectsDuplicateKeys) {
  absl::StatusOr<PropertyMap> p = ParseProperties("a=1,a=2");
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), HasSubstr("'a' is given twice"));
}

TEST(ValidateBootstrapServersTest, AcceptsLists) {
  EXPECT_TRUE(ValidateBootstrapServers("127.0.0.1:9092").ok());
  EXPECT_TRUE(ValidateBootstrapServers("kafka-0.kafka:9092, kafka-1.kafka:9092").ok());
  EXPECT_TRUE(ValidateBootstrapServers("[::1]:9092").ok());
}

TEST(ValidateBootstrapServersTest, RejectsWhatLibrdkafkaWouldOnlyLogLater) {
  for (const char* bad : {"", "localhost", "localhost:", ":9092", "host:0", "host:70000",
                          "a:9092,,b:9092", "host:http"}) {
    absl::Status s = ValidateBootstrapServers(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_THAT(ValidateBootstrapServers("a:1,oops").message(), HasSubstr("'oops'"));
}

}  // namespace
}  // namespace herald::broker
