// Browsers resuming at once: catch-ups of the same streams from the same or
// nearby positions are shared, the cap queues the rest, and every browser
// gets exactly the events after its cursor.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
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
using ::herald::testing::SeqOf;
using ::herald::testing::SseClient;
using ::herald::testing::SseEvent;
using ::herald::testing::Target;
using ::herald::testing::TestPayload;

constexpr char kStream[] = "storm/s";

// Reads events until `seq` (inclusive); the last id seen.
std::string ReadThrough(SseClient& client, int seq) {
  for (;;) {
    std::optional<SseEvent> e = client.Next(absl::Seconds(20));
    EXPECT_TRUE(e.has_value()) << "stopped before " << seq;
    if (!e.has_value() || SeqOf(e->data) >= seq) break;
  }
  return client.last_id();
}

TEST(ResumeStormTest, BrowsersResumingTogetherShareCatchUpsAndEachIsExact) {
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start({.partitions = 1}));
  // A small cap: most catch-ups either join a running one or wait their turn.
  HERALD_ASSERT_OK(mesh.StartEdge({"--max_catchups=2"}));
  // A reader that stays keeps the stream watched: resumes are catch-ups.
  auto watcher = SseClient::Connect(mesh.edge_port(), Target({kStream}));
  HERALD_ASSERT_OK(watcher);
  ASSERT_EQ((*watcher)->status(), 200);

  // 120 browsers read the first 20 events and are cut together (one
  // cursor); 60 more read 5 to 14 events further (nearby cursors).
  constexpr int kTogether = 120;
  constexpr int kNearby = 60;
  constexpr int kFirst = 20;
  constexpr int kMore = 30;
  std::vector<std::unique_ptr<SseClient>> clients;
  for (int i = 0; i < kTogether + kNearby; ++i) {
    auto c = SseClient::Connect(mesh.edge_port(), Target({kStream}));
    HERALD_ASSERT_OK(c);
    ASSERT_EQ((*c)->status(), 200);
    clients.push_back(std::move(*c));
  }
  for (int n = 0; n < kFirst + 15; ++n) {
    HERALD_ASSERT_OK(mesh.Publish(kStream, "t", TestPayload(kStream, n)).status());
  }
  std::vector<std::string> cursors;
  std::vector<int> next;  // the first event each resume must get
  for (int i = 0; i < static_cast<int>(clients.size()); ++i) {
    const int last = i < kTogether ? kFirst - 1 : kFirst + 4 + i % 10;
    cursors.push_back(ReadThrough(*clients[i], last));
    next.push_back(last + 1);
  }
  ReadThrough(**watcher, kFirst + 14);
  clients.clear();  // every browser cut at once
  for (int n = kFirst + 15; n < kFirst + kMore; ++n) {
    HERALD_ASSERT_OK(mesh.Publish(kStream, "t", TestPayload(kStream, n)).status());
  }
  ReadThrough(**watcher, kFirst + kMore - 1);

  // All resume at once, then each reads what it missed.
  const double opened_before = mesh.EdgeMetric("herald_edge_catchups_total");
  for (const std::string& cursor : cursors) {
    auto c = SseClient::Connect(mesh.edge_port(), Target({kStream}), {{"Last-Event-ID", cursor}});
    HERALD_ASSERT_OK(c);
    ASSERT_EQ((*c)->status(), 200);
    clients.push_back(std::move(*c));
  }
  for (size_t i = 0; i < clients.size(); ++i) {
    for (int n = next[i]; n < kFirst + kMore; ++n) {
      std::optional<SseEvent> e = clients[i]->Next(absl::Seconds(30));
      ASSERT_TRUE(e.has_value()) << "browser " << i << " stopped before event " << n
                                 << "; edge log:\n"
                                 << mesh.edge().LogTail(3000);
      ASSERT_EQ(SeqOf(e->data), n) << "browser " << i << ": loss, duplicate or disorder";
    }
    ASSERT_FALSE(clients[i]->Next(absl::Milliseconds(50)).has_value())
        << "browser " << i << " got more than it missed";
  }
  const double opened = mesh.EdgeMetric("herald_edge_catchups_total") - opened_before;
  const double shared = mesh.EdgeMetric("herald_edge_catchups_shared_total");
  std::printf("%zu resumes: %.0f catch-up calls, %.0f joined one running\n", clients.size(), opened,
              shared);
  EXPECT_GT(shared, 0) << "no resume joined a running catch-up";
  EXPECT_EQ(opened + shared, static_cast<double>(clients.size()));
  EXPECT_LT(opened, static_cast<double>(clients.size()) / 2);
}

}  // namespace
}  // namespace herald
