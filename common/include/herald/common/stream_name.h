// Validation of the names that travel in URLs, gRPC requests and Kafka keys.
//
// A stream name is 1-200 bytes of [A-Za-z0-9._:/-], e.g. "orders.eu" or
// "dash/cpu". An event type follows the same alphabet, 1-100 bytes. Both are
// checked at every boundary (gRPC INVALID_ARGUMENT, HTTP 400) with a message
// that says which byte was wrong.
//
//   if (absl::Status s = ValidateStreamName(name); !s.ok()) return s;
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace herald::common {

inline constexpr size_t kMaxStreamNameBytes = 200;
inline constexpr size_t kMaxEventTypeBytes = 100;

// True for the bytes allowed in stream names and event types.
bool IsNameByte(char c);

// OK, or InvalidArgument saying what is wrong with `name`.
absl::Status ValidateStreamName(absl::string_view name);

// OK, or InvalidArgument saying what is wrong with `type`.
absl::Status ValidateEventType(absl::string_view type);

// `text` made safe to quote in an error message or a log line: at most
// `max_bytes` bytes, non-printable bytes as \xNN, an ellipsis where cut.
std::string QuoteForMessage(absl::string_view text, size_t max_bytes = 64);

}  // namespace herald::common
