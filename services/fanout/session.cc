#include "session.h"

#include <algorithm>
#include <deque>
#include <set>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "herald/broker/event_codec.h"
#include "herald/common/logging.h"
#include "herald/common/partitioner.h"

namespace herald::fanout {
namespace {

bool Contains(const std::vector<std::string>& sorted, const std::string& stream) {
  return std::binary_search(sorted.begin(), sorted.end(), stream);
}

// Reads `partition` with `scanner` from `from` up to `to` (exclusive), giving
// each record to `fn`, for at most 10 s: DeadlineExceeded if that was not
// enough. Stops early, OK, if retention moves under it.
absl::Status ScanRange(broker::Reader& scanner, int32_t partition, int64_t from, int64_t to,
                       absl::FunctionRef<void(const broker::Record&)> fn) {
  if (absl::Status s = scanner.Assign({{partition, from}}); !s.ok()) return s;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (scanner.NextOffset(partition).value_or(from) < to) {
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("reading partition ", partition, " from ", from, " took over 10 s"));
    }
    absl::StatusOr<broker::Batch> batch = scanner.Poll(4096, absl::Milliseconds(100));
    if (!batch.ok()) return batch.status();
    for (const broker::Record& r : batch->records) {
      if (r.position.offset < to) fn(r);
    }
    if (!batch->out_of_range.empty()) break;  // retention moved under us
  }
  return absl::OkStatus();
}

}  // namespace

Session::Session(EventStore& store, ReaderFactory readers, int32_t partitions,
                 SessionOptions options)
    : store_(store), readers_(std::move(readers)), partitions_(partitions), options_(options) {}

absl::Status Session::EnsureReader() {
  if (reader_ != nullptr) return absl::OkStatus();
  absl::StatusOr<std::unique_ptr<broker::Reader>> reader = readers_();
  if (!reader.ok()) return reader.status();
  reader_ = std::move(*reader);
  assigned_.clear();
  return absl::OkStatus();
}

absl::StatusOr<broker::Watermarks> Session::Watermarks(int32_t partition) {
  if (absl::Status s = EnsureReader(); !s.ok()) return s;
  return reader_->QueryWatermarks(partition, absl::Seconds(10));
}

v1::Reset Session::MakeReset(const Group& g, const std::string& reason, const std::string& detail) {
  v1::Reset reset;
  for (const std::string& s : g.streams) reset.add_streams(s);
  reset.set_reason(reason);
  reset.set_detail(detail);
  return reset;
}

absl::StatusOr<Session::Added> Session::Add(const std::vector<Start>& starts) {
  absl::MutexLock lock(&mu_);
  std::map<int32_t, std::vector<const Start*>> by_partition;
  for (const Start& s : starts) {
    for (int32_t p : common::CandidatePartitions(s.stream, partitions_)) {
      by_partition[p].push_back(&s);
    }
  }
  Added added;
  std::vector<v1::Reset>& resets = added.resets;
  for (const auto& [partition, list] : by_partition) {
    Group& g = groups_[partition];
    const bool fresh = g.streams.empty();
    // Where each new stream would start on its own.
    std::vector<std::pair<const Start*, int64_t>> wanted;
    for (const Start* s : list) {
      if (Contains(g.streams, s->stream)) continue;
      if (std::any_of(wanted.begin(), wanted.end(),
                      [&](const auto& w) { return w.first->stream == s->stream; })) {
        continue;
      }
      int64_t at;
      if (auto given = s->next_offsets.find(partition); given != s->next_offsets.end()) {
        at = given->second;
      } else if (s->rewind > 0) {
        std::optional<int64_t> start = store_.RewindStart(partition, s->stream, s->rewind, -1);
        if (!start.has_value()) {
          absl::StatusOr<broker::Watermarks> w = Watermarks(partition);
          if (!w.ok()) return w.status();
          start = store_.RewindStart(partition, s->stream, s->rewind, w->low);
        }
        if (!start.has_value()) {
          absl::StatusOr<int64_t> scanned = RewindFromKafka(partition, s->stream, s->rewind);
          if (!scanned.ok()) return scanned.status();
          start = *scanned;
        }
        at = *start;
      } else {
        at = store_.Tail(partition);
      }
      wanted.emplace_back(s, at);
    }
    if (wanted.empty()) continue;
    if (fresh) {
      g.next = wanted.front().second;
      for (const auto& w : wanted) g.next = std::min(g.next, w.second);
    }
    for (const auto& [s, at] : wanted) {
      streams_.insert(s->stream);
      g.streams.insert(std::upper_bound(g.streams.begin(), g.streams.end(), s->stream), s->stream);
      if (at > g.next) g.min_offset[s->stream] = at;
    }
    // A position the store does not cover may be older than retention: say so
    // now rather than after a failed read.
    if (!store_.Collect(partition, g.streams, g.next, 0, &g.min_offset).has_value()) {
      absl::StatusOr<broker::Watermarks> w = Watermarks(partition);
      if (!w.ok()) return w.status();
      if (g.next < w->low) {
        resets.push_back(
            MakeReset(g, "retention",
                      absl::StrCat("partition ", partition, " position ", g.next,
                                   " is older than the oldest retained event ", w->low)));
        g.next = w->low;
      }
    }
    for (const auto& [s, at] : wanted) {
      v1::StreamJoined& j = added.joined.emplace_back();
      j.set_stream(s->stream);
      j.set_partition(partition);
      auto m = g.min_offset.find(s->stream);
      j.set_next_offset(m != g.min_offset.end() ? std::max(m->second, g.next) : g.next);
    }
  }
  return added;
}

std::vector<std::string> Session::Remove(const std::vector<std::string>& streams) {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> removed;
  for (const std::string& stream : streams) {
    if (streams_.erase(stream) == 0) continue;
    removed.push_back(stream);
    for (int32_t partition : common::CandidatePartitions(stream, partitions_)) {
      auto it = groups_.find(partition);
      if (it == groups_.end()) continue;
      Group& g = it->second;
      auto pos = std::lower_bound(g.streams.begin(), g.streams.end(), stream);
      if (pos == g.streams.end() || *pos != stream) continue;
      g.streams.erase(pos);
      g.min_offset.erase(stream);
      if (g.streams.empty()) groups_.erase(it);
    }
  }
  return removed;
}

absl::StatusOr<int64_t> Session::RewindFromKafka(int32_t partition, const std::string& stream,
                                                 uint32_t n) {
  absl::StatusOr<broker::Watermarks> w = Watermarks(partition);
  if (!w.ok()) return w.status();
  const int64_t coverage = store_.Coverage(partition, stream);
  std::optional<EventStore::Collected> held = store_.Collect(partition, {stream}, coverage, n);
  const size_t in_memory = held.has_value() ? held->events.size() : 0;
  const size_t need = n > in_memory ? n - in_memory : 0;
  if (need == 0) return held->events.front()->position().offset();

  absl::StatusOr<std::unique_ptr<broker::Reader>> scanner = readers_();
  if (!scanner.ok()) return scanner.status();
  // Newest first: offsets of the stream found below the coverage.
  std::vector<int64_t> found;
  int64_t hi = std::min(coverage, w->high);
  int64_t window = 4096;
  int64_t scanned = 0;
  while (hi > w->low && found.size() < need && scanned < options_.max_rewind_scan) {
    const int64_t lo = std::max(w->low, hi - window);
    std::vector<int64_t> in_window;
    // Out of time: settle for what this window gave.
    if (absl::Status s = ScanRange(**scanner, partition, lo, hi,
                                   [&](const broker::Record& r) {
                                     if (r.key == stream) in_window.push_back(r.position.offset);
                                   });
        !s.ok() && !absl::IsDeadlineExceeded(s)) {
      return s;
    }
    found.insert(found.end(), in_window.rbegin(), in_window.rend());
    scanned += hi - lo;
    hi = lo;
    window *= 4;
  }
  if (found.size() >= need) return found[need - 1];
  return found.empty() ? coverage : found.back();
}

absl::StatusOr<Session::Delivery> Session::Pull() {
  absl::MutexLock lock(&mu_);
  Delivery out;
  size_t budget = options_.max_batch_events;
  bool any_replaying = false;
  for (auto& [partition, g] : groups_) {
    if (budget == 0) break;
    std::optional<EventStore::Collected> c =
        store_.Collect(partition, g.streams, g.next, budget, &g.min_offset);
    if (!c.has_value()) {
      g.replaying = true;
      any_replaying = true;
      continue;
    }
    g.replaying = false;
    g.dedup.reset();
    budget -= c->events.size();
    for (EventPtr& e : c->events) out.events.push_back(std::move(e));
    g.next = c->next;
    absl::erase_if(g.min_offset, [&](const auto& m) { return m.second <= g.next; });
  }
  if (any_replaying && budget > 0) {
    if (absl::Status s = ReplayStep(out, budget); !s.ok()) return s;
  }
  out.replaying = any_replaying;
  if (!any_replaying && reader_ != nullptr) {
    reader_.reset();  // caught up: give the connection back
    assigned_.clear();
  }
  return out;
}

absl::Status Session::ReplayStep(Delivery& out, size_t budget) {
  if (absl::Status s = EnsureReader(); !s.ok()) return s;
  std::map<int32_t, int64_t> wanted;
  for (const auto& [partition, g] : groups_) {
    if (g.replaying) wanted[partition] = g.next;
  }
  bool reassign = wanted.size() != assigned_.size();
  for (const auto& [partition, next] : wanted) {
    reassign = reassign || !assigned_.contains(partition) ||
               reader_->NextOffset(partition).value_or(-1) != next;
  }
  if (reassign) {
    std::vector<broker::Position> starts;
    for (const auto& [partition, next] : wanted) starts.push_back({partition, next});
    if (absl::Status s = reader_->Assign(starts); !s.ok()) return s;
    assigned_ = wanted;
  }
  absl::StatusOr<broker::Batch> batch = reader_->Poll(budget, options_.replay_poll);
  if (!batch.ok()) return batch.status();
  std::set<int32_t> waiting;  // partitions read past what the tail reader knows
  for (const broker::Record& record : batch->records) {
    auto it = groups_.find(record.position.partition);
    if (it == groups_.end() || !it->second.replaying) continue;
    Group& g = it->second;
    if (record.position.offset < g.next || waiting.contains(it->first)) continue;
    absl::StatusOr<std::optional<bool>> duplicate = Duplicate(g, record);
    if (!duplicate.ok()) return duplicate.status();
    if (!duplicate->has_value()) {
      // Decided once the tail reader has read it: read it again then.
      waiting.insert(it->first);
      assigned_.erase(it->first);
      continue;
    }
    g.next = record.position.offset + 1;
    if (**duplicate || !Contains(g.streams, record.key)) continue;
    if (auto m = g.min_offset.find(record.key);
        m != g.min_offset.end() && record.position.offset < m->second) {
      continue;
    }
    absl::StatusOr<v1::Event> event = broker::DecodeFromKafka(record);
    if (!event.ok()) {
      spdlog::warn("replay skips {}", event.status());
      continue;
    }
    out.events.push_back(std::make_shared<const v1::Event>(std::move(*event)));
  }
  for (const broker::Position& p : batch->out_of_range) {
    auto it = groups_.find(p.partition);
    if (it == groups_.end()) continue;
    Group& g = it->second;
    absl::StatusOr<broker::Watermarks> w = Watermarks(p.partition);
    if (!w.ok()) return w.status();
    if (g.next < w->low) {
      out.resets.push_back(
          MakeReset(g, "retention",
                    absl::StrCat("partition ", p.partition, " position ", g.next,
                                 " was deleted by retention; resuming at ", w->low)));
      g.next = w->low;
    }
    assigned_.erase(p.partition);  // re-assign at the new position
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<bool>> Session::Duplicate(Group& g, const broker::Record& record) {
  const int32_t partition = record.position.partition;
  const int64_t offset = record.position.offset;
  if (std::optional<bool> known = store_.IsDuplicate(partition, offset); known.has_value()) {
    g.dedup.reset();
    return known;
  }
  if (offset >= store_.Tail(partition)) return std::optional<bool>();
  if (g.dedup == nullptr) {
    // Older than what the store records: the same rule over the look-back,
    // read from Kafka first. Kept only once complete: a failed read is
    // started again on the next try, not continued with a partial index.
    auto index = std::make_unique<DedupIndex>(options_.dedup);
    absl::StatusOr<broker::Watermarks> w = Watermarks(partition);
    if (!w.ok()) return w.status();
    const int64_t from = std::max(w->low, offset - options_.dedup.lookback);
    absl::StatusOr<std::unique_ptr<broker::Reader>> scanner = readers_();
    if (!scanner.ok()) return scanner.status();
    if (absl::Status s = ScanRange(**scanner, partition, from, offset,
                                   [&](const broker::Record& r) { index->Check(r); });
        !s.ok()) {
      if (!absl::IsDeadlineExceeded(s)) return s;
      return absl::UnavailableError(absl::StrCat("the duplicate rule's look-back: ", s.message()));
    }
    g.dedup = std::move(index);
  }
  return std::optional<bool>(g.dedup->Check(record));
}

std::map<int32_t, int64_t> Session::Positions() const {
  absl::MutexLock lock(&mu_);
  std::map<int32_t, int64_t> out;
  for (const auto& [partition, g] : groups_) out[partition] = g.next;
  return out;
}

size_t Session::StreamCount() const {
  absl::MutexLock lock(&mu_);
  return streams_.size();
}

std::vector<std::string> Session::Streams() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out(streams_.begin(), streams_.end());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace herald::fanout
