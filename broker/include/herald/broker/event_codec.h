// How Herald events are stored in Kafka, for every component that writes or
// reads the topic.
//
// A Herald record: key = stream, value = serialized herald.v1.Event (without
// its position), header `herald-format: event-v1`, plus `herald-type`,
// `herald-idempotency-key` and `traceparent` headers for tools that read
// headers only.
//
// A raw record (no `herald-format` header), from any Kafka producer: key =
// stream, value = UTF-8 payload (JSON or text), optional `herald-type` header
// (default "message", which browsers receive through EventSource.onmessage).
//
//   EncodedRecord r = EncodeForKafka(event);
//   producer.Produce(r.key, r.value, r.headers, ...);
//   absl::StatusOr<v1::Event> e = DecodeFromKafka(record);   // position filled in
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "herald/broker/types.h"
#include "herald/v1/event.pb.h"

namespace herald::broker {

inline constexpr char kFormatHeader[] = "herald-format";
inline constexpr char kFormatEventV1[] = "event-v1";
inline constexpr char kTypeHeader[] = "herald-type";
inline constexpr char kIdempotencyKeyHeader[] = "herald-idempotency-key";
inline constexpr char kTraceparentHeader[] = "traceparent";
inline constexpr char kDefaultRawType[] = "message";

struct EncodedRecord {
  std::string key;
  std::string value;
  std::vector<broker::Header> headers;
};

// `event` must be valid (the publisher validates first); its position is not stored.
EncodedRecord EncodeForKafka(const v1::Event& event);

// The event a record carries, with its position and (for raw records) its
// publish time from the record timestamp. InvalidArgument for a record that
// cannot be served: a key that is not a stream name, a Herald value that does
// not parse or names another stream, a raw value that is not UTF-8, a bad type.
absl::StatusOr<v1::Event> DecodeFromKafka(const broker::Record& record);

}  // namespace herald::broker
