// Parsing what a browser sends to GET /v1/events.
//
//   GET /v1/events?stream=orders.eu&stream=dash%2Fcpu&rewind=50
//   Last-Event-ID: 1~4f1c0de2a9b3~0.1200~3.88
//
// Stream parameters repeat, so they are read from the raw query string
// (Pistache's Uri::Query keeps one value per key). Values are percent-decoded
// before validation. The cursor comes from the Last-Event-ID header (what
// EventSource sends on reconnect) or, on a page's first connect, from the
// lastEventId parameter; the header wins.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace herald::edge {

struct EventsRequest {
  std::vector<std::string> streams;  // validated, duplicates removed, in order given
  uint32_t rewind = 0;
  std::string cursor;  // empty: a fresh connection
};

struct RequestLimits {
  size_t max_streams = 16;
  uint32_t max_rewind = 1000;
  size_t max_query_bytes = 8192;
};

// InvalidArgument with a message for the browser's developer: no stream, too
// many, a bad name (which byte), a rewind that is not a number in range, a
// malformed percent-escape, a query over the size limit.
absl::StatusOr<EventsRequest> ParseEventsRequest(absl::string_view raw_query,
                                                 std::optional<absl::string_view> last_event_id,
                                                 const RequestLimits& limits);

// POST /v1/streams/{stream}/events with {"type": "...", "data": <any JSON>}.
struct PostEventRequest {
  std::string stream;
  std::string type;
  std::string data;  // the data member's JSON text, exactly as sent
};

// `encoded_stream` is the path segment (percent-decoded here). InvalidArgument
// names the problem: a bad stream name, a body that is not a JSON object, a
// missing or non-string "type", a missing "data", an unknown member.
absl::StatusOr<PostEventRequest> ParsePostEvent(absl::string_view encoded_stream,
                                                absl::string_view body);

// The Content-Length of a request head (request line and headers, up to the
// blank line); nullopt if there is none or it is not a number.
std::optional<uint64_t> ContentLengthOf(absl::string_view head);

// RFC 3986 percent-decoding; with `plus_is_space`, '+' decodes to ' ' (form
// encoding, used in query strings). InvalidArgument for a bad escape.
absl::StatusOr<std::string> PercentDecode(absl::string_view text, bool plus_is_space);

}  // namespace herald::edge
