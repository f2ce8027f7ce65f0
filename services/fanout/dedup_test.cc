#include "dedup.h"

#include "gtest/gtest.h"

namespace herald::fanout {
namespace {

TEST(DedupIndexTest, ASecondCopyWithinTheWindowIsADuplicate) {
  DedupIndex index({.window = absl::Minutes(10), .lookback = 1000});
  const int64_t t = 1'000'000;
  EXPECT_FALSE(index.Check(10, "s", "k1", t));
  EXPECT_FALSE(index.Check(11, "s", "k2", t));
  EXPECT_FALSE(index.Check(12, "other", "k1", t));  // another stream
  EXPECT_TRUE(index.Check(13, "s", "k1", t + 5'000));
  EXPECT_FALSE(index.Check(14, "s", "", t));  // no key: never
  EXPECT_FALSE(index.Check(15, "s", "", t));
  // Compared with the latest copy: a retry of a retry is one too.
  EXPECT_TRUE(index.Check(16, "s", "k1", t + 5'000 + 9 * 60'000));
  // Past the window of the latest copy: a new event.
  EXPECT_FALSE(index.Check(17, "s", "k2", t + 10 * 60'000 + 1));
  // A copy with an earlier clock than the first still is one.
  EXPECT_TRUE(index.Check(18, "s", "k2", t));
}

TEST(DedupIndexTest, TheLookBackBoundsMemoryAndTheWindow) {
  DedupIndex index({.window = absl::Minutes(10), .lookback = 100});
  for (int64_t o = 0; o < 10'000; ++o) {
    EXPECT_FALSE(index.Check(o, "s", "k" + std::to_string(o), 0));
    EXPECT_LE(index.size(), 101u);
  }
  EXPECT_TRUE(index.Check(10'000, "s", "k9950", 0));   // 50 records back
  EXPECT_FALSE(index.Check(10'001, "s", "k9800", 0));  // 201 back: forgotten
}

TEST(DedupIndexTest, TwoReadersStartingAtTheLookBackDecideAlike) {
  // One reads the whole log, one starts `lookback` records before the
  // records it decides: same answers (what lets replicas and replays agree).
  constexpr int64_t kLookback = 50;
  std::vector<std::pair<std::string, int64_t>> log;  // key, timestamp
  for (int i = 0; i < 1000; ++i) {
    log.emplace_back("k" + std::to_string((i * 7919) % 97), i * 1000);
  }
  DedupIndex whole({.window = absl::Seconds(30), .lookback = kLookback});
  std::vector<bool> expected;
  for (size_t o = 0; o < log.size(); ++o) {
    expected.push_back(whole.Check(static_cast<int64_t>(o), "s", log[o].first, log[o].second));
  }
  for (int64_t start : {0, 100, 333, 900}) {
    DedupIndex late({.window = absl::Seconds(30), .lookback = kLookback});
    for (int64_t o = std::max<int64_t>(0, start - kLookback); o < static_cast<int64_t>(log.size());
         ++o) {
      const bool d = late.Check(o, "s", log[o].first, log[o].second);
      if (o >= start) {
        EXPECT_EQ(d, expected[o]) << "offset " << o << " from " << start;
      }
    }
  }
}

}  // namespace
}  // namespace herald::fanout
