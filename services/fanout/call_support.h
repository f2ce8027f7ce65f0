// What the fanout's two server calls (Subscribe and Attach, both on gRPC's
// callback API and moved forward by the pump) share: their outbox of
// responses, the split of a delivery into responses, and their errors.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "event_store.h"
#include "grpcpp/support/status.h"
#include "herald/v1/fanout.pb.h"
#include "pump.h"

namespace herald::fanout {

// A delivery's events cut into responses below a size. Each chunk's
// positions are those after the pull, except that a partition with events in
// a later chunk is only as far as that chunk's first event: a client that
// stops after any chunk resumes exactly.
struct Chunk {
  std::vector<const v1::Event*> events;
  std::map<int32_t, int64_t> positions;
};
std::vector<Chunk> SplitDelivery(const std::vector<EventPtr>& events,
                                 const std::map<int32_t, int64_t>& positions, size_t max_bytes);

// The reset for streams whose cursor points past the end of their partition:
// positions of another log, the topic having been recreated.
v1::Reset RecreatedReset(int32_t partition, const std::vector<std::string>& streams);

// UNAVAILABLE for a Kafka error: the client reconnects, maybe elsewhere.
grpc::Status Unavailable(const absl::Status& status);
// UNAVAILABLE while the fanout stops: the client reconnects elsewhere.
grpc::Status ShuttingDown();

// The responses of one call waiting to go out, one write in flight at a
// time, and how the call ends: it finishes once the write in flight (if any)
// completes. Not thread-safe: the call guards it with its lock, and starts
// the writes and the finish this returns outside that lock.
template <typename Response>
class Outbox {
 public:
  // What the call does next, outside its lock.
  struct Next {
    const Response* write = nullptr;
    std::optional<grpc::Status> finish;
  };

  Response& Add() { return queue_.emplace_back(); }
  bool ended() const { return finished_ || finish_.has_value(); }
  bool writing() const { return writing_; }

  // The first response, if one waits and no write is in flight.
  const Response* StartNext() {
    if (writing_ || queue_.empty() || ended()) return nullptr;
    writing_ = true;
    return &queue_.front();
  }

  // A write completed. Nothing to write and no finish: the call pulls on.
  Next WriteDone(bool ok) {
    writing_ = false;
    if (!ok) {  // the client is gone: nothing more goes out
      queue_.clear();
      if (!finish_.has_value()) finish_ = grpc::Status::OK;
    } else {
      queue_.pop_front();
    }
    Next next;
    if (finish_.has_value()) {  // ended meanwhile: what is left is not sent
      queue_.clear();
      next.finish = FinishNow();
    } else if (!queue_.empty()) {
      writing_ = true;
      next.write = &queue_.front();
    }
    return next;
  }

  // Ends the call with `status`: at once, or once the write in flight is
  // done (or the hold is released).
  std::optional<grpc::Status> End(grpc::Status status) {
    if (ended()) return std::nullopt;
    finish_ = std::move(status);
    return FinishNow();
  }

  // Keeps the call from finishing while the holder starts an operation
  // outside the call's lock (a read): Finish must not overtake it.
  void Hold() { ++holds_; }
  // The finish that waited for the hold, if any.
  std::optional<grpc::Status> Release() {
    --holds_;
    return finish_.has_value() ? FinishNow() : std::nullopt;
  }

 private:
  std::optional<grpc::Status> FinishNow() {
    if (finished_ || writing_ || holds_ > 0) return std::nullopt;
    queue_.clear();
    finished_ = true;
    return finish_;
  }

  std::deque<Response> queue_;
  bool writing_ = false;
  int holds_ = 0;
  std::optional<grpc::Status> finish_;
  bool finished_ = false;
};

// Carries on after a call's write completed: starts the next write, or the
// finish, or (nothing to send) has the pump step the call again.
template <typename Call, typename Response>
void AfterWrite(Call& call, absl::Mutex& mu, Outbox<Response>& outbox, bool ok, Pump& pump) {
  typename Outbox<Response>::Next next;
  {
    absl::MutexLock lock(&mu);
    next = outbox.WriteDone(ok);
  }
  if (next.write != nullptr) {
    call.StartWrite(next.write);
  } else if (next.finish.has_value()) {
    call.Finish(*next.finish);
  } else {
    pump.Schedule(&call);  // pull on
  }
}

}  // namespace herald::fanout
