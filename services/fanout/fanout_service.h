// FanoutService: herald.v1.Fanout over the EventStore and Kafka.
//
// Subscribe and Attach run on gRPC's callback API: a call has no thread of
// its own; the pump's few threads (pump.h, `subscribe_threads`) move every
// call forward, so thousands of browsers resuming through their edges at once
// cost the fanout memory, not thousands of threads. A slow client is held
// back by gRPC flow control (one response in flight per call: its session
// just stops advancing, and falls back to Kafka replay if the rings move past
// it). An Attach call reads an edge's next watch request only once the last
// one is applied, so requests wait in flow control, not in the fanout.
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
#include "pump.h"
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
  // Threads moving Subscribe calls forward (a replay's pull may wait up to
  // the session's replay poll on Kafka).
  int subscribe_threads = 4;
};

class FanoutService final : public v1::Fanout::WithCallbackMethod_Subscribe<
                                v1::Fanout::WithCallbackMethod_Attach<v1::Fanout::Service>> {
 public:
  FanoutService(EventStore& store, ReaderFactory readers, broker::TopicInfo topic,
                FanoutOptions options, common::Registry& metrics);

  grpc::ServerWriteReactor<v1::SubscribeResponse>* Subscribe(
      grpc::CallbackServerContext* context, const v1::SubscribeRequest* request) override;
  grpc::ServerBidiReactor<v1::AttachRequest, v1::AttachResponse>* Attach(
      grpc::CallbackServerContext* context) override;

  // Makes every call in progress end with UNAVAILABLE so clients reconnect elsewhere.
  void Shutdown();

 private:
  class SubscribeCall;  // fanout_service.cc
  class AttachCall;     // attach_call.cc
  // Applies an edge's watch or unwatch to its session; resets and joins to
  // send go to `resets` and `joined`. A refused request's status (the call
  // ends with it).
  grpc::Status ApplyAttachRequest(Session& session, const v1::AttachRequest& request,
                                  std::vector<v1::Reset>& resets,
                                  std::vector<v1::StreamJoined>& joined);
  // A Subscribe call's start: its streams, the resets to send first, its
  // session, its response size. `refused` is set for a request that is
  // wrong (the call ends with it); other errors are Kafka's.
  struct Prepared {
    std::vector<std::string> streams;
    std::vector<v1::Reset> resets;
    std::unique_ptr<Session> session;
    size_t batch_bytes = 0;
  };
  absl::StatusOr<Prepared> PrepareSubscribe(const v1::SubscribeRequest& request,
                                            grpc::Status* refused);
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
  std::unique_ptr<Pump> pump_;
  common::Counter& replays_;
  common::Gauge& sessions_;
};

}  // namespace herald::fanout
