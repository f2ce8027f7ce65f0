// Plain values shared by the broker layer's producer, reader and admin.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace herald::broker {

// Special offsets accepted where a reader starts.
inline constexpr int64_t kOffsetBeginning = -2;  // the oldest retained record
inline constexpr int64_t kOffsetEnd = -1;        // the next record to be written

// A record's place in the topic.
struct Position {
  int32_t partition = 0;
  int64_t offset = 0;

  friend bool operator==(const Position&, const Position&) = default;
};

struct Header {
  std::string key;
  std::string value;

  friend bool operator==(const Header&, const Header&) = default;
};

// One Kafka record, as read.
struct Record {
  Position position;
  std::string key;
  std::string value;
  std::vector<Header> headers;
  int64_t timestamp_ms = 0;  // the record's CreateTime or LogAppendTime

  // The value of the first header named `key`, or nullptr.
  const std::string* FindHeader(absl::string_view key) const {
    for (const Header& h : headers) {
      if (h.key == key) return &h.value;
    }
    return nullptr;
  }
};

// A partition's bounds: `low` is the log start offset (the oldest retained
// record), `high` the offset the next record will get. low == high: empty.
struct Watermarks {
  int64_t low = 0;
  int64_t high = 0;
};

}  // namespace herald::broker
