#include "publisher_service.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "herald/broker/event_codec.h"
#include "herald/common/cursor.h"
#include "herald/common/grpc_server.h"

namespace herald::publisher {
namespace {

// Kafka's outcome as the status a publishing client acts on.
absl::Status KafkaOutcome(const absl::Status& status) {
  const std::string message = absl::StrCat("Kafka did not take the event: ", status.message());
  switch (status.code()) {
    case absl::StatusCode::kDeadlineExceeded:
      return absl::DeadlineExceededError(message);
    case absl::StatusCode::kResourceExhausted:
      return absl::ResourceExhaustedError(message);
    case absl::StatusCode::kInvalidArgument:
      return absl::InvalidArgumentError(message);
    case absl::StatusCode::kPermissionDenied:
      return absl::InternalError(message);  // the publisher's credentials, not the caller's
    default:
      return absl::UnavailableError(message);
  }
}

}  // namespace

bool IsRetryable(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status) ||
         absl::IsResourceExhausted(status) || absl::IsAborted(status);
}

PublisherService::PublisherService(broker::Producer& producer, common::Registry& metrics,
                                   PublisherOptions options)
    : producer_(producer),
      options_(std::move(options)),
      epoch_(options_.epoch),
      published_(
          metrics.AddCounter("herald_publisher_published_total", "Events acknowledged by Kafka")),
      rejected_invalid_(metrics.AddCounter("herald_publisher_rejected_total",
                                           "Events refused before Kafka", {{"reason", "invalid"}})),
      rejected_busy_(metrics.AddCounter("herald_publisher_rejected_total",
                                        "Events refused before Kafka", {{"reason", "in_flight"}})),
      failed_(
          metrics.AddCounter("herald_publisher_failed_total", "Events Kafka did not acknowledge")),
      ack_seconds_(metrics.AddHistogram("herald_publisher_ack_seconds",
                                        "From accepting an event to Kafka's acks=all",
                                        common::LatencyBuckets())),
      deduplicated_(metrics.AddCounter(
          "herald_publisher_deduplicated_total",
          "Events again with the stream and idempotency key of one acknowledged here: answered "
          "with the first copy's position, not written")) {
  metrics.AddCollector("herald_publisher_in_flight", "Events waiting for Kafka's acknowledgement",
                       common::MetricType::kGauge,
                       [this](const common::Emit& emit) { emit({}, InFlight()); });
  metrics.AddCollector("herald_publisher_kafka_reachable",
                       "1 while a Kafka broker answers, 0 while publishing fails at once",
                       common::MetricType::kGauge, [this](const common::Emit& emit) {
                         emit({}, producer_.Reachable() ? 1 : 0);
                       });
}

void PublisherService::Submit(const v1::Event& event, Done done) {
  if (absl::Status s = ValidateEvent(event, options_.limits); !s.ok()) {
    rejected_invalid_.Increment();
    std::move(done)(s);
    return;
  }
  const std::string id = event.idempotency_key().empty()
                             ? std::string()
                             : absl::StrCat(event.stream(), "\n", event.idempotency_key());
  if (!id.empty()) {
    if (std::optional<v1::PublishResponse> first = AckedBefore(id); first.has_value()) {
      deduplicated_.Increment();
      std::move(done)(std::move(*first));
      return;
    }
  }
  if (in_flight_.fetch_add(1) >= options_.max_in_flight) {
    in_flight_.fetch_sub(1);
    rejected_busy_.Increment();
    std::move(done)(absl::ResourceExhaustedError(
        absl::StrCat("the publisher has ", options_.max_in_flight,
                     " events waiting for Kafka (its limit); retry after a short back-off")));
    return;
  }
  v1::Event stored = event;
  const absl::Time accepted = absl::Now();
  const int64_t nanos = absl::ToUnixNanos(accepted);
  stored.mutable_publish_time()->set_seconds(nanos / 1'000'000'000);
  stored.mutable_publish_time()->set_nanos(static_cast<int32_t>(nanos % 1'000'000'000));
  const broker::EncodedRecord record = broker::EncodeForKafka(stored);

  // Shared so that `done` survives a Produce() that refuses the record (and
  // then drops the callback without calling it).
  auto shared_done = std::make_shared<Done>(std::move(done));
  absl::Status queued = producer_.Produce(
      record.key, record.value, record.headers,
      [this, accepted, shared_done, id](absl::StatusOr<broker::Position> position) {
        in_flight_.fetch_sub(1);
        if (!position.ok()) {
          failed_.Increment();
          std::move (*shared_done)(KafkaOutcome(position.status()));
          return;
        }
        published_.Increment();
        ack_seconds_.Observe(absl::ToDoubleSeconds(absl::Now() - accepted));
        v1::PublishResponse response;
        response.mutable_position()->set_partition(position->partition);
        response.mutable_position()->set_offset(position->offset);
        response.set_cursor(common::EncodeCursor(
            {.epoch = Epoch(), .next = {{position->partition, position->offset + 1}}}));
        if (!id.empty()) RememberAcked(id, response);
        std::move (*shared_done)(std::move(response));
      });
  if (!queued.ok()) {
    in_flight_.fetch_sub(1);
    failed_.Increment();
    std::move (*shared_done)(KafkaOutcome(queued));
  }
}

grpc::ServerUnaryReactor* PublisherService::Publish(grpc::CallbackServerContext* context,
                                                    const v1::PublishRequest* request,
                                                    v1::PublishResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!request->has_event()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the request has no event"));
    return reactor;
  }
  Submit(request->event(),
         [reactor, response, context](absl::StatusOr<v1::PublishResponse> result) {
           if (result.ok()) {
             *response = std::move(*result);
             reactor->Finish(grpc::Status::OK);
             return;
           }
           context->AddTrailingMetadata("herald-retryable",
                                        IsRetryable(result.status()) ? "true" : "false");
           reactor->Finish(common::ToGrpcStatus(result.status()));
         });
  return reactor;
}

// One PublishStream call. Reads requests while fewer than `stream_window` are
// unanswered; writes one response at a time, each carrying every result that
// completed since the last write (Kafka acknowledges whole batches at once);
// finishes once the client is done sending and every result is written.
class PublisherService::StreamReactor final
    : public grpc::ServerBidiReactor<v1::PublishRequest, v1::PublishStreamResponse> {
 public:
  explicit StreamReactor(PublisherService& service) : service_(service) { StartRead(&request_); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      bool finish;
      {
        absl::MutexLock lock(&mu_);
        reads_done_ = true;
        finish = ShouldFinish();
      }
      if (finish) Finish(grpc::Status::OK);
      return;
    }
    const uint64_t id = request_.request_id();
    {
      absl::MutexLock lock(&mu_);
      ++outstanding_;
    }
    if (!request_.has_event()) {
      Complete(id, absl::InvalidArgumentError("the request has no event"));
    } else {
      service_.Submit(request_.event(), [this, id](absl::StatusOr<v1::PublishResponse> result) {
        Complete(id, std::move(result));
      });
    }
    bool read_more;
    {
      absl::MutexLock lock(&mu_);
      read_more = outstanding_ < service_.options_.stream_window;
      paused_ = !read_more;
    }
    if (read_more) StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    bool write;
    bool finish;
    {
      absl::MutexLock lock(&mu_);
      if (!ok) {
        broken_ = true;
        pending_.Clear();
      }
      write = TakePendingLocked();
      finish = ShouldFinish();
    }
    if (write) StartWrite(&writing_response_);
    if (finish) Finish(grpc::Status::OK);
  }

  void OnDone() override { delete this; }

 private:
  void Complete(uint64_t id, absl::StatusOr<v1::PublishResponse> result) {
    bool write = false;
    bool resume_read = false;
    bool finish;
    {
      absl::MutexLock lock(&mu_);
      --outstanding_;
      if (!broken_) {
        v1::PublishResult* r = pending_.add_results();
        r->set_request_id(id);
        if (result.ok()) {
          *r->mutable_ok() = std::move(*result);
        } else {
          v1::PublishError* error = r->mutable_error();
          error->set_code(static_cast<int32_t>(result.status().code()));
          error->set_message(std::string(result.status().message()));
          error->set_retryable(IsRetryable(result.status()));
        }
        if (!writing_) write = TakePendingLocked();
      }
      if (paused_ && outstanding_ < service_.options_.stream_window) {
        paused_ = false;
        resume_read = true;
      }
      finish = ShouldFinish();
    }
    if (write) StartWrite(&writing_response_);
    if (resume_read) StartRead(&request_);
    if (finish) Finish(grpc::Status::OK);
  }

  // Moves every pending result into the response to write next; false (and
  // not writing) when there is none.
  bool TakePendingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    writing_ = pending_.results_size() > 0;
    if (writing_) {
      writing_response_.Clear();
      writing_response_.Swap(&pending_);
    }
    return writing_;
  }

  bool ShouldFinish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || !reads_done_ || outstanding_ > 0 || writing_) return false;
    finished_ = true;
    return true;
  }

  PublisherService& service_;
  v1::PublishRequest request_;  // only touched between StartRead and OnReadDone
  absl::Mutex mu_;
  // Results completed since the last write began, and the response being
  // written (untouched between StartWrite and OnWriteDone).
  v1::PublishStreamResponse pending_ ABSL_GUARDED_BY(mu_);
  v1::PublishStreamResponse writing_response_;
  int64_t outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

grpc::ServerBidiReactor<v1::PublishRequest, v1::PublishStreamResponse>*
PublisherService::PublishStream(grpc::CallbackServerContext* context) {
  return new StreamReactor(*this);
}

void PublisherService::SetEpoch(std::string epoch) {
  absl::MutexLock lock(&epoch_mu_);
  epoch_ = std::move(epoch);
}

std::string PublisherService::Epoch() const {
  absl::MutexLock lock(&epoch_mu_);
  return epoch_;
}

void PublisherService::RememberAcked(const std::string& id, const v1::PublishResponse& response) {
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&acked_mu_);
  if (!acked_.try_emplace(id, Acked{response, now}).second) return;  // the first stays
  acked_order_.emplace_back(now, id);
  while (!acked_order_.empty() && (acked_order_.size() > options_.dedup_keys ||
                                   now - acked_order_.front().first > options_.dedup_window)) {
    acked_.erase(acked_order_.front().second);
    acked_order_.pop_front();
  }
}

std::optional<v1::PublishResponse> PublisherService::AckedBefore(const std::string& id) {
  absl::MutexLock lock(&acked_mu_);
  auto it = acked_.find(id);
  if (it == acked_.end() || absl::Now() - it->second.at > options_.dedup_window) {
    return std::nullopt;
  }
  return it->second.response;
}

}  // namespace herald::publisher
