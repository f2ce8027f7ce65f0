// The hub's catch-ups: starting them within the cap, queueing the rest,
// ending them (stalled, failed over, stopping).
#include "catch_up.h"

namespace herald::edge {
namespace {

// Catch-up responses stay well below a connection's queued-bytes bound.
constexpr uint32_t kCatchUpBatchBytes = 32 * 1024;

}  // namespace

void Hub::MaybeStartLocked(Registration& r) {
  if (!r.needs_private || r.private_started) return;
  // Between replicas: wait for the next one rather than fail against the
  // last (the first response of the next session calls this again).
  if (!attached_) return;
  // A resume starts its catch-up once its start cursor is out; a rewind's
  // start comes from the catch-up itself.
  if (r.rewind == 0 && !r.connection->Started()) return;
  if (r.rewind == 0 && !r.connection->CatchingUp()) return;
  // The positions a resume's cursor names: a catch-up of the same streams
  // from there or a little before may take it along (see catch_up.h).
  std::map<int32_t, int64_t> from;
  if (r.rewind == 0) {
    if (absl::StatusOr<common::Cursor> c = common::DecodeCursor(r.cursor); c.ok()) {
      from = std::move(c->next);
    }
  }
  const std::string key = PrivateSubscription::KeyOf(r.connection->streams());
  {
    absl::MutexLock lock(&catchups_mu_);
    if (auto group = shareable_.find(key); group != shareable_.end() && !from.empty()) {
      for (PrivateSubscription* c : group->second) {
        if (c->stub() != stub_.get() || !c->TryJoin(r.connection, r.cursor, from)) continue;
        r.private_started = true;
        std::string().swap(r.cursor);
        catchups_shared_.Increment();
        return;
      }
    }
    // At the cap, the catch-up waits its turn (StartQueuedCatchUps) rather
    // than being refused: its browser holds its connection meanwhile.
    if (catchups_.size() >= options_.max_catchups) {
      if (!r.queued) {
        r.queued = true;
        queued_catchups_.push_back(r.connection);
        catchups_queued_.Set(static_cast<double>(queued_catchups_.size()));
      }
      return;
    }
  }
  r.private_started = true;
  catchups_opened_.Increment();
  v1::SubscribeRequest request;
  for (const std::string& s : r.connection->streams()) request.add_streams(s);
  request.set_cursor(std::move(r.cursor));
  std::string().swap(r.cursor);
  request.set_rewind(r.rewind);
  request.set_max_batch_bytes(kCatchUpBatchBytes);
  const bool shareable = !from.empty();
  auto* catch_up =
      new PrivateSubscription(*this, stub_, r.connection, key, std::move(request), std::move(from));
  {
    absl::MutexLock lock(&catchups_mu_);
    catchups_.insert(catch_up);
    if (shareable) shareable_[key].push_back(catch_up);
  }
  catch_up->Begin();
}

size_t Hub::CancelCatchUps(absl::FunctionRef<bool(const PrivateSubscription&)> which) {
  std::vector<PrivateSubscription*> victims;
  {
    absl::MutexLock lock(&catchups_mu_);
    for (PrivateSubscription* c : catchups_) {
      if (!which(*c)) continue;
      c->Ref();
      victims.push_back(c);
    }
  }
  // Outside the lock: a cancel may run the call's callbacks right here.
  for (PrivateSubscription* c : victims) {
    c->Cancel();
    c->Unref();
  }
  return victims.size();
}

void Hub::Forget(PrivateSubscription* catch_up, std::shared_ptr<v1::Fanout::Stub> stub) {
  bool queued;
  {
    absl::MutexLock lock(&catchups_mu_);
    catchups_.erase(catch_up);
    if (auto group = shareable_.find(catch_up->key()); group != shareable_.end()) {
      std::erase(group->second, catch_up);
      if (group->second.empty()) shareable_.erase(group);
    }
    retired_stubs_.push_back(std::move(stub));
    queued = !queued_catchups_.empty();
  }
  // A slot is free: the next queued catch-up starts, on a loop's thread (this
  // is a gRPC callback, which must not take the hub's lock). Nothing queued,
  // nothing to post: most catch-ups end without taking the hub's lock.
  if (queued) loops_[0]->PostCallbacks({[this] { StartQueuedCatchUps(); }});
}

void Hub::StartQueuedCatchUps() {
  if (stopping_.load()) return;
  absl::MutexLock lock(&mu_);
  while (true) {
    std::shared_ptr<Connection> connection;
    {
      absl::MutexLock catchups_lock(&catchups_mu_);
      if (queued_catchups_.empty() || catchups_.size() >= options_.max_catchups) break;
      connection = queued_catchups_.front().lock();
      queued_catchups_.pop_front();
      catchups_queued_.Set(static_cast<double>(queued_catchups_.size()));
    }
    if (connection == nullptr) continue;  // gone while it waited
    auto it = registrations_.find(connection.get());
    if (it == registrations_.end() || it->second->connection != connection) continue;
    it->second->queued = false;
    MaybeStartLocked(*it->second);
  }
}

}  // namespace herald::edge
