#include "watch_table.h"

#include <map>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "herald/common/partitioner.h"

namespace herald::edge {
namespace {

using Member = WatchTable::Member;

// What `known` reported: (member, partition) -> hand-over point.
class Handovers {
 public:
  // A callable for one call's Known (which refers to it, not copies it).
  auto Record() {
    return [this](Member& m, int32_t partition, int64_t handover) {
      auto [it, first] = seen_.try_emplace({&m, partition}, handover);
      EXPECT_TRUE(first) << "a hand-over point is reported once";
    };
  }
  std::optional<int64_t> Of(const Member& m, int32_t partition) const {
    auto it = seen_.find({&m, partition});
    if (it == seen_.end()) return std::nullopt;
    return it->second;
  }
  size_t size() const { return seen_.size(); }

 private:
  std::map<std::pair<const Member*, int32_t>, int64_t> seen_;
};

v1::StreamJoined Joined(const std::string& stream, int32_t partition, int64_t next) {
  v1::StreamJoined j;
  j.set_stream(stream);
  j.set_partition(partition);
  j.set_next_offset(next);
  return j;
}

std::vector<std::string> Names(const v1::Unwatch& unwatch) {
  return {unwatch.streams().begin(), unwatch.streams().end()};
}

// One partition unless a test says otherwise: every stream's one candidate
// is partition 0.
class WatchTableTest : public ::testing::Test {
 protected:
  void SetUp() override { table.SetPartitions(1); }

  WatchTable table;
  Handovers known;
};

TEST_F(WatchTableTest, TheFirstMemberWatchesAndWaitsForTheJoin) {
  Member a;
  v1::Watch watch;
  table.Add(a, {"s"}, watch, known.Record());
  ASSERT_EQ(watch.streams_size(), 1);
  EXPECT_EQ(watch.streams(0).stream(), "s");
  EXPECT_TRUE(watch.streams(0).next_offsets().empty()) << "nothing watched yet: from live";
  EXPECT_EQ(known.size(), 0u);

  table.Joined(Joined("s", 0, 40), known.Record());
  EXPECT_EQ(known.Of(a, 0), 40);
  EXPECT_TRUE(a.Settled()) << "a settled member holds nothing";
  ASSERT_NE(table.MembersOf("s"), nullptr);
  EXPECT_EQ(*table.MembersOf("s"), WatchTable::Members{&a});
}

TEST_F(WatchTableTest, ALaterMemberHandsOverAtTheFeedOrTheJoinWhicheverIsLater) {
  Member a, b, c;
  v1::Watch watch;
  table.Add(a, {"s"}, watch, known.Record());
  table.Joined(Joined("s", 0, 40), known.Record());
  // The feed is still below the join (events of other streams before it).
  table.Advance(0, 35);
  v1::Watch none;
  table.Add(b, {"s"}, none, known.Record());
  EXPECT_EQ(none.streams_size(), 0) << "a watched stream is not watched twice";
  EXPECT_EQ(known.Of(b, 0), 40);
  // Past the join: the feed position.
  table.Advance(0, 90);
  table.Add(c, {"s"}, none, known.Record());
  EXPECT_EQ(known.Of(c, 0), 90);
  EXPECT_EQ(table.MembersOf("s")->size(), 3u);
}

TEST_F(WatchTableTest, TwoStreamsInOnePartitionHandOverOnlyOnceBothHaveJoined) {
  Member a;
  v1::Watch watch;
  table.Add(a, {"x", "y"}, watch, known.Record());
  EXPECT_EQ(watch.streams_size(), 2);
  table.Joined(Joined("y", 0, 70), known.Record());
  EXPECT_EQ(known.Of(a, 0), std::nullopt) << "x's join is still to come";
  table.Joined(Joined("x", 0, 50), known.Record());
  EXPECT_EQ(known.Of(a, 0), 70) << "the later of the two joins";
  // A repeated acknowledgement changes nothing and reports nothing again.
  table.Joined(Joined("x", 0, 55), known.Record());
  EXPECT_EQ(known.size(), 1u);
}

TEST_F(WatchTableTest, ANewStreamContinuesFromTheFeedWhereItIsCurrent) {
  Member a, b;
  v1::Watch first;
  table.Add(a, {"s"}, first, known.Record());
  table.Joined(Joined("s", 0, 10), known.Record());
  table.Advance(0, 25);
  v1::Watch second;
  table.Add(b, {"t"}, second, known.Record());
  ASSERT_EQ(second.streams_size(), 1);
  EXPECT_EQ(second.streams(0).next_offsets().at(0), 25);
  EXPECT_EQ(second.streams(0).next_offset(), 25) << "the field older fanouts read";

  // Nobody watches anything any more: the feed goes stale and a new watch
  // starts from live (a resuming browser catches up on its own call).
  v1::Unwatch unwatch;
  table.Remove(a, {"s"}, unwatch);
  table.Remove(b, {"t"}, unwatch);
  EXPECT_EQ(Names(unwatch), (std::vector<std::string>{"s", "t"}));
  Member c;
  v1::Watch third;
  table.Add(c, {"u"}, third, known.Record());
  ASSERT_EQ(third.streams_size(), 1);
  EXPECT_TRUE(third.streams(0).next_offsets().empty());
}

TEST_F(WatchTableTest, OnlyTheLastMemberUnwatches) {
  Member a, b;
  v1::Watch watch;
  table.Add(a, {"s", "t"}, watch, known.Record());
  table.Add(b, {"s"}, watch, known.Record());
  v1::Unwatch unwatch;
  table.Remove(a, {"s", "t"}, unwatch);
  EXPECT_EQ(Names(unwatch), std::vector<std::string>{"t"});
  EXPECT_EQ(*table.MembersOf("s"), WatchTable::Members{&b});
  EXPECT_EQ(table.MembersOf("t"), nullptr);
  table.Remove(b, {"s"}, unwatch);
  EXPECT_EQ(table.StreamCount(), 0u);
}

TEST_F(WatchTableTest, AnAcknowledgementOfAnUnwatchedStreamIsNotTakenForANewerWatch) {
  Member a, b;
  v1::Watch watch;
  v1::Unwatch unwatch;
  table.Add(a, {"s"}, watch, known.Record());
  table.Remove(a, {"s"}, unwatch);  // before its join came
  table.Add(b, {"s"}, watch, known.Record());
  EXPECT_EQ(watch.streams_size(), 2) << "watched again";
  table.Joined(Joined("s", 0, 10), known.Record());  // the first watch's
  EXPECT_EQ(known.Of(b, 0), std::nullopt);
  table.Joined(Joined("s", 0, 30), known.Record());  // the second's
  EXPECT_EQ(known.Of(b, 0), 30);
}

TEST_F(WatchTableTest, ANewSessionExpectsNoAcknowledgementOfTheOldOne) {
  Member a, b;
  v1::Watch watch;
  v1::Unwatch unwatch;
  table.Add(a, {"s"}, watch, known.Record());
  table.Remove(a, {"s"}, unwatch);
  table.NewSession();  // the old session's acknowledgement never comes
  table.Add(b, {"s"}, watch, known.Record());
  table.Joined(Joined("s", 0, 12), known.Record());
  EXPECT_EQ(known.Of(b, 0), 12);
}

TEST_F(WatchTableTest, RewatchContinuesEveryStreamFromTheFeed) {
  table.SetPartitions(6);
  Member a;
  v1::Watch watch;
  table.Add(a, {"orders.eu", "orders.us"}, watch, known.Record());
  for (const std::string s : {"orders.eu", "orders.us"}) {
    for (int32_t p : common::CandidatePartitions(s, 6)) {
      table.Joined(Joined(s, p, 100 + p), known.Record());
      table.Advance(p, 200 + p);
    }
  }
  v1::Watch again;
  table.Rewatch(again);
  ASSERT_EQ(again.streams_size(), 2);
  for (const v1::StreamStart& start : again.streams()) {
    const std::vector<int32_t> candidates = common::CandidatePartitions(start.stream(), 6);
    ASSERT_EQ(start.next_offsets().size(), candidates.size()) << start.stream();
    for (int32_t p : candidates) EXPECT_EQ(start.next_offsets().at(p), 200 + p);
    const int32_t home = common::PartitionForKey(start.stream(), 6);
    EXPECT_EQ(start.next_offset(), 200 + home);
  }
}

TEST_F(WatchTableTest, EveryCandidatePartitionHandsOverOnItsOwn) {
  table.SetPartitions(6);
  // A stream whose placements differ: more than one candidate partition.
  std::string stream;
  for (int i = 0; stream.empty(); ++i) {
    const std::string name = "stream-" + std::to_string(i);
    if (common::CandidatePartitions(name, 6).size() >= 2) stream = name;
  }
  const std::vector<int32_t> candidates = common::CandidatePartitions(stream, 6);
  Member a;
  v1::Watch watch;
  table.Add(a, {stream}, watch, known.Record());
  table.Joined(Joined(stream, candidates[0], 7), known.Record());
  EXPECT_EQ(known.Of(a, candidates[0]), 7);
  EXPECT_EQ(known.Of(a, candidates[1]), std::nullopt);
  EXPECT_FALSE(a.Settled()) << "still waiting: the bookkeeping stays";
  for (size_t i = 1; i < candidates.size(); ++i) {
    table.Joined(Joined(stream, candidates[i], 9), known.Record());
  }
  EXPECT_EQ(known.Of(a, candidates.back()), 9);
  EXPECT_TRUE(a.Settled());
}

TEST_F(WatchTableTest, AnotherPartitionCountForgetsJoinsAndIgnoresSettledMembers) {
  Member a;
  v1::Watch watch;
  table.Add(a, {"s"}, watch, known.Record());
  table.Joined(Joined("s", 0, 5), known.Record());
  EXPECT_FALSE(table.SetPartitions(1));
  EXPECT_TRUE(table.SetPartitions(4));
  // The stream is watched again on the new layout; its joins are new, and a
  // member settled on the old one (closing) gets no second hand-over.
  v1::Watch again;
  table.Rewatch(again);
  ASSERT_EQ(again.streams_size(), 1);
  for (int32_t p : common::CandidatePartitions("s", 4)) {
    table.Joined(Joined("s", p, 1), known.Record());
  }
  EXPECT_EQ(known.size(), 1u);
  EXPECT_TRUE(a.Settled()) << "no bookkeeping left behind";
}

}  // namespace
}  // namespace herald::edge
