// WatchTable: which streams the edge watches on its Attach stream, where each
// joined the shared feed, where the feed is, and for each member (a
// connection) its hand-over point. Bookkeeping only, no I/O: the hub holds it
// under its lock and sends the requests it fills in.
//
// The join arithmetic. Per partition p the feed position F[p] says every
// event of a watched stream below F[p] has arrived. Per stream s and
// candidate partition p of s, the join J[s][p] (acknowledged by the fanout)
// says from J[s][p] on the feed carries every event of s in p. A member added
// while the feed is at F[p] holds every shared event from F[p] on, so its
// hand-over point in p is H[p] = max(F[p], J[s][p] for each of its streams s
// with p among its candidates). H[p] is known once every such join is; until
// then the member waits for the rest. A stream's first member watches it,
// continuing from F where F is current (some stream is watched in p); its
// last member unwatches it.
//
// Acknowledgements are matched to watches in order: a stream unwatched before
// all of its joins came leaves the rest as stale, so they are not taken for
// a newer watch of the same name. A new session starts with none stale.
//
// Not thread-safe: one owner (the hub, under its lock).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "herald/v1/fanout.pb.h"

namespace herald::edge {

class WatchTable final {
 public:
  // A member's part in the table: per partition of its streams, its
  // hand-over point so far and the joins it still waits for. Empty once
  // every hand-over point is known (an idle connection holds nothing here).
  struct Member {
    struct Wait {
      int64_t handover = 0;  // so far
      int joins = 0;         // still awaited
    };
    // Null once every hand-over point is known.
    std::unique_ptr<std::map<int32_t, Wait>> waits;
    bool Settled() const { return waits == nullptr; }
  };
  using Members = std::vector<Member*>;
  // Called for `member` once its hand-over point in `partition` is known.
  using Known = absl::FunctionRef<void(Member& member, int32_t partition, int64_t handover)>;

  int32_t partitions() const { return partitions_; }
  // The topic's partition count; on a change every stream's candidate
  // partitions are computed anew and its joins forgotten (each is watched
  // again). Returns whether it changed.
  bool SetPartitions(int32_t partitions);
  // A new Attach session: the old one's acknowledgements never come.
  void NewSession() { stale_joins_.clear(); }

  // Everything of watched streams below `next` in `partition` has arrived.
  void Advance(int32_t partition, int64_t next);
  const std::map<int32_t, int64_t>& feed() const { return feed_; }
  // Positions mean nothing any more (another epoch).
  void ForgetFeed() { feed_.clear(); }

  // Adds `member` following `streams`: streams not watched yet go in
  // `watch`. Calls `known` for each partition whose hand-over point is known
  // at once (the others follow from Joined).
  void Add(Member& member, const std::vector<std::string>& streams, v1::Watch& watch, Known known);
  // Removes `member` (added with `streams`); streams nobody follows any more
  // go in `unwatch`.
  void Remove(Member& member, const std::vector<std::string>& streams, v1::Unwatch& unwatch);
  // The fanout's acknowledgement of a watch.
  void Joined(const v1::StreamJoined& joined, Known known);
  // Every stream, from where the feed is (a new replica continues exactly).
  void Rewatch(v1::Watch& watch) const;

  // The members following `stream`; null when nobody does.
  const Members* MembersOf(const std::string& stream) const;
  size_t StreamCount() const { return streams_.size(); }
  void Clear();

 private:
  struct Stream {
    Members members;
    // Its candidate partitions, and its join in each acknowledged so far.
    std::vector<int32_t> partitions;
    std::map<int32_t, int64_t> join;
  };
  // A watch of `name` continuing from the feed where it is current.
  void AddStart(v1::Watch& watch, const std::string& name, const Stream& stream,
                const std::map<int32_t, int64_t>& from) const;
  // Lets go of a member's bookkeeping once every hand-over point is known.
  static void Trim(Member& member);

  int32_t partitions_ = 0;
  std::map<int32_t, int64_t> feed_;
  // Streams watched per partition. The feed position of a partition where
  // none is watched goes stale: a new watch there starts at the fanout's end
  // rather than replaying from it on the shared feed (a resuming browser
  // catches up on its own subscription, at its own pace).
  std::map<int32_t, int> watched_;
  absl::flat_hash_map<std::string, Stream> streams_;
  absl::flat_hash_map<std::string, int> stale_joins_;
};

}  // namespace herald::edge
