// herald-edge over real HTTP, in front of a real fanout, publisher and Kafka.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "herald/common/cursor.h"
#include "herald/common/partitioner.h"
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
using ::herald::testing::RssKiB;
using ::herald::testing::SeqOf;
using ::herald::testing::SseClient;
using ::herald::testing::SseEvent;
using ::herald::testing::StreamNames;
using ::herald::testing::StreamOf;
using ::herald::testing::Target;
using ::herald::testing::TestPayload;
using ::herald::testing::WaitFor;
using ::testing::HasSubstr;

TEST(EdgeTest, FramingKeepsHostilePayloadsInOneEvent) {
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start());
  HERALD_ASSERT_OK(mesh.StartEdge());
  auto client = SseClient::Connect(mesh.edge_port(), Target({"frame/a", "frame/b"}));
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->status(), 200);
  EXPECT_THAT((*client)->head(), HasSubstr("text/event-stream"));
  // The start block: retry and an id-only block before any event.
  ASSERT_FALSE((*client)->Next(absl::Milliseconds(500)).has_value());
  EXPECT_EQ((*client)->retry_ms(), 2000);
  const std::string start = (*client)->last_id();
  EXPECT_THAT(start, ::testing::StartsWith("1~"));

  const std::string evil = "\n\nevent: x\ndata: y";
  HERALD_ASSERT_OK(mesh.Publish("frame/a", "t", evil));
  HERALD_ASSERT_OK(mesh.Publish("frame/b", "message", "a\r\nb\rc"));
  HERALD_ASSERT_OK(mesh.Publish("frame/a", "json", R"({"k":"v"})"));
  std::optional<SseEvent> e1 = (*client)->Next(absl::Seconds(10));
  std::optional<SseEvent> e2 = (*client)->Next(absl::Seconds(10));
  std::optional<SseEvent> e3 = (*client)->Next(absl::Seconds(10));
  ASSERT_TRUE(e1 && e2 && e3);
  EXPECT_EQ(e1->type, "t");
  EXPECT_EQ(e1->data, evil);
  EXPECT_EQ(e2->type, "message");
  EXPECT_EQ(e2->data, "a\nb\nc");  // the standard turns every line break into LF
  EXPECT_EQ(e3->data, R"({"k":"v"})");
  EXPECT_NE(e3->id, start);
  // A typed payload arrives as its proto3 JSON mapping.
  {
    v1::StreamStart typed;
    typed.set_stream("x");
    typed.set_next_offset(5);
    v1::PublishRequest request;
    request.mutable_event()->set_stream("frame/b");
    request.mutable_event()->set_type("typed");
    request.mutable_event()->mutable_proto()->PackFrom(typed);
    grpc::ClientContext context;
    v1::PublishResponse response;
    HERALD_ASSERT_OK(mesh.publisher_stub().Publish(&context, request, &response));
    std::optional<SseEvent> e4 = (*client)->Next(absl::Seconds(10));
    ASSERT_TRUE(e4.has_value());
    EXPECT_EQ(e4->type, "typed");
    EXPECT_EQ(e4->data, R"({"stream":"x","nextOffset":"5"})");
  }
  // Heartbeats are comments.
  ASSERT_TRUE(WaitFor(
      [&] {
        (*client)->Next(absl::Milliseconds(200));
        return (*client)->comments() > 0;
      },
      absl::Seconds(10), absl::ZeroDuration()));
}

TEST(EdgeTest, BadRequestsAndLimits) {
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start());
  HERALD_ASSERT_OK(mesh.StartEdge({"--max_connections=2", "--max_streams_per_connection=3"}));
  struct Case {
    std::string target, why;
  };
  for (const Case& c : {Case{"/v1/events", "no stream"}, Case{"/v1/events?stream=a%20b", "0x20"},
                        Case{"/v1/events?stream=a&rewind=x", "rewind"},
                        Case{"/v1/events?stream=a&stream=b&stream=c&stream=d", "at most 3"}}) {
    auto client = SseClient::Connect(mesh.edge_port(), c.target);
    HERALD_ASSERT_OK(client);
    EXPECT_EQ((*client)->status(), 400) << c.target;
    EXPECT_THAT((*client)->head(), HasSubstr("application/json"));
    EXPECT_THAT((*client)->ReadBody(absl::Seconds(5)), HasSubstr(c.why));
  }
  auto one = SseClient::Connect(mesh.edge_port(), Target({"lim/a"}));
  auto two = SseClient::Connect(mesh.edge_port(), Target({"lim/b"}));
  ASSERT_TRUE(one.ok() && two.ok());
  ASSERT_EQ((*one)->status(), 200);
  ASSERT_EQ((*two)->status(), 200);
  auto three = SseClient::Connect(mesh.edge_port(), Target({"lim/c"}));
  HERALD_ASSERT_OK(three);
  EXPECT_EQ((*three)->status(), 503);
  EXPECT_THAT((*three)->head(), HasSubstr("Retry-After"));
  // A malformed cursor is not an error: herald.reset, then live.
  one->reset();
  ASSERT_TRUE(WaitFor(
      [&] {
        return mesh.EdgeGet("/metrics").find("herald_edge_connections 1") != std::string::npos;
      },
      absl::Seconds(10)));
  auto reset = SseClient::Connect(mesh.edge_port(), Target({"lim/a"}, "&lastEventId=garbage"));
  HERALD_ASSERT_OK(reset);
  ASSERT_EQ((*reset)->status(), 200);
  std::optional<SseEvent> e = (*reset)->Next(absl::Seconds(10));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->type, "herald.reset");
  EXPECT_THAT(e->data, HasSubstr("\"reason\":\"malformed\""));
  EXPECT_THAT(mesh.EdgeGet("/healthz"), HasSubstr("200"));
  EXPECT_THAT(mesh.EdgeGet("/nowhere"), HasSubstr("404"));
}

TEST(EdgePostTest, PostedEventsReachSubscribersAndBadPostsSayWhy) {
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start());
  HERALD_ASSERT_OK(mesh.StartEdge());
  auto client = SseClient::Connect(mesh.edge_port(), Target({"post/s"}));
  HERALD_ASSERT_OK(client);
  ASSERT_EQ((*client)->status(), 200);
  ASSERT_FALSE((*client)->Next(absl::Milliseconds(300)).has_value());  // the start block

  const std::string data = R"({"text": "hi\nthere", "n": 1})";
  const std::string created =
      mesh.EdgePost("/v1/streams/post%2Fs/events", R"({"type": "note", "data": )" + data + "}",
                    "Content-Type: application/json\r\nIdempotency-Key: k-1\r\n");
  ASSERT_THAT(created, HasSubstr("HTTP/1.1 201 Created"));
  const size_t id_at = created.find("\"id\":\"");
  ASSERT_NE(id_at, std::string::npos) << created;
  const std::string id = created.substr(id_at + 6, created.find('"', id_at + 6) - id_at - 6);
  std::optional<SseEvent> e = (*client)->Next(absl::Seconds(10));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->type, "note");
  EXPECT_EQ(e->data, data);  // the data member as sent, not an envelope
  // The browser's cursor is at the published event in its partition (and
  // names the stream's other candidate partitions too).
  absl::StatusOr<common::Cursor> published = common::DecodeCursor(id);
  absl::StatusOr<common::Cursor> browser = common::DecodeCursor(e->id);
  HERALD_ASSERT_OK(published);
  HERALD_ASSERT_OK(browser);
  ASSERT_EQ(published->next.size(), 1u) << id;
  for (const auto& [partition, next] : published->next) {
    EXPECT_EQ(browser->next[partition], next) << e->id;
  }
  EXPECT_EQ(browser->next.size(), common::CandidatePartitions("post/s", 6).size()) << e->id;

  struct Case {
    std::string path, body, headers, status, why;
  };
  const std::string json = "Content-Type: application/json\r\n";
  for (const Case& c : {
           Case{"/v1/streams/s/events", R"({"type":"t","data":1})", "Content-Type: text/plain\r\n",
                " 415 ", "application/json"},
           Case{"/v1/streams/s/events", R"({"type":"t","data":)", json, " 400 ", "invalid JSON"},
           Case{"/v1/streams/s/events", R"({"data":1})", json, " 400 ", "the body has no"},
           Case{"/v1/streams/a%20b/events", R"({"type":"t","data":1})", json, " 400 ", "0x20"},
           // Refused by the publisher: INVALID_ARGUMENT comes back as 400.
           Case{"/v1/streams/s/events", R"({"type":"herald.x","data":1})", json, " 400 ",
                "invalid_argument"},
       }) {
    const std::string answer = mesh.EdgePost(c.path, c.body, c.headers);
    EXPECT_THAT(answer, HasSubstr(c.status)) << c.body << "\n" << answer;
    EXPECT_THAT(answer, HasSubstr(c.why)) << c.body << "\n" << answer;
  }
  EXPECT_THAT(mesh.EdgeGet("/v1/streams/s/events"), HasSubstr(" 405 "));

  // No publisher: UNAVAILABLE, as 503.
  mesh.publisher().Kill(SIGKILL);
  HERALD_ASSERT_OK(mesh.publisher().Wait(absl::Seconds(30)));
  const std::string down = mesh.EdgePost("/v1/streams/s/events", R"({"type":"t","data":1})", json);
  EXPECT_THAT(down, HasSubstr(" 503 "));
  EXPECT_THAT(down, HasSubstr("\"code\":\"unavailable\""));
  EXPECT_EQ(mesh.EdgeMetric("herald_edge_posts_total"), 1);
  // The edge still serves its stream.
  EXPECT_FALSE((*client)->ended());
}

TEST(EdgePostTest, ABodyOverTheLimitGets413WithoutBeingRead) {
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start());
  HERALD_ASSERT_OK(mesh.StartEdge({"--max_body_bytes=65536"}));
  const int64_t rss_before = RssKiB(mesh.edge().pid());
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(mesh.edge_port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  timeval timeout{.tv_sec = 10, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  // 100 MB announced; the client sends the first 64 KB of it.
  const std::string head =
      "POST /v1/streams/s/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 104857600\r\n\r\n";
  const std::string chunk(65536, 'x');
  ASSERT_EQ(send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  (void)send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
  std::string answer;
  char buffer[4096];
  ssize_t n;
  while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0) answer.append(buffer, n);
  EXPECT_THAT(answer, HasSubstr("HTTP/1.1 413 Payload Too Large"));
  EXPECT_THAT(answer, HasSubstr("at most 65536"));
  // More body: the edge reads none of it into memory (the connection is gone).
  int64_t sent = 0;
  for (int i = 0; i < 128; ++i) {
    const ssize_t w = send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (w <= 0) break;
    sent += w;
  }
  close(fd);
  const int64_t rss_after = RssKiB(mesh.edge().pid());
  std::printf(
      "413 after the head; client managed to send %lld more bytes; edge RSS %lld -> %lld KiB\n",
      static_cast<long long>(sent), static_cast<long long>(rss_before),
      static_cast<long long>(rss_after));
  EXPECT_LT(rss_after - rss_before, 2048) << "the edge buffered the refused body";
  EXPECT_THAT(mesh.EdgeGet("/healthz"), HasSubstr(" 200 "));
}

TEST(EdgePostTest, CorsForConfiguredOriginsAndAPerClientRateLimit) {
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start());
  ASSERT_TRUE(
      mesh.StartEdge({"--cors_origins=https://dash.example", "--post_rate=0.01", "--post_burst=2"})
          .ok());
  // Preflight from the configured origin, and from another.
  const std::string preflight = mesh.EdgeRequest(
      "OPTIONS /v1/streams/s/events HTTP/1.1\r\nHost: x\r\nOrigin: https://dash.example\r\n"
      "Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(preflight, HasSubstr(" 204 "));
  EXPECT_THAT(preflight, HasSubstr("Access-Control-Allow-Origin: https://dash.example"));
  EXPECT_THAT(preflight, HasSubstr("Access-Control-Allow-Methods: GET, POST, OPTIONS"));
  EXPECT_THAT(preflight, HasSubstr("Idempotency-Key"));
  const std::string foreign = mesh.EdgeRequest(
      "OPTIONS /v1/streams/s/events HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n"
      "Connection: close\r\n\r\n");
  EXPECT_THAT(foreign, HasSubstr(" 403 "));
  EXPECT_THAT(foreign, ::testing::Not(HasSubstr("Access-Control-Allow-Origin")));
  // The stream's head and a POST's answer carry the header for that origin.
  auto sse = SseClient::Connect(mesh.edge_port(), Target({"cors/s"}),
                                {{"Origin", "https://dash.example"}});
  HERALD_ASSERT_OK(sse);
  EXPECT_THAT((*sse)->head(), HasSubstr("Access-Control-Allow-Origin: https://dash.example"));
  const std::string json = "Content-Type: application/json\r\nOrigin: https://dash.example\r\n";
  const std::string body = R"({"type":"t","data":1})";
  const std::string first = mesh.EdgePost("/v1/streams/cors%2Fs/events", body, json);
  EXPECT_THAT(first, HasSubstr(" 201 "));
  EXPECT_THAT(first, HasSubstr("Access-Control-Allow-Origin: https://dash.example"));
  // A burst of 2, then one per 100 s: the third is refused.
  EXPECT_THAT(mesh.EdgePost("/v1/streams/cors%2Fs/events", body, json), HasSubstr(" 201 "));
  const std::string limited = mesh.EdgePost("/v1/streams/cors%2Fs/events", body, json);
  EXPECT_THAT(limited, HasSubstr(" 429 "));
  EXPECT_THAT(limited, HasSubstr("Retry-After: "));
  EXPECT_EQ(mesh.EdgeMetric("herald_edge_rate_limited_total"), 1);
}

TEST(EdgeTest, ExactnessThroughTheEdgeAcrossCutsAnEdgeKillAndAFanoutKill) {
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start({.fanout_args = {"--ring_events=64", "--warm_events=500"}}));
  HERALD_ASSERT_OK(mesh.StartEdge());
  constexpr int kStreams = 50;
  constexpr int kPerStream = 400;  // 20,000 events
  const std::vector<std::string> streams = StreamNames("web/s", kStreams);
  Fleet fleet(mesh, streams, 10, 3, 10, kPerStream, 5);
  SCOPED_TRACE(absl::StrCat("seed ", fleet.seed()));
  fleet.Begin();
  Publishing publishing(mesh, streams, kPerStream);
  ASSERT_TRUE(publishing.AwaitAcked(kStreams * kPerStream / 3));
  mesh.edge().Kill(SIGKILL);
  HERALD_ASSERT_OK(mesh.edge().Wait(absl::Seconds(30)));
  HERALD_ASSERT_OK(mesh.StartEdge());
  ASSERT_TRUE(publishing.AwaitAcked(kStreams * kPerStream * 2 / 3));
  mesh.fanout().Kill(SIGKILL);
  HERALD_ASSERT_OK(mesh.fanout().Wait(absl::Seconds(30)));
  absl::Status restarted = mesh.StartFanout();
  ASSERT_TRUE(restarted.ok()) << restarted;
  publishing.Join();
  fleet.Join();
  fleet.ExpectExact();
}

TEST(EdgeDrainTest, SigtermRefusesNewStreamsAndClosesOpenOnesOverTheWindow) {
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start());
  HERALD_ASSERT_OK(mesh.StartEdge({"--drain=4s", "--retry_ms=1000"}));
  constexpr int kClients = 6;
  std::vector<std::unique_ptr<SseClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    auto c = SseClient::Connect(mesh.edge_port(), Target({"drain/s"}));
    HERALD_ASSERT_OK(c);
    ASSERT_EQ((*c)->status(), 200);
    clients.push_back(std::move(*c));
  }
  for (int n = 0; n < 20; ++n)
    HERALD_ASSERT_OK(mesh.Publish("drain/s", "t", TestPayload("drain/s", n)));
  std::vector<std::string> ids(kClients);
  for (int i = 0; i < kClients; ++i) {
    for (int n = 0; n < 20; ++n) {
      std::optional<SseEvent> e = clients[i]->Next(absl::Seconds(10));
      ASSERT_TRUE(e.has_value());
      ASSERT_EQ(SeqOf(e->data), n);
    }
    ids[i] = clients[i]->last_id();
  }

  const absl::Time term = absl::Now();
  mesh.edge().Kill(SIGTERM);
  ASSERT_TRUE(WaitFor([&] { return mesh.EdgeGet("/readyz").find(" 503 ") != std::string::npos; },
                      absl::Seconds(5)))
      << "readiness still on while draining";
  auto late = SseClient::Connect(mesh.edge_port(), Target({"drain/s"}));
  HERALD_ASSERT_OK(late);
  EXPECT_EQ((*late)->status(), 503);
  EXPECT_THAT((*late)->head(), HasSubstr("Retry-After"));
  // Open streams end one by one over the window, each with its own retry: hint.
  std::vector<absl::Duration> closed_after(kClients, absl::InfiniteDuration());
  std::set<int> retries;
  // Watch them all at once: the edge closes them in its own order.
  for (int open = kClients; open > 0;) {
    ASSERT_LT(absl::Now() - term, absl::Seconds(30)) << open << " streams never closed";
    for (int i = 0; i < kClients; ++i) {
      if (closed_after[i] != absl::InfiniteDuration()) continue;
      clients[i]->Next(absl::Milliseconds(10));
      if (!clients[i]->ended()) continue;
      closed_after[i] = absl::Now() - term;
      --open;
      const int retry = clients[i]->retry_ms();
      EXPECT_GE(retry, 1000);
      EXPECT_LE(retry, 1000 + 4000);
      retries.insert(retry);
    }
  }
  EXPECT_GE(retries.size(), 3u) << "retry: hints are not spread\n" << mesh.edge().LogTail();
  const auto [first, last] = std::minmax_element(closed_after.begin(), closed_after.end());
  EXPECT_GE(*last - *first, absl::Seconds(2)) << "streams closed at once, not over the window";
  absl::StatusOr<int> exit = mesh.edge().Wait(absl::Seconds(30));
  HERALD_ASSERT_OK(exit);
  EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0) << mesh.edge().LogTail();

  // Nothing is lost: events published meanwhile reach every client that
  // resumes on the next edge with its last id.
  for (int n = 20; n < 40; ++n)
    HERALD_ASSERT_OK(mesh.Publish("drain/s", "t", TestPayload("drain/s", n)));
  HERALD_ASSERT_OK(mesh.StartEdge());
  for (int i = 0; i < kClients; ++i) {
    auto c = SseClient::Connect(mesh.edge_port(), Target({"drain/s"}), {{"Last-Event-ID", ids[i]}});
    HERALD_ASSERT_OK(c);
    ASSERT_EQ((*c)->status(), 200);
    for (int n = 20; n < 40; ++n) {
      std::optional<SseEvent> e = (*c)->Next(absl::Seconds(10));
      ASSERT_TRUE(e.has_value()) << "client " << i << " stopped before " << n;
      ASSERT_EQ(SeqOf(e->data), n);
    }
  }
}

}  // namespace
}  // namespace herald

namespace herald {
namespace {

// A client that stops reading, and 8 MB published to its stream.
struct StalledClient {
  std::unique_ptr<SseClient> client;
  std::string start_id;
  int64_t rss_before = 0;
  int64_t rss_after = 0;
};

constexpr int kStallEvents = 2000;

StalledClient Stall(Backbone& mesh) {
  StalledClient stalled;
  // A tiny receive buffer, and no reading.
  auto slow = SseClient::Connect(mesh.edge_port(), Target({"slow/s"}), {}, 4096);
  HERALD_EXPECT_OK(slow);
  if (!slow.ok()) return stalled;
  stalled.client = std::move(*slow);
  EXPECT_EQ(stalled.client->status(), 200);
  EXPECT_FALSE(stalled.client->Next(absl::Milliseconds(300)).has_value());  // start block only
  stalled.start_id = stalled.client->last_id();
  stalled.rss_before = RssKiB(mesh.edge().pid());
  const std::string pad(4000, 'p');
  for (int n = 0; n < kStallEvents; ++n) {
    EXPECT_TRUE(mesh.Publish("slow/s", "t",
                             absl::StrCat("{\"s\":\"slow/s\",\"n\":", n, ",\"pad\":\"", pad, "\"}"))
                    .ok());
  }
  EXPECT_TRUE(WaitFor(
      [&] {
        return mesh.EdgeGet("/metrics").find("herald_edge_slow_client_closes_total 1") !=
               std::string::npos;
      },
      absl::Seconds(60)))
      << "8 MB published to a client that reads nothing, and it was never closed";
  stalled.rss_after = RssKiB(mesh.edge().pid());
  return stalled;
}

TEST(EdgeSlowClientTest, ClosedAtTheBoundWithBoundedMemory) {
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start({.partitions = 1}));
  HERALD_ASSERT_OK(mesh.StartEdge({"--max_queued_bytes=131072"}));
  StalledClient stalled = Stall(mesh);
  ASSERT_NE(stalled.client, nullptr);
  std::printf("edge RSS while a client stalled on 8 MB: %lld KiB before, %lld KiB after\n",
              static_cast<long long>(stalled.rss_before),
              static_cast<long long>(stalled.rss_after));
  EXPECT_LT(stalled.rss_after - stalled.rss_before, 32 * 1024)
      << "the edge buffered far more than its bound";
  // What reached the client is in order, and then the stream ends.
  std::vector<int> seqs;
  while (std::optional<SseEvent> e = stalled.client->Next(absl::Seconds(5))) {
    seqs.push_back(SeqOf(e->data));
  }
  EXPECT_TRUE(stalled.client->ended());
  EXPECT_LT(seqs.size(), static_cast<size_t>(kStallEvents));
  for (size_t n = 0; n < seqs.size(); ++n) ASSERT_EQ(seqs[n], static_cast<int>(n));
}

TEST(EdgeSlowClientTest, ResumesWithoutLossAfterASlowClose) {
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start({.partitions = 1}));
  HERALD_ASSERT_OK(mesh.StartEdge({"--max_queued_bytes=131072"}));
  StalledClient stalled = Stall(mesh);
  ASSERT_NE(stalled.client, nullptr);
  std::vector<int> seqs;
  while (std::optional<SseEvent> e = stalled.client->Next(absl::Seconds(5))) {
    seqs.push_back(SeqOf(e->data));
  }
  const std::string last_id = stalled.client->last_id();
  auto resumed =
      SseClient::Connect(mesh.edge_port(), Target({"slow/s"}),
                         {{"Last-Event-ID", last_id.empty() ? stalled.start_id : last_id}});
  HERALD_ASSERT_OK(resumed);
  while (seqs.size() < static_cast<size_t>(kStallEvents)) {
    std::optional<SseEvent> e = (*resumed)->Next(absl::Seconds(30));
    ASSERT_TRUE(e.has_value()) << "stopped after " << seqs.size() << "; edge log:\n"
                               << mesh.edge().LogTail(3000) << "\nedge metrics:\n"
                               << mesh.EdgeGet("/metrics");
    seqs.push_back(SeqOf(e->data));
  }
  for (int n = 0; n < kStallEvents; ++n) ASSERT_EQ(seqs[n], n);
}

TEST(EdgeIdleTest, AnIdleStreamSurvivesThreeMinutes) {
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start());
  // Pistache's header timeout is 60 s: three minutes prove it cannot strike.
  HERALD_ASSERT_OK(mesh.StartEdge({"--heartbeat=15s"}));
  auto client = SseClient::Connect(mesh.edge_port(), Target({"idle/s"}));
  HERALD_ASSERT_OK(client);
  ASSERT_EQ((*client)->status(), 200);
  const absl::Time until = absl::Now() + absl::Minutes(3);
  while (absl::Now() < until) {
    ASSERT_FALSE((*client)->Next(absl::Seconds(1)).has_value());
    ASSERT_FALSE((*client)->ended())
        << "closed after " << absl::FormatDuration(absl::Now() - (until - absl::Minutes(3)));
  }
  EXPECT_GE((*client)->comments(), 10) << "heartbeats every 15 s";
  HERALD_ASSERT_OK(mesh.Publish("idle/s", "t", "still here"));
  std::optional<SseEvent> e = (*client)->Next(absl::Seconds(10));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->data, "still here");
}

}  // namespace
}  // namespace herald
