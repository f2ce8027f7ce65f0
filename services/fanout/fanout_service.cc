#include "fanout_service.h"

#include <deque>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "herald/common/cursor.h"
#include "herald/common/grpc_server.h"
#include "herald/common/logging.h"
#include "herald/common/partitioner.h"
#include "herald/common/stream_name.h"

namespace herald::fanout {
namespace {

// The reset for streams whose cursor points past the end of their partition:
// positions of another log, the topic having been recreated.
v1::Reset RecreatedReset(int32_t partition, const std::vector<std::string>& streams) {
  v1::Reset r;
  for (const std::string& s : streams) r.add_streams(s);
  r.set_reason("epoch");
  r.set_detail(
      absl::StrCat("partition ", partition, " has no such position: the topic was recreated"));
  return r;
}

// Splits a delivery into responses below `max_bytes`. Each chunk's positions
// are those after the pull, except that a partition with events in a later
// chunk is only as far as that chunk's first event: a client that stops after
// any chunk resumes exactly.
struct Chunk {
  std::vector<const v1::Event*> events;
  std::map<int32_t, int64_t> positions;
};

std::vector<Chunk> SplitDelivery(const std::vector<EventPtr>& events,
                                 const std::map<int32_t, int64_t>& positions, size_t max_bytes) {
  std::vector<Chunk> chunks(1);
  size_t bytes = 0;
  for (const EventPtr& e : events) {
    const size_t size = e->ByteSizeLong() + 16;
    if (!chunks.back().events.empty() && bytes + size > max_bytes) {
      chunks.emplace_back();
      bytes = 0;
    }
    chunks.back().events.push_back(e.get());
    bytes += size;
  }
  std::map<int32_t, int64_t> later;  // partition -> first offset in later chunks
  for (auto chunk = chunks.rbegin(); chunk != chunks.rend(); ++chunk) {
    chunk->positions = positions;
    for (const auto& [p, first] : later) chunk->positions[p] = first;
    for (auto e = chunk->events.rbegin(); e != chunk->events.rend(); ++e) {
      later[(*e)->position().partition()] = (*e)->position().offset();
    }
  }
  return chunks;
}

grpc::Status Unavailable(const absl::Status& status) {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      absl::StrCat("fanout cannot read Kafka: ", status.message()));
}

}  // namespace

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
    const v1::SubscribeResponse* write = nullptr;
    std::optional<grpc::Status> finish;
    {
      absl::MutexLock lock(&mu_);
      StepLocked(write, finish);
    }
    if (write != nullptr) StartWrite(write);
    if (finish.has_value()) Finish(*finish);
  }

  void OnWriteDone(bool ok) override {
    const v1::SubscribeResponse* write = nullptr;
    std::optional<grpc::Status> finish;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {  // the subscriber is gone: nothing more goes out
        outbox_.clear();
        if (!finish_.has_value()) finish_ = grpc::Status::OK;
      } else {
        outbox_.pop_front();
      }
      if (finish_.has_value()) {  // ended meanwhile: what is left is not sent
        outbox_.clear();
        finished_ = true;
        finish = finish_;
      } else if (!outbox_.empty()) {
        write = &outbox_.front();
        writing_ = true;
      }
    }
    if (write != nullptr) {
      StartWrite(write);
    } else if (finish.has_value()) {
      Finish(*finish);
    } else {
      service_.pump_->Schedule(this);  // pull on
    }
  }

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
  void StepLocked(const v1::SubscribeResponse*& write, std::optional<grpc::Status>& finish)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || finish_.has_value()) return;
    if (cancelled_.load()) return End(grpc::Status::OK, finish);
    if (service_.stopping_.load()) {
      return End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "fanout shutting down; reconnect"),
                 finish);
    }
    if (writing_) return;  // OnWriteDone steps again
    const uint64_t version = service_.store_.Version();
    bool replaying = false;
    if (session_ == nullptr) {
      grpc::Status refused;
      absl::StatusOr<Prepared> prepared = service_.PrepareSubscribe(request_, &refused);
      if (!prepared.ok()) {
        return End(refused.ok() ? Unavailable(prepared.status()) : refused, finish);
      }
      session_ = std::move(prepared->session);
      streams_ = std::move(prepared->streams);
      batch_bytes_ = prepared->batch_bytes;
      service_.sessions_.Add(1);
      service_.CountStreams(streams_, 1);
      counted_ = true;
      for (const v1::Reset& r : prepared->resets) {
        service_.CountReset(r);
        *outbox_.emplace_back().mutable_reset() = r;
      }
      outbox_.emplace_back().set_cursor(service_.CursorFor(session_->Positions()));
      last_sent_ = absl::Now();
    } else {
      absl::StatusOr<Session::Delivery> d = session_->Pull();
      if (!d.ok()) {
        spdlog::warn("subscription to {} streams: {}", streams_.size(), d.status());
        if (++failures_ >= 10) return End(Unavailable(d.status()), finish);
        service_.pump_->ScheduleOnChange(this, version);
        return;
      }
      failures_ = 0;
      if (d->replaying && !was_replaying_) service_.replays_.Increment();
      was_replaying_ = replaying = d->replaying;
      for (const v1::Reset& r : d->resets) {
        service_.CountReset(r);
        *outbox_.emplace_back().mutable_reset() = r;
      }
      const std::map<int32_t, int64_t> positions = session_->Positions();
      if (!d->events.empty()) {
        for (const Chunk& chunk : SplitDelivery(d->events, positions, batch_bytes_)) {
          v1::EventBatch* batch = outbox_.emplace_back().mutable_batch();
          for (const v1::Event* e : chunk.events) *batch->add_events() = *e;
          batch->set_cursor(service_.CursorFor(chunk.positions));
        }
        last_sent_ = absl::Now();
      } else if (absl::Now() - last_sent_ >= service_.options_.cursor_interval) {
        // Positions move without events (other streams' records); say so,
        // and prove the stream alive, once per interval.
        outbox_.emplace_back().set_cursor(service_.CursorFor(positions));
        last_sent_ = absl::Now();
      }
    }
    if (!outbox_.empty()) {
      write = &outbox_.front();
      writing_ = true;
    } else if (replaying) {
      service_.pump_->Schedule(this);
    } else {
      service_.pump_->ScheduleOnChange(this, version);
    }
  }

  // Finishes once no write is pending.
  void End(grpc::Status status, std::optional<grpc::Status>& finish)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    finish_ = std::move(status);
    if (writing_) return;  // OnWriteDone finishes
    outbox_.clear();
    finished_ = true;
    finish = finish_;
  }

  FanoutService& service_;
  const v1::SubscribeRequest request_;
  std::atomic<bool> cancelled_{false};
  absl::Mutex mu_;
  std::unique_ptr<Session> session_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> streams_ ABSL_GUARDED_BY(mu_);
  size_t batch_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool counted_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<v1::SubscribeResponse> outbox_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> finish_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_sent_ ABSL_GUARDED_BY(mu_);
  bool was_replaying_ ABSL_GUARDED_BY(mu_) = false;
  int failures_ ABSL_GUARDED_BY(mu_) = 0;
};

grpc::ServerWriteReactor<v1::SubscribeResponse>* FanoutService::Subscribe(
    grpc::CallbackServerContext* context, const v1::SubscribeRequest* request) {
  return new SubscribeCall(*this, *request);
}

grpc::Status FanoutService::Attach(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::AttachResponse, v1::AttachRequest>* stream) {
  Session session(store_, readers_, topic_.partitions, options_.session);
  absl::Mutex mu;
  std::vector<v1::Reset> pending_resets;         // guarded by mu
  std::vector<v1::StreamJoined> pending_joined;  // guarded by mu
  grpc::Status error = grpc::Status::OK;         // guarded by mu
  std::atomic<bool> reads_done{false};
  sessions_.Add(1);

  std::thread reader([&] {
    v1::AttachRequest request;
    while (stream->Read(&request)) {
      if (request.has_watch()) {
        std::vector<Session::Start> starts;
        std::vector<std::string> names;
        std::vector<v1::Reset> ahead;
        grpc::Status bad = grpc::Status::OK;
        for (const v1::StreamStart& s : request.watch().streams()) {
          if (absl::Status v = common::ValidateStreamName(s.stream()); !v.ok()) {
            bad = common::ToGrpcStatus(v);
            break;
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
              bad = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 absl::StrCat("negative next offset for ", s.stream(),
                                              " in partition ", partition));
              break;
            }
            if (partition < 0 || partition >= topic_.partitions ||
                !common::IsCandidate(s.stream(), partition, topic_.partitions)) {
              bad =
                  grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                               absl::StrCat("stream ", s.stream(), " has no records in partition ",
                                            partition, " of ", topic_.partitions));
              break;
            }
            // A position past the end of its partition is of another log
            // (the topic was recreated): the stream is reset there, as
            // Subscribe does, and followed from live instead of waiting for
            // offsets that mean something else.
            absl::StatusOr<bool> beyond = AheadOfLog(partition, next);
            if (!beyond.ok()) {
              bad = Unavailable(beyond.status());
              break;
            }
            if (*beyond) {
              ahead.push_back(RecreatedReset(partition, {s.stream()}));
            } else {
              start.next_offsets[partition] = next;
            }
          }
          if (!bad.ok()) break;
          starts.push_back(std::move(start));
          names.push_back(s.stream());
        }
        if (bad.ok() && session.StreamCount() + starts.size() > options_.max_attach_streams) {
          bad = grpc::Status(
              grpc::StatusCode::RESOURCE_EXHAUSTED,
              absl::StrCat("an edge may watch at most ", options_.max_attach_streams, " streams"));
        }
        absl::StatusOr<Session::Added> added = bad.ok() ? session.Add(starts) : Session::Added{};
        if (bad.ok() && !added.ok()) bad = Unavailable(added.status());
        absl::MutexLock lock(&mu);
        if (!bad.ok()) {
          error = bad;
          break;
        }
        CountStreams(names, 1);
        for (v1::Reset& r : ahead) pending_resets.push_back(std::move(r));
        for (v1::Reset& r : added->resets) pending_resets.push_back(std::move(r));
        for (v1::StreamJoined& j : added->joined) pending_joined.push_back(std::move(j));
      } else if (request.has_unwatch()) {
        std::vector<std::string> names(request.unwatch().streams().begin(),
                                       request.unwatch().streams().end());
        CountStreams(session.Remove(names), -1);
      }
      store_.Poke();
    }
    reads_done.store(true);
    store_.Poke();
  });

  grpc::Status result = grpc::Status::OK;
  bool first = true;
  absl::Time last_sent = absl::InfinitePast();
  bool was_replaying = false;
  int failures = 0;
  while (!context->IsCancelled() && !reads_done.load()) {
    if (stopping_.load()) {
      result = grpc::Status(grpc::StatusCode::UNAVAILABLE, "fanout shutting down; reconnect");
      break;
    }
    const uint64_t version = store_.Version();
    // Pull before taking the joins: a stream added before this pull has its
    // join taken below and sent with (ahead of) its first events.
    absl::StatusOr<Session::Delivery> d = session.Pull();
    if (!d.ok()) {
      spdlog::warn("edge session: {}", d.status());
      if (++failures >= 10) {
        result = Unavailable(d.status());
        break;
      }
      store_.AwaitChange(version, absl::Milliseconds(500));
      continue;
    }
    std::vector<v1::Reset> resets;
    std::vector<v1::StreamJoined> joined;
    {
      absl::MutexLock lock(&mu);
      if (!error.ok()) {
        result = error;
        break;
      }
      resets.swap(pending_resets);
      joined.swap(pending_joined);
    }
    failures = 0;
    if (d->replaying && !was_replaying) replays_.Increment();
    was_replaying = d->replaying;
    for (v1::Reset& r : d->resets) resets.push_back(std::move(r));
    const std::map<int32_t, int64_t> positions = session.Positions();
    // Progress without events goes out once per interval (also a heartbeat).
    const bool heartbeat = absl::Now() - last_sent >= options_.cursor_interval;
    if (first || !d->events.empty() || !resets.empty() || !joined.empty() || heartbeat) {
      bool ok = true;
      for (const Chunk& chunk : SplitDelivery(d->events, positions, options_.max_response_bytes)) {
        v1::AttachResponse response;
        if (first) {
          response.set_epoch(topic_.epoch);
          response.set_partitions(topic_.partitions);
        }
        first = false;
        for (v1::StreamJoined& j : joined) *response.add_joined() = std::move(j);
        joined.clear();
        for (v1::Reset& r : resets) {
          CountReset(r);
          *response.add_resets() = std::move(r);
        }
        resets.clear();
        for (const v1::Event* e : chunk.events) *response.add_events() = *e;
        for (const auto& [p, next] : chunk.positions) {
          v1::PartitionProgress* progress = response.add_progress();
          progress->set_partition(p);
          progress->set_next_offset(next);
        }
        if (!stream->Write(response)) {
          ok = false;
          break;
        }
      }
      if (!ok) break;
      last_sent = absl::Now();
    }
    if (d->events.empty() && !d->replaying) store_.AwaitChange(version, absl::Milliseconds(250));
  }
  if (!reads_done.load()) context->TryCancel();  // unblocks the reader's Read()
  reader.join();
  {
    // A refused watch ends the reads; the loop above may have left first.
    absl::MutexLock lock(&mu);
    if (result.ok() && !error.ok()) result = error;
  }
  CountStreams(session.Streams(), -1);
  sessions_.Add(-1);
  return result;
}

}  // namespace herald::fanout
