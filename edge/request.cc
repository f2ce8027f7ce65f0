#include "request.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "herald/common/json.h"
#include "herald/common/stream_name.h"

namespace herald::edge {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

absl::StatusOr<std::string> PercentDecode(absl::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      const int hi = i + 2 < text.size() ? HexValue(text[i + 1]) : -1;
      const int lo = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("bad percent-escape at byte ", i, " of ", common::QuoteForMessage(text)));
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

absl::StatusOr<EventsRequest> ParseEventsRequest(absl::string_view raw_query,
                                                 std::optional<absl::string_view> last_event_id,
                                                 const RequestLimits& limits) {
  if (raw_query.size() > limits.max_query_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the query string is ", raw_query.size(), " bytes; the limit is ", limits.max_query_bytes));
  }
  if (!raw_query.empty() && raw_query.front() == '?') raw_query.remove_prefix(1);
  EventsRequest request;
  std::string cursor_parameter;
  for (absl::string_view pair : absl::StrSplit(raw_query, '&', absl::SkipEmpty())) {
    const size_t eq = pair.find('=');
    const absl::string_view key = pair.substr(0, eq);
    absl::StatusOr<std::string> value =
        PercentDecode(eq == absl::string_view::npos ? "" : pair.substr(eq + 1), true);
    if (!value.ok()) return value.status();
    if (key == "stream") {
      if (absl::Status s = common::ValidateStreamName(*value); !s.ok()) return s;
      if (std::find(request.streams.begin(), request.streams.end(), *value) ==
          request.streams.end()) {
        request.streams.push_back(std::move(*value));
      }
      if (request.streams.size() > limits.max_streams) {
        return absl::InvalidArgumentError(
            absl::StrCat("too many streams: at most ", limits.max_streams, " per connection"));
      }
    } else if (key == "rewind") {
      uint32_t rewind = 0;
      if (value->empty() || value->find_first_not_of("0123456789") != std::string::npos ||
          !absl::SimpleAtoi(*value, &rewind) || rewind > limits.max_rewind) {
        return absl::InvalidArgumentError(absl::StrCat("rewind must be a whole number from 0 to ",
                                                       limits.max_rewind, ", not ",
                                                       common::QuoteForMessage(*value, 20)));
      }
      request.rewind = rewind;
    } else if (key == "lastEventId") {
      cursor_parameter = std::move(*value);
    }
    // Other parameters (cache busters and the like) are ignored.
  }
  if (request.streams.empty()) {
    return absl::InvalidArgumentError(
        "no stream: give one or more stream parameters, e.g. /v1/events?stream=orders.eu");
  }
  request.cursor = last_event_id.has_value() && !last_event_id->empty()
                       ? std::string(*last_event_id)
                       : std::move(cursor_parameter);
  return request;
}

absl::StatusOr<PostEventRequest> ParsePostEvent(absl::string_view encoded_stream,
                                                absl::string_view body) {
  PostEventRequest out;
  absl::StatusOr<std::string> stream = PercentDecode(encoded_stream, false);
  if (!stream.ok()) return stream.status();
  if (absl::Status s = common::ValidateStreamName(*stream); !s.ok()) return s;
  out.stream = std::move(*stream);
  absl::StatusOr<common::JsonMembers> members = common::ParseJsonObject(body);
  if (!members.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the body must be {\"type\": \"...\", \"data\": ...}: ", members.status().message()));
  }
  for (const auto& [name, value] : *members) {
    if (name != "type" && name != "data") {
      return absl::InvalidArgumentError(absl::StrCat("unknown member ", common::JsonQuote(name),
                                                     " (the body has \"type\" and \"data\")"));
    }
  }
  auto type = members->find("type");
  if (type == members->end()) return absl::InvalidArgumentError("the body has no \"type\"");
  absl::StatusOr<std::string> type_text = common::JsonUnquote(type->second);
  if (!type_text.ok()) return absl::InvalidArgumentError("\"type\" must be a string");
  out.type = std::move(*type_text);
  auto data = members->find("data");
  if (data == members->end()) return absl::InvalidArgumentError("the body has no \"data\"");
  out.data = std::string(data->second);
  return out;
}

std::optional<uint64_t> ContentLengthOf(absl::string_view head) {
  for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos ||
        !absl::EqualsIgnoreCase(line.substr(0, colon), "content-length")) {
      continue;
    }
    uint64_t length = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(colon + 1)), &length)) {
      return std::nullopt;
    }
    return length;
  }
  return std::nullopt;
}

}  // namespace herald::edge
