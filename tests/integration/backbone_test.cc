// The event backbone end to end: herald-publisher and herald-fanout as real
// processes on loopback, a real Kafka broker, gRPC clients.
#include "support/backbone.h"

#include <signal.h>

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "herald/broker/admin.h"
#include "herald/broker/producer.h"
#include "herald/broker/reader.h"
#include "herald/common/cursor.h"
#include "herald/common/partitioner.h"
#include "support/kafka_env.h"
#include "support/status_assert.h"
#include "support/test_events.h"

namespace herald {
namespace {

using ::herald::testing::Backbone;
using ::herald::testing::SeqOf;
using ::herald::testing::TestPayload;
using ::herald::testing::WaitFor;
using ::testing::HasSubstr;

// Follows streams through Fanout.Subscribe, cutting its own connection at
// random moments and resuming from the last cursor it was given.
class CuttingSubscriber {
 public:
  CuttingSubscriber(Backbone& mesh, std::vector<std::string> streams, int expected, int cuts,
                    uint32_t seed)
      : mesh_(mesh), streams_(std::move(streams)), expected_(expected), rng_(seed) {
    cut_at_ = herald::testing::CutPoints(expected_, cuts, rng_);
  }

  // Subscribes live and returns once the first cursor arrived.
  void Begin() {
    thread_ = std::thread([this] { Run(); });
    WaitFor([this] { return started_.load(); }, absl::Seconds(60));
  }
  void Join() { thread_.join(); }

  std::map<std::string, std::vector<int>> received() {
    absl::MutexLock lock(&mu_);
    return received_;
  }
  int cuts_done() const { return cuts_done_.load(); }
  int resets() const { return resets_.load(); }

 private:
  void Run() {
    std::string cursor;
    size_t next_cut = 0;
    int total = 0;
    const absl::Time deadline = absl::Now() + absl::Seconds(240);
    while (total < expected_ && absl::Now() < deadline) {
      v1::SubscribeRequest request;
      for (const std::string& s : streams_) request.add_streams(s);
      request.set_cursor(cursor);
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(deadline));
      auto reader = mesh_.fanout_stub().Subscribe(&context, request);
      v1::SubscribeResponse response;
      bool cut = false;
      while (!cut && total < expected_ && reader->Read(&response)) {
        if (response.has_reset()) {
          ++resets_;
          ADD_FAILURE() << "unexpected reset: " << response.reset().DebugString();
        } else if (response.has_cursor()) {
          cursor = response.cursor();
          started_ = true;
        } else if (response.has_batch()) {
          absl::MutexLock lock(&mu_);
          for (const v1::Event& e : response.batch().events()) {
            received_[e.stream()].push_back(SeqOf(e.text()));
          }
          total += response.batch().events_size();
          cursor = response.batch().cursor();
          if (next_cut < cut_at_.size() && total >= cut_at_[next_cut]) {
            ++next_cut;
            ++cuts_done_;
            cut = true;
          }
        }
      }
      context.TryCancel();
      reader->Finish();
      if (!cut && total < expected_) {
        // The fanout went away: back off a little and resume.
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }

  Backbone& mesh_;
  const std::vector<std::string> streams_;
  const int expected_;
  std::mt19937 rng_;
  std::vector<int> cut_at_;
  std::thread thread_;
  std::atomic<bool> started_{false};
  std::atomic<int> cuts_done_{0};
  std::atomic<int> resets_{0};
  absl::Mutex mu_;
  std::map<std::string, std::vector<int>> received_ ABSL_GUARDED_BY(mu_);
};

void RunExactness(bool kill_fanout) {
  Backbone mesh;
  // Small rings, so that resumed subscribers often need Kafka replays.
  HERALD_ASSERT_OK(mesh.Start({.fanout_args = {"--ring_events=64", "--warm_events=500"}}));
  constexpr int kStreams = 50;
  constexpr int kPerStream = 400;  // 20,000 events
  std::vector<std::string> streams;
  for (int i = 0; i < kStreams; ++i) streams.push_back(absl::StrCat("exact/s", i));

  const uint32_t seed = std::random_device{}();
  std::mt19937 rng(seed);
  SCOPED_TRACE(absl::StrCat("seed ", seed));
  std::vector<std::unique_ptr<CuttingSubscriber>> subscribers;
  std::vector<std::vector<std::string>> follows;
  for (int i = 0; i < 10; ++i) {
    std::vector<std::string> mine = streams;
    std::shuffle(mine.begin(), mine.end(), rng);
    mine.resize(std::uniform_int_distribution<int>(5, 12)(rng));
    follows.push_back(mine);
    subscribers.push_back(std::make_unique<CuttingSubscriber>(
        mesh, mine, static_cast<int>(mine.size()) * kPerStream, 6, rng()));
  }
  for (auto& s : subscribers) s->Begin();

  // Publishing runs on its own thread; the kill and restart happen on this one
  // (children must be started from the test's main thread).
  std::atomic<int> acked_so_far{0};
  std::thread publisher([&] {
    mesh.PublishInterleaved(streams, kPerStream, [&](int acked) { acked_so_far.store(acked); });
  });
  bool killed = false;
  if (kill_fanout) {
    ASSERT_TRUE(WaitFor([&] { return acked_so_far.load() >= kStreams * kPerStream / 2; },
                        absl::Seconds(120)));
    mesh.fanout().Kill(SIGKILL);
    HERALD_ASSERT_OK(mesh.fanout().Wait(absl::Seconds(30)));
    absl::Status restarted = mesh.StartFanout();
    ASSERT_TRUE(restarted.ok()) << restarted;
    killed = true;
  }
  publisher.join();
  for (auto& s : subscribers) s->Join();

  for (size_t i = 0; i < subscribers.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("subscriber ", i));
    EXPECT_GE(subscribers[i]->cuts_done(), 5);
    EXPECT_EQ(subscribers[i]->resets(), 0);
    std::map<std::string, std::vector<int>> got = subscribers[i]->received();
    std::vector<int> expected(kPerStream);
    for (int n = 0; n < kPerStream; ++n) expected[n] = n;
    EXPECT_EQ(got.size(), follows[i].size()) << "streams it did not ask for, or missing ones";
    for (const std::string& s : follows[i]) {
      ASSERT_EQ(got[s], expected) << "stream " << s << ": loss, duplicate or disorder";
    }
  }
  EXPECT_EQ(killed, kill_fanout);
}

TEST(BackboneTest, ExactnessAcrossRandomCuts) { RunExactness(false); }

TEST(BackboneTest, ExactnessAcrossFanoutKill) { RunExactness(true); }

// Reads a subscription until `count` events arrived; returns the responses.
std::vector<v1::SubscribeResponse> Read(Backbone& mesh, v1::SubscribeRequest request, int count,
                                        absl::Duration timeout = absl::Seconds(60)) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  auto reader = mesh.fanout_stub().Subscribe(&context, request);
  std::vector<v1::SubscribeResponse> out;
  int events = 0;
  v1::SubscribeResponse response;
  while (events < count && reader->Read(&response)) {
    if (response.has_batch()) events += response.batch().events_size();
    out.push_back(response);
  }
  context.TryCancel();
  reader->Finish();
  return out;
}

std::vector<int64_t> EventOffsets(const std::vector<v1::SubscribeResponse>& responses) {
  std::vector<int64_t> out;
  for (const auto& r : responses) {
    for (const auto& e : r.batch().events()) out.push_back(e.position().offset());
  }
  return out;
}

TEST(BackboneTest, DeepReplayFromKafkaHandsOverToLiveExactly) {
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start({.partitions = 1, .fanout_args = {"--ring_events=20"}}));
  std::string cursor_after_9;
  for (int n = 0; n < 300; ++n) {
    absl::StatusOr<v1::PublishResponse> r = mesh.Publish("deep", "tick", TestPayload("deep", n));
    ASSERT_TRUE(r.ok()) << r.status();
    if (n == 9) cursor_after_9 = r->cursor();
  }
  // The ring holds the last 20; offsets 10..279 must come from Kafka.
  v1::SubscribeRequest request;
  request.add_streams("deep");
  request.set_cursor(cursor_after_9);
  request.set_max_batch_bytes(1024);  // small responses, as an edge asks for
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  auto reader = mesh.fanout_stub().Subscribe(&context, request);
  std::vector<int> seqs;
  bool published_live = false;
  v1::SubscribeResponse response;
  while (seqs.size() < 310 && reader->Read(&response)) {
    ASSERT_FALSE(response.has_reset()) << response.DebugString();
    size_t event_bytes = 0;
    for (const auto& e : response.batch().events()) event_bytes += e.ByteSizeLong();
    ASSERT_TRUE(response.batch().events_size() <= 1 || event_bytes <= 1024)
        << response.batch().events_size() << " events, " << event_bytes
        << " bytes: max_batch_bytes ignored";
    for (const auto& e : response.batch().events()) seqs.push_back(SeqOf(e.text()));
    if (!published_live && seqs.size() >= 290) {
      // Live events while the subscriber is at the hand-over point.
      published_live = true;
      for (int n = 300; n < 320; ++n)
        HERALD_ASSERT_OK(mesh.Publish("deep", "t", TestPayload("deep", n)));
    }
  }
  context.TryCancel();
  reader->Finish();
  std::vector<int> expected;
  for (int n = 10; n < 320 && expected.size() < seqs.size(); ++n) expected.push_back(n);
  EXPECT_EQ(seqs, expected);
  EXPECT_EQ(seqs.size(), 310u);
  EXPECT_GE(mesh.FanoutMetric("herald_fanout_replays_total"), 1);
}

TEST(BackboneTest, RewindReplaysTheLastEventsThenGoesLive) {
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start({.fanout_args = {"--ring_events=8"}}));
  for (int n = 0; n < 30; ++n) {
    HERALD_ASSERT_OK(mesh.Publish("rw/a", "t", TestPayload("rw/a", n)));
    if (n % 3 == 0) {
      HERALD_ASSERT_OK(mesh.Publish("rw/b", "t", TestPayload("rw/b", n / 3)));
    }
  }
  v1::SubscribeRequest request;
  request.add_streams("rw/a");
  request.add_streams("rw/b");
  request.set_rewind(12);  // more than the ring holds for rw/a: read back from Kafka
  std::vector<v1::SubscribeResponse> responses = Read(mesh, request, 22);
  std::map<std::string, std::vector<int>> got;
  for (const auto& r : responses) {
    for (const auto& e : r.batch().events()) got[e.stream()].push_back(SeqOf(e.text()));
  }
  std::vector<int> a, b;
  for (int n = 18; n < 30; ++n) a.push_back(n);
  for (int n = 0; n < 10; ++n) b.push_back(n);
  EXPECT_EQ(got["rw/a"], a);
  EXPECT_EQ(got["rw/b"], b);  // only 10 exist
}

TEST(BackboneTest, CursorOlderThanRetentionResetsToOldestRetained) {
  Backbone mesh;
  ASSERT_TRUE(mesh.Start({.partitions = 1,
                          .topic_configs = {{"segment.bytes", "2048"},
                                            {"retention.bytes", "4096"},
                                            {"file.delete.delay.ms", "0"}},
                          .fanout_args = {"--ring_events=5", "--warm_events=5"}})
                  .ok());
  const std::string padding(300, 'p');
  std::string first_cursor;
  for (int n = 0; n < 80; ++n) {
    absl::StatusOr<v1::PublishResponse> r =
        mesh.Publish("old", "t", absl::StrCat("{\"n\":", n, ",\"pad\":\"", padding, "\"}"));
    ASSERT_TRUE(r.ok()) << r.status();
    if (n == 0) first_cursor = r->cursor();
  }
  auto reader = broker::Reader::Create(
      {.client = {.bootstrap_servers = mesh.bootstrap()}, .topic = mesh.topic()});
  HERALD_ASSERT_OK(reader);
  int64_t low = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto w = (*reader)->QueryWatermarks(0, absl::Seconds(5));
        low = w.ok() ? w->low : 0;
        return low > 1;
      },
      absl::Seconds(60), absl::Milliseconds(200)));

  v1::SubscribeRequest request;
  request.add_streams("old");
  request.set_cursor(first_cursor);  // position 1: long deleted
  std::vector<v1::SubscribeResponse> responses = Read(mesh, request, 1);
  ASSERT_FALSE(responses.empty());
  ASSERT_TRUE(responses[0].has_reset()) << responses[0].DebugString();
  EXPECT_EQ(responses[0].reset().reason(), "retention");
  EXPECT_THAT(responses[0].reset().streams(), ::testing::ElementsAre("old"));
  std::vector<int64_t> offsets = EventOffsets(responses);
  ASSERT_FALSE(offsets.empty());
  // The oldest retained event, or a later one if retention moved meanwhile.
  EXPECT_GE(offsets[0], low);
  EXPECT_EQ(mesh.FanoutMetric("herald_fanout_resets_total{reason=\"retention\"}"), 1);
}

TEST(BackboneTest, CursorOfAnotherEpochOrMalformedResetsToLive) {
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start());
  absl::StatusOr<v1::PublishResponse> before = mesh.Publish("ep", "t", "1");
  HERALD_ASSERT_OK(before);
  absl::StatusOr<common::Cursor> cursor = common::DecodeCursor(before->cursor());
  HERALD_ASSERT_OK(cursor);
  common::Cursor other = *cursor;
  other.epoch = "0123456789ab";
  const int32_t p = cursor->next.begin()->first;
  common::Cursor ahead = *cursor;
  ahead.next[p] = 1'000'000;

  for (const auto& [text, reason] :
       std::vector<std::pair<std::string, std::string>>{{common::EncodeCursor(other), "epoch"},
                                                        {common::EncodeCursor(ahead), "epoch"},
                                                        {"1~zz~garbage", "malformed"},
                                                        {std::string(100, '~'), "malformed"}}) {
    SCOPED_TRACE(text);
    v1::SubscribeRequest request;
    request.add_streams("ep");
    request.set_cursor(text);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    auto reader = mesh.fanout_stub().Subscribe(&context, request);
    v1::SubscribeResponse first, second;
    ASSERT_TRUE(reader->Read(&first));
    ASSERT_TRUE(first.has_reset());
    EXPECT_EQ(first.reset().reason(), reason);
    ASSERT_TRUE(reader->Read(&second));
    ASSERT_TRUE(second.has_cursor());  // live: the event published before is not replayed
    HERALD_ASSERT_OK(mesh.Publish("ep", "t", "2"));
    v1::SubscribeResponse third;
    while (reader->Read(&third) && !third.has_batch()) {
    }
    ASSERT_EQ(third.batch().events_size(), 1);
    EXPECT_EQ(third.batch().events(0).text(), "2");
    context.TryCancel();
    reader->Finish();
  }
}

TEST(BackboneTest, RawRecordsFromKcatReachSubscribers) {
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start());
  v1::SubscribeRequest request;
  request.add_streams("raw/kcat");
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  auto reader = mesh.fanout_stub().Subscribe(&context, request);
  v1::SubscribeResponse response;
  ASSERT_TRUE(reader->Read(&response));  // the start cursor: subscribed
  const std::string command = absl::StrCat(
      "printf '%s\\n' '{\"cpu\":0.42}' | env -u LD_PRELOAD kcat -P -b ", mesh.bootstrap(), " -t ",
      mesh.topic(), " -k raw/kcat -H herald-type=sample -X partitioner=murmur2_random");
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  while (reader->Read(&response) && !response.has_batch()) {
  }
  ASSERT_EQ(response.batch().events_size(), 1);
  const v1::Event& e = response.batch().events(0);
  EXPECT_EQ(e.stream(), "raw/kcat");
  EXPECT_EQ(e.type(), "sample");
  EXPECT_EQ(e.text(), "{\"cpu\":0.42}");
  context.TryCancel();
  reader->Finish();
}

TEST(BackboneTest, BadInputGetsClearStatusesAndServicesKeepServing) {
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start({.publisher_args = {"--max_payload_bytes=1024"}}));
  struct Case {
    std::string stream, type, text, why;
  };
  for (const Case& c :
       {Case{"bad stream", "t", "x", "stream name"}, Case{"", "t", "x", "stream name is empty"},
        Case{std::string(201, 's'), "t", "x", "201 bytes"},
        Case{"ok", "", "x", "event type is empty"}, Case{"ok", "herald.reset", "x", "reserved"},
        Case{"ok", "t", std::string(2000, 'x'), "limit is 1024"}}) {
    absl::StatusOr<v1::PublishResponse> r = mesh.Publish(c.stream, c.type, c.text);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.why;
    EXPECT_THAT(r.status().message(), HasSubstr(c.why));
  }
  auto subscribe_status = [&](v1::SubscribeRequest request) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    auto reader = mesh.fanout_stub().Subscribe(&context, request);
    v1::SubscribeResponse response;
    while (reader->Read(&response)) context.TryCancel();
    return reader->Finish();
  };
  v1::SubscribeRequest none;
  EXPECT_EQ(subscribe_status(none).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::SubscribeRequest bad_name;
  bad_name.add_streams("a b");
  grpc::Status s = subscribe_status(bad_name);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("0x20 at offset 1"));
  v1::SubscribeRequest too_many;
  for (int i = 0; i < 65; ++i) too_many.add_streams(absl::StrCat("s", i));
  EXPECT_EQ(subscribe_status(too_many).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::SubscribeRequest big_rewind;
  big_rewind.add_streams("ok");
  big_rewind.set_rewind(1'000'000);
  EXPECT_THAT(subscribe_status(big_rewind).error_message(), HasSubstr("over the limit"));

  // Both still serve.
  ASSERT_TRUE(mesh.publisher().Running());
  ASSERT_TRUE(mesh.fanout().Running());
  v1::SubscribeRequest ok;
  ok.add_streams("ok");
  ok.set_rewind(1);
  HERALD_ASSERT_OK(mesh.Publish("ok", "t", "fine"));
  std::vector<v1::SubscribeResponse> responses = Read(mesh, ok, 1, absl::Seconds(30));
  ASSERT_EQ(EventOffsets(responses).size(), 1u);
}

}  // namespace
}  // namespace herald

namespace herald {
namespace {

TEST(BackboneAttachTest, WatchJoinEventsProgressAndUnwatch) {
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start({.partitions = 2}));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  auto stream = mesh.fanout_stub().Attach(&context);
  v1::AttachRequest watch;
  for (const char* s : {"at/a", "at/b"}) watch.mutable_watch()->add_streams()->set_stream(s);
  ASSERT_TRUE(stream->Write(watch));

  // stream -> partition -> join: one per candidate partition of the stream.
  std::map<std::string, std::map<int32_t, int64_t>> joined;
  std::vector<std::pair<std::string, int64_t>> events;
  std::map<int32_t, int64_t> progress;
  std::string epoch;
  auto read_until = [&](const std::function<bool()>& done) {
    v1::AttachResponse r;
    while (!done() && stream->Read(&r)) {
      if (!r.epoch().empty()) {
        epoch = r.epoch();
        EXPECT_EQ(r.partitions(), 2);
      }
      for (const auto& j : r.joined()) {
        EXPECT_TRUE(common::IsCandidate(j.stream(), j.partition(), 2));
        joined[j.stream()][j.partition()] = j.next_offset();
      }
      for (const auto& e : r.events()) {
        ASSERT_TRUE(joined[e.stream()].contains(e.position().partition()))
            << "event before its join";
        EXPECT_GE(e.position().offset(), joined[e.stream()][e.position().partition()]);
        events.emplace_back(e.stream(), e.position().offset());
      }
      for (const auto& p : r.progress()) progress[p.partition()] = p.next_offset();
    }
  };
  read_until([&] { return joined.size() == 2; });
  EXPECT_FALSE(epoch.empty());
  for (const auto& [name, partitions] : joined) {
    EXPECT_EQ(partitions.size(), common::CandidatePartitions(name, 2).size()) << name;
  }

  HERALD_ASSERT_OK(mesh.Publish("at/a", "t", "1"));
  HERALD_ASSERT_OK(mesh.Publish("at/b", "t", "2"));
  HERALD_ASSERT_OK(mesh.Publish("at/other", "t", "x"));
  read_until([&] { return events.size() == 2; });
  ASSERT_EQ(events.size(), 2u);

  // A stream watched later joins no earlier than where its partition is.
  v1::AttachRequest late;
  late.mutable_watch()->add_streams()->set_stream("at/c");
  ASSERT_TRUE(stream->Write(late));
  read_until([&] { return joined.contains("at/c"); });
  for (const auto& [partition, join] : joined["at/c"]) EXPECT_GE(join, 0);
  HERALD_ASSERT_OK(mesh.Publish("at/c", "t", "3"));
  read_until([&] { return events.size() == 3; });
  EXPECT_EQ(events.back().first, "at/c");

  // Unwatched streams stop; progress keeps moving past their events.
  v1::AttachRequest unwatch;
  unwatch.mutable_unwatch()->add_streams("at/a");
  ASSERT_TRUE(stream->Write(unwatch));
  absl::StatusOr<v1::PublishResponse> after_unwatch = mesh.Publish("at/a", "t", "gone");
  HERALD_ASSERT_OK(after_unwatch);
  HERALD_ASSERT_OK(mesh.Publish("at/b", "t", "4"));
  read_until([&] { return events.size() == 4; });
  EXPECT_EQ(events.back().first, "at/b");
  EXPECT_EQ(events.size(), 4u);

  // A position past the end of its partition (a cursor of a topic since
  // recreated) is reset with reason "epoch", as Subscribe does, and the
  // stream is followed from live there.
  v1::AttachRequest beyond;
  v1::StreamStart* far = beyond.mutable_watch()->add_streams();
  far->set_stream("at/d");
  const int32_t home = common::PartitionForKey("at/d", 2);
  (*far->mutable_next_offsets())[home] = 1'000'000;
  ASSERT_TRUE(stream->Write(beyond));
  std::vector<v1::Reset> resets;
  {
    v1::AttachResponse r;
    while ((resets.empty() || !joined.contains("at/d")) && stream->Read(&r)) {
      for (const auto& reset : r.resets()) resets.push_back(reset);
      for (const auto& j : r.joined()) joined[j.stream()][j.partition()] = j.next_offset();
    }
  }
  ASSERT_EQ(resets.size(), 1u);
  EXPECT_EQ(resets[0].reason(), "epoch");
  ASSERT_EQ(resets[0].streams_size(), 1);
  EXPECT_EQ(resets[0].streams(0), "at/d");
  EXPECT_LT(joined["at/d"][home], 1'000'000);

  // A position in a partition where the stream cannot be ends the call
  // with a clear status (after what came before, which is checked above).
  v1::AttachRequest wrong;
  v1::StreamStart* bad = wrong.mutable_watch()->add_streams();
  bad->set_stream("at/e");
  (*bad->mutable_next_offsets())[7] = 0;
  ASSERT_TRUE(stream->Write(wrong));
  v1::AttachResponse r;
  while (stream->Read(&r)) {
  }
  grpc::Status refused = stream->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(refused.error_message(), HasSubstr("has no records in partition 7 of 2"));
}

TEST(BackboneAttachTest, WritesDoneEndsTheCallCleanly) {
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start({.partitions = 2}));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  auto stream = mesh.fanout_stub().Attach(&context);
  v1::AttachRequest watch;
  watch.mutable_watch()->add_streams()->set_stream("at/a");
  ASSERT_TRUE(stream->Write(watch));
  stream->WritesDone();
  v1::AttachResponse rest;
  while (stream->Read(&rest)) {
    for (const auto& e : rest.events()) ADD_FAILURE() << "late event " << e.stream();
  }
  HERALD_EXPECT_OK(stream->Finish());
}

}  // namespace
}  // namespace herald
