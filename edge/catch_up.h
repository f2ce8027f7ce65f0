// Hub::PrivateSubscription: the catch-up of one resuming browser, or of
// several resuming the same streams from nearby positions (see hub.h).
#pragma once

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "herald/common/cursor.h"
#include "herald/common/logging.h"
#include "hub.h"

namespace herald::edge {

// A Fanout.Subscribe from a cursor (or a rewind) that serves its connections
// until each has caught up with the shared feed. Callback API: nothing
// blocks. A catch-up that fails closes the connections still catching up
// (their browsers resume from their cursors).
//
// Shared catch-ups. A browser resuming the same streams as a running
// catch-up, from a cursor naming the same partitions at positions no earlier
// than where the catch-up is and at most kNearby past it, joins it instead of
// opening a call of its own: each connection sends the events at or past its
// own position, so the catch-up's events below it are skipped. After a storm
// of browsers cut at the same moment, one call serves them all. A reset
// (history gone) goes to the connections that joined with the catch-up's own
// cursor before anything was read; the others are closed and resume alone.
// The catch-up reads its next batch once every connection has taken the last
// one, so the slowest sets the pace (one too slow is dropped at its
// queued-bytes bound and resumes).
//
// Lifetime: gRPC holds one reference until OnDone, the hub's watchdog one
// while it cancels; the last one deletes. A hold, added before the call
// starts and removed once no read will follow, keeps the call open while the
// catch-up waits for its browsers to drain: the parked callback then starts a
// read on a live call even if the fanout ended it meanwhile (the read fails
// and OnDone follows). Locks: mu_ guards the members and the position, is
// taken after the hub's (TryJoin) and calls nothing out while held; the
// connections take each response outside it.
class Hub::PrivateSubscription final : public grpc::ClientReadReactor<v1::SubscribeResponse> {
 public:
  // How far past the catch-up a joining connection's position may be.
  static constexpr int64_t kNearby = 1000;

  // `key`: KeyOf the connection's streams. `start`: the positions the cursor
  // names (empty for a rewind, which is never shared).
  PrivateSubscription(Hub& hub, std::shared_ptr<v1::Fanout::Stub> stub,
                      std::shared_ptr<Connection> conn, std::string key,
                      v1::SubscribeRequest request, std::map<int32_t, int64_t> start)
      : hub_(hub),
        key_(std::move(key)),
        stub_key_(stub.get()),
        stub_(std::move(stub)),
        request_(std::move(request)),
        position_(std::move(start)) {
    members_.push_back({std::move(conn), true});
  }

  // Call once the hub knows the catch-up (Cancel may come at once).
  void Begin() {
    stub_->async()->Subscribe(&context_, &request_, this);
    AddHold();
    Read();
    StartCall();
  }

  // The streams it serves, as a key: the hub finds catch-ups to join by it.
  static std::string KeyOf(const std::vector<std::string>& streams) {
    std::vector<std::string> sorted = streams;
    std::sort(sorted.begin(), sorted.end());
    return absl::StrJoin(sorted, "\n");
  }

  // Adds `conn`, resuming from `cursor` (positions `from`), if this catch-up
  // serves it exactly (see above).
  bool TryJoin(const std::shared_ptr<Connection>& conn, const std::string& cursor,
               const std::map<int32_t, int64_t>& from) {
    absl::MutexLock lock(&mu_);
    if (ending_ || position_.empty() || from.size() != position_.size()) return false;
    const bool exact = !read_any_ && cursor == request_.cursor();
    if (!exact) {
      if (reset_seen_) return false;
      for (const auto& [p, at] : from) {
        auto it = position_.find(p);
        if (it == position_.end() || at < it->second || at - it->second > kNearby) return false;
      }
    }
    members_.push_back({conn, exact});
    return true;
  }

  const std::string& key() const { return key_; }
  // Which session's replica this catch-up reads (an identity, never dereferenced).
  const v1::Fanout::Stub* stub() const { return stub_key_; }
  // Whether a read has been waiting since before `before`.
  bool StalledSince(absl::Time before) const {
    const int64_t since = reading_since_.load();
    return since != 0 && since < absl::ToUnixNanos(before);
  }
  void Ref() { refs_.fetch_add(1); }
  void Unref() {
    if (refs_.fetch_sub(1) == 1) delete this;
  }
  void Cancel() {
    {
      absl::MutexLock lock(&mu_);
      ending_ = true;
    }
    context_.TryCancel();
  }

  void OnReadDone(bool ok) override {
    reading_since_.store(0);
    if (!ok) {  // OnDone follows
      {
        absl::MutexLock lock(&mu_);
        ending_ = true;
      }
      RemoveHold();
      return;
    }
    // The position moves under the lock; the connections take the response
    // outside it (a join meanwhile is at or past the new position: it needs
    // none of this response).
    const absl::StatusOr<common::Cursor> cursor = common::DecodeCursor(ResponseCursor());
    std::vector<Member> members;
    {
      absl::MutexLock lock(&mu_);
      Advance(cursor);
      members = members_;
    }
    Apply(members, cursor);
    std::vector<std::shared_ptr<Connection>> waiting;
    {
      absl::MutexLock lock(&mu_);
      std::erase_if(members_, [](const Member& m) {
        return m.connection->Closed() || !m.connection->CatchingUp();
      });
      if (members_.empty()) {
        ending_ = true;
      } else {
        for (const Member& m : members_) waiting.push_back(m.connection);
      }
    }
    if (waiting.empty()) {
      context_.TryCancel();
      RemoveHold();
      return;
    }
    // Read the next batch only once every browser has taken this one: the
    // fanout waits on gRPC flow control, and nothing piles up here.
    undrained_.store(static_cast<int>(waiting.size()) + 1);
    for (const std::shared_ptr<Connection>& c : waiting) c->WhenDrained([this] { Drained(); });
    Drained();
  }

  void OnDone(const grpc::Status& status) override {
    std::vector<Member> members;
    {
      absl::MutexLock lock(&mu_);
      ending_ = true;
      members.swap(members_);
    }
    size_t closed = 0;
    for (const Member& m : members) {
      if (m.connection->CatchingUp() && !m.connection->Closed()) {
        m.connection->Close();
        ++closed;
      }
    }
    if (closed > 0) {
      spdlog::info("catch-up ended before the hand-over ({}); closing {} connection(s)",
                   status.error_message(), closed);
    }
    // A connection's last reference may go here, and with it a writer of
    // the HTTP server's: before the hub may finish stopping. The stub (and
    // its channel, whose callback thread this is) goes to the hub.
    members.clear();
    hub_.Forget(this, std::move(stub_));
    Unref();
  }

 private:
  struct Member {
    std::shared_ptr<Connection> connection;
    bool exact;  // joined with this catch-up's cursor before any read
  };

  // The catch-up's position after the response just read (`cursor`, its
  // cursor decoded).
  void Advance(const absl::StatusOr<common::Cursor>& cursor) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    read_any_ = true;
    if (response_.has_reset()) reset_seen_ = true;
    if (!cursor.ok()) return;
    for (auto& [p, at] : position_) {
      if (auto it = cursor->next.find(p); it != cursor->next.end()) at = std::max(at, it->second);
    }
  }

  // Hands the response just read to `members`.
  void Apply(const std::vector<Member>& members, const absl::StatusOr<common::Cursor>& cursor) {
    if (response_.has_reset()) {
      for (const Member& m : members) {
        if (m.exact) {
          m.connection->OnReset(response_.reset());
        } else {
          m.connection->Close();  // its position is not the reset's: it resumes alone
        }
      }
    } else if (response_.has_batch()) {
      for (const Member& m : members) m.connection->OnPrivateEvents(response_.batch());
    } else if (response_.has_cursor() && cursor.ok()) {
      for (const Member& m : members) m.connection->OnPrivateCursor(cursor->next);
    }
  }

  const std::string& ResponseCursor() const {
    return response_.has_batch() ? response_.batch().cursor() : response_.cursor();
  }

  void Drained() {
    if (undrained_.fetch_sub(1) == 1) Read();
  }

  void Read() {
    reading_since_.store(absl::ToUnixNanos(absl::Now()));
    StartRead(&response_);
  }

  Hub& hub_;
  const std::string key_;
  const v1::Fanout::Stub* const stub_key_;
  std::shared_ptr<v1::Fanout::Stub> stub_;
  v1::SubscribeRequest request_;
  v1::SubscribeResponse response_;
  grpc::ClientContext context_;
  std::atomic<int> refs_{1};
  std::atomic<int64_t> reading_since_{0};
  std::atomic<int> undrained_{0};

  absl::Mutex mu_;
  std::vector<Member> members_ ABSL_GUARDED_BY(mu_);
  // Where the catch-up is in the partitions its cursor names.
  std::map<int32_t, int64_t> position_ ABSL_GUARDED_BY(mu_);
  bool read_any_ ABSL_GUARDED_BY(mu_) = false;
  bool reset_seen_ ABSL_GUARDED_BY(mu_) = false;
  bool ending_ ABSL_GUARDED_BY(mu_) = false;  // no more joins
};

}  // namespace herald::edge
