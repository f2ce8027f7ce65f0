#include "event_store.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace herald::fanout {
namespace {

EventPtr Ev(const std::string& stream, int64_t offset, int32_t partition = 0) {
  auto e = std::make_shared<v1::Event>();
  e->set_stream(stream);
  e->set_type("t");
  e->set_text("x");
  e->mutable_position()->set_partition(partition);
  e->mutable_position()->set_offset(offset);
  return e;
}

std::vector<int64_t> Offsets(const EventStore::Collected& c) {
  std::vector<int64_t> out;
  for (const EventPtr& e : c.events) out.push_back(e->position().offset());
  return out;
}

using ::testing::ElementsAre;

TEST(EventStoreTest, CollectsMergedInOffsetOrderAndMovesToTail) {
  EventStore store(1, {});
  store.Begin(0, 100);
  store.Ingest(0, {Ev("a", 100), Ev("b", 101), Ev("c", 102), Ev("a", 104)}, 106);
  auto c = store.Collect(0, {"a", "b"}, 100, 10);
  ASSERT_TRUE(c.has_value());
  EXPECT_THAT(Offsets(*c), ElementsAre(100, 101, 104));
  EXPECT_EQ(c->next, 106);  // past records of other streams and skipped ones

  c = store.Collect(0, {"a", "b"}, 102, 10);
  EXPECT_THAT(Offsets(*c), ElementsAre(104));
}

TEST(EventStoreTest, MaxStopsAfterTheLastReturnedEvent) {
  EventStore store(1, {});
  store.Begin(0, 0);
  store.Ingest(0, {Ev("a", 0), Ev("a", 1), Ev("a", 2)}, 3);
  auto c = store.Collect(0, {"a"}, 0, 2);
  EXPECT_THAT(Offsets(*c), ElementsAre(0, 1));
  EXPECT_EQ(c->next, 2);
}

TEST(EventStoreTest, ZeroMaxOnlyAnswersCoverage) {
  EventStore store(1, {});
  store.Begin(0, 0);
  store.Ingest(0, {Ev("a", 0)}, 1);
  auto c = store.Collect(0, {"a"}, 0, 0);
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->events.empty());
  EXPECT_EQ(c->next, 0);
}

TEST(EventStoreTest, BeforeTheStartIsNotCovered) {
  EventStore store(1, {});
  store.Begin(0, 50);
  store.Ingest(0, {Ev("a", 50)}, 51);
  EXPECT_FALSE(store.Collect(0, {"a"}, 49, 10).has_value());
  EXPECT_FALSE(store.Collect(0, {"never-seen"}, 49, 10).has_value());
  EXPECT_TRUE(store.Collect(0, {"never-seen"}, 50, 10).has_value());
}

TEST(EventStoreTest, EvictionMovesCoverageExactly) {
  EventStore store(1, {.ring_events = 2});
  store.Begin(0, 0);
  store.Ingest(0, {Ev("a", 0), Ev("b", 1), Ev("a", 2), Ev("a", 3)}, 4);
  EXPECT_EQ(store.Coverage(0, "a"), 1);  // event 0 evicted
  EXPECT_EQ(store.Coverage(0, "b"), 0);
  EXPECT_FALSE(store.Collect(0, {"a"}, 0, 10).has_value());
  auto c = store.Collect(0, {"a"}, 1, 10);
  ASSERT_TRUE(c.has_value());
  EXPECT_THAT(Offsets(*c), ElementsAre(2, 3));
  // A group is covered only if every stream is.
  EXPECT_FALSE(store.Collect(0, {"a", "b"}, 0, 10).has_value());
}

TEST(EventStoreTest, ByteBoundEvictsButKeepsTheNewest) {
  EventStore store(1, {.ring_bytes = 1});
  store.Begin(0, 0);
  store.Ingest(0, {Ev("a", 0), Ev("a", 1)}, 2);
  EXPECT_EQ(store.Coverage(0, "a"), 1);
  EXPECT_THAT(Offsets(*store.Collect(0, {"a"}, 1, 10)), ElementsAre(1));
}

TEST(EventStoreTest, DroppedRingsRaiseTheFloorForRinglessStreams) {
  EventStore store(1, {.max_streams = 2});
  store.Begin(0, 0);
  store.Ingest(0, {Ev("a", 0), Ev("b", 1)}, 2);
  store.Ingest(0, {Ev("c", 2)}, 3);  // drops "a", the least recently written
  EXPECT_EQ(store.GetStats().streams, 2u);
  EXPECT_EQ(store.GetStats().dropped_rings, 1u);
  EXPECT_EQ(store.Coverage(0, "a"), 3);
  EXPECT_EQ(store.Coverage(0, "zzz"), 3);
  EXPECT_EQ(store.Coverage(0, "b"), 0);
  EXPECT_FALSE(store.Collect(0, {"a"}, 0, 10).has_value());
}

TEST(EventStoreTest, ForwardJumpLeavesNoClaimOnTheHole) {
  EventStore store(1, {});
  store.Begin(0, 0);
  store.Ingest(0, {Ev("a", 0)}, 1);
  store.Begin(0, 500);  // records 1..499 were never ingested
  EXPECT_EQ(store.Tail(0), 500);
  EXPECT_FALSE(store.Collect(0, {"a"}, 1, 10).has_value());
  EXPECT_TRUE(store.Collect(0, {"a"}, 500, 10).has_value());
}

TEST(EventStoreTest, RewindStartFromRingOrFullCoverage) {
  EventStore store(1, {.ring_events = 3});
  store.Begin(0, 10);
  store.Ingest(0, {Ev("a", 10), Ev("a", 11), Ev("a", 12), Ev("a", 13)}, 14);
  EXPECT_EQ(store.RewindStart(0, "a", 2, 0), 12);
  EXPECT_EQ(store.RewindStart(0, "a", 3, 0), 11);
  EXPECT_EQ(store.RewindStart(0, "a", 4, 0), std::nullopt);  // needs Kafka
  EXPECT_EQ(store.RewindStart(0, "a", 4, 11), 11);           // everything retained is here
  EXPECT_EQ(store.RewindStart(0, "b", 5, 10), 10);
  EXPECT_EQ(store.RewindStart(0, "a", 0, 0), 14);
}

TEST(EventStoreTest, CollectHonoursPerStreamLowerBounds) {
  EventStore store(1, {});
  store.Begin(0, 0);
  store.Ingest(0, {Ev("a", 0), Ev("b", 1), Ev("a", 2), Ev("b", 3)}, 4);
  absl::flat_hash_map<std::string, int64_t> min = {{"a", 2}};
  EXPECT_THAT(Offsets(*store.Collect(0, {"a", "b"}, 0, 10, &min)), ElementsAre(1, 2, 3));
}

TEST(EventStoreTest, AwaitChangeSeesIngest) {
  EventStore store(1, {});
  const uint64_t v = store.Version();
  EXPECT_EQ(store.AwaitChange(v, absl::Milliseconds(1)), v);
  store.Ingest(0, {}, 5);
  EXPECT_NE(store.AwaitChange(v, absl::Seconds(10)), v);
}

}  // namespace
}  // namespace herald::fanout
