// Java-compatible key partitioning.
//
// Herald keys every record by stream name, and Kafka's Java producer picks the
// partition as toPositive(murmur2(key)) % partitions. Herald's producer
// (librdkafka's "murmur2_random" partitioner) and every component that must
// know where a stream lives use the same function, so a stream written by any
// Kafka producer is found in the same single partition.
//
//   int32_t p = PartitionForKey("orders.eu", 6);
#pragma once

#include <cstdint>

#include "absl/strings/string_view.h"

namespace herald::broker {

// Kafka's org.apache.kafka.common.utils.Utils.murmur2 (seed 0x9747b28c).
int32_t Murmur2(absl::string_view data);

// The partition Java's default partitioner gives a non-empty key.
// `partitions` must be positive.
int32_t PartitionForKey(absl::string_view key, int32_t partitions);

}  // namespace herald::broker
