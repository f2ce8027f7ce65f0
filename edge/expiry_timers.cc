#include "expiry_timers.h"

#include <algorithm>

namespace herald::edge {

ExpiryTimers::ExpiryTimers(std::function<void(Connection&)> expire)
    : expire_(std::move(expire)), thread_([this] { Run(); }) {}

ExpiryTimers::~ExpiryTimers() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void ExpiryTimers::Add(absl::Time at, const std::shared_ptr<Connection>& connection) {
  absl::MutexLock lock(&mu_);
  if (heap_.size() >= purge_at_) {
    std::erase_if(heap_, [](const Timer& t) { return t.connection.expired(); });
    std::make_heap(heap_.begin(), heap_.end(), Later);
    purge_at_ = std::max<size_t>(1024, 2 * heap_.size());
  }
  heap_.push_back(Timer{at, connection});
  std::push_heap(heap_.begin(), heap_.end(), Later);
  // Run() waits on a condition over the heap's front: a new earliest
  // deadline wakes it when this lock is released.
}

size_t ExpiryTimers::pending() const {
  absl::MutexLock lock(&mu_);
  return heap_.size();
}

void ExpiryTimers::Run() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    const absl::Time now = absl::Now();
    if (heap_.empty() || heap_.front().at > now) {
      const absl::Time until = heap_.empty() ? absl::InfiniteFuture() : heap_.front().at;
      const size_t size = heap_.size();
      // Wakes for a stop, a new earliest deadline, or the current one.
      auto changed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || heap_.size() != size || (!heap_.empty() && heap_.front().at < until);
      };
      mu_.AwaitWithDeadline(absl::Condition(&changed), until);
      continue;
    }
    std::pop_heap(heap_.begin(), heap_.end(), Later);
    std::shared_ptr<Connection> connection = heap_.back().connection.lock();
    heap_.pop_back();
    if (connection == nullptr) continue;
    mu_.Unlock();  // `expire` writes to the connection: never under this lock
    expire_(*connection);
    connection.reset();
    mu_.Lock();
  }
}

}  // namespace herald::edge
