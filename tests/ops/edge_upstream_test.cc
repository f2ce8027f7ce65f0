// herald-edge when its fanout hangs instead of dying (SIGSTOP), and when a
// catch-up's call ends while the browser is not reading. Real binaries and
// Kafka; the edge must notice within 10 s, fail over or say it is not ready,
// and every browser must end exact.
#include <signal.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "support/backbone.h"
#include "support/fleet.h"
#include "support/kafka_env.h"
#include "support/sse_client.h"
#include "support/status_assert.h"
#include "support/test_events.h"

namespace herald {
namespace {

using ::herald::testing::Backbone;
using ::herald::testing::Fleet;
using ::herald::testing::Publishing;
using ::herald::testing::SeqOf;
using ::herald::testing::SseClient;
using ::herald::testing::SseEvent;
using ::herald::testing::StreamNames;
using ::herald::testing::Target;
using ::herald::testing::WaitFor;
using ::testing::HasSubstr;

bool Ready(Backbone& mesh) { return mesh.EdgeGet("/readyz").find(" 200 ") != std::string::npos; }

// Browsers follow streams through an edge attached to the first of two
// replicas; halfway through publishing, `signal` goes to that replica. The
// edge must attach to the other within 10 s and every browser must end exact.
void FailOverFromAReplicaThatGets(int signal) {
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start({.fanout_args = {"--ring_events=64"}}));
  HERALD_ASSERT_OK(mesh.StartFanoutReplica());
  ASSERT_TRUE(
      mesh.StartEdge({"--fanout=" + mesh.fanout_address() + "," + mesh.replica_address()}).ok());
  constexpr int kStreams = 12;
  constexpr int kPerStream = 250;  // 3,000 events
  const std::vector<std::string> streams = StreamNames("fo/s", kStreams);
  Fleet fleet(mesh, streams, 4, 4, 4, kPerStream, 2);
  SCOPED_TRACE(absl::StrCat("seed ", fleet.seed(), ", signal ", signal));
  fleet.Begin();
  Publishing publishing(mesh, streams, kPerStream);
  ASSERT_TRUE(publishing.AwaitAcked(kStreams * kPerStream / 2));
  const double attaches = mesh.EdgeMetric("herald_edge_upstream_reconnects_total");
  const absl::Time signalled = absl::Now();
  mesh.fanout().Kill(signal);
  ASSERT_TRUE(WaitFor(
      [&] {
        return mesh.EdgeMetric("herald_edge_upstream_reconnects_total") > attaches &&
               mesh.EdgeMetric("herald_edge_upstream_connected") == 1;
      },
      absl::Seconds(30)))
      << mesh.edge().LogTail();
  const absl::Duration failover = absl::Now() - signalled;
  std::printf("replica got signal %d: the edge attached to the other one after %s\n", signal,
              absl::FormatDuration(failover).c_str());
  EXPECT_LE(failover, absl::Seconds(10)) << mesh.edge().LogTail();
  publishing.Join();
  fleet.Join();
  fleet.ExpectExact();
  if (signal == SIGSTOP) {
    EXPECT_GE(mesh.EdgeMetric("herald_edge_upstream_timeouts_total"), 1);
    mesh.fanout().Kill(SIGCONT);
  }
}

TEST(EdgeUpstreamTest, AKilledReplicaIsLeftAndTheEdgeFailsOverExactly) {
  FailOverFromAReplicaThatGets(SIGKILL);
}

TEST(EdgeUpstreamTest, AHungReplicaIsDroppedAndTheEdgeFailsOverExactly) {
  FailOverFromAReplicaThatGets(SIGSTOP);
}

TEST(EdgeUpstreamTest, WithItsOnlyReplicaHungTheEdgeIsNotReadyThenRecoversWithNothingLost) {
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start({.fanout_args = {"--ring_events=64"}}));
  HERALD_ASSERT_OK(mesh.StartEdge());
  constexpr int kStreams = 6;
  constexpr int kPerStream = 200;
  const std::vector<std::string> streams = StreamNames("alone/s", kStreams);
  Fleet fleet(mesh, streams, 3, 2, 4, kPerStream, 1);
  SCOPED_TRACE(absl::StrCat("seed ", fleet.seed()));
  fleet.Begin();
  ASSERT_TRUE(Ready(mesh));

  const absl::Time stopped = absl::Now();
  mesh.fanout().Kill(SIGSTOP);
  // Events keep coming while the fanout hangs: Kafka has them.
  Publishing publishing(mesh, streams, kPerStream);
  ASSERT_TRUE(WaitFor([&] { return !Ready(mesh); }, absl::Seconds(30)));
  const absl::Duration noticed = absl::Now() - stopped;
  std::printf("only replica hung: /readyz 503 after %s\n", absl::FormatDuration(noticed).c_str());
  EXPECT_LE(noticed, absl::Seconds(10)) << mesh.edge().LogTail();
  EXPECT_EQ(mesh.EdgeMetric("herald_edge_upstream_connected"), 0);
  EXPECT_THAT(mesh.EdgeGet("/healthz"), HasSubstr(" 200 ")) << "alive, only not ready";
  publishing.Join();

  const absl::Time resumed = absl::Now();
  mesh.fanout().Kill(SIGCONT);
  ASSERT_TRUE(WaitFor([&] { return Ready(mesh); }, absl::Seconds(30)));
  std::printf("after SIGCONT: /readyz 200 after %s\n",
              absl::FormatDuration(absl::Now() - resumed).c_str());
  EXPECT_EQ(mesh.EdgeMetric("herald_edge_upstream_connected"), 1);
  fleet.Join();
  fleet.ExpectExact();
}

TEST(EdgeLifetimeTest, ACatchUpParkedOnAStalledBrowserOutlivesItsEndedCall) {
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start({.partitions = 1}));
  HERALD_ASSERT_OK(mesh.StartEdge());
  // A reader that stays: the edge keeps the stream watched, so the feed is at
  // the end of the log and a resume is a private catch-up paced by its browser.
  auto watcher = SseClient::Connect(mesh.edge_port(), Target({"park/s"}));
  HERALD_ASSERT_OK(watcher);
  ASSERT_FALSE((*watcher)->Next(absl::Milliseconds(300)).has_value());
  const std::string start = (*watcher)->last_id();  // before any event
  ASSERT_FALSE(start.empty());
  constexpr int kEvents = 2000;  // 8 MB: far more than the sockets and the queue hold
  const std::string pad(4000, 'p');
  for (int n = 0; n < kEvents; ++n) {
    ASSERT_TRUE(mesh.Publish("park/s", "t",
                             absl::StrCat("{\"s\":\"park/s\",\"n\":", n, ",\"pad\":\"", pad, "\"}"))
                    .ok());
    if (n % 100 != 99) continue;
    for (int m = n - 99; m <= n; ++m) {  // the watcher keeps up
      std::optional<SseEvent> e = (*watcher)->Next(absl::Seconds(10));
      ASSERT_TRUE(e.has_value()) << "the watcher stopped at " << m;
      ASSERT_EQ(SeqOf(e->data), m);
    }
  }
  // A browser resumes from the start and stops reading: its catch-up waits
  // for it to drain.
  auto stalled =
      SseClient::Connect(mesh.edge_port(), Target({"park/s"}), {{"Last-Event-ID", start}}, 4096);
  HERALD_ASSERT_OK(stalled);
  ASSERT_EQ((*stalled)->status(), 200);
  ASSERT_TRUE(WaitFor(
      [&] {
        return mesh.EdgeMetric("herald_edge_catchups_total") >= 1 &&
               mesh.EdgeMetric("herald_edge_bytes_queued") > 0;
      },
      absl::Seconds(20)))
      << mesh.EdgeGet("/metrics");
  // The catch-up's call ends while it is parked: the fanout dies and comes back.
  mesh.fanout().Kill(SIGKILL);
  HERALD_ASSERT_OK(mesh.fanout().Wait(absl::Seconds(30)));
  HERALD_ASSERT_OK(mesh.StartFanout());
  ASSERT_TRUE(WaitFor([&] { return Ready(mesh); }, absl::Seconds(30)));
  // The browser reads again: the parked callback runs on a call that ended.
  std::vector<int> seqs;
  std::string last_id = start;
  for (int connections = 0; seqs.size() < kEvents && connections < 10; ++connections) {
    std::unique_ptr<SseClient> client;
    if (connections == 0) {
      client = std::move(*stalled);
    } else {
      auto again =
          SseClient::Connect(mesh.edge_port(), Target({"park/s"}), {{"Last-Event-ID", last_id}});
      ASSERT_TRUE(again.ok()) << again.status() << "\n" << mesh.edge().LogTail();
      client = std::move(*again);
    }
    while (seqs.size() < kEvents) {
      std::optional<SseEvent> e = client->Next(absl::Seconds(10));
      if (!client->last_id().empty()) last_id = client->last_id();
      if (!e.has_value()) break;
      seqs.push_back(SeqOf(e->data));
    }
  }
  ASSERT_EQ(seqs.size(), static_cast<size_t>(kEvents)) << mesh.edge().LogTail();
  for (int n = 0; n < kEvents; ++n) ASSERT_EQ(seqs[n], n) << "loss, duplicate or disorder";
  EXPECT_TRUE(mesh.edge().Running()) << mesh.edge().LogTail();
  EXPECT_THAT(mesh.EdgeGet("/healthz"), HasSubstr(" 200 "));
}

}  // namespace
}  // namespace herald
