#include "herald/common/partitioner.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace herald::common {

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

uint32_t Crc32(absl::string_view data) {
  // Reflected polynomial 0xEDB88320, initial value and final xor all ones.
  static const std::array<uint32_t, 256> kTable = [] {
    std::array<uint32_t, 256> table{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int bit = 0; bit < 8; ++bit) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    return table;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : data) crc = kTable[(crc ^ c) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

int32_t Crc32Partition(absl::string_view key, int32_t partitions) {
  // librdkafka: rd_crc32(key) % partition_cnt, unsigned.
  return static_cast<int32_t>(Crc32(key) % static_cast<uint32_t>(partitions));
}

uint32_t Fnv1a32(absl::string_view data) {
  uint32_t h = 0x811C9DC5u;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x01000193u;
  }
  return h;
}

int32_t Fnv1aPartition(absl::string_view key, int32_t partitions) {
  // sarama: partition := int32(hasher.Sum32()) % numPartitions; if < 0, negate.
  // Go's % truncates toward zero, as C++'s does.
  int32_t h;
  const uint32_t u = Fnv1a32(key);
  std::memcpy(&h, &u, sizeof(h));
  const int32_t p = h % partitions;
  return p < 0 ? -p : p;
}

std::vector<int32_t> CandidatePartitions(absl::string_view key, int32_t partitions) {
  std::vector<int32_t> out = {PartitionForKey(key, partitions), Crc32Partition(key, partitions),
                              Fnv1aPartition(key, partitions)};
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool IsCandidate(absl::string_view key, int32_t partition, int32_t partitions) {
  return PartitionForKey(key, partitions) == partition ||
         Crc32Partition(key, partitions) == partition ||
         Fnv1aPartition(key, partitions) == partition;
}

}  // namespace herald::common
