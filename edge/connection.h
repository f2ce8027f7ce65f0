// Connection: one browser's EventSource and its exact position.
//
// A connection follows streams S and keeps, for each partition those streams
// live in (each stream's candidate partitions, common/partitioner.h), the
// position it has served up to (its cursor, sent as the SSE id). Each
// partition is in one of two modes:
//
//   live         events come from the edge's shared feed (one Attach stream
//                for every browser); an event is sent if its offset is at or
//                past the connection's position.
//   catching up  events come from the connection's own Fanout.Subscribe from
//                its cursor (or rewind); shared events for the partition are
//                held meanwhile. Once the private position reaches the point
//                from which the shared feed carries every event of the
//                partition's streams (their join positions), the held events
//                at or past the private position are sent and the partition
//                goes live. Nothing is lost or sent twice at the seam.
//
// Thread-safety: all methods may be called from any thread (one mutex): the
// upstream thread delivers shared events, gRPC threads private ones.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "event_bodies.h"
#include "herald/common/metrics.h"
#include "herald/v1/fanout.pb.h"

namespace herald::edge {

// An event block rendered once for every connection whose cursor after it is
// the same (live connections following the same partitions at the feed
// position): its `id:` line and body, and the same in HTTP/1.1 chunked
// framing, so that each connection sends one shared buffer.
struct SharedBlock {
  SharedBlock(std::string id, absl::string_view body);
  absl::string_view sse() const { return absl::string_view(chunk).substr(sse_begin, sse_size); }

  std::string id;     // the cursor after the event
  std::string chunk;  // "<hex>\r\n" + sse + "\r\n"
  size_t sse_begin = 0;
  size_t sse_size = 0;
};

// Where a connection's bytes go (the HTTP response). Implementations bound
// what they queue and close the connection past the bound.
class SseWriter {
 public:
  virtual ~SseWriter() = default;
  // Queues bytes for the client; false once the connection is closed.
  virtual bool Write(std::string bytes) = 0;
  // Queues a shared block (by default as a copy of its SSE bytes).
  virtual bool WriteShared(const std::shared_ptr<const SharedBlock>& block) {
    return Write(std::string(block->sse()));
  }
  // Ends the response (the browser reconnects with its last id).
  virtual void Close() = 0;
  // Calls `fn` once everything written so far has reached the socket, or the
  // connection closed (maybe right away, maybe from another thread).
  virtual void WhenDrained(std::function<void()> fn) = 0;
};

// The shared feed's position in every partition right after an event (-1:
// unknown): every event of a watched stream below it has been handed to the
// connections. A live connection may move its cursor there (as on progress).
struct FeedSnapshot {
  std::string epoch;
  std::vector<int64_t> next;  // by partition
  int64_t At(int32_t partition) const {
    return partition >= 0 && static_cast<size_t>(partition) < next.size()
               ? next[static_cast<size_t>(partition)]
               : -1;
  }
};

// An event rendered once for every connection: the SSE body without the id.
struct SharedEvent {
  std::string stream;
  int32_t partition = 0;
  int64_t offset = 0;
  std::shared_ptr<const std::string> body;   // event: + data: lines + blank line
  std::shared_ptr<const FeedSnapshot> feed;  // may be null
};

// The blocks of one event rendered so far, by the connections' partitions:
// one per group of connections whose cursor after the event is the same.
// Used by one thread at a time (a delivery loop, for one event).
class BlockCache {
 public:
  std::shared_ptr<const SharedBlock>& For(const std::vector<int32_t>& partitions) {
    for (auto& [key, block] : blocks_) {
      if (*key == partitions) return block;
    }
    return blocks_.emplace_back(&partitions, nullptr).second;
  }

 private:
  std::vector<std::pair<const std::vector<int32_t>*, std::shared_ptr<const SharedBlock>>> blocks_;
};

// Counters every connection adds to (each may be null: not counted).
struct ConnectionMetrics {
  common::Counter* events_sent = nullptr;
  // herald.reset events sent, by reason; `other` for a reason not listed.
  common::Counter* resets_retention = nullptr;
  common::Counter* resets_epoch = nullptr;
  common::Counter* resets_malformed = nullptr;
  common::Counter* resets_other = nullptr;
};

struct ConnectionOptions {
  // Shared events held per connection while catching up, before giving up
  // (the connection is closed and the browser resumes from its cursor).
  size_t max_held_events = 10'000;
  // At the hand-over the held shared events go out at once. Past this many
  // bytes the private catch-up goes on instead (it reads at the browser's
  // pace) until fewer are held: a burst never trips the queued-bytes bound.
  size_t max_handover_bytes = 64 * 1024;
  // The SSE retry: hint sent first.
  int64_t retry_ms = 2000;
  // Renders private catch-up events once for every connection (null: each
  // connection renders its own, payloads as text).
  EventBodies* bodies = nullptr;
  ConnectionMetrics metrics;
};

class Connection final {
 public:
  // Every partition starts holding shared events, with no position and no
  // join known yet.
  Connection(std::string epoch, std::vector<std::string> streams, int32_t partitions,
             std::unique_ptr<SseWriter> writer, ConnectionOptions options = {});

  const std::vector<std::string>& streams() const { return streams_; }
  // The partitions of the connection's streams (each stream's candidates).
  const std::vector<int32_t>& Partitions() const { return partitions_; }
  // The connection's streams in `partition`.
  std::vector<std::string> StreamsIn(int32_t partition) const;

  // Where serving starts in `partition`: the cursor's position, a rewind's
  // start, or (fresh and live) the join position.
  void SetPosition(int32_t partition, int64_t position);
  // From `join` on, the shared feed carries every event of the connection's
  // streams in `partition`, and the connection holds them all.
  void SetJoin(int32_t partition, int64_t join);

  // True once every partition has a position: the start cursor is known.
  // Then, and before any event, the connection sends retry: and an id-only
  // block with the start cursor.
  bool Started() const;

  // From the shared feed, in offset order per partition. With `cache`, a
  // connection live in every partition and at the feed position sends the
  // block every such connection sends (rendered once, by the first).
  void OnShared(const SharedEvent& event, BlockCache* cache = nullptr);
  // The shared feed has everything below `next` in `partition`.
  void OnProgress(int32_t partition, int64_t next);
  // From the private subscription.
  void OnPrivateEvents(const v1::EventBatch& batch);
  void OnPrivateCursor(const std::map<int32_t, int64_t>& positions);
  // Sent as event: herald.reset (after the start block).
  void OnReset(const v1::Reset& reset);

  // If nothing was written since `stale_before`, writes a heartbeat comment
  // (with an id-only block if the cursor moved); a connection that events
  // keep busy needs none. The caller picks `stale_before` so that no gap
  // between writes exceeds the heartbeat interval.
  void Heartbeat(absl::Time stale_before);
  // True while some partition is not live.
  bool CatchingUp() const;
  bool Closed() const;
  void Close();
  // Sends a retry: hint (the reconnect delay the browser takes next).
  void Retry(int64_t milliseconds);
  // Ends the stream with one last event `type` carrying `data` and, as its
  // id, the cursor as it stands: the browser's last event id stays exact.
  void EndWith(absl::string_view type, absl::string_view data);
  // Calls `fn` once the connection's queued bytes are on the socket (or it
  // closed): private catch-ups read their next batch only then.
  void WhenDrained(std::function<void()> fn);

  // The cursor as it stands.
  std::string Cursor() const;

 private:
  static constexpr int64_t kUnknown = -1;
  struct PartitionState {
    int64_t position = kUnknown;  // next offset to serve
    int64_t join = kUnknown;
    bool live = false;
    std::vector<SharedEvent> held;
  };
  std::string CursorLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::string_view LastIdLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return last_block_ != nullptr ? absl::string_view(last_block_->id) : last_id_sent_;
  }
  // The live path: true if the event went out as a shared block.
  bool SendSharedLocked(const SharedEvent& event, BlockCache& cache)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendLocked(const std::string& body, int32_t partition, int64_t offset)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `from_private`: the private catch-up moved the position. It may then
  // keep going rather than hand over (see ConnectionOptions::max_handover_bytes).
  void MaybeGoLiveLocked(int32_t partition, bool from_private = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Wants(const std::string& stream) const;
  void WriteLocked(std::string bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybePreambleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string epoch_;
  const std::vector<std::string> streams_;
  const int32_t partition_count_;
  const std::vector<int32_t> partitions_;  // of the streams, sorted
  const ConnectionOptions options_;

  mutable absl::Mutex mu_;
  std::unique_ptr<SseWriter> writer_ ABSL_GUARDED_BY(mu_);
  std::map<int32_t, PartitionState> parts_ ABSL_GUARDED_BY(mu_);
  // The last id sent: its own (last_id_sent_) or a shared block's.
  std::string last_id_sent_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const SharedBlock> last_block_ ABSL_GUARDED_BY(mu_);
  bool all_live_ ABSL_GUARDED_BY(mu_) = false;
  bool preamble_sent_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_write_ ABSL_GUARDED_BY(mu_) = absl::Now();
  std::vector<std::string> pending_resets_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace herald::edge
