#include "deliverer.h"

#include <algorithm>

namespace herald::edge {

Deliverer::Deliverer(int threads, size_t max_queued)
    : max_queued_(std::max<size_t>(1, max_queued)) {
  for (int i = 0; i < std::max(1, threads); ++i) lanes_.push_back(std::make_unique<Lane>());
  for (auto& lane : lanes_) lane->thread = std::thread([this, &l = *lane] { Run(l); });
}

Deliverer::~Deliverer() {
  for (auto& lane : lanes_) {
    absl::MutexLock lock(&lane->mu);
    lane->stopping = true;
  }
  for (auto& lane : lanes_) lane->thread.join();
}

void Deliverer::Post(int lane, std::function<void()> task) {
  Lane& l = *lanes_[static_cast<size_t>(lane) % lanes_.size()];
  absl::MutexLock lock(&l.mu);
  auto room = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(l.mu) {
    return l.tasks.size() < max_queued_ || l.stopping;
  };
  l.mu.Await(absl::Condition(&room));
  l.tasks.push_back(std::move(task));
}

void Deliverer::Run(Lane& lane) {
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&lane.mu);
      auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(lane.mu) {
        return !lane.tasks.empty() || lane.stopping;
      };
      lane.mu.Await(absl::Condition(&ready));
      if (lane.tasks.empty()) return;  // stopping, and nothing left
      task = std::move(lane.tasks.front());
      lane.tasks.pop_front();
    }
    task();
  }
}

}  // namespace herald::edge
