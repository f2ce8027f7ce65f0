// Deliverer: the threads that hand shared-feed work to connections.
//
// Writing one event to 10,000 sockets is 10,000 send() calls; one thread
// doing them all makes the last browser wait for the other 9,999. The hub
// assigns each connection to one of N delivery threads and queues, per
// thread, the event with that thread's connections. Each thread runs its
// queue in order, so a connection still sees its events, progress and resets
// in feed order, and the hub's reader thread is back on the feed at once.
//
// Bounded: a thread's queue holds at most `max_queued` tasks; past that,
// Post() waits, which holds the hub's reader, which (through gRPC flow
// control) slows the fanout's feed rather than growing memory.
//
// Thread-safety: Post() from any thread.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace herald::edge {

class Deliverer final {
 public:
  Deliverer(int threads, size_t max_queued = 4096);
  ~Deliverer();  // runs what is queued, then joins

  int threads() const { return static_cast<int>(lanes_.size()); }
  // Runs `task` on thread `lane` (0 <= lane < threads()), after the tasks
  // posted to it before.
  void Post(int lane, std::function<void()> task);

 private:
  struct Lane {
    absl::Mutex mu;
    std::deque<std::function<void()>> tasks ABSL_GUARDED_BY(mu);
    bool stopping ABSL_GUARDED_BY(mu) = false;
    std::thread thread;
  };
  void Run(Lane& lane);

  const size_t max_queued_;
  std::vector<std::unique_ptr<Lane>> lanes_;
};

}  // namespace herald::edge
