// libFuzzer: the cursor decoder and the GET /v1/events request parser, which
// take what a browser sends (Last-Event-ID, lastEventId, the query string).
// Properties: no crash, and a cursor that decodes re-encodes to one that
// decodes to the same thing.
#include <cstddef>
#include <cstdint>

#include "herald/common/cursor.h"
#include "request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<herald::common::Cursor> cursor = herald::common::DecodeCursor(text);
  if (cursor.ok()) {
    const std::string encoded = herald::common::EncodeCursor(*cursor);
    absl::StatusOr<herald::common::Cursor> back = herald::common::DecodeCursor(encoded);
    if (!back.ok() || herald::common::EncodeCursor(*back) != encoded) __builtin_trap();
  }
  // The same bytes as a query string, and as the Last-Event-ID header.
  (void)herald::edge::ParseEventsRequest(text, text, herald::edge::RequestLimits{});
  (void)herald::edge::ParseEventsRequest(text, std::nullopt, herald::edge::RequestLimits{});
  (void)herald::edge::ContentLengthOf(text);
  return 0;
}
