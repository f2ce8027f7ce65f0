// Where a stream's records are in the topic.
//
// Herald keys every record by stream name. Herald's publisher places records
// as Kafka's Java producer does, toPositive(murmur2(key)) % partitions
// (librdkafka's "murmur2_random"), so what it publishes for a stream is in one
// partition. Other producers keep their client's default partitioner, and the
// common ones place a key in one of three ways:
//
//   murmur2   Java, Kafka Streams, franz-go, KafkaJS, librdkafka murmur2_random
//   CRC-32    librdkafka's default "consistent_random": kcat and confluent-kafka
//             for Python, Go, .NET and JavaScript
//   FNV-1a    sarama's default (NewHashPartitioner), librdkafka "fnv1a"
//
// A stream's *candidate partitions* are where these put its key: one to three
// partitions. The fanout reads a stream's records in those partitions, and a
// cursor holds a position for each of them; a record elsewhere is counted and
// logged as misplaced. Each producer keeps one partitioner, so what one
// producer writes for a stream stays in one partition, in order.
//
// A pure function of the contract (DESIGN.md), below every component: the
// edge (which speaks gRPC only), the fanout and the Kafka layer share it.
//
//   int32_t home = PartitionForKey("orders.eu", 6);           // murmur2
//   std::vector<int32_t> all = CandidatePartitions("orders.eu", 6);
#pragma once

#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"

namespace herald::common {

// Kafka's org.apache.kafka.common.utils.Utils.murmur2 (seed 0x9747b28c).
int32_t Murmur2(absl::string_view data);

// The partition Java's default partitioner gives a non-empty key.
// `partitions` must be positive.
int32_t PartitionForKey(absl::string_view key, int32_t partitions);

// CRC-32 (IEEE 802.3, as zlib's crc32) and the partition librdkafka's
// "consistent" and "consistent_random" partitioners give a non-empty key.
uint32_t Crc32(absl::string_view data);
int32_t Crc32Partition(absl::string_view key, int32_t partitions);

// 32-bit FNV-1a and the partition sarama's hash partitioner gives a key:
// int32(hash) % partitions, the sign dropped.
uint32_t Fnv1a32(absl::string_view data);
int32_t Fnv1aPartition(absl::string_view key, int32_t partitions);

// The partitions the three placements above give `key`: sorted, no repeats.
std::vector<int32_t> CandidatePartitions(absl::string_view key, int32_t partitions);
// Whether `partition` is one of them (no allocation: for every record read).
bool IsCandidate(absl::string_view key, int32_t partition, int32_t partitions);

}  // namespace herald::common
