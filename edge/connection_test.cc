#include "connection.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "herald/common/cursor.h"
#include "herald/common/partitioner.h"
#include "sse.h"

namespace herald::edge {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Sink {
  std::string bytes;
  bool closed = false;
  size_t limit = SIZE_MAX;
  std::vector<const SharedBlock*> shared;  // blocks written as shared
};

class FakeWriter final : public SseWriter {
 public:
  explicit FakeWriter(Sink* sink) : sink_(sink) {}
  bool Write(std::string bytes) override {
    if (sink_->closed) return false;
    sink_->bytes += bytes;
    if (sink_->bytes.size() > sink_->limit) sink_->closed = true;
    return !sink_->closed;
  }
  bool WriteShared(const std::shared_ptr<const SharedBlock>& block) override {
    sink_->shared.push_back(block.get());
    return Write(std::string(block->sse()));
  }
  void Close() override { sink_->closed = true; }
  void WhenDrained(std::function<void()> fn) override { fn(); }

 private:
  Sink* sink_;
};

// A stream whose records all partitioners put in one partition of 4 (not
// `other_than`): the tests below follow one position per stream.
std::string Single(const std::string& prefix, int32_t* partition, int32_t other_than = -1) {
  for (int i = 0;; ++i) {
    const std::string name = prefix + std::to_string(i);
    const std::vector<int32_t> c = common::CandidatePartitions(name, 4);
    if (c.size() == 1 && c[0] != other_than) {
      *partition = c[0];
      return name;
    }
  }
}

// Two such streams in the same partition.
std::pair<std::string, std::string> SamePartition(int32_t* partition) {
  const std::string a = Single("s", partition);
  for (int i = 0;; ++i) {
    int32_t p;
    const std::string b = Single("t" + std::to_string(i) + "_", &p);
    if (p == *partition) return {a, b};
  }
}

SharedEvent Shared(const std::string& stream, int32_t p, int64_t o) {
  return {
      stream, p, o,
      std::make_shared<const std::string>(RenderEventBody("t", stream + "@" + std::to_string(o)))};
}

// The data lines the browser would see, in order.
std::vector<std::string> Datas(const std::string& bytes) {
  std::vector<std::string> out;
  size_t at = 0;
  while ((at = bytes.find("data: ", at)) != std::string::npos) {
    const size_t end = bytes.find('\n', at);
    out.push_back(bytes.substr(at + 6, end - at - 6));
    at = end;
  }
  return out;
}

v1::EventBatch Private(const std::string& stream, int32_t p, std::vector<int64_t> offsets,
                       int64_t next) {
  v1::EventBatch batch;
  for (int64_t o : offsets) {
    v1::Event* e = batch.add_events();
    e->set_stream(stream);
    e->set_type("t");
    e->set_text(stream + "@" + std::to_string(o));
    e->mutable_position()->set_partition(p);
    e->mutable_position()->set_offset(o);
  }
  batch.set_cursor(common::EncodeCursor({.epoch = "e", .next = {{p, next}}}));
  return batch;
}

TEST(ConnectionTest, FreshLiveStartsAtTheJoinAndSendsHeldEvents) {
  int32_t p;
  auto [a, b] = SamePartition(&p);
  Sink sink;
  Connection c("e", {a, b}, 4, std::make_unique<FakeWriter>(&sink), {.retry_ms = 1000});
  c.OnShared(Shared(a, p, 8));  // before the join: not ours to send
  c.OnShared(Shared(a, p, 10));
  c.OnShared(Shared("other", p, 11));
  c.OnShared(Shared(b, p, 12));
  EXPECT_FALSE(c.Started());
  c.SetJoin(p, 10);
  c.SetPosition(p, 10);
  ASSERT_TRUE(c.Started());
  EXPECT_THAT(Datas(sink.bytes), ElementsAre(a + "@10", b + "@12"));
  EXPECT_EQ(sink.bytes.substr(0, sink.bytes.find("\n\n", 14) + 2),
            "retry: 1000\n\nid: 1~e~" + std::to_string(p) + ".10\n\n");
  c.OnShared(Shared(a, p, 14));
  EXPECT_EQ(c.Cursor(), "1~e~" + std::to_string(p) + ".15");
  c.OnProgress(p, 20);
  EXPECT_EQ(c.Cursor(), "1~e~" + std::to_string(p) + ".20");
  EXPECT_FALSE(c.CatchingUp());
}

// An event with the feed's position after it in each of 4 partitions.
SharedEvent AtFeed(const std::string& stream, int32_t p, int64_t o, std::map<int32_t, int64_t> feed,
                   std::string epoch = "e") {
  SharedEvent e = Shared(stream, p, o);
  auto snapshot = std::make_shared<FeedSnapshot>();
  snapshot->epoch = std::move(epoch);
  snapshot->next.assign(4, -1);
  for (const auto& [q, next] : feed) snapshot->next[static_cast<size_t>(q)] = next;
  e.feed = std::move(snapshot);
  return e;
}

TEST(ConnectionTest, LiveConnectionsAtTheFeedSendOneSharedBlock) {
  int32_t pa, pb;
  const std::string a = Single("a", &pa);
  const std::string b = Single("b", &pb, pa);
  Sink s1, s2, s3;
  Connection c1("e", {a, b}, 4, std::make_unique<FakeWriter>(&s1));
  Connection c2("e", {b, a}, 4, std::make_unique<FakeWriter>(&s2));
  Connection c3("e", {a, b}, 4, std::make_unique<FakeWriter>(&s3));
  for (Connection* c : {&c1, &c2, &c3}) {
    c->SetJoin(pa, 10);
    c->SetJoin(pb, 20);
    c->SetPosition(pa, 10);
  }
  c1.SetPosition(pb, 20);
  c2.SetPosition(pb, 20);
  c3.SetPosition(pb, 25);  // resumed ahead of the feed there
  ASSERT_FALSE(c3.CatchingUp());

  BlockCache cache;
  const SharedEvent e10 = AtFeed(a, pa, 10, {{pa, 11}, {pb, 20}});
  for (Connection* c : {&c1, &c2, &c3}) c->OnShared(e10, &cache);
  // c1 and c2 send the same block; c3's cursor differs, so it renders its own.
  ASSERT_EQ(s1.shared.size(), 1u);
  ASSERT_EQ(s2.shared.size(), 1u);
  EXPECT_EQ(s1.shared[0], s2.shared[0]);
  EXPECT_TRUE(s3.shared.empty());
  auto cursor = [&](int64_t oa, int64_t ob) {
    return pa < pb ? absl::StrCat("1~e~", pa, ".", oa, "~", pb, ".", ob)
                   : absl::StrCat("1~e~", pb, ".", ob, "~", pa, ".", oa);
  };
  EXPECT_EQ(s1.shared[0]->id, cursor(11, 20));
  EXPECT_THAT(s1.bytes, HasSubstr("id: " + cursor(11, 20) + "\nevent: t\ndata: " + a + "@10\n\n"));
  EXPECT_EQ(c3.Cursor(), cursor(11, 25));
  EXPECT_THAT(s3.bytes, HasSubstr("id: " + cursor(11, 25) + "\n"));

  // The feed moved on in b's partition (progress): the block's cursor says so.
  BlockCache next;
  const SharedEvent e11 = AtFeed(a, pa, 11, {{pa, 12}, {pb, 30}});
  for (Connection* c : {&c1, &c2, &c3}) c->OnShared(e11, &next);
  EXPECT_EQ(s1.shared.back()->id, cursor(12, 30));
  EXPECT_EQ(s2.shared.back(), s1.shared.back());
  ASSERT_EQ(s3.shared.size(), 1u);  // c3 is at the feed now and joins the group
  EXPECT_EQ(s3.shared.back(), s1.shared.back());
  for (Sink* s : {&s1, &s2, &s3}) {
    EXPECT_THAT(Datas(s->bytes), ElementsAre(a + "@10", a + "@11"));
  }
  // Another epoch's snapshot never shares.
  BlockCache third;
  c1.OnShared(AtFeed(a, pa, 12, {{pa, 13}, {pb, 30}}, "f"), &third);
  EXPECT_EQ(s1.shared.size(), 2u);
  EXPECT_EQ(c1.Cursor(), cursor(13, 30));
}

TEST(ConnectionTest, HeartbeatsOnlyWhenIdleAndCarryTheMovedCursor) {
  Sink sink;
  int32_t p;
  const std::string s = Single("s", &p);
  Connection c("e", {s}, 4, std::make_unique<FakeWriter>(&sink));
  const absl::Time opened = absl::Now();
  c.SetJoin(p, 3);
  c.SetPosition(p, 3);
  c.OnShared(Shared(s, p, 4));
  const size_t before = sink.bytes.size();
  c.Heartbeat(opened);  // an event went out after `opened`: no heartbeat needed
  EXPECT_EQ(sink.bytes.size(), before);
  c.OnProgress(p, 9);
  c.Heartbeat(absl::InfiniteFuture());  // idle: a comment, and the cursor moved by progress
  EXPECT_EQ(sink.bytes.substr(before), ": hb\n\nid: 1~e~" + std::to_string(p) + ".9\n\n");
  const size_t after_first = sink.bytes.size();
  c.Heartbeat(opened);  // the heartbeat was a write: none due yet
  EXPECT_EQ(sink.bytes.size(), after_first);
  c.Heartbeat(absl::InfiniteFuture());  // due again: a comment alone, the cursor has not moved
  EXPECT_EQ(sink.bytes.substr(after_first), ": hb\n\n");
}

TEST(ConnectionTest, CatchUpHandsOverWithoutGapOrDuplicate) {
  int32_t p;
  auto [a, b] = SamePartition(&p);
  Sink sink;
  Connection c("e", {a, b}, 4, std::make_unique<FakeWriter>(&sink));
  c.SetPosition(p, 5);  // the browser's cursor
  c.SetJoin(p, 10);     // the shared feed is exact from 10
  EXPECT_TRUE(c.CatchingUp());
  c.OnShared(Shared(a, p, 10));
  c.OnShared(Shared(b, p, 12));
  c.OnShared(Shared(a, p, 15));
  c.OnPrivateEvents(Private(a, p, {5, 7}, 9));
  EXPECT_TRUE(c.CatchingUp());
  c.OnPrivateEvents(Private(a, p, {10}, 11));  // reaches the join: held events from 11 go out
  EXPECT_FALSE(c.CatchingUp());
  c.OnPrivateEvents(Private(b, p, {12}, 13));  // late private events are ignored once live
  c.OnShared(Shared(b, p, 16));
  EXPECT_THAT(Datas(sink.bytes),
              ElementsAre(a + "@5", a + "@7", a + "@10", b + "@12", a + "@15", b + "@16"));
}

TEST(ConnectionTest, TooMuchHeldAtTheHandOverKeepsTheCatchUpGoing) {
  Sink sink;
  int32_t p;
  const std::string s = Single("s", &p);
  Connection c("e", {s}, 4, std::make_unique<FakeWriter>(&sink),
               {.max_handover_bytes = Shared(s, p, 10).body->size() * 2});
  c.SetPosition(p, 5);
  c.SetJoin(p, 10);
  for (int64_t o = 10; o < 15; ++o) c.OnShared(Shared(s, p, o));
  // At the join, 5 held events are more than the hand-over allows.
  c.OnPrivateEvents(Private(s, p, {5, 6, 7, 8, 9}, 10));
  EXPECT_TRUE(c.CatchingUp());
  c.OnPrivateEvents(Private(s, p, {10, 11, 12, 13}, 14));
  EXPECT_FALSE(c.CatchingUp());  // one held event left: it goes out, then live
  c.OnShared(Shared(s, p, 15));
  std::vector<std::string> expected;
  for (int o = 5; o <= 15; ++o) expected.push_back(s + "@" + std::to_string(o));
  EXPECT_EQ(Datas(sink.bytes), expected);
}

TEST(ConnectionTest, ResumeAtOrPastTheJoinIsLiveAtOnce) {
  int32_t p;
  auto [a, b] = SamePartition(&p);
  Sink sink;
  Connection c("e", {a}, 4, std::make_unique<FakeWriter>(&sink));
  c.OnShared(Shared(a, p, 10));
  c.OnShared(Shared(a, p, 11));
  c.SetJoin(p, 9);
  c.SetPosition(p, 11);
  EXPECT_FALSE(c.CatchingUp());
  EXPECT_THAT(Datas(sink.bytes), ElementsAre(a + "@11"));
}

TEST(ConnectionTest, APartitionReadyBeforeTheStartBlockGoesLiveWithIt) {
  // Two streams in different partitions; the first partition's join and
  // position are known before the second's.
  int32_t pa, pb;
  const std::string a = Single("a", &pa);
  const std::string b = Single("b", &pb, pa);
  Sink sink;
  Connection c("e", {a, b}, 4, std::make_unique<FakeWriter>(&sink));
  c.SetJoin(pa, 4);
  c.SetPosition(pa, 4);
  c.OnShared(Shared(a, pa, 4));
  EXPECT_TRUE(sink.bytes.empty());  // no start block yet: pb is unknown
  c.SetJoin(pb, 7);
  c.SetPosition(pb, 7);
  c.OnShared(Shared(a, pa, 5));
  c.OnShared(Shared(b, pb, 7));
  EXPECT_FALSE(c.CatchingUp());
  EXPECT_THAT(Datas(sink.bytes), ElementsAre(a + "@4", a + "@5", b + "@7"));
}

TEST(ConnectionTest, HoldingTooMuchClosesTheConnection) {
  int32_t p;
  auto [a, b] = SamePartition(&p);
  Sink sink;
  Connection c("e", {a}, 4, std::make_unique<FakeWriter>(&sink), {.max_held_events = 2});
  c.OnShared(Shared(a, p, 1));
  c.OnShared(Shared(a, p, 2));
  EXPECT_FALSE(c.Closed());
  c.OnShared(Shared(a, p, 3));
  EXPECT_TRUE(c.Closed());
  EXPECT_TRUE(sink.closed);
}

TEST(ConnectionTest, ResetIsAnEventWithJsonDataAfterTheStartBlock) {
  Sink sink;
  int32_t p;
  const std::string a = Single("a", &p);
  Connection c("e", {a}, 4, std::make_unique<FakeWriter>(&sink), {.retry_ms = 500});
  v1::Reset r;
  r.add_streams(a);
  r.set_reason("epoch");
  r.set_detail("gone");
  c.OnReset(r);
  EXPECT_EQ(sink.bytes, "");
  c.SetPosition(p, 3);
  EXPECT_EQ(sink.bytes, "retry: 500\n\nid: 1~e~" + std::to_string(p) +
                            ".3\n\nevent: herald.reset\ndata: {\"streams\":[\"" + a +
                            "\"],\"reason\":"
                            "\"epoch\",\"detail\":\"gone\"}\n\n");
}

TEST(ConnectionTest, AStreamInThreePartitionsHasAPositionInEach) {
  // Records of one stream from producers with different partitioners: each
  // partition is followed, and the cursor names all three.
  std::string s;
  for (int i = 0; s.empty(); ++i) {
    const std::string name = "m" + std::to_string(i);
    if (common::CandidatePartitions(name, 4).size() == 3) s = name;
  }
  const std::vector<int32_t> ps = common::CandidatePartitions(s, 4);
  Sink sink;
  Connection c("e", {s}, 4, std::make_unique<FakeWriter>(&sink));
  EXPECT_EQ(c.Partitions(), ps);
  for (int32_t p : ps) EXPECT_THAT(c.StreamsIn(p), ElementsAre(s));
  c.SetJoin(ps[0], 5);
  c.SetPosition(ps[0], 5);
  c.SetJoin(ps[1], 7);
  c.SetPosition(ps[1], 7);
  EXPECT_FALSE(c.Started());  // the third partition's start is not known yet
  c.SetJoin(ps[2], 20);
  c.SetPosition(ps[2], 2);  // a cursor behind the join there: catch up
  ASSERT_TRUE(c.Started());
  c.OnShared(Shared(s, ps[0], 5));
  c.OnShared(Shared(s, ps[2], 21));  // held until the catch-up reaches 20
  c.OnShared(Shared(s, ps[1], 9));
  c.OnPrivateEvents(Private(s, ps[2], {3, 19}, 20));
  EXPECT_FALSE(c.CatchingUp());
  EXPECT_THAT(Datas(sink.bytes), ElementsAre(s + "@5", s + "@9", s + "@3", s + "@19", s + "@21"));
  EXPECT_EQ(c.Cursor(), absl::StrCat("1~e~", ps[0], ".6~", ps[1], ".10~", ps[2], ".22"));
}

}  // namespace
}  // namespace herald::edge
