// herald-edge over HTTP/2 (TLS with ALPN h2, and h2c): every endpoint as over
// HTTP/1.1, many event streams on one connection, a reader that stops on one
// stream while another keeps receiving, an edge killed and restarted under
// streams that resume exactly, and the hostile clients (rapid resets, header
// bombs, bodies over the limit). Real binaries, Kafka and a real HTTP/2
// client (nghttp2) on loopback.
#include <nghttp2/nghttp2.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "support/backbone.h"
#include "support/h2_client.h"
#include "support/kafka_env.h"
#include "support/status_assert.h"
#include "support/test_events.h"
#include "support/tokens.h"

namespace herald {
namespace {

using ::herald::testing::Backbone;
using ::herald::testing::Claims;
using ::herald::testing::H2Client;
using ::herald::testing::RssKiB;
using ::herald::testing::SeqOf;
using ::herald::testing::SignToken;
using ::herald::testing::TestPayload;
using ::herald::testing::WaitFor;
using ::herald::testing::WriteTempFile;
using ::testing::HasSubstr;

constexpr char kSecret[] = "h2-test-secret-of-at-least-32-bytes!";

class EdgeH2Test : public ::testing::Test {
 protected:
  void StartMesh(std::vector<std::string> extra = {}) {
    absl::StatusOr<std::string> tls = herald::testing::DevCertificate();
    HERALD_ASSERT_OK(tls);
    HERALD_ASSERT_OK(mesh_.Start());
    std::vector<std::string> args = {
        "--https_address=127.0.0.1:0", absl::StrCat("--tls_cert_file=", *tls, "/cert.pem"),
        absl::StrCat("--tls_key_file=", *tls, "/key.pem"), "--h2c_address=127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    HERALD_ASSERT_OK(mesh_.StartEdge(args));
    ASSERT_GT(mesh_.edge_https_port(), 0);
  }

  std::unique_ptr<H2Client> Connect() {
    auto client = H2Client::Connect(mesh_.edge_https_port());
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }

  // Waits for `stream` to end (answers) and returns it.
  H2Client::Stream& Answer(H2Client& c, int32_t id) {
    EXPECT_TRUE(c.PumpUntil([&] { return c.stream(id).closed; }, absl::Seconds(20)))
        << "no answer on stream " << id;
    return c.stream(id);
  }

  void Publish(const std::string& stream, int from, int to) {
    for (int n = from; n <= to; ++n) {
      HERALD_ASSERT_OK(mesh_.Publish(stream, "t", TestPayload(stream, n)));
    }
  }

  static std::vector<int> Seqs(const H2Client::Stream& s, const std::string& type = "t") {
    std::vector<int> seqs;
    for (const auto& e : s.events) {
      if (e.type == type) seqs.push_back(SeqOf(e.data));
    }
    return seqs;
  }

  static std::vector<int> Range(int from, int to) {
    std::vector<int> r;
    for (int n = from; n <= to; ++n) r.push_back(n);
    return r;
  }

  Backbone mesh_;
};

TEST_F(EdgeH2Test, EveryEndpointOverHttp2WithTheSameAuthCorsLimitsAndErrors) {
  const std::string secret = WriteTempFile("h2-secret", kSecret);
  const std::string static_dir = ::testing::TempDir() + "/h2-static";
  std::filesystem::create_directories(static_dir);
  std::ofstream(static_dir + "/index.html") << "<!doctype html><title>herald</title>";
  StartMesh({absl::StrCat("--jwt_hs256_secret_file=", secret), "--cors_origins=https://app.test",
             "--max_body_bytes=4096", absl::StrCat("--static_dir=", static_dir)});
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->alpn(), "h2");
  EXPECT_EQ(c->max_concurrent_streams(), 100u);

  EXPECT_EQ(Answer(*c, c->Get("/healthz")).body, "ok\n");
  EXPECT_EQ(Answer(*c, c->Get("/readyz")).status, 200);
  H2Client::Stream& page = Answer(*c, c->Get("/"));
  EXPECT_EQ(page.status, 200);
  EXPECT_THAT(page.Header("content-type"), HasSubstr("text/html"));
  EXPECT_THAT(page.body, HasSubstr("<title>herald</title>"));
  H2Client::Stream& missing = Answer(*c, c->Get("/nope"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_THAT(missing.body, HasSubstr("no such resource: /nope"));

  // Authentication: none, a bad one, a grant missing, then a good one by
  // Bearer and by cookie.
  H2Client::Stream& anonymous = Answer(*c, c->Get("/v1/events?stream=h2.a"));
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_THAT(anonymous.Header("www-authenticate"), HasSubstr("Bearer"));
  const std::string reader =
      SignToken("HS256", kSecret, Claims("ada", R"("subscribe":["h2.*"],"publish":["h2.*"])"));
  const std::string other = SignToken("HS256", kSecret, Claims("bob", R"("subscribe":["x.*"])"));
  EXPECT_EQ(Answer(*c, c->Get("/v1/events?stream=h2.a", {{"authorization", "Bearer not.a.token"}}))
                .status,
            401);
  EXPECT_EQ(
      Answer(*c, c->Get("/v1/events?stream=h2.a", {{"authorization", "Bearer " + other}})).status,
      403);
  EXPECT_EQ(
      Answer(*c, c->Get("/v1/events?stream=h2.a&rewind=x", {{"authorization", "Bearer " + reader}}))
          .status,
      400);
  const int32_t bearer =
      c->Get("/v1/events?stream=h2.a&stream=h2.b",
             {{"authorization", "Bearer " + reader}, {"origin", "https://app.test"}});
  const int32_t cookie =
      c->Get("/v1/events?stream=h2.a", {{"cookie", "x=1; herald_token=" + reader}});
  ASSERT_TRUE(c->PumpUntil(
      [&] { return c->stream(bearer).status == 200 && c->stream(cookie).status == 200; },
      absl::Seconds(20)));
  EXPECT_EQ(c->stream(bearer).Header("content-type"), "text/event-stream");
  EXPECT_EQ(c->stream(bearer).Header("access-control-allow-origin"), "https://app.test");
  ASSERT_TRUE(
      WaitFor([&] { return mesh_.EdgeMetric(R"(herald_edge_streams{protocol="h2"})") == 2; },
              absl::Seconds(10)));
  EXPECT_EQ(mesh_.EdgeMetric(R"(herald_edge_tcp_connections{protocol="h2"})"), 1);

  // POST: a preflight, refusals, then events that reach both streams.
  H2Client::Stream& preflight = Answer(
      *c, c->Request("OPTIONS", "/v1/streams/h2.a/events", {{"origin", "https://app.test"}}));
  EXPECT_EQ(preflight.status, 204);
  EXPECT_EQ(preflight.Header("access-control-allow-origin"), "https://app.test");
  const std::vector<std::pair<std::string, std::string>> json = {
      {"content-type", "application/json"}, {"authorization", "Bearer " + reader}};
  EXPECT_EQ(Answer(*c, c->Request("POST", "/v1/streams/h2.a/events",
                                  {{"authorization", "Bearer " + reader}}, R"({"type":"t"})"))
                .status,
            415);
  EXPECT_EQ(Answer(*c, c->Request("POST", "/v1/streams/h2.a/events", json, "{nope")).status, 400);
  H2Client::Stream& large =
      Answer(*c, c->Request("POST", "/v1/streams/h2.a/events", json, std::string(10'000, ' ')));
  EXPECT_EQ(large.status, 413);
  EXPECT_THAT(large.body, HasSubstr("payload_too_large"));
  EXPECT_EQ(
      Answer(*c, c->Request("POST", "/v1/streams/x.a/events", json, R"({"type":"t","data":1})"))
          .status,
      403);
  for (int n = 1; n <= 3; ++n) {
    H2Client::Stream& posted =
        Answer(*c, c->Request("POST", "/v1/streams/h2.a/events", json,
                              absl::StrCat(R"({"type":"t","data":)", TestPayload("h2.a", n), "}")));
    EXPECT_EQ(posted.status, 201) << posted.body;
    EXPECT_THAT(posted.body, HasSubstr(R"("stream":"h2.a")"));
  }
  H2Client::Stream& rpc = Answer(*c, c->Request("POST", "/v1/rpc/a.B/C", json, "{}"));
  EXPECT_EQ(rpc.status, 404);
  EXPECT_THAT(rpc.body, HasSubstr("--rpc_routes"));
  ASSERT_TRUE(c->PumpUntil(
      [&] { return Seqs(c->stream(bearer)).size() == 3 && Seqs(c->stream(cookie)).size() == 3; },
      absl::Seconds(20)));
  EXPECT_EQ(Seqs(c->stream(bearer)), Range(1, 3));

  // Resume by Last-Event-ID and by rewind, on the same connection.
  const std::string after_one = c->stream(cookie).events[0].id;
  Publish("h2.a", 4, 5);
  // Once a live stream has 5, so does the fanout: rewind=2 is then 4 and 5.
  ASSERT_TRUE(c->PumpUntil([&] { return Seqs(c->stream(cookie)).size() == 5; }, absl::Seconds(20)));
  const int32_t resumed = c->Get("/v1/events?stream=h2.a", {{"authorization", "Bearer " + reader},
                                                            {"last-event-id", after_one}});
  const int32_t rewound =
      c->Get("/v1/events?stream=h2.a&rewind=2", {{"authorization", "Bearer " + reader}});
  ASSERT_TRUE(c->PumpUntil(
      [&] { return Seqs(c->stream(resumed)).size() >= 4 && Seqs(c->stream(rewound)).size() >= 2; },
      absl::Seconds(20)));
  EXPECT_EQ(Seqs(c->stream(resumed)), Range(2, 5));
  EXPECT_EQ(Seqs(c->stream(rewound)), Range(4, 5));
  EXPECT_GT(c->stream(resumed).parser.retry_ms(), 0);

  const std::string metrics = Answer(*c, c->Get("/metrics")).body;
  EXPECT_THAT(metrics, HasSubstr(R"(herald_edge_streams{protocol="h2"} 4)"));
  EXPECT_THAT(metrics, HasSubstr(R"(herald_edge_tcp_connections{protocol="h2"} 1)"));

  // h2c with prior knowledge on its own port.
  absl::StatusOr<int> h2c_port = mesh_.edge().WaitForPort("h2c_port", absl::Seconds(5));
  HERALD_ASSERT_OK(h2c_port);
  auto plain = H2Client::Connect(*h2c_port, {.tls = false});
  HERALD_ASSERT_OK(plain);
  EXPECT_EQ(Answer(**plain, (*plain)->Get("/healthz")).body, "ok\n");
  // A stream on the h2c listener while the HTTPS one holds four: both
  // listeners share one connection table.
  const int32_t on_h2c =
      (*plain)->Get("/v1/events?stream=h2.a", {{"authorization", "Bearer " + reader}});
  ASSERT_TRUE(
      (*plain)->PumpUntil([&] { return (*plain)->stream(on_h2c).status != 0; }, absl::Seconds(10)));
  EXPECT_EQ((*plain)->stream(on_h2c).status, 200);
  // HEAD: the head alone.
  H2Client::Stream& head = Answer(**plain, (*plain)->Request("HEAD", "/healthz"));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");

  // A client that offers only HTTP/1.1 is refused in the handshake.
  EXPECT_FALSE(H2Client::Connect(mesh_.edge_https_port(), {.alpn = {"http/1.1"}}).ok());
  // Closing the connection releases its streams.
  c.reset();
  plain->reset();
  EXPECT_TRUE(
      WaitFor([&] { return mesh_.EdgeMetric(R"(herald_edge_streams{protocol="h2"})") == 0; },
              absl::Seconds(10)));
}

TEST_F(EdgeH2Test, AReaderThatStopsOnOneStreamIsResetAndNeverStallsTheOthers) {
  StartMesh({"--max_queued_bytes=65536"});
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  const int32_t stalled = c->Get("/v1/events?stream=h2.bulk");
  const int32_t reading = c->Get("/v1/events?stream=h2.bulk");
  ASSERT_TRUE(c->PumpUntil(
      [&] { return c->stream(stalled).status == 200 && c->stream(reading).status == 200; },
      absl::Seconds(20)));
  c->Pause(stalled);
  // 400 events of about 1 KiB: far more than a stream's window (64 KiB)
  // plus the edge's bound for it (64 KiB).
  const std::string pad(1000, 'x');
  std::thread publisher([&] {
    for (int n = 1; n <= 400; ++n) {
      HERALD_EXPECT_OK(mesh_.Publish(
          "h2.bulk", "t", absl::StrCat(R"({"s":"h2.bulk","n":)", n, R"(,"pad":")", pad, R"("})")));
    }
  });
  const bool done = c->PumpUntil(
      [&] { return Seqs(c->stream(reading)).size() == 400 && c->stream(stalled).closed; },
      absl::Seconds(60));
  publisher.join();
  ASSERT_TRUE(done) << "reading got " << Seqs(c->stream(reading)).size() << " (closed "
                    << c->stream(reading).closed << "), stalled closed "
                    << c->stream(stalled).closed << " with " << c->stream(stalled).error_code
                    << " after " << Seqs(c->stream(stalled)).size() << "; slow resets "
                    << mesh_.EdgeMetric(R"(herald_edge_h2_refused_total{reason="slow"})") << "\n"
                    << mesh_.edge().LogTail();
  EXPECT_EQ(Seqs(c->stream(reading)), Range(1, 400));
  EXPECT_EQ(c->stream(stalled).error_code, static_cast<uint32_t>(NGHTTP2_CANCEL));
  EXPECT_LT(Seqs(c->stream(stalled)).size(), 400u);
  EXPECT_GE(mesh_.EdgeMetric(R"(herald_edge_h2_refused_total{reason="slow"})"), 1);
  // The reset stream resumes from its last id and gets exactly the rest.
  // The id of the last whole event (a cut may fall inside the next one).
  ASSERT_FALSE(c->stream(stalled).events.empty());
  const std::string last = c->stream(stalled).events.back().id;
  const size_t had = Seqs(c->stream(stalled)).size();
  const int32_t again = c->Get("/v1/events?stream=h2.bulk", {{"last-event-id", last}});
  ASSERT_TRUE(
      c->PumpUntil([&] { return Seqs(c->stream(again)).size() == 400 - had; }, absl::Seconds(30)))
      << "resumed from " << last << " after " << had << ": status " << c->stream(again).status
      << ", closed " << c->stream(again).closed << " (" << c->stream(again).error_code << "), "
      << Seqs(c->stream(again)).size() << " events, connection closed " << c->connection_closed();
  EXPECT_EQ(Seqs(c->stream(again)), Range(static_cast<int>(had) + 1, 400));
}

TEST_F(EdgeH2Test, StreamsResumeExactlyAcrossAnEdgeKill) {
  StartMesh();
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  std::vector<int32_t> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(c->Get("/v1/events?stream=h2.k&stream=h2.l"));
  ASSERT_TRUE(c->PumpUntil(
      [&] {
        for (int32_t id : ids) {
          if (c->stream(id).status != 200) return false;
        }
        return true;
      },
      absl::Seconds(20)));
  Publish("h2.k", 1, 5);
  ASSERT_TRUE(
      c->PumpUntil([&] { return Seqs(c->stream(ids.back())).size() == 5; }, absl::Seconds(20)));
  std::vector<std::string> cursors;
  for (int32_t id : ids) cursors.push_back(c->stream(id).events.back().id);
  c.reset();
  mesh_.edge().Kill(SIGKILL);
  (void)mesh_.edge().Wait(absl::Seconds(10));
  Publish("h2.k", 6, 8);
  HERALD_ASSERT_OK(mesh_.StartEdge());
  Publish("h2.k", 9, 10);
  c = Connect();
  ASSERT_NE(c, nullptr);
  std::vector<int32_t> resumed;
  for (const std::string& cursor : cursors) {
    resumed.push_back(c->Get("/v1/events?stream=h2.k&stream=h2.l", {{"last-event-id", cursor}}));
  }
  for (int32_t id : resumed) {
    ASSERT_TRUE(c->PumpUntil([&] { return Seqs(c->stream(id)).size() >= 5; }, absl::Seconds(20)));
    EXPECT_EQ(Seqs(c->stream(id)), Range(6, 10));
  }
}

TEST_F(EdgeH2Test, HostileClientsAreRefusedWithoutGrowingMemory) {
  StartMesh();
  // Headers that decode far larger than they travel (HPACK indexes repeats).
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  std::vector<std::pair<std::string, std::string>> bomb;
  for (int i = 0; i < 400; ++i) bomb.emplace_back("x-bomb", std::string(100, 'b'));
  const int32_t bombed = c->Get("/healthz", bomb);
  ASSERT_TRUE(c->PumpUntil([&] { return c->stream(bombed).closed; }, absl::Seconds(10)));
  EXPECT_NE(c->stream(bombed).error_code, 0u);
  EXPECT_EQ(c->stream(bombed).status, 0);
  EXPECT_EQ(Answer(*c, c->Get("/healthz")).body, "ok\n");  // the connection goes on
  EXPECT_GE(mesh_.EdgeMetric(R"(herald_edge_h2_refused_total{reason="headers"})"), 1);

  // Rapid reset: streams opened and cancelled at once, connection after
  // connection. nghttp2's limit ends each connection with GOAWAY.
  const int64_t rss_before = RssKiB(mesh_.edge().pid());
  int opened = 0;
  int goaways = 0;
  constexpr int kRounds = 4;
  for (int round = 0; round < kRounds; ++round) {
    auto flood = Connect();
    ASSERT_NE(flood, nullptr);
    const absl::Status s = flood->RapidReset("/v1/events?stream=h2.flood", 3000);
    opened += 3000;
    if (flood->DrainRaw(absl::Seconds(5))) ++goaways;
    if (!s.ok()) std::printf("  connection %d: %s\n", round, std::string(s.message()).c_str());
  }
  const int64_t rss_after = RssKiB(mesh_.edge().pid());
  std::printf(
      "rapid reset: up to %d streams opened and reset over %d connections, %d ended by "
      "the edge with GOAWAY; edge RSS %lld -> %lld KiB\n",
      opened, kRounds, goaways, static_cast<long long>(rss_before),
      static_cast<long long>(rss_after));
  EXPECT_EQ(goaways, kRounds) << "every flooding connection is ended";
  EXPECT_GE(mesh_.EdgeMetric("herald_edge_h2_protocol_errors_total"), kRounds);
#if !defined(__SANITIZE_ADDRESS__)  // ASan's quarantine keeps what is freed
  EXPECT_LT(rss_after - rss_before, 32 * 1024) << "RSS grew under the flood";
#endif
  // Everything the flood opened is released, and the edge serves.
  EXPECT_TRUE(
      WaitFor([&] { return mesh_.EdgeMetric(R"(herald_edge_streams{protocol="h2"})") == 0; },
              absl::Seconds(20)));
  auto after = Connect();
  ASSERT_NE(after, nullptr);
  const int32_t live = after->Get("/v1/events?stream=h2.after");
  ASSERT_TRUE(
      after->PumpUntil([&] { return after->stream(live).status == 200; }, absl::Seconds(10)));
  Publish("h2.after", 1, 2);
  ASSERT_TRUE(
      after->PumpUntil([&] { return Seqs(after->stream(live)).size() == 2; }, absl::Seconds(20)));
}

}  // namespace
}  // namespace herald
