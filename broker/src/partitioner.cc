#include "herald/broker/partitioner.h"

#include <cstring>

namespace herald::broker {

int32_t Murmur2(absl::string_view data) {
  // A line-for-line port of Kafka's Utils.murmur2: 32-bit arithmetic that
  // wraps, little-endian 4-byte blocks, Java's unsigned shifts.
  constexpr uint32_t kSeed = 0x9747b28c;
  constexpr uint32_t kM = 0x5bd1e995;
  constexpr int kR = 24;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  const auto length = static_cast<uint32_t>(data.size());
  uint32_t h = kSeed ^ length;
  const uint32_t blocks = length / 4;
  for (uint32_t i = 0; i < blocks; ++i) {
    const uint32_t j = i * 4;
    uint32_t k = static_cast<uint32_t>(bytes[j]) | (static_cast<uint32_t>(bytes[j + 1]) << 8) |
                 (static_cast<uint32_t>(bytes[j + 2]) << 16) |
                 (static_cast<uint32_t>(bytes[j + 3]) << 24);
    k *= kM;
    k ^= k >> kR;
    k *= kM;
    h *= kM;
    h ^= k;
  }
  const uint32_t tail = blocks * 4;
  switch (length % 4) {
    case 3:
      h ^= static_cast<uint32_t>(bytes[tail + 2]) << 16;
      [[fallthrough]];
    case 2:
      h ^= static_cast<uint32_t>(bytes[tail + 1]) << 8;
      [[fallthrough]];
    case 1:
      h ^= static_cast<uint32_t>(bytes[tail]);
      h *= kM;
  }
  h ^= h >> 13;
  h *= kM;
  h ^= h >> 15;
  int32_t result;
  std::memcpy(&result, &h, sizeof(result));
  return result;
}

int32_t PartitionForKey(absl::string_view key, int32_t partitions) {
  // Java's Utils.toPositive: clear the sign bit (not abs(), which fails on MIN_VALUE).
  const int32_t positive = Murmur2(key) & 0x7fffffff;
  return positive % partitions;
}

}  // namespace herald::broker
