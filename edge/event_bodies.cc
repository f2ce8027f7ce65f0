#include "event_bodies.h"

#include "sse.h"

namespace herald::edge {

void EventBodies::SetEpoch(const std::string& epoch) {
  absl::MutexLock lock(&mu_);
  if (epoch == epoch_) return;
  epoch_ = epoch;
  bodies_.clear();
  order_.clear();
  bytes_ = 0;
}

std::shared_ptr<const std::string> EventBodies::Body(const std::string& epoch,
                                                     const v1::Event& event) {
  const Key key{event.position().partition(), event.position().offset()};
  {
    absl::MutexLock lock(&mu_);
    if (auto it = bodies_.find(key); it != bodies_.end() && epoch == epoch_) {
      reused_.fetch_add(1, std::memory_order_relaxed);
      return it->second;
    }
  }
  // Outside the lock: a typed payload's JSON takes a while. Two threads may
  // render one event at once; the first kept wins.
  std::shared_ptr<const std::string> body = Render(event);
  absl::MutexLock lock(&mu_);
  if (epoch != epoch_ || body->size() > options_.max_bytes) return body;
  auto [it, added] = bodies_.try_emplace(key, body);
  if (!added) return it->second;
  order_.push_back(key);
  bytes_ += body->size();
  while (bodies_.size() > options_.max_bodies || bytes_ > options_.max_bytes) {
    auto oldest = bodies_.find(order_.front());
    bytes_ -= oldest->second->size();
    bodies_.erase(oldest);
    order_.pop_front();
  }
  return body;
}

std::shared_ptr<const std::string> EventBodies::Render(const v1::Event& event) {
  rendered_.fetch_add(1, std::memory_order_relaxed);
  return std::make_shared<const std::string>(RenderEventBody(
      event.type(), options_.renderer != nullptr ? options_.renderer->Data(event) : event.text()));
}

}  // namespace herald::edge
