#include "fanout_service.h"

#include <deque>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "call_support.h"
#include "herald/common/cursor.h"
#include "herald/common/grpc_server.h"
#include "herald/common/logging.h"
#include "herald/common/partitioner.h"
#include "herald/common/stream_name.h"

namespace herald::fanout {
FanoutService::FanoutService(EventStore& store, ReaderFactory readers, broker::TopicInfo topic,
                             FanoutOptions options, common::Registry& metrics)
    : store_(store),
      readers_(std::move(readers)),
      topic_(std::move(topic)),
      options_(options),
      metrics_(metrics),
      pump_(std::make_unique<Pump>(store, options_.subscribe_threads)),
      replays_(metrics.AddCounter("herald_fanout_replays_total",
                                  "Times a subscription was served from Kafka, not the rings")),
      sessions_(metrics.AddGauge("herald_fanout_sessions", "Subscribe and Attach calls open")) {
  metrics.AddCollector("herald_fanout_subscriptions", "Sessions following each stream",
                       common::MetricType::kGauge, [this](const common::Emit& emit) {
                         absl::MutexLock lock(&counts_mu_);
                         for (const auto& [stream, n] : subscriptions_) {
                           emit({{"stream", stream}}, static_cast<double>(n));
                         }
                       });
  for (const char* reason : {"retention", "epoch", "malformed"}) {
    metrics.AddCounter("herald_fanout_resets_total", "Resets sent, by reason",
                       {{"reason", reason}});
  }
}

void FanoutService::Shutdown() {
  stopping_.store(true);
  store_.Poke();  // waiting calls step, see stopping_ and finish
}

void FanoutService::CountStreams(const std::vector<std::string>& streams, int delta) {
  absl::MutexLock lock(&counts_mu_);
  for (const std::string& s : streams) {
    if ((subscriptions_[s] += delta) <= 0) subscriptions_.erase(s);
  }
}

void FanoutService::CountReset(const v1::Reset& reset) {
  metrics_
      .AddCounter("herald_fanout_resets_total", "Resets sent, by reason",
                  {{"reason", reset.reason()}})
      .Increment();
}

std::string FanoutService::CursorFor(const std::map<int32_t, int64_t>& positions) const {
  return common::EncodeCursor({.epoch = topic_.epoch, .next = positions});
}

absl::StatusOr<bool> FanoutService::AheadOfLog(int32_t partition, int64_t next) {
  if (next <= store_.Tail(partition)) return false;
  absl::MutexLock lock(&watermark_mu_);
  if (watermark_reader_ == nullptr) {
    absl::StatusOr<std::unique_ptr<broker::Reader>> r = readers_();
    if (!r.ok()) return r.status();
    watermark_reader_ = std::move(*r);
  }
  absl::StatusOr<broker::Watermarks> w =
      watermark_reader_->QueryWatermarks(partition, absl::Seconds(10));
  if (!w.ok()) return w.status();
  return next > w->high;
}

absl::StatusOr<FanoutService::Prepared> FanoutService::PrepareSubscribe(
    const v1::SubscribeRequest& request, grpc::Status* refused) {
  auto refuse = [&](grpc::Status status) {
    *refused = std::move(status);
    return absl::InvalidArgumentError(refused->error_message());
  };
  if (request.streams_size() == 0 ||
      static_cast<size_t>(request.streams_size()) > options_.max_subscribe_streams) {
    return refuse(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                               absl::StrCat("give 1 to ", options_.max_subscribe_streams,
                                            " streams, not ", request.streams_size())));
  }
  Prepared out;
  for (const std::string& s : request.streams()) {
    if (absl::Status v = common::ValidateStreamName(s); !v.ok()) {
      return refuse(common::ToGrpcStatus(v));
    }
    if (std::find(out.streams.begin(), out.streams.end(), s) == out.streams.end()) {
      out.streams.push_back(s);
    }
  }
  if (request.rewind() > options_.max_rewind) {
    return refuse(grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("rewind ", request.rewind(), " is over the limit of ", options_.max_rewind)));
  }

  auto reset_all = [&](const std::string& reason, const std::string& detail) {
    v1::Reset& r = out.resets.emplace_back();
    for (const std::string& s : out.streams) r.add_streams(s);
    r.set_reason(reason);
    r.set_detail(detail);
  };
  std::optional<common::Cursor> cursor;
  if (!request.cursor().empty()) {
    absl::StatusOr<common::Cursor> c = common::DecodeCursor(request.cursor());
    if (!c.ok()) {
      reset_all("malformed", std::string(c.status().message()));
    } else if (c->epoch != topic_.epoch) {
      reset_all("epoch", absl::StrCat("the cursor is of epoch ", c->epoch, ", the topic is at ",
                                      topic_.epoch));
    } else {
      cursor = std::move(*c);
    }
  }
  std::vector<Session::Start> starts;
  std::map<int32_t, std::vector<std::string>> ahead;
  for (const std::string& s : out.streams) {
    Session::Start& start = starts.emplace_back();
    start.stream = s;
    if (cursor.has_value()) {
      // A candidate partition the cursor does not name starts from live.
      for (int32_t partition : common::CandidatePartitions(s, topic_.partitions)) {
        auto it = cursor->next.find(partition);
        if (it == cursor->next.end()) continue;
        absl::StatusOr<bool> beyond = AheadOfLog(partition, it->second);
        if (!beyond.ok()) return beyond.status();
        if (*beyond) {
          ahead[partition].push_back(s);
        } else {
          start.next_offsets[partition] = it->second;
        }
      }
    } else if (request.cursor().empty()) {
      start.rewind = request.rewind();
    }
  }
  for (const auto& [partition, names] : ahead) {
    out.resets.push_back(RecreatedReset(partition, names));
  }

  // The subscriber's own limit, within the fanout's (a response holds at
  // least one event, whatever its size).
  out.batch_bytes = request.max_batch_bytes() > 0
                        ? std::min<size_t>(request.max_batch_bytes(), options_.max_response_bytes)
                        : options_.max_response_bytes;
  out.session = std::make_unique<Session>(store_, readers_, topic_.partitions, options_.session);
  absl::StatusOr<Session::Added> added = out.session->Add(starts);
  if (!added.ok()) return added.status();
  for (v1::Reset& r : added->resets) out.resets.push_back(std::move(r));
  return out;
}

// One Subscribe call on gRPC's callback API, moved forward by the pump (see
// pump.h): no thread of its own. One response is written at a time; the next
// Pull happens once it is out, so a subscriber that does not read holds back
// only its own call (gRPC flow control), and at most one pull's responses
// wait in memory.
//
// Lifetime: gRPC holds one reference until OnDone, the pump one while the
// call is queued, waiting or running. StartWrite and Finish are called
// without the call's lock held: their reactions take it.
class FanoutService::SubscribeCall final : public grpc::ServerWriteReactor<v1::SubscribeResponse>,
                                           public Pump::Task {
 public:
  SubscribeCall(FanoutService& service, const v1::SubscribeRequest& request)
      : service_(service), request_(request) {
    service_.pump_->Schedule(this);  // the set-up may wait on Kafka: not on gRPC's thread
  }

  void Step() override {
    Outbox<v1::SubscribeResponse>::Next next;
    {
      absl::MutexLock lock(&mu_);
      next = StepLocked();
    }
    if (next.write != nullptr) StartWrite(next.write);
    if (next.finish.has_value()) Finish(*next.finish);
  }

  void OnWriteDone(bool ok) override { AfterWrite(*this, mu_, outbox_, ok, *service_.pump_); }

  void OnCancel() override {
    cancelled_.store(true);
    service_.pump_->Schedule(this);
  }

  void OnDone() override {
    {
      absl::MutexLock lock(&mu_);
      if (counted_) {
        service_.sessions_.Add(-1);
        service_.CountStreams(streams_, -1);
      }
      counted_ = false;
      session_.reset();
    }
    Unref();
  }

 private:
  Outbox<v1::SubscribeResponse>::Next StepLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (outbox_.ended()) return {};
    if (cancelled_.load()) return {.finish = outbox_.End(grpc::Status::OK)};
    if (service_.stopping_.load()) return {.finish = outbox_.End(ShuttingDown())};
    if (outbox_.writing()) return {};  // OnWriteDone steps again
    const uint64_t version = service_.store_.Version();
    bool replaying = false;
    if (session_ == nullptr) {
      grpc::Status refused;
      absl::StatusOr<Prepared> prepared = service_.PrepareSubscribe(request_, &refused);
      if (!prepared.ok()) {
        return {.finish = outbox_.End(refused.ok() ? Unavailable(prepared.status()) : refused)};
      }
      session_ = std::move(prepared->session);
      streams_ = std::move(prepared->streams);
      batch_bytes_ = prepared->batch_bytes;
      service_.sessions_.Add(1);
      service_.CountStreams(streams_, 1);
      counted_ = true;
      for (const v1::Reset& r : prepared->resets) {
        service_.CountReset(r);
        *outbox_.Add().mutable_reset() = r;
      }
      outbox_.Add().set_cursor(service_.CursorFor(session_->Positions()));
      last_sent_ = absl::Now();
    } else {
      absl::StatusOr<Session::Delivery> d = session_->Pull();
      if (!d.ok()) {
        spdlog::warn("subscription to {} streams: {}", streams_.size(), d.status());
        if (++failures_ >= 10) return {.finish = outbox_.End(Unavailable(d.status()))};
        service_.pump_->ScheduleOnChange(this, version);
        return {};
      }
      failures_ = 0;
      if (d->replaying && !was_replaying_) service_.replays_.Increment();
      was_replaying_ = replaying = d->replaying;
      for (const v1::Reset& r : d->resets) {
        service_.CountReset(r);
        *outbox_.Add().mutable_reset() = r;
      }
      const std::map<int32_t, int64_t> positions = session_->Positions();
      if (!d->events.empty()) {
        for (const Chunk& chunk : SplitDelivery(d->events, positions, batch_bytes_)) {
          v1::EventBatch* batch = outbox_.Add().mutable_batch();
          for (const v1::Event* e : chunk.events) *batch->add_events() = *e;
          batch->set_cursor(service_.CursorFor(chunk.positions));
        }
        last_sent_ = absl::Now();
      } else if (absl::Now() - last_sent_ >= service_.options_.cursor_interval) {
        // Positions move without events (other streams' records); say so,
        // and prove the stream alive, once per interval.
        outbox_.Add().set_cursor(service_.CursorFor(positions));
        last_sent_ = absl::Now();
      }
    }
    if (const v1::SubscribeResponse* write = outbox_.StartNext()) return {.write = write};
    if (replaying) {
      service_.pump_->Schedule(this);
    } else {
      service_.pump_->ScheduleOnChange(this, version);
    }
    return {};
  }

  FanoutService& service_;
  const v1::SubscribeRequest request_;
  std::atomic<bool> cancelled_{false};
  absl::Mutex mu_;
  std::unique_ptr<Session> session_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> streams_ ABSL_GUARDED_BY(mu_);
  size_t batch_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool counted_ ABSL_GUARDED_BY(mu_) = false;
  Outbox<v1::SubscribeResponse> outbox_ ABSL_GUARDED_BY(mu_);
  absl::Time last_sent_ ABSL_GUARDED_BY(mu_);
  bool was_replaying_ ABSL_GUARDED_BY(mu_) = false;
  int failures_ ABSL_GUARDED_BY(mu_) = 0;
};

grpc::ServerWriteReactor<v1::SubscribeResponse>* FanoutService::Subscribe(
    grpc::CallbackServerContext* context, const v1::SubscribeRequest* request) {
  return new SubscribeCall(*this, *request);
}

}  // namespace herald::fanout
