#include "connection_table.h"

#include "gtest/gtest.h"

namespace herald::edge {
namespace {

TEST(ConnectionTableTest, AClaimedConnectionCannotBeClaimedAgain) {
  ConnectionTable table({.max_streams = 10, .max_streams_per_ip = 10});
  ASSERT_TRUE(table.ClaimStream(1, "10.0.0.1", nullptr).ok());
  EXPECT_EQ(table.Find(1)->kind, ConnectionTable::Kind::kStream);
  // A second request on the same connection: neither a stream nor an answer.
  EXPECT_TRUE(absl::IsAlreadyExists(table.ClaimStream(1, "10.0.0.1", nullptr)));
  EXPECT_TRUE(absl::IsAlreadyExists(table.ClaimAnswer(1, nullptr)));
  EXPECT_EQ(table.streams(), 1u);

  ASSERT_TRUE(table.ClaimAnswer(2, nullptr).ok());
  EXPECT_EQ(table.Find(2)->kind, ConnectionTable::Kind::kAnswer);
  EXPECT_TRUE(absl::IsAlreadyExists(table.ClaimStream(2, "10.0.0.1", nullptr)));
  EXPECT_TRUE(absl::IsAlreadyExists(table.ClaimAnswer(2, nullptr)));
  EXPECT_EQ(table.answers(), 1u);
  EXPECT_FALSE(table.SetConnection(2, nullptr)) << "an answer carries no stream";
}

TEST(ConnectionTableTest, ReleaseHandsTheEntryBackOnceAndCountsReturnToZero) {
  ConnectionTable table({.max_streams = 10, .max_streams_per_ip = 10});
  ASSERT_TRUE(table.ClaimStream(7, "10.0.0.1", nullptr).ok());
  ASSERT_TRUE(table.ClaimAnswer(8, nullptr).ok());
  std::optional<ConnectionTable::Entry> stream = table.Release(7);
  ASSERT_TRUE(stream.has_value());
  EXPECT_EQ(stream->kind, ConnectionTable::Kind::kStream);
  EXPECT_EQ(stream->ip, "10.0.0.1");
  EXPECT_FALSE(table.Release(7).has_value()) << "released twice";
  EXPECT_FALSE(table.Find(7).has_value());
  ASSERT_TRUE(table.Release(8).has_value());
  EXPECT_EQ(table.streams(), 0u);
  EXPECT_EQ(table.answers(), 0u);
  // The connection may carry a new request once released.
  EXPECT_TRUE(table.ClaimStream(7, "10.0.0.1", nullptr).ok());
}

TEST(ConnectionTableTest, LimitsCountStreamsOnlyAndRefuseWithoutClaiming) {
  ConnectionTable table({.max_streams = 3, .max_streams_per_ip = 2});
  ASSERT_TRUE(table.ClaimStream(1, "a", nullptr).ok());
  ASSERT_TRUE(table.ClaimStream(2, "a", nullptr).ok());
  EXPECT_TRUE(absl::IsResourceExhausted(table.ClaimStream(3, "a", nullptr)));
  EXPECT_FALSE(table.Find(3).has_value());
  ASSERT_TRUE(table.ClaimAnswer(4, nullptr).ok()) << "answers are not streams";
  ASSERT_TRUE(table.ClaimStream(5, "b", nullptr).ok());
  EXPECT_TRUE(absl::IsResourceExhausted(table.ClaimStream(6, "c", nullptr)));
  ASSERT_TRUE(table.Release(1).has_value());
  EXPECT_TRUE(table.ClaimStream(3, "a", nullptr).ok()) << "the address's count went down";
  EXPECT_EQ(table.ReleaseAll().size(), 4u);
  EXPECT_EQ(table.streams(), 0u);
  EXPECT_TRUE(table.ClaimStream(9, "a", nullptr).ok());
}

TEST(ConnectionTableTest, StreamsListsOnlyStartedStreams) {
  ConnectionTable table({.max_streams = 10, .max_streams_per_ip = 10});
  ASSERT_TRUE(table.ClaimStream(1, "a", nullptr).ok());
  ASSERT_TRUE(table.ClaimAnswer(2, nullptr).ok());
  EXPECT_TRUE(table.Streams().empty());
  // Any non-null connection will do: the table never dereferences it.
  auto started =
      std::shared_ptr<Connection>(reinterpret_cast<Connection*>(0x1), [](Connection*) {});
  ASSERT_TRUE(table.SetConnection(1, started));
  ASSERT_EQ(table.Streams().size(), 1u);
  EXPECT_EQ(table.Streams()[0].connection, started);
}

}  // namespace
}  // namespace herald::edge
