// Pump: a few threads that move many calls forward, instead of a thread per
// call.
//
// Subscribe calls run on gRPC's callback API. A call's work (a Pull from the
// rings or from Kafka, which may wait up to the replay poll) runs on one of
// the pump's threads when the call is scheduled: after a write completes,
// while it replays, or once the store changes. A call with nothing to send
// waits in a list, not on a thread; one waker thread watches the store's
// version and reschedules every waiting call when it moves, and at least
// every `tick` (so that cursor heartbeats and cancellations are noticed).
// However many calls are open, the fanout runs `threads` + 1 threads for
// them.
//
// Tasks are reference-counted: the pump holds a reference while a task is
// queued, waiting or running, so a call that gRPC has finished with stays
// alive until the pump lets go of it.
//
// Thread-safety: every method may be called from any thread. A task's Step()
// may run on two pump threads at once (scheduled again while running): tasks
// serialize their own steps.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "event_store.h"

namespace herald::fanout {

class Pump final {
 public:
  class Task {
   public:
    virtual ~Task() = default;
    // Moves the task forward; runs on a pump thread.
    virtual void Step() = 0;
    void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
    void Unref() {
      if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }

   private:
    friend class Pump;
    std::atomic<int> refs_{1};
    std::atomic<bool> queued_{false};
  };

  Pump(EventStore& store, int threads, absl::Duration tick = absl::Milliseconds(250));
  ~Pump();  // runs what is queued, then joins

  // Runs task->Step() soon; a task queued already is not queued twice.
  void Schedule(Task* task);
  // Runs task->Step() once the store's version differs from `seen`, or after
  // the tick at the latest.
  void ScheduleOnChange(Task* task, uint64_t seen);

  int threads() const { return static_cast<int>(workers_.size()); }
  size_t Waiting() const;

 private:
  void Work();
  void Wake();

  EventStore& store_;  // Poked when the pump stops: the waker waits on it
  const absl::Duration tick_;
  std::atomic<bool> stopping_{false};
  mutable absl::Mutex mu_;
  std::deque<Task*> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<Task*> waiting_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> workers_;
  std::thread waker_;
};

}  // namespace herald::fanout
