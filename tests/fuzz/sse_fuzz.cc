// libFuzzer: the SSE renderer. Input: an event type, NUL, a payload.
// Property: whatever the payload holds, the rendered frame parses (as the
// HTML standard's event-stream parser does) into exactly one event with that
// type and the payload's lines (CR, LF and CRLF read as LF).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "sse.h"

namespace {

struct Parsed {
  std::string type = "message";
  std::string data;
};

// The HTML standard's event-stream interpretation, minus id and retry.
std::vector<Parsed> Parse(const std::string& stream) {
  std::vector<Parsed> events;
  std::string type, data;
  bool has_data = false;
  size_t pos = 0;
  while (pos < stream.size()) {
    size_t end = stream.find_first_of("\r\n", pos);
    if (end == std::string::npos) break;  // an unterminated line is not processed
    const std::string line = stream.substr(pos, end - pos);
    pos =
        end + ((stream[end] == '\r' && end + 1 < stream.size() && stream[end + 1] == '\n') ? 2 : 1);
    if (line.empty()) {
      if (has_data) {
        if (!data.empty() && data.back() == '\n') data.pop_back();
        events.push_back({type.empty() ? "message" : type, data});
      }
      type.clear();
      data.clear();
      has_data = false;
      continue;
    }
    if (line[0] == ':') continue;
    const size_t colon = line.find(':');
    std::string field = line.substr(0, colon);
    std::string value;
    if (colon != std::string::npos) {
      value = line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    }
    if (field == "event") {
      type = value;
    } else if (field == "data") {
      data += value;
      data += '\n';
      has_data = true;
    }
  }
  return events;
}

bool IsTypeByte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string input(reinterpret_cast<const char*>(bytes), size);
  const size_t nul = input.find('\0');
  std::string type = nul == std::string::npos ? "message" : input.substr(0, nul);
  const std::string data = nul == std::string::npos ? input : input.substr(nul + 1);
  // Event types are validated before they get here (publisher rules).
  if (type.empty() || type.size() > 128) type = "message";
  for (char c : type) {
    if (!IsTypeByte(c)) return 0;
  }
  std::string expected;
  for (size_t i = 0; i < data.size(); ++i) {
    if (data[i] == '\r') {
      expected.push_back('\n');
      if (i + 1 < data.size() && data[i + 1] == '\n') ++i;
    } else {
      expected.push_back(data[i]);
    }
  }
  const std::string frame =
      herald::edge::IdLine("1~abc~0.1") + herald::edge::RenderEventBody(type, data);
  const std::vector<Parsed> events = Parse(frame);
  if (events.size() != 1 || events[0].type != type || events[0].data != expected) __builtin_trap();
  // Comments never end up as anything but one comment.
  const std::vector<Parsed> none = Parse(herald::edge::CommentBlock(data));
  if (!none.empty()) __builtin_trap();
  return 0;
}
