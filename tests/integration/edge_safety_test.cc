// herald-edge against hostile and idle clients: one owner per connection
// (a second request on a busy socket reaches no one else), and heartbeats
// that leave no write gap longer than --heartbeat. Real binaries and Kafka.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "support/backbone.h"
#include "support/fleet.h"
#include "support/kafka_env.h"
#include "support/raw_socket.h"
#include "support/sse_client.h"
#include "support/status_assert.h"
#include "support/test_events.h"
#include "support/tokens.h"

namespace herald {
namespace {

using ::herald::testing::Backbone;
using ::herald::testing::Claims;
using ::herald::testing::RawSocket;
using ::herald::testing::SeqOf;
using ::herald::testing::SignToken;
using ::herald::testing::SseClient;
using ::herald::testing::SseEvent;
using ::herald::testing::Target;
using ::herald::testing::TestPayload;
using ::herald::testing::WaitFor;
using ::herald::testing::WriteTempFile;
using ::testing::HasSubstr;

std::string Get(const std::string& target) {
  return absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n");
}

std::string Post(const std::string& stream, int n) {
  const std::string body = absl::StrCat(R"({"type":"atk","data":{"atk":)", n, "}}");
  return absl::StrCat("POST /v1/streams/", stream,
                      "/events HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n"
                      "Content-Type: application/json\r\nContent-Length: ",
                      body.size(), "\r\n\r\n", body);
}

// How the attacker uses its socket.
struct Attack {
  std::string name;
  std::string first;            // the first request
  bool read_head = false;       // wait for the first answer's head before the second
  bool publisher_hung = false;  // the first is a POST left unanswered (publisher stopped)
  std::string second;           // the second request, on the same socket
  bool counted = true;          // the second reaches the edge as bytes of its own
};

class EdgeOwnershipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HERALD_ASSERT_OK(mesh_.Start());
    HERALD_ASSERT_OK(mesh_.StartEdge({"--publish_timeout=8s"}));
  }

  // The attack, then the attacker closes; clients that connect afterwards
  // (reusing its descriptor number) must see nothing of the attacker's
  // streams, and the edge's gauges must return to 0.
  void Run(const Attack& attack) {
    SCOPED_TRACE(attack.name);
    const double busy_before = mesh_.EdgeMetric("herald_edge_busy_connection_requests_total");
    if (attack.publisher_hung) {
      mesh_.publisher().Kill(SIGSTOP);
    }
    auto attacker = RawSocket::Connect(mesh_.edge_port());
    HERALD_ASSERT_OK(attacker);
    ASSERT_TRUE((*attacker)->Send(attack.first));
    if (attack.read_head) {
      ASSERT_TRUE((*attacker)->ReadUntil("\r\n\r\n", absl::Seconds(10)));
      ASSERT_THAT((*attacker)->received(), HasSubstr(" 200 "));
      ASSERT_TRUE((*attacker)->ReadUntil("id: ", absl::Seconds(10))) << "no start block";
    }
    if (attack.publisher_hung) {
      ASSERT_TRUE(WaitFor([&] { return mesh_.EdgeMetric("herald_edge_pending_answers") == 1; },
                          absl::Seconds(10)));
    }
    if (!attack.second.empty()) {
      ASSERT_TRUE((*attacker)->Send(attack.second));
    }
    if (attack.counted) {
      ASSERT_TRUE(WaitFor(
          [&] {
            return mesh_.EdgeMetric("herald_edge_busy_connection_requests_total") > busy_before;
          },
          absl::Seconds(10)))
          << "the second request was not refused as such";
    }
    // Events on the attacker's stream while it is still open.
    if (!attack.publisher_hung) {
      for (int n = 0; n < 5; ++n) HERALD_ASSERT_OK(mesh_.Publish("atk/a", "atk", "atk-before"));
    }
    (*attacker)->Close();
    ASSERT_TRUE(WaitFor(
        [&] {
          return mesh_.EdgeMetric("herald_edge_connections") == 0 &&
                 mesh_.EdgeMetric("herald_edge_pending_answers") == 0;
        },
        absl::Seconds(10)))
        << "the gauges did not return to 0: " << mesh_.EdgeGet("/metrics");

    // New clients: some get the attacker's descriptor number.
    constexpr int kVictims = 12;
    std::vector<std::unique_ptr<RawSocket>> victims;
    for (int i = 0; i < kVictims; ++i) {
      auto v = RawSocket::Connect(mesh_.edge_port());
      HERALD_ASSERT_OK(v);
      ASSERT_TRUE((*v)->Send(Get(Target({"victim/s"}))));
      ASSERT_TRUE((*v)->ReadUntil("id: ", absl::Seconds(10))) << (*v)->received();
      victims.push_back(std::move(*v));
    }
    // The hung publisher answers the attacker's POST now, into a closed claim.
    if (attack.publisher_hung) mesh_.publisher().Kill(SIGCONT);
    for (int n = 0; n < 10; ++n) HERALD_ASSERT_OK(mesh_.Publish("atk/a", "atk", "atk-after"));
    HERALD_ASSERT_OK(mesh_.Publish("atk/b", "atk", "atk-after"));
    HERALD_ASSERT_OK(mesh_.Publish("victim/s", "mark", "the-marker"));
    for (auto& v : victims) {
      ASSERT_TRUE(v->ReadUntil("the-marker", absl::Seconds(10))) << v->received();
    }
    if (attack.publisher_hung) {
      // Long enough for the POST's answer (the publisher is back) to be written somewhere.
      ASSERT_TRUE(WaitFor(
          [&] {
            return mesh_.EdgeMetric("herald_edge_posts_total") +
                       mesh_.EdgeMetric("herald_edge_post_failures_total") >=
                   posts_answered_ + 1;
          },
          absl::Seconds(20)));
      posts_answered_ += 1;
      HERALD_ASSERT_OK(mesh_.Publish("victim/s", "mark", "the-second-marker"));
      for (auto& v : victims) ASSERT_TRUE(v->ReadUntil("the-second-marker", absl::Seconds(10)));
    }
    for (size_t i = 0; i < victims.size(); ++i) {
      const std::string& bytes = victims[i]->received();
      EXPECT_THAT(bytes, ::testing::Not(HasSubstr("atk"))) << "client " << i << " got:\n" << bytes;
      EXPECT_THAT(bytes, ::testing::Not(HasSubstr("HTTP/1.1 201"))) << "client " << i;
      EXPECT_EQ(absl::StrContains(bytes.substr(bytes.find("\r\n\r\n") + 4), "HTTP/1.1"), false)
          << "a second response head in client " << i;
    }
    victims.clear();
    ASSERT_TRUE(WaitFor([&] { return mesh_.EdgeMetric("herald_edge_connections") == 0; },
                        absl::Seconds(10)));
    EXPECT_THAT(mesh_.EdgeGet("/healthz"), HasSubstr(" 200 "));
  }

  Backbone mesh_;
  double posts_answered_ = 0;
};

TEST_F(EdgeOwnershipTest, GetAfterGetOnAStreamSocket) {
  Run({.name = "GET after GET",
       .first = Get(Target({"atk/a"})),
       .read_head = true,
       .second = Get(Target({"atk/b"}))});
}

TEST_F(EdgeOwnershipTest, PostAfterGetOnAStreamSocket) {
  Run({.name = "POST after GET",
       .first = Get(Target({"atk/a"})),
       .read_head = true,
       .second = Post("atk%2Fb", 1)});
}

TEST_F(EdgeOwnershipTest, PipelinedRequestsBehindAStream) {
  // Both requests in one segment: the second never reaches a handler.
  Run({.name = "GET+GET+POST pipelined",
       .first = Get(Target({"atk/a"})) + Get(Target({"atk/b"})) + Post("atk%2Fb", 2),
       .read_head = true,
       .counted = false});
}

TEST_F(EdgeOwnershipTest, RequestsAfterAnUnansweredPost) {
  Run({.name = "POST after an unanswered POST",
       .first = Post("atk%2Fa", 3),
       .publisher_hung = true,
       .second = Post("atk%2Fa", 4)});
  Run({.name = "GET after an unanswered POST",
       .first = Post("atk%2Fa", 5),
       .publisher_hung = true,
       .second = Get(Target({"atk/a"}))});
}

TEST_F(EdgeOwnershipTest, AnAnsweredPostFreesTheConnection) {
  // The answer closes the connection; a request after it gets no second answer.
  auto client = RawSocket::Connect(mesh_.edge_port());
  HERALD_ASSERT_OK(client);
  ASSERT_TRUE((*client)->Send(Post("own%2Fp", 1)));
  ASSERT_TRUE((*client)->ReadToEnd(absl::Seconds(15))) << (*client)->received();
  EXPECT_THAT((*client)->received(), HasSubstr("HTTP/1.1 201 Created"));
  EXPECT_THAT((*client)->received(), HasSubstr("Connection: close"));
  ASSERT_TRUE(WaitFor([&] { return mesh_.EdgeMetric("herald_edge_pending_answers") == 0; },
                      absl::Seconds(10)));
}

TEST(EdgeHeartbeatTest, NoWriteGapOnAnIdleStreamExceedsTheHeartbeat) {
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start());
  HERALD_ASSERT_OK(mesh.StartEdge({"--heartbeat=1s"}));
  auto client = RawSocket::Connect(mesh.edge_port());
  HERALD_ASSERT_OK(client);
  ASSERT_TRUE((*client)->Send(Get(Target({"idle/hb"}))));
  ASSERT_TRUE((*client)->ReadUntil("id: ", absl::Seconds(10)));
  // From the start block on, every arrival of bytes is timed.
  absl::Time last = absl::Now();
  absl::Duration longest = absl::ZeroDuration();
  int arrivals = 0;
  const absl::Time until = last + absl::Seconds(8);
  size_t seen = (*client)->received().size();
  while (absl::Now() < until) {
    ASSERT_TRUE((*client)->ReadSome(absl::Milliseconds(20))) << "the stream ended";
    if ((*client)->received().size() == seen) continue;
    seen = (*client)->received().size();
    const absl::Time now = absl::Now();
    longest = std::max(longest, now - last);
    last = now;
    ++arrivals;
  }
  longest = std::max(longest, absl::Now() - last);
  std::printf("idle stream, --heartbeat=1s: %d writes in 8 s, longest gap %s\n", arrivals,
              absl::FormatDuration(longest).c_str());
  EXPECT_GE(arrivals, 8);
  EXPECT_LE(longest, absl::Seconds(1)) << "a write gap longer than the heartbeat";
  EXPECT_THAT((*client)->received(), HasSubstr(": hb\n\n"));
}

TEST(EdgeTokenExpiryTest, AStreamEndsWithItsTokenAndResumesExactlyWithAFreshOne) {
  const std::string secret = "expiry-test-secret-expiry-test-secret-0123";
  const std::string secret_file = WriteTempFile("expiry-hs256", secret);
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start());
  ASSERT_TRUE(mesh.StartEdge({"--jwt_hs256_secret_file=" + secret_file, "--jwt_leeway=1s",
                              "--public_streams=public.*"})
                  .ok());
  const int64_t exp = absl::ToUnixSeconds(absl::Now()) + 3;
  const absl::Time valid_until = absl::FromUnixSeconds(exp) + absl::Seconds(1);  // + leeway
  const std::string short_token = SignToken(
      "HS256", secret, absl::StrCat(R"({"sub":"ada","exp":)", exp, R"(,"subscribe":["exp/s"]})"));
  auto authed = SseClient::Connect(mesh.edge_port(), Target({"exp/s"}),
                                   {{"Cookie", "herald_token=" + short_token}});
  HERALD_ASSERT_OK(authed);
  ASSERT_EQ((*authed)->status(), 200);
  // A public stream opened without a token: no token, nothing to expire.
  auto anonymous = SseClient::Connect(mesh.edge_port(), Target({"public.s"}));
  HERALD_ASSERT_OK(anonymous);
  ASSERT_EQ((*anonymous)->status(), 200);

  // Events keep coming, before, across and after the expiry.
  std::atomic<int> published{0};
  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    while (!stop.load()) {
      const int n = published.load();
      if (!mesh.Publish("exp/s", "t", TestPayload("exp/s", n)).ok()) break;
      published.store(n + 1);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  std::vector<int> seqs;
  std::optional<SseEvent> last;
  while (std::optional<SseEvent> e = (*authed)->Next(absl::Seconds(10))) {
    if (e->type == "t") seqs.push_back(SeqOf(e->data));
    last = e;
  }
  const absl::Time ended = absl::Now();
  ASSERT_TRUE((*authed)->ended()) << "the stream outlived its token";
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->type, "herald.auth") << "no herald.auth before the close";
  EXPECT_EQ(last->data, R"({"reason":"expired"})");
  EXPECT_EQ(last->id, (*authed)->last_id()) << "herald.auth carries the cursor";
  std::printf("token valid until +%s past exp; stream ended %s after that, %zu events before\n",
              "1s", absl::FormatDuration(ended - valid_until).c_str(), seqs.size());
  EXPECT_GE(ended, valid_until - absl::Milliseconds(100)) << "ended before the token expired";
  EXPECT_LE(ended, valid_until + absl::Seconds(1)) << "ended late";
  EXPECT_FALSE(seqs.empty());

  // With a fresh token and the last id: everything published meanwhile, once.
  const std::string fresh = SignToken("HS256", secret, Claims("ada", R"("subscribe":["exp/s"])"));
  auto resumed =
      SseClient::Connect(mesh.edge_port(), Target({"exp/s"}),
                         {{"Cookie", "herald_token=" + fresh}, {"Last-Event-ID", last->id}});
  HERALD_ASSERT_OK(resumed);
  ASSERT_EQ((*resumed)->status(), 200);
  ASSERT_TRUE(WaitFor([&] { return published.load() >= static_cast<int>(seqs.size()) + 20; },
                      absl::Seconds(30)));
  stop.store(true);
  publisher.join();
  while (seqs.size() < static_cast<size_t>(published.load())) {
    std::optional<SseEvent> e = (*resumed)->Next(absl::Seconds(10));
    ASSERT_TRUE(e.has_value()) << "stopped at " << seqs.size() << " of " << published.load();
    seqs.push_back(SeqOf(e->data));
  }
  for (size_t n = 0; n < seqs.size(); ++n) ASSERT_EQ(seqs[n], static_cast<int>(n));

  // The stream without a token is still open.
  EXPECT_FALSE((*anonymous)->Next(absl::Milliseconds(200)).has_value());
  EXPECT_FALSE((*anonymous)->ended()) << "a stream without a token was ended";
  EXPECT_EQ(mesh.EdgeMetric(R"(herald_edge_streams_ended_total{reason="expired"})"), 1);
}

}  // namespace
}  // namespace herald
