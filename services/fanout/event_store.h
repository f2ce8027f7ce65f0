// EventStore: the fanout's memory of recent events, one bounded ring per stream.
//
// For every stream the store knows its *coverage*: an offset from which it
// holds every event of that stream up to the partition's ingested tail. A
// subscriber positioned at or after the coverage is served from memory; one
// before it must replay from Kafka first. Coverage only moves forward (rings
// evict their oldest events, idle rings are dropped), so a decision "this
// position is covered" stays true until the subscriber has read past it or the
// store says otherwise on the next call. Nothing is ever served from a guess.
//
//   EventStore store(6, {.ring_events = 1000});
//   store.Begin(0, 1200);                       // partition 0 ingests from 1200
//   store.Ingest(0, {event_1200, event_1203}, 1204);
//   std::optional<EventStore::Collected> c = store.Collect(0, {"orders.eu"}, 1200, 100);
//
// Thread-safety: all methods may be called from any thread (one mutex). The
// tail reader ingests; subscriber threads collect and wait for changes.
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "herald/v1/event.pb.h"

namespace herald::fanout {

using EventPtr = std::shared_ptr<const v1::Event>;

struct StoreOptions {
  // Bounds of each stream's ring.
  size_t ring_events = 1024;
  size_t ring_bytes = 1 << 20;
  // Bounds of the whole store; past them the least recently written rings
  // are dropped.
  size_t max_streams = 100'000;
  size_t max_bytes = 512u << 20;
};

class EventStore final {
 public:
  EventStore(int32_t partitions, StoreOptions options);

  int32_t partitions() const { return partitions_; }

  // Declares that partition `p` is ingested from `offset` on: coverage of all
  // its streams starts there. Called before the first Ingest(), and again if
  // the tail reader has to jump (its position fell out of retention).
  void Begin(int32_t partition, int64_t offset);

  // Adds events of one partition, in offset order, all at or after the tail,
  // and moves the tail to `next_offset` (past records that were skipped).
  // `duplicates` are offsets below `next_offset` the tail reader found to be
  // duplicates (dedup.h), for replays to decide alike.
  void Ingest(int32_t partition, std::vector<EventPtr> events, int64_t next_offset,
              const std::vector<int64_t>& duplicates = {});

  // From `offset` on, every duplicate of the partition is recorded by Ingest.
  void DedupFrom(int32_t partition, int64_t offset);
  // Whether the record at `offset` is a duplicate, if the store knows:
  // nullopt below where it records them, or at or past the tail.
  std::optional<bool> IsDuplicate(int32_t partition, int64_t offset) const;

  struct Collected {
    std::vector<EventPtr> events;  // offset order
    // Where the caller continues: past the last event returned when `max`
    // stopped the collection, else the tail (or `from`, if that is later).
    int64_t next = 0;
  };

  // The events of `streams` (all of them in `partition`) at offsets >= `from`,
  // at most `max`. nullopt when the store does not hold everything from `from`
  // for one of the streams: the caller must read Kafka up to the coverage.
  // `min_offsets` optionally raises the lower bound per stream (rewinds).
  std::optional<Collected> Collect(
      int32_t partition, const std::vector<std::string>& streams, int64_t from, size_t max,
      const absl::flat_hash_map<std::string, int64_t>* min_offsets = nullptr);

  // The offset from which the last `n` events of `stream` start, if the store
  // knows them: the ring holds at least `n`, or it covers everything from
  // `log_start` (the stream has fewer events than that). nullopt otherwise.
  std::optional<int64_t> RewindStart(int32_t partition, const std::string& stream, size_t n,
                                     int64_t log_start);

  // The next offset the tail reader will ingest in `partition`.
  int64_t Tail(int32_t partition) const;
  // The coverage of `stream` in `partition`.
  int64_t Coverage(int32_t partition, const std::string& stream) const;

  // Changes (ingests, Begin) bump a version; subscribers wait for it to move.
  uint64_t Version() const;
  // Returns the version once it differs from `seen`, or after `timeout`.
  uint64_t AwaitChange(uint64_t seen, absl::Duration timeout) const;
  // Bumps the version without a change, waking every waiter (a session whose
  // subscription changed, a shutdown).
  void Poke();

  struct Stats {
    size_t streams = 0;
    size_t events = 0;
    size_t bytes = 0;
    uint64_t dropped_rings = 0;
  };
  Stats GetStats() const;

 private:
  struct Entry {
    EventPtr event;
    int64_t offset;
    size_t bytes;
  };
  struct Ring;
  using LruList = std::list<std::pair<int32_t, std::string>>;
  struct Ring {
    std::deque<Entry> entries;
    size_t bytes = 0;
    int64_t covered_from = 0;
    LruList::iterator lru;
  };
  struct Partition {
    int64_t start = 0;
    int64_t tail = 0;
    // Coverage of streams without a ring.
    int64_t floor = 0;
    // Duplicates recorded from `dedup_from` on (bounded: the oldest are
    // dropped, moving dedup_from up).
    int64_t dedup_from = INT64_MAX;
    std::set<int64_t> duplicates;
    absl::flat_hash_map<std::string, Ring> rings;
  };

  int64_t CoverageLocked(const Partition& p, const std::string& stream) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void DropLeastRecentLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int32_t partitions_;
  const StoreOptions options_;
  mutable absl::Mutex mu_;
  std::vector<Partition> parts_ ABSL_GUARDED_BY(mu_);
  LruList lru_ ABSL_GUARDED_BY(mu_);  // front: most recently written
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  size_t events_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_rings_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace herald::fanout
