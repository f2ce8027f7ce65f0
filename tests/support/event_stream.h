// The HTML standard's event-stream interpretation (what EventSource does with
// text/event-stream), for tests and fuzzers: fed a line at a time by a
// streaming client, or a whole stream at once.
//
//   EventStreamParser parser;
//   if (std::optional<SseEvent> e = parser.Line("data: x")) ...   // a blank line dispatches
//   std::vector<SseEvent> all = ParseEventStream("event: t\ndata: 1\n\n");
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace herald::testing {

struct SseEvent {
  std::string type = "message";
  std::string data;
  std::string id;  // the last event id after this event
};

class EventStreamParser final {
 public:
  // One line, without its terminator; the event a blank line dispatches, if any.
  std::optional<SseEvent> Line(absl::string_view line);

  const std::string& last_id() const { return last_id_; }
  int comments() const { return comments_; }
  int retry_ms() const { return retry_ms_; }

 private:
  std::string type_;
  std::string data_;
  bool has_data_ = false;
  std::string last_id_;
  int comments_ = 0;
  int retry_ms_ = -1;
};

// Every event of `text`; a last line without a terminator is not processed.
std::vector<SseEvent> ParseEventStream(absl::string_view text);

}  // namespace herald::testing
