// libFuzzer: the SSE renderer. Input: an event type, NUL, a payload.
// Property: whatever the payload holds, the rendered frame parses (with the
// HTML standard's event-stream rules, tests/support/event_stream.h) into
// exactly one event with that type and the payload's lines (CR, LF and CRLF
// read as LF).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "sse.h"
#include "support/event_stream.h"

namespace {

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
  const std::vector<herald::testing::SseEvent> events = herald::testing::ParseEventStream(frame);
  if (events.size() != 1 || events[0].type != type || events[0].data != expected) __builtin_trap();
  // Comments never end up as anything but one comment.
  const std::vector<herald::testing::SseEvent> none =
      herald::testing::ParseEventStream(herald::edge::CommentBlock(data));
  if (!none.empty()) __builtin_trap();
  return 0;
}
