// Publish retries are safe: an event published again with the same stream and
// idempotency key, through the same or another publisher replica, reaches
// every subscriber once. Two fanout replicas (one started before the events,
// one after, warming only the last few) and replays from Kafka all decide
// alike, so a cursor from one replica resumes exactly on the other.
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "herald/v1/fanout.grpc.pb.h"
#include "herald/v1/publisher.grpc.pb.h"
#include "support/backbone.h"
#include "support/fleet.h"
#include "support/kafka_env.h"
#include "support/process.h"
#include "support/sse_client.h"
#include "support/status_assert.h"
#include "support/test_events.h"

namespace herald {
namespace {

using ::herald::testing::Backbone;
using ::herald::testing::ChildProcess;
using ::herald::testing::HeraldBinary;
using ::herald::testing::SeqOf;
using ::herald::testing::SseClient;
using ::herald::testing::SseEvent;
using ::herald::testing::StreamOf;
using ::herald::testing::Target;

constexpr int kPerStream = 60;

absl::StatusOr<v1::PublishResponse> PublishWithKey(v1::Publisher::Stub& stub,
                                                   const std::string& stream, int n,
                                                   const std::string& key) {
  v1::PublishRequest request;
  request.mutable_event()->set_stream(stream);
  request.mutable_event()->set_type("t");
  request.mutable_event()->set_text(absl::StrCat("{\"s\":\"", stream, "\",\"n\":", n, "}"));
  request.mutable_event()->set_idempotency_key(key);
  v1::PublishResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grpc::Status status = stub.Publish(&context, request, &response);
  if (!status.ok()) return absl::UnavailableError(status.error_message());
  return response;
}

// Reads a Subscribe until `want` events arrived (or 30 s); returns the n of
// each event per stream and the last cursor.
struct Read {
  std::map<std::string, std::vector<int>> seen;
  std::string cursor;
  int events = 0;
};
Read Follow(v1::Fanout::Stub& stub, const std::vector<std::string>& streams,
            const std::string& cursor, int want) {
  v1::SubscribeRequest request;
  for (const std::string& s : streams) request.add_streams(s);
  request.set_cursor(cursor);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  auto reader = stub.Subscribe(&context, request);
  Read out;
  v1::SubscribeResponse response;
  while ((out.events < want || out.cursor.empty()) && reader->Read(&response)) {
    if (response.has_cursor()) out.cursor = response.cursor();
    if (response.has_reset()) ADD_FAILURE() << "reset " << response.reset().reason();
    if (!response.has_batch()) continue;
    out.cursor = response.batch().cursor();
    for (const v1::Event& e : response.batch().events()) {
      out.seen[e.stream()].push_back(SeqOf(e.text()));
      ++out.events;
    }
  }
  context.TryCancel();
  reader->Finish();
  return out;
}

TEST(DedupTest, RetriesThroughTwoPublishersReachEverySubscriberOnce) {
  Backbone mesh;
  // Small rings: later subscribers replay from Kafka; the late replica warms
  // only the last 20 records per partition.
  HERALD_ASSERT_OK(
      mesh.Start({.partitions = 3, .fanout_args = {"--ring_events=4", "--warm_events=20"}}));
  HERALD_ASSERT_OK(mesh.StartEdge());
  auto second = ChildProcess::Start(
      HeraldBinary("herald-publisher"),
      {"--kafka_bootstrap=" + mesh.bootstrap(), "--topic=" + mesh.topic(), "--create_topic=false",
       "--grpc_address=127.0.0.1:0", "--metrics_address=127.0.0.1:0"});
  HERALD_ASSERT_OK(second);
  absl::StatusOr<int> second_port = (*second)->WaitForPort("grpc_port", absl::Seconds(60));
  HERALD_ASSERT_OK(second_port);
  auto second_stub = v1::Publisher::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", *second_port), grpc::InsecureChannelCredentials()));

  const std::vector<std::string> streams = {"dd/a", "dd/b"};
  // The start cursor, taken before anything is published, and a browser.
  const Read start = Follow(mesh.fanout_stub(), streams, "", 0);
  ASSERT_FALSE(start.cursor.empty());
  auto browser = SseClient::Connect(mesh.edge_port(), Target(streams));
  HERALD_ASSERT_OK(browser);
  for (const absl::Time until = absl::Now() + absl::Seconds(20);
       (*browser)->last_id().empty() && absl::Now() < until;) {
    ASSERT_FALSE((*browser)->Next(absl::Seconds(1)).has_value());
  }

  // Every third event again through the other replica, every fifth a third
  // time through the first, and each key once on another stream too (not a
  // copy: the rule is per stream).
  int copies = 0;        // written again, through the other replica
  int same_replica = 0;  // answered by the first replica from what it acknowledged
  for (int n = 0; n < kPerStream; ++n) {
    for (const std::string& s : streams) {
      const std::string key = absl::StrCat("key-", n);
      absl::StatusOr<v1::PublishResponse> first = PublishWithKey(mesh.publisher_stub(), s, n, key);
      HERALD_ASSERT_OK(first);
      if (n % 3 == 0) {
        HERALD_ASSERT_OK(PublishWithKey(*second_stub, s, n, key));
        ++copies;
      }
      if (n % 5 == 0) {
        absl::StatusOr<v1::PublishResponse> again =
            PublishWithKey(mesh.publisher_stub(), s, n, key);
        HERALD_ASSERT_OK(again);
        // The first copy's position, and nothing written.
        EXPECT_EQ(again->position().partition(), first->position().partition());
        EXPECT_EQ(again->position().offset(), first->position().offset());
        ++same_replica;
      }
    }
  }
  std::vector<int> expected(kPerStream);
  for (int n = 0; n < kPerStream; ++n) expected[n] = n;
  const int total = kPerStream * static_cast<int>(streams.size());

  // The browser, live on the first replica's shared feed.
  std::map<std::string, std::vector<int>> browser_seen;
  for (int got = 0; got < total;) {
    std::optional<SseEvent> e = (*browser)->Next(absl::Seconds(10));
    ASSERT_TRUE(e.has_value()) << got << " events";
    browser_seen[StreamOf(e->data)].push_back(SeqOf(e->data));
    ++got;
  }
  // Nothing more comes: the copies were not delivered late either.
  EXPECT_FALSE((*browser)->Next(absl::Seconds(2)).has_value());
  for (const std::string& s : streams) EXPECT_EQ(browser_seen[s], expected) << "browser " << s;

  // Replays from Kafka on the first replica (its rings hold 4 events).
  Read replayed = Follow(mesh.fanout_stub(), streams, start.cursor, total);
  for (const std::string& s : streams) EXPECT_EQ(replayed.seen[s], expected) << "replay " << s;

  // A replica started now knows duplicates only from its last 20 records on;
  // before that it reads the rule's look-back from Kafka. Half the events on
  // the first replica, the rest from that cursor on the new one.
  HERALD_ASSERT_OK(mesh.StartFanoutReplica());
  auto replica = v1::Fanout::NewStub(
      grpc::CreateChannel(mesh.replica_address(), grpc::InsecureChannelCredentials()));
  Read half = Follow(mesh.fanout_stub(), {streams[0]}, start.cursor, kPerStream / 2);
  Read rest = Follow(*replica, {streams[0]}, half.cursor, kPerStream - half.events);
  std::vector<int> joined = half.seen[streams[0]];
  joined.insert(joined.end(), rest.seen[streams[0]].begin(), rest.seen[streams[0]].end());
  EXPECT_EQ(joined, expected) << "across replicas";
  Read whole = Follow(*replica, streams, start.cursor, total);
  for (const std::string& s : streams) EXPECT_EQ(whole.seen[s], expected) << "late replica " << s;

  EXPECT_EQ(mesh.FanoutMetric("herald_fanout_duplicates_total"), copies);
  EXPECT_EQ(mesh.PublisherMetric("herald_publisher_deduplicated_total"), same_replica);
  std::printf(
      "%d events; %d copies through the other publisher replica (written, dropped by the "
      "fanout), %d through the same (answered with the first copy's position, not written): a "
      "browser, a Kafka replay, a late fanout replica and a cursor moved across replicas each "
      "got every event once\n",
      total, copies, same_replica);
}

}  // namespace
}  // namespace herald
