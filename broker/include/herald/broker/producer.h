// Producer: writes records to one topic and reports where each one landed.
//
//   ProducerOptions options{.client = {.bootstrap_servers = "127.0.0.1:9092"},
//                           .topic = "herald.events"};
//   absl::StatusOr<std::unique_ptr<Producer>> producer = Producer::Create(options);
//   (*producer)->Produce("orders.eu", payload, {}, [](absl::StatusOr<Position> p) {
//     // runs on the producer's delivery thread, once the write is acknowledged
//   });
//
// Every record is written with acks=all by an idempotent producer, keyed by the
// caller (Herald: the stream name) and partitioned as Java's producer would.
//
// Lifecycle: Create() connects lazily; the destructor waits up to
// `close_timeout` for records in flight, then fails the rest with CANCELLED.
// Thread-safety: Produce(), ProduceAndWait() and Flush() may be called from any
// thread. Callbacks run on one internal delivery thread, in the order Kafka
// acknowledges them; they must not block and must not destroy the Producer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "herald/broker/config.h"
#include "herald/broker/types.h"

namespace herald::broker {

struct ProducerOptions {
  ClientConfig client;
  std::string topic = "herald.events";
  // How long records wait to be batched together.
  absl::Duration linger = absl::Milliseconds(2);
  // How long a record may take to be acknowledged, retries included, before its
  // callback gets DEADLINE_EXCEEDED.
  absl::Duration delivery_timeout = absl::Seconds(30);
  // Bounds of the local queue; Produce() says RESOURCE_EXHAUSTED past them.
  int32_t max_queued_records = 100'000;
  int32_t max_queued_kbytes = 256 * 1024;
  // The largest record value accepted (the broker's default is ~1 MiB).
  int32_t max_record_bytes = 1'048'576 + 64 * 1024;
  // How long the destructor waits for records in flight.
  absl::Duration close_timeout = absl::Seconds(10);
  // Once every broker connection is down, how long a metadata request may
  // take before Kafka counts as unreachable, and how often it is retried then.
  absl::Duration probe_timeout = absl::Seconds(1);
  absl::Duration probe_interval = absl::Milliseconds(500);
};

class Producer final {
 public:
  // Called exactly once per record accepted by Produce(): the position on
  // success; DEADLINE_EXCEEDED when the delivery timeout passed, UNAVAILABLE
  // when Kafka refused it with a retriable error, CANCELLED when the producer
  // closed first, other codes for permanent errors.
  using DeliveryCallback = absl::AnyInvocable<void(absl::StatusOr<Position>) &&>;

  // InvalidArgument for a bad configuration (the message names the setting).
  static absl::StatusOr<std::unique_ptr<Producer>> Create(const ProducerOptions& options);

  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Queues one record. On OK, `done` will be called. Otherwise `done` is not
  // called and the status says why: RESOURCE_EXHAUSTED (local queue full,
  // retry later), UNAVAILABLE (no broker answered the last probe, made within
  // about `probe_timeout` of the last connection failing), INVALID_ARGUMENT
  // (record too large), or another code. Records queued before that keep
  // waiting for a broker until the delivery timeout.
  absl::Status Produce(absl::string_view key, absl::string_view value,
                       absl::Span<const Header> headers, DeliveryCallback done);

  // Produces one record and blocks until it is acknowledged or failed.
  absl::StatusOr<Position> ProduceAndWait(absl::string_view key, absl::string_view value,
                                          absl::Span<const Header> headers = {});

  // Blocks until every record produced so far has had its callback called, or
  // `timeout` passed (DEADLINE_EXCEEDED).
  absl::Status Flush(absl::Duration timeout);

  // Records accepted by Produce() whose callback has not run yet.
  int64_t InFlight() const;

  // False from the moment a probe found no broker answering until one does.
  bool Reachable() const;

  const std::string& topic() const;

  class Impl;

 private:
  explicit Producer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald::broker
