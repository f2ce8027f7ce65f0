// The backbone on a 3-broker Kafka cluster (replication factor 3,
// min.insync.replicas=2) whose partition leader is SIGKILLed while publishers
// and browsers are busy, then restarted. No acknowledged event may be lost or
// duplicated for any browser; the publisher, the fanout and the edge must
// follow the new leaders by themselves.
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "herald/broker/admin.h"
#include "herald/common/partitioner.h"
#include "support/backbone.h"
#include "support/fleet.h"
#include "support/kafka_env.h"
#include "support/status_assert.h"

namespace herald {
namespace {

using ::herald::testing::Backbone;
using ::herald::testing::Fleet;
using ::herald::testing::PrivateBroker;
using ::herald::testing::Publishing;
using ::herald::testing::StreamNames;
using ::herald::testing::WaitFor;

TEST(KafkaFailoverTest, TheLeaderKilledUnderLoadLosesAndDuplicatesNothing) {
  auto cluster = PrivateBroker::Start(3);
  HERALD_ASSERT_OK(cluster);
  Backbone mesh;
  // A delivery timeout longer than a leader election: the publisher's
  // idempotent producer retries through it instead of failing events.
  HERALD_ASSERT_OK(mesh.Start({.bootstrap = (*cluster)->bootstrap(),
                               .partitions = 3,
                               .publisher_args = {"--delivery_timeout=60s"}}));
  HERALD_ASSERT_OK(mesh.StartEdge());
  auto admin = broker::Admin::Create({.bootstrap_servers = (*cluster)->bootstrap()});
  HERALD_ASSERT_OK(admin);

  constexpr int kStreams = 12;
  constexpr int kPerStream = 300;  // 3,600 events
  const std::vector<std::string> streams = StreamNames("lf/s", kStreams);
  Fleet fleet(mesh, streams, 6, 3, 6, kPerStream, 2);
  SCOPED_TRACE(absl::StrCat("seed ", fleet.seed()));
  fleet.Begin();
  Publishing publishing(mesh, streams, kPerStream);
  ASSERT_TRUE(publishing.AwaitAcked(kStreams * kPerStream / 3));

  // The node leading the most partitions that carry these streams.
  absl::StatusOr<std::vector<int32_t>> leaders =
      (*admin)->PartitionLeaders(mesh.topic(), absl::Seconds(10));
  HERALD_ASSERT_OK(leaders);
  std::map<int32_t, int> led;
  for (const std::string& s : streams) ++led[(*leaders)[common::PartitionForKey(s, 3)]];
  int32_t victim = led.begin()->first;
  for (const auto& [node, count] : led) {
    if (count > led[victim]) victim = node;
  }
  ASSERT_GE(victim, 1);
  const double acked_before = mesh.PublisherMetric("herald_publisher_published_total");
  const absl::Time killed = absl::Now();
  HERALD_ASSERT_OK((*cluster)->Kill(victim));

  // Leadership moves to the survivors, and publishing goes on.
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<std::vector<int32_t>> now =
            (*admin)->PartitionLeaders(mesh.topic(), absl::Seconds(2));
        if (!now.ok()) return false;
        for (int32_t leader : *now) {
          if (leader == victim || leader < 0) return false;
        }
        return true;
      },
      absl::Seconds(60)));
  const absl::Duration moved = absl::Now() - killed;
  ASSERT_TRUE(WaitFor(
      [&] { return mesh.PublisherMetric("herald_publisher_published_total") > acked_before + 100; },
      absl::Seconds(60)))
      << mesh.publisher().LogTail();

  HERALD_ASSERT_OK((*cluster)->Restart());
  publishing.Join();
  fleet.Join();
  fleet.ExpectExact();
  EXPECT_EQ(mesh.PublisherMetric("herald_publisher_failed_total"), 0) << mesh.publisher().LogTail();
  std::printf(
      "killed node %d (leading %d of the streams' partitions): leadership moved after %s, the "
      "longest publish stall %s; %d events acknowledged, 0 failed, every browser exact\n",
      victim, led[victim], absl::FormatDuration(moved).c_str(),
      absl::FormatDuration(publishing.longest_gap()).c_str(), kStreams * kPerStream);
}

}  // namespace
}  // namespace herald
