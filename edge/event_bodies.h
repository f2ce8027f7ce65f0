// EventBodies: each event's SSE body (its `event:` and `data:` lines, a typed
// payload as JSON) rendered once and shared: by the shared feed and by every
// catch-up that sends the same event (browsers resuming the same streams from
// nearby positions get the same events). Recent bodies are kept by position
// within the topic's epoch, up to a count and a byte bound, the oldest
// forgotten first; a body asked for again after that is rendered again (the
// same bytes).
//
// Thread-safety: every method from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "herald/v1/event.pb.h"
#include "payload.h"

namespace herald::edge {

class EventBodies final {
 public:
  struct Options {
    size_t max_bodies = 4096;
    size_t max_bytes = 8 << 20;
    // Typed payloads as JSON; null: as text.
    const PayloadRenderer* renderer = nullptr;
  };
  explicit EventBodies(Options options) : options_(options) {}

  // Positions from now on are of `epoch`: bodies of another are forgotten.
  void SetEpoch(const std::string& epoch);
  // `event`'s body; `epoch` is the one its position is of (another than the
  // current one: rendered, not kept).
  std::shared_ptr<const std::string> Body(const std::string& epoch, const v1::Event& event);

  // Bodies rendered, and bodies handed out again without rendering.
  uint64_t rendered() const { return rendered_.load(std::memory_order_relaxed); }
  uint64_t reused() const { return reused_.load(std::memory_order_relaxed); }

 private:
  using Key = std::pair<int32_t, int64_t>;  // partition, offset

  std::shared_ptr<const std::string> Render(const v1::Event& event);

  const Options options_;
  std::atomic<uint64_t> rendered_{0};
  std::atomic<uint64_t> reused_{0};
  absl::Mutex mu_;
  std::string epoch_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<Key, std::shared_ptr<const std::string>> bodies_ ABSL_GUARDED_BY(mu_);
  std::deque<Key> order_ ABSL_GUARDED_BY(mu_);  // oldest first
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace herald::edge
