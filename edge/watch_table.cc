#include "watch_table.h"

#include <algorithm>

#include "herald/common/partitioner.h"

namespace herald::edge {

bool WatchTable::SetPartitions(int32_t partitions) {
  if (partitions == partitions_) return false;
  partitions_ = partitions;
  watched_.clear();
  for (auto& [name, stream] : streams_) {
    stream.partitions = common::CandidatePartitions(name, partitions_);
    stream.join.clear();
    for (int32_t p : stream.partitions) ++watched_[p];
  }
  return true;
}

void WatchTable::Advance(int32_t partition, int64_t next) {
  int64_t& feed = feed_[partition];
  feed = std::max(feed, next);
}

void WatchTable::Add(Member& member, const std::vector<std::string>& streams, v1::Watch& watch,
                     Known known) {
  // Where the feed is current (some stream is watched there) in the member's
  // partitions: its hand-over point is no earlier, and a new stream's watch
  // continues from it (the fanout's join may be later, never earlier).
  std::map<int32_t, int64_t> current;
  auto& waits = *(member.waits = std::make_unique<std::map<int32_t, Member::Wait>>());
  for (const std::string& s : streams) {
    for (int32_t p : common::CandidatePartitions(s, partitions_)) {
      if (waits.contains(p)) continue;
      const auto w = watched_.find(p);
      const auto f = w != watched_.end() && w->second > 0 ? feed_.find(p) : feed_.end();
      if (f != feed_.end()) current[p] = f->second;
      waits[p].handover = f != feed_.end() ? f->second : 0;
    }
  }
  for (const std::string& s : streams) {
    auto [it, created] = streams_.try_emplace(s);
    Stream& stream = it->second;
    if (created) {
      stream.partitions = common::CandidatePartitions(s, partitions_);
      for (int32_t p : stream.partitions) ++watched_[p];
      AddStart(watch, s, stream, current);
    }
    stream.members.push_back(&member);
    for (int32_t p : stream.partitions) {
      Member::Wait& wait = waits[p];
      if (auto j = stream.join.find(p); j != stream.join.end()) {
        wait.handover = std::max(wait.handover, j->second);
      } else {
        ++wait.joins;
      }
    }
  }
  for (const auto& [p, wait] : waits) {
    if (wait.joins == 0) known(member, p, wait.handover);
  }
  Trim(member);
}

void WatchTable::Remove(Member& member, const std::vector<std::string>& streams,
                        v1::Unwatch& unwatch) {
  for (const std::string& s : streams) {
    auto it = streams_.find(s);
    if (it == streams_.end()) continue;
    Stream& stream = it->second;
    stream.members.erase(std::remove(stream.members.begin(), stream.members.end(), &member),
                         stream.members.end());
    if (!stream.members.empty()) continue;
    if (const size_t unacknowledged = stream.partitions.size() - stream.join.size();
        unacknowledged > 0) {
      stale_joins_[s] += static_cast<int>(unacknowledged);
    }
    for (int32_t p : stream.partitions) {
      if (auto w = watched_.find(p); w != watched_.end() && --w->second <= 0) watched_.erase(w);
    }
    streams_.erase(it);
    unwatch.add_streams(s);
  }
}

void WatchTable::Joined(const v1::StreamJoined& joined, Known known) {
  if (auto stale = stale_joins_.find(joined.stream()); stale != stale_joins_.end()) {
    if (--stale->second == 0) stale_joins_.erase(stale);
    return;
  }
  auto it = streams_.find(joined.stream());
  if (it == streams_.end()) return;
  const int32_t p = joined.partition();
  auto [join, first] = it->second.join.try_emplace(p, joined.next_offset());
  join->second = std::max(join->second, joined.next_offset());
  if (!first) return;
  for (Member* member : it->second.members) {
    // A member that waits for nothing in `p` took this stream's join there
    // already (or its partitions changed under it: it is closing).
    if (member->Settled()) continue;
    auto wait = member->waits->find(p);
    if (wait == member->waits->end() || wait->second.joins <= 0) continue;
    wait->second.handover = std::max(wait->second.handover, joined.next_offset());
    if (--wait->second.joins > 0) continue;
    known(*member, p, wait->second.handover);
    Trim(*member);
  }
}

void WatchTable::Rewatch(v1::Watch& watch) const {
  for (const auto& [name, stream] : streams_) AddStart(watch, name, stream, feed_);
}

const WatchTable::Members* WatchTable::MembersOf(const std::string& stream) const {
  auto it = streams_.find(stream);
  return it == streams_.end() || it->second.members.empty() ? nullptr : &it->second.members;
}

void WatchTable::Clear() {
  streams_.clear();
  watched_.clear();
  stale_joins_.clear();
}

void WatchTable::AddStart(v1::Watch& watch, const std::string& name, const Stream& stream,
                          const std::map<int32_t, int64_t>& from) const {
  v1::StreamStart& start = *watch.add_streams();
  start.set_stream(name);
  // The murmur2 partition's position also goes in the field fanouts read
  // before streams had several partitions.
  const int32_t home = common::PartitionForKey(name, partitions_);
  for (int32_t p : stream.partitions) {
    auto f = from.find(p);
    if (f == from.end()) continue;
    (*start.mutable_next_offsets())[p] = f->second;
    if (p == home) start.set_next_offset(f->second);
  }
}

void WatchTable::Trim(Member& member) {
  if (member.Settled()) return;
  if (std::all_of(member.waits->begin(), member.waits->end(),
                  [](const auto& w) { return w.second.joins <= 0; })) {
    member.waits.reset();
  }
}

}  // namespace herald::edge
