#include "event_bodies.h"

#include "gtest/gtest.h"

namespace herald::edge {
namespace {

v1::Event At(int32_t partition, int64_t offset, const std::string& text) {
  v1::Event e;
  e.set_stream("s");
  e.set_type("t");
  e.set_text(text);
  e.mutable_position()->set_partition(partition);
  e.mutable_position()->set_offset(offset);
  return e;
}

TEST(EventBodiesTest, AnEventIsRenderedOnceAndShared) {
  EventBodies bodies({});
  bodies.SetEpoch("e1");
  auto first = bodies.Body("e1", At(0, 7, "x"));
  auto again = bodies.Body("e1", At(0, 7, "x"));
  EXPECT_EQ(first.get(), again.get()) << "the same bytes, not a copy";
  EXPECT_EQ(*first, "event: t\ndata: x\n\n");
  EXPECT_NE(bodies.Body("e1", At(1, 7, "y")).get(), first.get()) << "another partition";
  EXPECT_EQ(bodies.rendered(), 2u);
  EXPECT_EQ(bodies.reused(), 1u);
}

TEST(EventBodiesTest, PositionsOfAnotherEpochAreNeverMistakenForTheseOnes) {
  EventBodies bodies({});
  bodies.SetEpoch("e1");
  auto old = bodies.Body("e1", At(0, 7, "old"));
  bodies.SetEpoch("e2");
  EXPECT_EQ(*bodies.Body("e2", At(0, 7, "new")), "event: t\ndata: new\n\n");
  // A late catch-up of the old epoch gets its own body and keeps nothing.
  EXPECT_EQ(*bodies.Body("e1", At(0, 8, "late")), "event: t\ndata: late\n\n");
  EXPECT_EQ(*bodies.Body("e2", At(0, 8, "new8")), "event: t\ndata: new8\n\n");
}

TEST(EventBodiesTest, KeepsAtMostItsCountAndBytesOldestForgottenFirst) {
  EventBodies bodies({.max_bodies = 3, .max_bytes = 1 << 20});
  bodies.SetEpoch("e");
  auto zero = bodies.Body("e", At(0, 0, "a"));
  for (int64_t o = 1; o <= 3; ++o) bodies.Body("e", At(0, o, "a"));
  EXPECT_NE(bodies.Body("e", At(0, 0, "a")).get(), zero.get()) << "offset 0 was forgotten";
  const uint64_t rendered = bodies.rendered();
  bodies.Body("e", At(0, 3, "a"));
  EXPECT_EQ(bodies.rendered(), rendered) << "offset 3 is still kept";

  EventBodies small({.max_bodies = 100, .max_bytes = 64});
  small.SetEpoch("e");
  const std::string big(100, 'b');
  auto body = small.Body("e", At(0, 0, big));
  EXPECT_NE(small.Body("e", At(0, 0, big)).get(), body.get()) << "larger than the bound: not kept";
}

}  // namespace
}  // namespace herald::edge
