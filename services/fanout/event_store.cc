#include "event_store.h"

#include <algorithm>

#include "herald/common/logging.h"

namespace herald::fanout {

EventStore::EventStore(int32_t partitions, StoreOptions options)
    : partitions_(partitions), options_(options), parts_(partitions) {}

void EventStore::Begin(int32_t partition, int64_t offset) {
  absl::MutexLock lock(&mu_);
  Partition& p = parts_.at(partition);
  // Nothing below `offset` is claimed from now on; events already held above
  // it stay covered. (A forward jump leaves a hole the rings cannot fill.)
  p.start = offset;
  p.floor = std::max(p.floor, offset);
  p.tail = std::max(p.tail, offset);
  for (auto& [name, ring] : p.rings) ring.covered_from = std::max(ring.covered_from, offset);
  ++version_;
}

void EventStore::DedupFrom(int32_t partition, int64_t offset) {
  absl::MutexLock lock(&mu_);
  parts_.at(partition).dedup_from = offset;
}

std::optional<bool> EventStore::IsDuplicate(int32_t partition, int64_t offset) const {
  absl::ReaderMutexLock lock(&mu_);
  const Partition& p = parts_.at(partition);
  if (offset < p.dedup_from || offset >= p.tail) return std::nullopt;
  return p.duplicates.contains(offset);
}

void EventStore::Ingest(int32_t partition, std::vector<EventPtr> events, int64_t next_offset,
                        const std::vector<int64_t>& duplicates) {
  // Duplicates are rare (retries); this many per partition is plenty.
  constexpr size_t kMaxDuplicates = 100'000;
  absl::MutexLock lock(&mu_);
  Partition& p = parts_.at(partition);
  for (int64_t offset : duplicates) {
    if (offset >= p.dedup_from && offset >= p.tail) p.duplicates.insert(offset);
  }
  while (p.duplicates.size() > kMaxDuplicates) {
    p.dedup_from = *p.duplicates.begin() + 1;
    p.duplicates.erase(p.duplicates.begin());
  }
  for (EventPtr& event : events) {
    const int64_t offset = event->position().offset();
    if (offset < p.tail) continue;  // already held; the reader never goes back
    auto [it, created] = p.rings.try_emplace(event->stream());
    Ring& ring = it->second;
    if (created) {
      // The stream had no events since the floor, so its ring covers from there.
      ring.covered_from = p.floor;
      lru_.emplace_front(partition, event->stream());
      ring.lru = lru_.begin();
    } else {
      lru_.splice(lru_.begin(), lru_, ring.lru);
    }
    const size_t bytes = event->ByteSizeLong() + event->stream().size() + 64;
    ring.entries.push_back({std::move(event), offset, bytes});
    ring.bytes += bytes;
    bytes_ += bytes;
    ++events_;
    while (ring.entries.size() > options_.ring_events ||
           (ring.bytes > options_.ring_bytes && ring.entries.size() > 1)) {
      const Entry& oldest = ring.entries.front();
      ring.covered_from = oldest.offset + 1;
      ring.bytes -= oldest.bytes;
      bytes_ -= oldest.bytes;
      --events_;
      ring.entries.pop_front();
    }
    p.tail = offset + 1;
  }
  p.tail = std::max(p.tail, next_offset);
  while (lru_.size() > 1 && (lru_.size() > options_.max_streams || bytes_ > options_.max_bytes)) {
    DropLeastRecentLocked();
  }
  ++version_;
}

void EventStore::DropLeastRecentLocked() {
  const auto [partition, stream] = lru_.back();
  Partition& p = parts_[partition];
  auto it = p.rings.find(stream);
  bytes_ -= it->second.bytes;
  events_ -= it->second.entries.size();
  p.rings.erase(it);
  lru_.pop_back();
  // The dropped stream's events are forgotten up to the tail, and streams
  // without a ring share one floor: raise it.
  p.floor = p.tail;
  ++dropped_rings_;
}

int64_t EventStore::CoverageLocked(const Partition& p, const std::string& stream) const {
  auto it = p.rings.find(stream);
  return it == p.rings.end() ? p.floor : it->second.covered_from;
}

std::optional<EventStore::Collected> EventStore::Collect(
    int32_t partition, const std::vector<std::string>& streams, int64_t from, size_t max,
    const absl::flat_hash_map<std::string, int64_t>* min_offsets) {
  absl::ReaderMutexLock lock(&mu_);
  const Partition& p = parts_.at(partition);
  // Cursors per stream into the rings, for a k-way merge by offset.
  struct Source {
    const std::deque<Entry>* entries;
    size_t index;
  };
  std::vector<Source> sources;
  for (const std::string& stream : streams) {
    if (from < CoverageLocked(p, stream)) return std::nullopt;
    auto it = p.rings.find(stream);
    if (it == p.rings.end()) continue;
    int64_t lower = from;
    if (min_offsets != nullptr) {
      if (auto m = min_offsets->find(stream); m != min_offsets->end()) {
        lower = std::max(lower, m->second);
      }
    }
    const auto& entries = it->second.entries;
    auto first = std::lower_bound(entries.begin(), entries.end(), lower,
                                  [](const Entry& e, int64_t o) { return e.offset < o; });
    if (first != entries.end()) {
      sources.push_back({&entries, static_cast<size_t>(first - entries.begin())});
    }
  }
  Collected out;
  while (out.events.size() < max) {
    Source* best = nullptr;
    for (Source& s : sources) {
      if (s.index < s.entries->size() &&
          (best == nullptr ||
           (*s.entries)[s.index].offset < (*best->entries)[best->index].offset)) {
        best = &s;
      }
    }
    if (best == nullptr) break;
    out.events.push_back((*best->entries)[best->index].event);
    ++best->index;
  }
  bool more = false;
  for (const Source& s : sources) more = more || s.index < s.entries->size();
  if (!more) {
    out.next = std::max(from, p.tail);
  } else {
    out.next = out.events.empty() ? from : out.events.back()->position().offset() + 1;
  }
  return out;
}

std::optional<int64_t> EventStore::RewindStart(int32_t partition, const std::string& stream,
                                               size_t n, int64_t log_start) {
  absl::ReaderMutexLock lock(&mu_);
  const Partition& p = parts_.at(partition);
  auto it = p.rings.find(stream);
  if (it != p.rings.end() && n > 0 && it->second.entries.size() >= n) {
    return it->second.entries[it->second.entries.size() - n].offset;
  }
  const int64_t coverage = CoverageLocked(p, stream);
  if (n == 0) return p.tail;
  if (coverage <= log_start) return coverage;
  return std::nullopt;
}

int64_t EventStore::Tail(int32_t partition) const {
  absl::ReaderMutexLock lock(&mu_);
  return parts_.at(partition).tail;
}

int64_t EventStore::Coverage(int32_t partition, const std::string& stream) const {
  absl::ReaderMutexLock lock(&mu_);
  return CoverageLocked(parts_.at(partition), stream);
}

uint64_t EventStore::Version() const {
  absl::ReaderMutexLock lock(&mu_);
  return version_;
}

uint64_t EventStore::AwaitChange(uint64_t seen, absl::Duration timeout) const {
  absl::ReaderMutexLock lock(&mu_);
  auto changed = [this, seen]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return version_ != seen; };
  mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
  return version_;
}

void EventStore::Poke() {
  absl::MutexLock lock(&mu_);
  ++version_;
}

EventStore::Stats EventStore::GetStats() const {
  absl::ReaderMutexLock lock(&mu_);
  return {
      .streams = lru_.size(), .events = events_, .bytes = bytes_, .dropped_rings = dropped_rings_};
}

}  // namespace herald::fanout
