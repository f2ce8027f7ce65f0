#include "pump.h"

#include <algorithm>

namespace herald::fanout {

Pump::Pump(EventStore& store, int threads, absl::Duration tick) : store_(store), tick_(tick) {
  for (int i = 0; i < std::max(1, threads); ++i) workers_.emplace_back([this] { Work(); });
  waker_ = std::thread([this] { Wake(); });
}

Pump::~Pump() {
  stopping_.store(true);
  {
    absl::MutexLock lock(&mu_);  // wakes the workers
  }
  store_.Poke();  // wakes the waker
  waker_.join();
  for (std::thread& t : workers_) t.join();
  // What is left (waiting, or queued by the waker after the workers left):
  // let go of it; the calls are over, the server stopped before the pump.
  std::vector<Task*> left;
  {
    absl::MutexLock lock(&mu_);
    left.swap(waiting_);
    left.insert(left.end(), queue_.begin(), queue_.end());
    queue_.clear();
  }
  for (Task* t : left) t->Unref();
}

void Pump::Schedule(Task* task) {
  if (task->queued_.exchange(true)) return;
  task->Ref();
  absl::MutexLock lock(&mu_);
  queue_.push_back(task);
}

void Pump::ScheduleOnChange(Task* task, uint64_t seen) {
  {
    absl::MutexLock lock(&mu_);
    // Checked under the lock the waker swaps the list under: a change after
    // this check wakes the list this task is in.
    if (store_.Version() == seen && !stopping_.load()) {
      task->Ref();
      waiting_.push_back(task);
      return;
    }
  }
  Schedule(task);
}

size_t Pump::Waiting() const {
  absl::MutexLock lock(&mu_);
  return waiting_.size();
}

void Pump::Work() {
  while (true) {
    Task* task;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !queue_.empty() || stopping_.load();
      };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping, and nothing left
      task = queue_.front();
      queue_.pop_front();
    }
    task->queued_.store(false);
    task->Step();
    task->Unref();
  }
}

void Pump::Wake() {
  uint64_t seen = store_.Version();
  while (!stopping_.load()) {
    const uint64_t now = store_.AwaitChange(seen, tick_);
    std::vector<Task*> waiting;
    {
      absl::MutexLock lock(&mu_);
      waiting.swap(waiting_);
    }
    for (Task* t : waiting) {
      Schedule(t);
      t->Unref();
    }
    seen = now;
  }
}

}  // namespace herald::fanout
