// Publishing while no Kafka broker is reachable: the publisher must answer
// UNAVAILABLE (and the edge's POST 503) at once, not after its delivery
// timeout, and must publish again by itself once a broker is back. Real
// binaries on a broker of the test's own, which the test kills and restarts.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
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
using ::testing::HasSubstr;
using ::testing::Not;

// The publisher's delivery timeout here. Events handed to Kafka before the
// broker died wait for it (shorter than the broker's restart, so that they do
// time out); an event published once the publisher noticed is refused at once.
constexpr absl::Duration kDeliveryTimeout = absl::Seconds(6);

TEST(KafkaDownTest, PublishFailsAtOnceWithUnavailableAndRecoversByItself) {
  auto broker = PrivateBroker::Start();
  HERALD_ASSERT_OK(broker);
  Backbone mesh;
  HERALD_ASSERT_OK(
      mesh.Start({.bootstrap = (*broker)->bootstrap(),
                  .partitions = 3,
                  .publisher_args = {absl::StrCat("--delivery_timeout=",
                                                  absl::FormatDuration(kDeliveryTimeout))}}));
  HERALD_ASSERT_OK(mesh.StartEdge());
  auto browser = SseClient::Connect(mesh.edge_port(), "/v1/events?stream=down%2Fs");
  HERALD_ASSERT_OK(browser);
  ASSERT_EQ((*browser)->status(), 200);
  HERALD_ASSERT_OK(mesh.Publish("down/s", "note", "before"));
  EXPECT_EQ(mesh.PublisherMetric("herald_publisher_kafka_reachable"), 1);

  // A client publishing one event after another while the only broker is
  // killed: every answer is retryable, none waits past the delivery timeout.
  std::atomic<bool> publishing{true};
  std::map<absl::StatusCode, int> answers;
  std::set<std::string> acknowledged = {"before"};
  absl::Duration longest;
  std::thread client([&] {
    for (int n = 0; publishing.load(); ++n) {
      const std::string text = absl::StrCat("during-", n);
      const absl::Time sent = absl::Now();
      const absl::StatusOr<v1::PublishResponse> r = mesh.Publish("down/s", "note", text);
      longest = std::max(longest, absl::Now() - sent);
      ++answers[r.status().code()];
      if (r.ok()) acknowledged.insert(text);
    }
  });
  ASSERT_TRUE(
      WaitFor([&] { return mesh.PublisherMetric("herald_publisher_published_total") >= 20; },
              absl::Seconds(30)));
  HERALD_ASSERT_OK((*broker)->Kill());
  const absl::Time killed = absl::Now();
  ASSERT_TRUE(WaitFor([&] { return mesh.PublisherMetric("herald_publisher_kafka_reachable") == 0; },
                      absl::Seconds(30)));
  const absl::Duration noticed = absl::Now() - killed;
  publishing = false;
  client.join();
  for (const auto& [code, count] : answers) {
    EXPECT_TRUE(code == absl::StatusCode::kOk || code == absl::StatusCode::kUnavailable ||
                code == absl::StatusCode::kDeadlineExceeded)
        << count << " answers " << absl::StatusCodeToString(code);
  }
  EXPECT_LT(longest, kDeliveryTimeout + absl::Seconds(10));  // a hang guard; figures below
  std::printf(
      "broker killed under a publishing client: unreachable noticed after %s; %d OK, %d "
      "UNAVAILABLE, %d DEADLINE_EXCEEDED (handed to Kafka before), the longest publish %s\n",
      absl::FormatDuration(noticed).c_str(), answers[absl::StatusCode::kOk],
      answers[absl::StatusCode::kUnavailable], answers[absl::StatusCode::kDeadlineExceeded],
      absl::FormatDuration(longest).c_str());

  const absl::Time stopped = absl::Now();
  const absl::StatusOr<v1::PublishResponse> first = mesh.Publish("down/s", "note", "lost-1");
  const absl::Duration to_first = absl::Now() - stopped;
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable) << first.status();
  EXPECT_THAT(first.status().message(), HasSubstr("no Kafka broker is reachable"));

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
      "with no broker: a publish answered UNAVAILABLE in %s, the next in %s, a POST 503 in %s\n",
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

  acknowledged.insert("after");

  // The subscriber gets every acknowledged event once, and nothing that was
  // refused. An event that timed out may or may not have been written.
  std::map<std::string, int> seen;
  int timed_out_but_written = 0;
  while (seen.count("after") == 0) {
    std::optional<SseEvent> e = (*browser)->Next(absl::Seconds(30));
    ASSERT_TRUE(e.has_value()) << "after " << seen.size() << " events";
    if (e->type != "note") continue;
    EXPECT_THAT(e->data, Not(HasSubstr("lost-")));
    if (++seen[e->data] == 1 && acknowledged.count(e->data) == 0) ++timed_out_but_written;
  }
  for (const std::string& text : acknowledged) {
    EXPECT_EQ(seen[text], 1) << text;
  }
  std::printf("the subscriber got %zu acknowledged events once each, %d unacknowledged ones\n",
              acknowledged.size(), timed_out_but_written);
}

}  // namespace
}  // namespace herald
