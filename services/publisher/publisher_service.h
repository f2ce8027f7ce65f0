// PublisherService: the herald.v1.Publisher gRPC service (callback API).
//
// Each accepted event is produced to Kafka; the response (position and cursor)
// is sent from the producer's delivery callback once Kafka acknowledged it with
// acks=all. Nothing blocks inside a reactor.
//
// Bounds: at most `max_in_flight` events are unacknowledged across all calls
// (further ones get RESOURCE_EXHAUSTED); a PublishStream stops reading its
// client while it has `stream_window` events in flight, so a fast client is
// held back by gRPC flow control rather than buffered.
//
// Thread-safety: gRPC calls the service from its threads; the service's state
// is atomics and the metrics registry.
#pragma once

#include <atomic>
#include <deque>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "event_rules.h"
#include "herald/broker/producer.h"
#include "herald/common/metrics.h"
#include "herald/v1/publisher.grpc.pb.h"

namespace herald::publisher {

struct PublisherOptions {
  EventLimits limits;
  int64_t max_in_flight = 20'000;
  int64_t stream_window = 2'000;
  std::string epoch;  // for the cursors in responses
  // An event again with the stream and idempotency key of one this replica
  // had acknowledged within `dedup_window` is answered with the first copy's
  // position, and not written again; at most `dedup_keys` are remembered.
  // (Copies through other replicas are written; the fanout drops them.)
  absl::Duration dedup_window = absl::Minutes(10);
  size_t dedup_keys = 100'000;
};

class PublisherService final : public v1::Publisher::CallbackService {
 public:
  PublisherService(broker::Producer& producer, common::Registry& metrics, PublisherOptions options);

  grpc::ServerUnaryReactor* Publish(grpc::CallbackServerContext* context,
                                    const v1::PublishRequest* request,
                                    v1::PublishResponse* response) override;

  grpc::ServerBidiReactor<v1::PublishRequest, v1::PublishStreamResponse>* PublishStream(
      grpc::CallbackServerContext* context) override;

  int64_t InFlight() const { return in_flight_.load(); }

  // One accepted event's outcome, for both RPCs.
  using Done = absl::AnyInvocable<void(absl::StatusOr<v1::PublishResponse>) &&>;
  // Validates, admits and produces `event`; calls `done` exactly once, maybe
  // inline (validation or admission failure), maybe from the delivery thread.
  void Submit(const v1::Event& event, Done done);

  // The epoch of the cursors in responses from now on (the topic changed
  // shape: partitions added, or created again).
  void SetEpoch(std::string epoch);
  std::string Epoch() const;

 private:
  class StreamReactor;

  // Remembers an acknowledged keyed event; the first copy's answer stays.
  void RememberAcked(const std::string& id, const v1::PublishResponse& response);
  std::optional<v1::PublishResponse> AckedBefore(const std::string& id);

  broker::Producer& producer_;
  const PublisherOptions options_;
  absl::Mutex acked_mu_;
  struct Acked {
    v1::PublishResponse response;
    absl::Time at;
  };
  absl::flat_hash_map<std::string, Acked> acked_ ABSL_GUARDED_BY(acked_mu_);
  std::deque<std::pair<absl::Time, std::string>> acked_order_ ABSL_GUARDED_BY(acked_mu_);

  mutable absl::Mutex epoch_mu_;
  std::string epoch_ ABSL_GUARDED_BY(epoch_mu_);
  std::atomic<int64_t> in_flight_{0};

  common::Counter& published_;
  common::Counter& rejected_invalid_;
  common::Counter& rejected_busy_;
  common::Counter& failed_;
  common::Histogram& ack_seconds_;
  common::Counter& deduplicated_;
};

// Whether a client may safely send the same event again after `status`.
bool IsRetryable(const absl::Status& status);

}  // namespace herald::publisher
