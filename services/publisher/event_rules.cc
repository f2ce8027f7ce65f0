#include "event_rules.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "herald/common/stream_name.h"
#include "herald/common/utf8.h"

namespace herald::publisher {

absl::Status ValidateEvent(const v1::Event& event, const EventLimits& limits) {
  if (absl::Status s = common::ValidateStreamName(event.stream()); !s.ok()) return s;
  if (absl::Status s = common::ValidateEventType(event.type()); !s.ok()) return s;
  if (absl::StartsWith(event.type(), "herald.")) {
    return absl::InvalidArgumentError(absl::StrCat("event type ",
                                                   common::QuoteForMessage(event.type()),
                                                   " is reserved: types starting with "
                                                   "\"herald.\" are Herald's own signals"));
  }
  size_t payload = 0;
  switch (event.payload_case()) {
    case v1::Event::kText:
      payload = event.text().size();
      if (!common::IsValidUtf8(event.text())) {
        return absl::InvalidArgumentError("event text is not valid UTF-8");
      }
      break;
    case v1::Event::kProto:
      payload = event.proto().ByteSizeLong();
      if (event.proto().type_url().empty()) {
        return absl::InvalidArgumentError("event proto payload has no type_url");
      }
      break;
    case v1::Event::PAYLOAD_NOT_SET:
      return absl::InvalidArgumentError("event has no payload: set text (JSON) or proto (Any)");
  }
  if (payload > limits.max_payload_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "event payload is ", payload, " bytes; the limit is ", limits.max_payload_bytes));
  }
  if (event.idempotency_key().size() > limits.max_idempotency_key_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("idempotency key is ", event.idempotency_key().size(), " bytes; the limit is ",
                     limits.max_idempotency_key_bytes));
  }
  if (static_cast<size_t>(event.headers_size()) > limits.max_headers) {
    return absl::InvalidArgumentError(absl::StrCat("event has ", event.headers_size(),
                                                   " headers; the limit is ", limits.max_headers));
  }
  for (const auto& [key, value] : event.headers()) {
    if (key.empty() || key.size() + value.size() > limits.max_header_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("event header ", common::QuoteForMessage(key),
                                                     " is empty or over ", limits.max_header_bytes,
                                                     " bytes"));
    }
  }
  if (event.has_position()) {
    return absl::InvalidArgumentError("event position is set by Kafka, not by the publisher");
  }
  return absl::OkStatus();
}

}  // namespace herald::publisher
