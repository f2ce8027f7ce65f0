// What the publisher accepts: the checks behind Publish's INVALID_ARGUMENT.
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "herald/v1/event.pb.h"

namespace herald::publisher {

struct EventLimits {
  // Payload bytes: the JSON text, or the serialized Any.
  size_t max_payload_bytes = 1 << 20;
  size_t max_headers = 32;
  size_t max_header_bytes = 4096;  // per key + value
  size_t max_idempotency_key_bytes = 256;
};

// OK, or InvalidArgument saying exactly what is wrong: the stream name, the
// type (reserved "herald." prefix included), a missing or oversized payload,
// non-UTF-8 text, too many or too large headers, a position set by the caller.
absl::Status ValidateEvent(const v1::Event& event, const EventLimits& limits);

}  // namespace herald::publisher
