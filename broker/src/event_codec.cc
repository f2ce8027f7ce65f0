#include "herald/broker/event_codec.h"

#include "absl/strings/str_cat.h"
#include "herald/common/stream_name.h"
#include "herald/common/utf8.h"

namespace herald::broker {

EncodedRecord EncodeForKafka(const v1::Event& event) {
  EncodedRecord record;
  record.key = event.stream();
  if (event.has_position()) {
    v1::Event copy = event;
    copy.clear_position();
    copy.SerializeToString(&record.value);
  } else {
    event.SerializeToString(&record.value);
  }
  record.headers.push_back({kFormatHeader, kFormatEventV1});
  record.headers.push_back({kTypeHeader, event.type()});
  if (!event.idempotency_key().empty()) {
    record.headers.push_back({kIdempotencyKeyHeader, event.idempotency_key()});
  }
  if (auto it = event.headers().find(kTraceparentHeader); it != event.headers().end()) {
    record.headers.push_back({kTraceparentHeader, it->second});
  }
  return record;
}

absl::StatusOr<v1::Event> DecodeFromKafka(const broker::Record& record) {
  const auto where = [&] {
    return absl::StrCat("record ", record.position.partition, "/", record.position.offset);
  };
  if (absl::Status s = common::ValidateStreamName(record.key); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where(), ": key is not a stream: ", s.message()));
  }
  v1::Event event;
  const std::string* format = record.FindHeader(kFormatHeader);
  if (format != nullptr) {
    if (*format != kFormatEventV1) {
      return absl::InvalidArgumentError(absl::StrCat(where(), ": unknown ", kFormatHeader, " ",
                                                     common::QuoteForMessage(*format)));
    }
    if (!event.ParseFromString(record.value)) {
      return absl::InvalidArgumentError(absl::StrCat(where(), ": value is not a herald.v1.Event"));
    }
    if (event.stream() != record.key) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), ": event names stream ", common::QuoteForMessage(event.stream()),
                       " but the key is ", common::QuoteForMessage(record.key)));
    }
  } else {
    if (!common::IsValidUtf8(record.value)) {
      return absl::InvalidArgumentError(absl::StrCat(where(), ": raw value is not UTF-8"));
    }
    event.set_stream(record.key);
    const std::string* type = record.FindHeader(kTypeHeader);
    event.set_type(type != nullptr ? *type : kDefaultRawType);
    event.set_text(record.value);
    if (const std::string* key = record.FindHeader(kIdempotencyKeyHeader); key != nullptr) {
      event.set_idempotency_key(*key);
    }
    if (const std::string* trace = record.FindHeader(kTraceparentHeader); trace != nullptr) {
      (*event.mutable_headers())[kTraceparentHeader] = *trace;
    }
    if (record.timestamp_ms > 0) {
      event.mutable_publish_time()->set_seconds(record.timestamp_ms / 1000);
      event.mutable_publish_time()->set_nanos(static_cast<int32_t>(record.timestamp_ms % 1000) *
                                              1'000'000);
    }
  }
  if (absl::Status s = common::ValidateEventType(event.type()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(where(), ": ", s.message()));
  }
  event.mutable_position()->set_partition(record.position.partition);
  event.mutable_position()->set_offset(record.position.offset);
  return event;
}

}  // namespace herald::broker
