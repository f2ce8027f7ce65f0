#include "herald/broker/partitioner.h"

#include <string>

#include "gtest/gtest.h"

namespace herald::broker {
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

}  // namespace
}  // namespace herald::broker
