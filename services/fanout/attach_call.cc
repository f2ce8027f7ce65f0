// Fanout.Attach: an edge's one shared feed, on gRPC's callback API.
#include "absl/strings/str_cat.h"
#include "call_support.h"
#include "fanout_service.h"
#include "herald/common/grpc_server.h"
#include "herald/common/logging.h"
#include "herald/common/partitioner.h"
#include "herald/common/stream_name.h"

namespace herald::fanout {

// One edge's Attach call, moved forward by the pump (see pump.h): no thread
// of its own. A step applies the watch request just read (the next read
// starts only then), pulls the session and queues the responses; one is
// written at a time, and the next pull follows the last write. Joins and
// resets of a watch go out in the response that follows it, ahead of the
// stream's first events (the pull comes after the watch is applied).
//
// Lifetime: gRPC holds one reference until OnDone, the pump one while the
// call is queued, waiting or running. Reads, writes and the finish are
// started without the call's lock held: their reactions take it.
class FanoutService::AttachCall final
    : public grpc::ServerBidiReactor<v1::AttachRequest, v1::AttachResponse>,
      public Pump::Task {
 public:
  explicit AttachCall(FanoutService& service)
      : service_(service),
        session_(service.store_, service.readers_, service.topic_.partitions,
                 service.options_.session) {
    service_.sessions_.Add(1);
    StartRead(&request_);
    service_.pump_->Schedule(this);  // the first response says the epoch
  }

  void Step() override {
    Outbox<v1::AttachResponse>::Next next;
    bool read = false;
    {
      absl::MutexLock lock(&mu_);
      next = StepLocked(read);
      // Another thread must not finish the call before the read starts.
      if (read) outbox_.Hold();
    }
    if (read) {
      StartRead(&request_);
      absl::MutexLock lock(&mu_);
      if (std::optional<grpc::Status> finish = outbox_.Release()) next.finish = finish;
    }
    if (next.write != nullptr) StartWrite(next.write);
    if (next.finish.has_value()) Finish(*next.finish);
  }

  void OnReadDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      (ok ? has_request_ : reads_done_) = true;
    }
    service_.pump_->Schedule(this);
  }

  void OnWriteDone(bool ok) override { AfterWrite(*this, mu_, outbox_, ok, *service_.pump_); }

  void OnCancel() override {
    cancelled_.store(true);
    service_.pump_->Schedule(this);
  }

  void OnDone() override {
    {
      absl::MutexLock lock(&mu_);
      service_.CountStreams(session_.Streams(), -1);
    }
    service_.sessions_.Add(-1);
    Unref();
  }

 private:
  Outbox<v1::AttachResponse>::Next StepLocked(bool& read) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (outbox_.ended()) return {};
    if (cancelled_.load()) return {.finish = outbox_.End(grpc::Status::OK)};
    if (service_.stopping_.load()) return {.finish = outbox_.End(ShuttingDown())};
    if (has_request_) {
      has_request_ = false;
      grpc::Status applied = service_.ApplyAttachRequest(session_, request_, resets_, joined_);
      if (!applied.ok()) return {.finish = outbox_.End(std::move(applied))};
      read = true;
    }
    // The edge closed its side: the call is over.
    if (reads_done_) return {.finish = outbox_.End(grpc::Status::OK)};
    if (outbox_.writing()) return {};  // OnWriteDone steps again
    const uint64_t version = service_.store_.Version();
    absl::StatusOr<Session::Delivery> d = session_.Pull();
    if (!d.ok()) {
      spdlog::warn("edge session: {}", d.status());
      if (++failures_ >= 10) return {.finish = outbox_.End(Unavailable(d.status()))};
      service_.pump_->ScheduleOnChange(this, version);
      return {};
    }
    failures_ = 0;
    if (d->replaying && !was_replaying_) service_.replays_.Increment();
    was_replaying_ = d->replaying;
    for (v1::Reset& r : d->resets) resets_.push_back(std::move(r));
    // Progress without events goes out once per interval (also a heartbeat).
    const bool heartbeat = absl::Now() - last_sent_ >= service_.options_.cursor_interval;
    if (first_ || !d->events.empty() || !resets_.empty() || !joined_.empty() || heartbeat) {
      Queue(*d);
      last_sent_ = absl::Now();
    }
    if (const v1::AttachResponse* write = outbox_.StartNext()) return {.write = write};
    if (d->replaying) {
      service_.pump_->Schedule(this);
    } else {
      service_.pump_->ScheduleOnChange(this, version);
    }
    return {};
  }

  // Responses for a delivery, with the joins and resets waiting, each below
  // the fanout's largest response.
  void Queue(const Session::Delivery& d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const std::map<int32_t, int64_t> positions = session_.Positions();
    for (const Chunk& chunk :
         SplitDelivery(d.events, positions, service_.options_.max_response_bytes)) {
      v1::AttachResponse& response = outbox_.Add();
      if (first_) {
        response.set_epoch(service_.topic_.epoch);
        response.set_partitions(service_.topic_.partitions);
      }
      first_ = false;
      for (v1::StreamJoined& j : joined_) *response.add_joined() = std::move(j);
      joined_.clear();
      for (v1::Reset& r : resets_) {
        service_.CountReset(r);
        *response.add_resets() = std::move(r);
      }
      resets_.clear();
      for (const v1::Event* e : chunk.events) *response.add_events() = *e;
      for (const auto& [p, next] : chunk.positions) {
        v1::PartitionProgress* progress = response.add_progress();
        progress->set_partition(p);
        progress->set_next_offset(next);
      }
    }
  }

  FanoutService& service_;
  std::atomic<bool> cancelled_{false};
  absl::Mutex mu_;
  Session session_ ABSL_GUARDED_BY(mu_);
  // The read buffer: gRPC fills it, then the pump applies it before the next read.
  v1::AttachRequest request_;
  bool has_request_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  // Of watches applied, for the next response.
  std::vector<v1::Reset> resets_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::StreamJoined> joined_ ABSL_GUARDED_BY(mu_);
  Outbox<v1::AttachResponse> outbox_ ABSL_GUARDED_BY(mu_);
  bool first_ ABSL_GUARDED_BY(mu_) = true;
  absl::Time last_sent_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool was_replaying_ ABSL_GUARDED_BY(mu_) = false;
  int failures_ ABSL_GUARDED_BY(mu_) = 0;
};

grpc::ServerBidiReactor<v1::AttachRequest, v1::AttachResponse>* FanoutService::Attach(
    grpc::CallbackServerContext* context) {
  return new AttachCall(*this);
}

grpc::Status FanoutService::ApplyAttachRequest(Session& session, const v1::AttachRequest& request,
                                               std::vector<v1::Reset>& resets,
                                               std::vector<v1::StreamJoined>& joined) {
  if (request.has_unwatch()) {
    std::vector<std::string> names(request.unwatch().streams().begin(),
                                   request.unwatch().streams().end());
    CountStreams(session.Remove(names), -1);
    return grpc::Status::OK;
  }
  if (!request.has_watch()) return grpc::Status::OK;
  std::vector<Session::Start> starts;
  std::vector<std::string> names;
  std::vector<v1::Reset> ahead;
  for (const v1::StreamStart& s : request.watch().streams()) {
    if (absl::Status v = common::ValidateStreamName(s.stream()); !v.ok()) {
      return common::ToGrpcStatus(v);
    }
    // Where to start in each candidate partition; an edge of before
    // candidates gives one position, for the murmur2 partition.
    std::map<int32_t, int64_t> given(s.next_offsets().begin(), s.next_offsets().end());
    if (given.empty() && s.has_next_offset()) {
      given[common::PartitionForKey(s.stream(), topic_.partitions)] = s.next_offset();
    }
    Session::Start start{.stream = s.stream()};
    for (const auto& [partition, next] : given) {
      if (next < 0) {
        return grpc::Status(
            grpc::StatusCode::INVALID_ARGUMENT,
            absl::StrCat("negative next offset for ", s.stream(), " in partition ", partition));
      }
      if (partition < 0 || partition >= topic_.partitions ||
          !common::IsCandidate(s.stream(), partition, topic_.partitions)) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            absl::StrCat("stream ", s.stream(), " has no records in partition ",
                                         partition, " of ", topic_.partitions));
      }
      // A position past the end of its partition is of another log (the
      // topic was recreated): the stream is reset there, as Subscribe does,
      // and followed from live instead of waiting for offsets that mean
      // something else.
      absl::StatusOr<bool> beyond = AheadOfLog(partition, next);
      if (!beyond.ok()) return Unavailable(beyond.status());
      if (*beyond) {
        ahead.push_back(RecreatedReset(partition, {s.stream()}));
      } else {
        start.next_offsets[partition] = next;
      }
    }
    starts.push_back(std::move(start));
    names.push_back(s.stream());
  }
  if (session.StreamCount() + starts.size() > options_.max_attach_streams) {
    return grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("an edge may watch at most ", options_.max_attach_streams, " streams"));
  }
  absl::StatusOr<Session::Added> added = session.Add(starts);
  if (!added.ok()) return Unavailable(added.status());
  CountStreams(names, 1);
  for (v1::Reset& r : ahead) resets.push_back(std::move(r));
  for (v1::Reset& r : added->resets) resets.push_back(std::move(r));
  for (v1::StreamJoined& j : added->joined) joined.push_back(std::move(j));
  return grpc::Status::OK;
}

}  // namespace herald::fanout
