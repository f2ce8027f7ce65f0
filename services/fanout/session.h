// Session: one subscription (a Subscribe call or an edge's Attach stream) and
// how it moves forward, exactly.
//
// A session holds, per partition its streams live in (each stream's candidate
// partitions, common/partitioner.h), one position: the next offset to serve. Every event of the
// session's streams below it has been handed out; every one at or above it will be, in offset
// order. That single number per partition is what a cursor carries, so resuming from a cursor gives
// no gap and no duplicate.
//
// Pull() moves the positions forward: from the EventStore when it covers a
// position, otherwise straight from Kafka with the session's own positioned
// reader, until the store covers it again (the handover needs no coordination:
// coverage is checked on every pull). A position older than Kafka's retention
// becomes a Reset ("retention") and continues from the oldest retained record.
//
// Thread-safety: all methods may be called from any thread (one mutex). Pull()
// may block on Kafka for up to `replay_poll`.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "dedup.h"
#include "event_store.h"
#include "herald/broker/reader.h"
#include "herald/v1/fanout.pb.h"

namespace herald::fanout {

struct SessionOptions {
  size_t max_batch_events = 500;
  absl::Duration replay_poll = absl::Milliseconds(50);
  // Records a rewind may scan backwards in Kafka before it settles for fewer
  // events than asked.
  int64_t max_rewind_scan = 1'000'000;
  // The duplicate rule, as the tail reader applies it.
  DedupOptions dedup;
};

// Makes a reader for replays (the fanout's Kafka settings, the topic).
using ReaderFactory = std::function<absl::StatusOr<std::unique_ptr<broker::Reader>>()>;

class Session final {
 public:
  Session(EventStore& store, ReaderFactory readers, int32_t partitions, SessionOptions options);

  // How one stream starts.
  struct Start {
    std::string stream;
    // Candidate partition -> next offset, from a cursor. A candidate
    // partition not named starts at `rewind` or live.
    std::map<int32_t, int64_t> next_offsets;
    // In the partitions with no position: the last N events there first.
    uint32_t rewind = 0;
  };

  // Adds streams. Streams of one partition share one position: a stream added
  // to a partition that already has one joins at that position (never behind
  // it; a later position becomes a per-stream lower bound). Returns resets
  // for positions outside the retained log, and where each stream joined in
  // each of its partitions.
  struct Added {
    std::vector<v1::Reset> resets;
    std::vector<v1::StreamJoined> joined;
  };
  absl::StatusOr<Added> Add(const std::vector<Start>& starts);
  // Returns the streams that were there.
  std::vector<std::string> Remove(const std::vector<std::string>& streams);

  struct Delivery {
    std::vector<EventPtr> events;  // per partition in offset order
    std::vector<v1::Reset> resets;
    bool replaying = false;  // Kafka replay is under way: pull again soon
  };
  // Moves forward by at most one batch. UNAVAILABLE when Kafka cannot be read.
  absl::StatusOr<Delivery> Pull();

  // partition -> next offset, for every partition with streams.
  std::map<int32_t, int64_t> Positions() const;
  size_t StreamCount() const;
  std::vector<std::string> Streams() const;

 private:
  struct Group {
    std::vector<std::string> streams;
    int64_t next = 0;
    // Per-stream lower bounds above `next` (rewinds, late joiners).
    absl::flat_hash_map<std::string, int64_t> min_offset;
    bool replaying = false;
    // During a replay below where the store records duplicates: the index
    // deciding them, fed every record of the partition in order.
    std::unique_ptr<DedupIndex> dedup;
  };

  absl::Status EnsureReader() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<broker::Watermarks> Watermarks(int32_t partition)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<int64_t> RewindFromKafka(int32_t partition, const std::string& stream, uint32_t n)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ReplayStep(Delivery& out, size_t budget) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether `record` of a replaying group is a duplicate; nullopt when that
  // cannot be known yet (the tail reader has not read it).
  absl::StatusOr<std::optional<bool>> Duplicate(Group& g, const broker::Record& record)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static v1::Reset MakeReset(const Group& g, const std::string& reason, const std::string& detail);

  EventStore& store_;
  const ReaderFactory readers_;
  const int32_t partitions_;
  const SessionOptions options_;

  mutable absl::Mutex mu_;
  std::map<int32_t, Group> groups_ ABSL_GUARDED_BY(mu_);
  // Every stream, each in the groups of its candidate partitions.
  absl::flat_hash_set<std::string> streams_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<broker::Reader> reader_ ABSL_GUARDED_BY(mu_);
  // What the replay reader is assigned: partition -> the position it was given.
  std::map<int32_t, int64_t> assigned_ ABSL_GUARDED_BY(mu_);
};

}  // namespace herald::fanout
