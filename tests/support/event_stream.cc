#include "support/event_stream.h"

#include "absl/strings/numbers.h"

namespace herald::testing {

std::optional<SseEvent> EventStreamParser::Line(absl::string_view line) {
  if (line.empty()) {
    std::optional<SseEvent> event;
    if (has_data_) {
      if (!data_.empty() && data_.back() == '\n') data_.pop_back();
      event = SseEvent{type_.empty() ? "message" : type_, data_, last_id_};
    }
    type_.clear();
    data_.clear();
    has_data_ = false;
    return event;
  }
  if (line[0] == ':') {
    ++comments_;
    return std::nullopt;
  }
  const size_t colon = line.find(':');
  const absl::string_view field = line.substr(0, colon);
  absl::string_view value = colon == absl::string_view::npos ? "" : line.substr(colon + 1);
  if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  if (field == "data") {
    data_.append(value.data(), value.size());
    data_.push_back('\n');
    has_data_ = true;
  } else if (field == "event") {
    type_ = std::string(value);
  } else if (field == "id") {
    if (value.find('\0') == absl::string_view::npos) last_id_ = std::string(value);
  } else if (field == "retry") {
    (void)absl::SimpleAtoi(value, &retry_ms_);
  }
  return std::nullopt;
}

std::vector<SseEvent> ParseEventStream(absl::string_view text) {
  EventStreamParser parser;
  std::vector<SseEvent> events;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find_first_of("\r\n", start);
    if (end == absl::string_view::npos) break;
    if (std::optional<SseEvent> event = parser.Line(text.substr(start, end - start))) {
      events.push_back(std::move(*event));
    }
    // CRLF is one line break, a lone CR or LF another.
    start = end + ((text[end] == '\r' && end + 1 < text.size() && text[end + 1] == '\n') ? 2 : 1);
  }
  return events;
}

}  // namespace herald::testing
