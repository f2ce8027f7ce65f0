// Dedup: an event published again with the same stream and idempotency key
// reaches subscribers once.
//
// The rule is a function of the log alone, so every fanout replica, and every
// replay from Kafka, decides alike: in one partition, a record at offset o of
// stream s with a non-empty idempotency key k is a *duplicate* when the latest
// record of (s, k) at an offset in [o - lookback, o) has a timestamp at most
// `window` before o's (or after it). Duplicates are skipped like unreadable
// records: their offsets still move positions forward.
//
// Memory: at most `lookback` entries per partition (one per keyed record in
// the look-back). The window is `window` or `lookback` records of the
// partition, whichever is shorter.
//
//   DedupIndex index({.window = absl::Minutes(10), .lookback = 20'000});
//   if (index.Check(offset, "orders.eu", "k-1", timestamp_ms)) skip();
//
// Thread-compatible: one owner.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "herald/broker/types.h"

namespace herald::fanout {

struct DedupOptions {
  absl::Duration window = absl::Minutes(10);
  // Offsets looked back per partition; the same on every replica.
  int64_t lookback = 20'000;
};

class DedupIndex final {
 public:
  explicit DedupIndex(DedupOptions options) : options_(options) {}

  // Takes the record at `offset` (offsets increasing); true if it is a
  // duplicate. A record without a key is never one and is not indexed.
  bool Check(int64_t offset, const std::string& stream, const std::string& key,
             int64_t timestamp_ms);
  // The same for a record read from Kafka: its key is the stream, the
  // idempotency key its `herald-idempotency-key` header.
  bool Check(const broker::Record& record);

  size_t size() const { return latest_.size(); }

 private:
  struct Latest {
    int64_t offset;
    int64_t timestamp_ms;
  };
  void Evict(int64_t offset);

  const DedupOptions options_;
  absl::flat_hash_map<std::string, Latest> latest_;    // stream '\n' key -> latest copy
  std::deque<std::pair<int64_t, std::string>> order_;  // offset order, for eviction
};

}  // namespace herald::fanout
