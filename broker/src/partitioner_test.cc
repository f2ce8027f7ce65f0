#include "herald/common/partitioner.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace herald::common {
namespace {

// Expected values printed by Java: org.apache.kafka.common.utils.Utils.murmur2
// and toPositive(murmur2(key)) % n, from kafka-clients 3.9.1.
struct Vector {
  std::string key;
  int32_t hash;
  int32_t p3;
  int32_t p12;
  int32_t p100;
};

const Vector kJavaVectors[] = {
    {"21", -973932308, 0, 0, 40},
    {"foobar", -790332482, 0, 6, 66},
    {"a-little-bit-long-string", -985981536, 2, 8, 12},
    {"a-little-bit-longer-string", -1486304829, 2, 11, 19},
    {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971, 2, 5, 77},
    {"abc", 479470107, 0, 3, 7},
    {"orders.eu", -1366980627, 2, 5, 21},
    {"dash/cpu", 1869459007, 1, 7, 7},
    {"", 275646681, 0, 9, 81},
    {"a", -1563381124, 1, 4, 24},
};

TEST(PartitionerTest, Murmur2MatchesJava) {
  for (const Vector& v : kJavaVectors) {
    EXPECT_EQ(Murmur2(v.key), v.hash) << "key '" << v.key << "'";
  }
}

TEST(PartitionerTest, PartitionMatchesJavaDefaultPartitioner) {
  for (const Vector& v : kJavaVectors) {
    EXPECT_EQ(PartitionForKey(v.key, 3), v.p3) << v.key;
    EXPECT_EQ(PartitionForKey(v.key, 12), v.p12) << v.key;
    EXPECT_EQ(PartitionForKey(v.key, 100), v.p100) << v.key;
  }
}

TEST(PartitionerTest, EveryLengthModuloFourIsCovered) {
  // Tails of 0-3 bytes take different branches; the vectors above hit each.
  int seen[4] = {};
  for (const Vector& v : kJavaVectors) ++seen[v.key.size() % 4];
  for (int tail = 0; tail < 4; ++tail) EXPECT_GT(seen[tail], 0) << tail;
}

TEST(PartitionerTest, AlwaysInRange) {
  for (int i = 0; i < 10000; ++i) {
    const std::string key = "stream-" + std::to_string(i);
    const int32_t p = PartitionForKey(key, 7);
    ASSERT_GE(p, 0);
    ASSERT_LT(p, 7);
  }
}

TEST(PartitionerTest, HashesMatchKnownVectors) {
  // zlib.crc32 and the FNV-1a reference vectors.
  EXPECT_EQ(Crc32(""), 0u);
  EXPECT_EQ(Crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(Fnv1a32(""), 0x811C9DC5u);
  EXPECT_EQ(Fnv1a32("a"), 0xE40C292Cu);
  EXPECT_EQ(Fnv1a32("foobar"), 0xBF9CF968u);
}

TEST(PartitionerTest, SaramaPlacement) {
  // sarama's NewHashPartitioner, computed with Go's int32 arithmetic:
  // int32(0xb3769824) is negative, and -1283024860 % 12 == -8 in Go.
  EXPECT_EQ(Fnv1aPartition("orders.eu", 12), 8);
  EXPECT_EQ(Fnv1aPartition("orders.eu", 3), 2);
  EXPECT_EQ(Fnv1aPartition("raw/kcat", 12), 1);
  EXPECT_EQ(Fnv1aPartition("a", 12), 0);
}

TEST(PartitionerTest, SamePlacementsAsLibrdkafka) {
  // librdkafka's own partitioners: murmur2_random, consistent_random (its
  // default, CRC-32) and fnv1a (documented as sarama-compatible).
  for (int32_t n : {1, 2, 3, 6, 7, 12, 100}) {
    for (int i = 0; i < 2000; ++i) {
      const std::string key = "stream/" + std::to_string(i * 7919);
      const void* k = key.data();
      EXPECT_EQ(PartitionForKey(key, n),
                rd_kafka_msg_partitioner_murmur2(nullptr, k, key.size(), n, nullptr, nullptr));
      EXPECT_EQ(Crc32Partition(key, n),
                rd_kafka_msg_partitioner_consistent(nullptr, k, key.size(), n, nullptr, nullptr));
      EXPECT_EQ(Fnv1aPartition(key, n),
                rd_kafka_msg_partitioner_fnv1a(nullptr, k, key.size(), n, nullptr, nullptr));
    }
  }
}

TEST(PartitionerTest, CandidatesAreTheThreePlacementsSortedAndUnique) {
  int with_three = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::string key = "s" + std::to_string(i);
    const std::vector<int32_t> c = CandidatePartitions(key, 12);
    ASSERT_GE(c.size(), 1u);
    ASSERT_LE(c.size(), 3u);
    EXPECT_TRUE(std::is_sorted(c.begin(), c.end()));
    EXPECT_EQ(std::adjacent_find(c.begin(), c.end()), c.end());
    for (int32_t p : {PartitionForKey(key, 12), Crc32Partition(key, 12), Fnv1aPartition(key, 12)}) {
      EXPECT_NE(std::find(c.begin(), c.end(), p), c.end());
    }
    for (int32_t p = 0; p < 12; ++p) {
      EXPECT_EQ(IsCandidate(key, p, 12), std::find(c.begin(), c.end(), p) != c.end());
    }
    with_three += c.size() == 3 ? 1 : 0;
  }
  EXPECT_GT(with_three, 500);  // about 12*11*10/12^3 = 76% of keys
  EXPECT_EQ(CandidatePartitions("anything", 1), std::vector<int32_t>{0});
}

}  // namespace
}  // namespace herald::common
