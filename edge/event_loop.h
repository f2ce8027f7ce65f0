// EventLoop: one thread that owns a share of the edge's connections.
//
// The edge runs one loop per core (`--delivery_threads`). Each SSE
// connection is placed on one loop for its whole life: the loop receives
// every shared-feed event once (one task per Attach response, with the
// loop's connections that follow it), writes it to those connections, and
// waits (epoll) for their sockets to become writable again when a client is
// behind. No lock is shared between loops on this path: the hub's lock is
// taken once per response by its reader, never per delivery.
//
// Rounds. The loop runs every task queued since its last round, then sends
// what the round wrote: each connection's writes of a round are gathered
// (SocketWriter defers them) and leave in one sendmsg of shared buffers. When
// the loop is behind, a round holds more tasks, so each connection's write
// carries more events: the cost per event falls as the backlog grows instead
// of the backlog growing with time. Counters touched on a loop are summed per
// round (Tally), not per delivery.
//
// Bounded: at most `max_tasks` tasks wait; past that Post() waits, which
// holds the hub's reader, which (through gRPC flow control) slows the
// fanout's feed rather than growing memory. Callbacks (PostCallbacks) are
// small and never wait: they come from writers, under their callers' locks.
//
// Thread-safety: every method may be called from any thread; tasks, callbacks
// and OnWritable run on the loop's thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "herald/common/metrics.h"

namespace herald::edge {

// What a loop watches: a socket's readiness, and the end of a round (for
// what the round wrote to it).
class Pollable {
 public:
  virtual ~Pollable() = default;
  // The socket's epoll events (on the loop's thread).
  virtual void OnEvents(uint32_t events) = 0;
  // Sends what the round gathered (after FlushAtEndOfRound).
  virtual void FlushRound() = 0;
};

class EventLoop final {
 public:
  static absl::StatusOr<std::unique_ptr<EventLoop>> Create(size_t max_tasks = 4096);
  ~EventLoop();  // runs what is queued, then joins

  // Runs `task` on the loop's thread, after the tasks posted before it, in
  // the next round. Waits while `max_tasks` are queued.
  void Post(std::function<void()> task);
  // Runs `fns` on the loop's thread, in order, without ever waiting for room.
  void PostCallbacks(std::vector<std::function<void()>> fns);
  // Runs nothing new until every task and callback posted so far has run.
  void Drain();

  // Calls watcher->OnEvents() when `fd` has any of `events` (epoll flags;
  // EPOLLONESHOT for once). Watching an `fd` again replaces its events.
  void Watch(const std::shared_ptr<Pollable>& watcher, int fd, uint32_t events);
  // Calls writer->OnEvents() once its socket can take more bytes.
  void WaitWritable(const std::shared_ptr<Pollable>& writer, int fd);
  // Stops watching `fd` for `watcher` (before the socket is closed). A no-op
  // if `fd` is watched for another: descriptor numbers are reused, and a
  // writer may be destroyed long after its socket was closed.
  void Forget(int fd, const Pollable* watcher);
  // True on this loop's thread.
  bool IsCurrent() const;

  // True on this loop's thread while it runs a round's tasks: writes are then
  // gathered and sent at the end of the round.
  bool InRound() const;
  // Sends `writer`'s gathered bytes at the end of the current round (call
  // only when InRound()).
  void FlushAtEndOfRound(std::shared_ptr<Pollable> writer);

  // Adds `by` to `counter`: once per round when called inside one, at once
  // otherwise. A null counter counts nothing.
  static void Tally(common::Counter* counter, int64_t by = 1);

 private:
  EventLoop(int epoll_fd, int wake_fd, size_t max_tasks);
  void Run();
  void Wake();
  // Runs the tasks queued so far as one round; false if there were none.
  bool RunRound();
  void RunCallbacks();

  const int epoll_fd_;
  const int wake_fd_;
  const size_t max_tasks_;
  std::atomic<bool> stopping_{false};

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void()>> callbacks_ ABSL_GUARDED_BY(mu_);
  bool woken_ ABSL_GUARDED_BY(mu_) = false;  // a wake-up is on its way
  struct Watched {
    const Pollable* writer;
    std::weak_ptr<Pollable> weak;
  };
  absl::flat_hash_map<int, Watched> writers_ ABSL_GUARDED_BY(mu_);

  // Loop thread only.
  std::vector<std::shared_ptr<Pollable>> round_writers_;
  std::thread thread_;
};

}  // namespace herald::edge
