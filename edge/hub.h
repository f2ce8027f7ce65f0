// Hub: the edge's one shared feed and the browsers connected to it.
//
// The hub holds one Attach stream to a fanout replica (the first of
// `fanouts` that answers; on failure the next, with backoff), watches each
// stream once whatever the number of browsers, renders each event once and
// hands it to every connection following its stream.
//
// Positions: the watch table (watch_table.h) keeps the feed position per
// partition, each stream's join and each connection's hand-over point. After
// a failover the hub re-watches every stream at the feed position on the new
// replica, so the feed continues exactly and connections notice nothing.
//
// Connections resuming from a cursor (or asking for a rewind) get a private
// Fanout.Subscribe until they reach their hand-over point (see connection.h).
//
// Upstream liveness: the fanout sends something on every call at least once
// a second (progress doubles as a heartbeat). A watchdog drops an Attach
// stream, or a catch-up, whose read has waited longer than
// `upstream_timeout` (a replica that hangs, e.g. SIGSTOP, rather than dies);
// gRPC keepalive on the channel notices dead TCP peers too. The hub then
// fails over to the next replica; catch-ups of the dropped session end and
// their browsers resume from their cursors. Ready() is false meanwhile.
//
// Lifetimes: a catch-up holds its gRPC call open (a hold) while it waits for
// its browser to drain, so the parked callback never runs on a finished
// call; Stop() ends every catch-up and releases every connection (and so
// every writer) before it returns.
//
// Files: hub.cc (the feed and its connections), attach_session.cc (the
// Attach stream, its writer and the watchdog), catch_ups.cc and catch_up.h
// (private subscriptions and their slots).
//
// Thread-safety: Add/Remove from any thread; one internal thread reads the
// Attach stream, one writes watch requests, one watches both for silence;
// private subscriptions run on gRPC's callback threads. Nothing here blocks a
// caller on the network.
#pragma once

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "connection.h"
#include "event_loop.h"
#include "herald/common/metrics.h"
#include "herald/v1/fanout.grpc.pb.h"
#include "request.h"
#include "watch_table.h"

namespace herald::edge {

struct HubOptions {
  std::vector<std::string> fanouts = {"127.0.0.1:7002"};
  int64_t retry_ms = 2000;
  absl::Duration max_backoff = absl::Seconds(5);
  // Renders typed payloads as JSON; must outlive the hub (null: as text).
  const PayloadRenderer* renderer = nullptr;
  // Event loops owning the connections (see event_loop.h): one per core.
  int delivery_threads = 2;
  // A fanout that sends nothing on a call for this long is dropped.
  absl::Duration upstream_timeout = absl::Seconds(6);
  // Catch-ups (private Subscribe calls of resuming browsers) running at once;
  // past it they queue in arrival order and start as others end.
  size_t max_catchups = 256;
};

class Hub final {
 public:
  Hub(HubOptions options, common::Registry& metrics);
  ~Hub();

  void Start();
  void Stop();

  // Attached to a fanout, with its epoch and partition count known.
  bool Ready() const;
  // Attached once at least: connections are taken (during a failover they
  // wait for the next replica).
  bool Serving() const;
  // Waits up to `timeout` for Ready().
  bool AwaitReady(absl::Duration timeout) const;
  std::string Epoch() const;
  int32_t Partitions() const;

  // The event loops connections are placed on; PickLoop() takes them in
  // turn. A connection's writer and its feed deliveries share its loop.
  int PickLoop();
  EventLoop& loop(int index) { return *loops_[static_cast<size_t>(index) % loops_.size()]; }
  int loops() const { return static_cast<int>(loops_.size()); }

  // Creates and starts a connection for `request` on loop `loop_index`:
  // registers it with the feed, watches new streams, decodes the cursor
  // (herald.reset for a malformed one or another epoch) and starts a private
  // catch-up where needed. Unavailable when not attached to a fanout.
  absl::StatusOr<std::shared_ptr<Connection>> Add(const EventsRequest& request,
                                                  std::unique_ptr<SseWriter> writer,
                                                  int loop_index = 0);
  void Remove(const std::shared_ptr<Connection>& connection);

  // Moves every connection's cursor to the feed position, and sends a
  // heartbeat (with an id-only block if the cursor moved) to every connection
  // that has written nothing since `stale_before`.
  void HeartbeatAll(absl::Time stale_before);
  // Closes every connection (drain).
  void CloseAll();
  size_t ConnectionCount() const;

 private:
  // A connection's place in the hub; its join bookkeeping is the watch
  // table's (see watch_table.h).
  struct Registration : WatchTable::Member {
    std::shared_ptr<Connection> connection;
    bool fresh = false;  // positions are the hand-over points
    // Partitions the cursor named whose hand-over point is still to come
    // (a vector: nothing allocated for a fresh connection).
    std::vector<int32_t> named;
    int lane = 0;  // the event loop owning this connection
    bool private_started = false;
    bool queued = false;  // waiting for a catch-up slot
    bool needs_private = false;
    std::string cursor;  // for the private subscription
    uint32_t rewind = 0;
  };
  class PrivateSubscription;

  void Run();
  void WriterLoop();
  // Drops the Attach stream or catch-ups whose reads wait too long.
  void Watchdog();
  // Ends the catch-ups `which` selects; how many.
  size_t CancelCatchUps(absl::FunctionRef<bool(const PrivateSubscription&)> which);
  // Ends `catch_up`'s registration and takes its stub: a channel must not be
  // destroyed on one of its own callback threads, so the last reference to
  // an old session's stub is let go on the watchdog's thread (or in Stop).
  void Forget(PrivateSubscription* catch_up, std::shared_ptr<v1::Fanout::Stub> stub);
  // Starts queued catch-ups while there are free slots.
  void StartQueuedCatchUps();
  bool Session(const std::string& address);
  void OnResponse(const v1::AttachResponse& response) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `r`'s hand-over point in `partition` is known.
  void JoinKnownLocked(Registration& r, int32_t partition, int64_t handover)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeStartLocked(Registration& r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Enqueue(v1::AttachRequest request);
  // Work for one event loop: shared events and resets, each for some of the
  // loop's connections, in feed order.
  struct LaneItem {
    std::shared_ptr<const SharedEvent> event;  // or
    std::shared_ptr<const v1::Reset> reset;
    std::vector<std::shared_ptr<Connection>> connections;
  };
  void AddLaneItem(std::vector<std::vector<LaneItem>>& lanes, const WatchTable::Members& members,
                   std::shared_ptr<const SharedEvent> event,
                   std::shared_ptr<const v1::Reset> reset);

  const HubOptions options_;
  // Declared first: destroyed last, after every connection and writer.
  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::atomic<int> next_loop_{0};
  std::atomic<bool> stopping_{false};
  std::thread reader_;
  std::thread writer_;
  std::thread watchdog_;

  mutable absl::Mutex mu_;
  std::string epoch_ ABSL_GUARDED_BY(mu_);
  bool attached_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::string address_ ABSL_GUARDED_BY(mu_);  // of the session's replica
  // When the session's pending read (or its start) began, in Unix ns; 0: none.
  std::atomic<int64_t> reading_since_{0};
  std::shared_ptr<v1::Fanout::Stub> stub_ ABSL_GUARDED_BY(mu_);
  // The open Attach stream, for the writer thread. Lock order: mu_ before
  // queue_mu_ and stream_mu_; the writer takes each of those alone.
  absl::Mutex stream_mu_;
  grpc::ClientReaderWriter<v1::AttachRequest, v1::AttachResponse>* stream_
      ABSL_GUARDED_BY(stream_mu_) = nullptr;
  // Streams watched, their joins, the feed position, the partition count.
  WatchTable watches_ ABSL_GUARDED_BY(mu_);
  // A new session's re-watch of every stream waits for its first response.
  bool rewatch_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<Connection*, std::unique_ptr<Registration>> registrations_
      ABSL_GUARDED_BY(mu_);

  // Running catch-ups. Lock order: mu_, then catchups_mu_, then a
  // catch-up's own (TryJoin; held briefly, nothing called out under it).
  // Taken inside gRPC callbacks: nothing that blocks is called under it.
  absl::Mutex catchups_mu_;
  absl::flat_hash_set<PrivateSubscription*> catchups_ ABSL_GUARDED_BY(catchups_mu_);
  // Running catch-ups from a cursor, by their streams (catch_up.h's key):
  // the ones a resume of the same streams may join.
  absl::flat_hash_map<std::string, std::vector<PrivateSubscription*>> shareable_
      ABSL_GUARDED_BY(catchups_mu_);
  std::vector<std::shared_ptr<v1::Fanout::Stub>> retired_stubs_ ABSL_GUARDED_BY(catchups_mu_);
  // Catch-ups waiting for a slot, in arrival order.
  std::deque<std::weak_ptr<Connection>> queued_catchups_ ABSL_GUARDED_BY(catchups_mu_);

  absl::Mutex queue_mu_;
  std::deque<v1::AttachRequest> queue_ ABSL_GUARDED_BY(queue_mu_);

  common::Gauge& upstream_connected_;
  common::Counter& upstream_reconnects_;
  common::Counter& events_in_;
  common::Histogram& feed_latency_;
  common::Counter& catchups_opened_;
  common::Counter& catchups_shared_;
  common::Gauge& catchups_queued_;
  common::Counter& upstream_timeouts_;
  ConnectionMetrics connection_metrics_;
  // Every event's body, rendered once for the feed and the catch-ups.
  EventBodies bodies_;
};

}  // namespace herald::edge
