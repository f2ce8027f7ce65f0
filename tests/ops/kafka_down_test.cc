// Publishing while no Kafka broker is reachable: the publisher must answer
// UNAVAILABLE (and the edge's POST 503) at once, not after its delivery
// timeout, and must publish again by itself once a broker is back. Real
// binaries on a broker of the test's own, which the test stops and restarts.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "support/backbone.h"
#include "support/kafka_env.h"
#include "support/sse_client.h"
#include "support/status_assert.h"

namespace herald {
namespace {

using ::herald::testing::Backbone;
using ::herald::testing::PrivateBroker;
using ::herald::testing::SseClient;
using ::herald::testing::SseEvent;
using ::herald::testing::WaitFor;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The publisher's delivery timeout here: an answer that waited for it would
// be DEADLINE_EXCEEDED after 20 s, so UNAVAILABLE well before says that the
// publisher noticed the brokers were gone.
constexpr absl::Duration kDeliveryTimeout = absl::Seconds(20);

TEST(KafkaDownTest, PublishFailsAtOnceWithUnavailableAndRecoversByItself) {
  auto broker = PrivateBroker::Start();
  HERALD_ASSERT_OK(broker);
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start({.bootstrap = (*broker)->bootstrap(),
                               .partitions = 3,
                               .publisher_args = {absl::StrCat(
                                   "--delivery_timeout=", absl::FormatDuration(kDeliveryTimeout))}}));
  HERALD_ASSERT_OK(mesh.StartEdge());
  auto browser = SseClient::Connect(mesh.edge_port(), "/v1/events?stream=down%2Fs");
  HERALD_ASSERT_OK(browser);
  ASSERT_EQ((*browser)->status(), 200);
  HERALD_ASSERT_OK(mesh.Publish("down/s", "note", "before"));
  EXPECT_EQ(mesh.PublisherMetric("herald_publisher_kafka_reachable"), 1);

  HERALD_ASSERT_OK((*broker)->Stop());
  const absl::Time stopped = absl::Now();
  const absl::StatusOr<v1::PublishResponse> first = mesh.Publish("down/s", "note", "lost-1");
  const absl::Duration to_first = absl::Now() - stopped;
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable) << first.status();
  EXPECT_THAT(first.status().message(), HasSubstr("no Kafka broker is reachable"));
  EXPECT_LT(to_first, kDeliveryTimeout);  // a hang guard; the figure is printed below

  // Once noticed, every publish is refused at once, gRPC and POST alike.
  const absl::Time again = absl::Now();
  const absl::StatusOr<v1::PublishResponse> second = mesh.Publish("down/s", "note", "lost-2");
  const absl::Duration to_second = absl::Now() - again;
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
  const absl::Time posted = absl::Now();
  const std::string answer =
      mesh.EdgePost("/v1/streams/down%2Fs/events", R"({"type":"note","data":"lost-3"})");
  const absl::Duration to_post = absl::Now() - posted;
  EXPECT_THAT(answer, HasSubstr("HTTP/1.1 503 "));
  EXPECT_THAT(answer, HasSubstr("no Kafka broker is reachable"));
  EXPECT_EQ(mesh.PublisherMetric("herald_publisher_kafka_reachable"), 0);
  std::printf(
      "all brokers stopped: first UNAVAILABLE %s after the stop, the next publish %s, a POST "
      "503 in %s\n",
      absl::FormatDuration(to_first).c_str(), absl::FormatDuration(to_second).c_str(),
      absl::FormatDuration(to_post).c_str());

  HERALD_ASSERT_OK((*broker)->Restart());
  const absl::Time restarted = absl::Now();
  absl::StatusOr<v1::PublishResponse> after;
  ASSERT_TRUE(WaitFor(
      [&] {
        after = mesh.Publish("down/s", "note", "after");
        return after.ok();
      },
      absl::Seconds(60), absl::Milliseconds(200)))
      << after.status() << "\n"
      << mesh.publisher().LogTail();
  std::printf("broker restarted: publishing again after %s\n",
              absl::FormatDuration(absl::Now() - restarted).c_str());
  EXPECT_EQ(mesh.PublisherMetric("herald_publisher_kafka_reachable"), 1);

  // The subscriber gets what was acknowledged, and nothing that was refused.
  std::vector<std::string> seen;
  while (seen.size() < 2) {
    std::optional<SseEvent> e = (*browser)->Next(absl::Seconds(30));
    ASSERT_TRUE(e.has_value()) << "after " << seen.size() << " events";
    if (e->type == "note") seen.push_back(e->data);
  }
  EXPECT_THAT(seen, ElementsAre(HasSubstr("before"), HasSubstr("after")));
}

}  // namespace
}  // namespace herald
