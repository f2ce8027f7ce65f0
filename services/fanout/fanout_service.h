// FanoutService: herald.v1.Fanout over the EventStore and Kafka.
//
// Subscribe and Attach use gRPC's synchronous API: each call has a thread of
// its own, so a slow subscriber is held back by gRPC flow control (its
// session just stops advancing, and falls back to Kafka replay if the rings
// move past it) and Kafka replays may block without stalling anyone else.
// Callers are edges and internal services, tens to hundreds per replica, not
// browsers.
//
// Cursor checks at Subscribe: malformed -> Reset "malformed", another epoch ->
// Reset "epoch", a position beyond the partition's end (the topic was
// recreated) -> Reset "epoch"; each continues from live. A position older than
// retention -> Reset "retention", continuing from the oldest retained event.
//
// Thread-safety: gRPC calls the handlers from its threads; Shutdown() from any.
#pragma once

#include <atomic>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "event_store.h"
#include "herald/broker/kafka_setup.h"
#include "herald/common/metrics.h"
#include "herald/v1/fanout.grpc.pb.h"
#include "session.h"

namespace herald::fanout {

struct FanoutOptions {
  size_t max_subscribe_streams = 64;
  size_t max_attach_streams = 100'000;
  uint32_t max_rewind = 10'000;
  // Largest response message; batches are split below it.
  size_t max_response_bytes = 4u << 20;
  // A cursor-only response at most this often when positions move without
  // events, and at least this often as a heartbeat.
  absl::Duration cursor_interval = absl::Seconds(1);
  SessionOptions session;
};

class FanoutService final : public v1::Fanout::Service {
 public:
  FanoutService(EventStore& store, ReaderFactory readers, broker::TopicInfo topic,
                FanoutOptions options, common::Registry& metrics);

  grpc::Status Subscribe(grpc::ServerContext* context, const v1::SubscribeRequest* request,
                         grpc::ServerWriter<v1::SubscribeResponse>* writer) override;
  grpc::Status Attach(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::AttachResponse, v1::AttachRequest>* stream) override;

  // Makes every call in progress end with UNAVAILABLE so clients reconnect elsewhere.
  void Shutdown();

 private:
  // A partition's position must exist in Kafka: beyond its end means the
  // cursor was made for another instance of the topic.
  absl::StatusOr<bool> AheadOfLog(int32_t partition, int64_t next);
  void CountStreams(const std::vector<std::string>& streams, int delta);
  void CountReset(const v1::Reset& reset);
  std::string CursorFor(const std::map<int32_t, int64_t>& positions) const;

  EventStore& store_;
  const ReaderFactory readers_;
  const broker::TopicInfo topic_;
  const FanoutOptions options_;
  std::atomic<bool> stopping_{false};

  absl::Mutex watermark_mu_;
  std::unique_ptr<broker::Reader> watermark_reader_ ABSL_GUARDED_BY(watermark_mu_);

  absl::Mutex counts_mu_;
  absl::flat_hash_map<std::string, int64_t> subscriptions_ ABSL_GUARDED_BY(counts_mu_);

  common::Registry& metrics_;
  common::Counter& replays_;
  common::Gauge& sessions_;
};

}  // namespace herald::fanout
