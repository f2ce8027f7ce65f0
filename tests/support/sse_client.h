// Test support: a real HTTP/1.1 client for one Server-Sent-Events response,
// parsing chunked framing, then the event stream with EventStreamParser (the
// rules EventSource follows), including id-only blocks and comments.
//
//   auto c = SseClient::Connect(port, "/v1/events?stream=a", {{"Last-Event-ID", id}});
//   std::optional<SseEvent> e = c->Next(absl::Seconds(5));
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "support/event_stream.h"

namespace herald::testing {

class SseClient final {
 public:
  // Connects to 127.0.0.1:`port` and sends GET `target`. The status line and
  // headers are read before returning.
  // `receive_buffer` > 0 sets SO_RCVBUF (a small one makes a slow reader).
  static absl::StatusOr<std::unique_ptr<SseClient>> Connect(
      int port, const std::string& target, const std::map<std::string, std::string>& headers = {},
      int receive_buffer = 0);
  ~SseClient();

  int status() const { return status_; }
  const std::string& head() const { return head_; }
  // A non-SSE response's body (read until Content-Length or close).
  std::string ReadBody(absl::Duration timeout);

  // The next event, or nullopt when the stream ended or `timeout` passed.
  std::optional<SseEvent> Next(absl::Duration timeout);
  // The next event of `type`, passing over the others; nullopt when the
  // stream ended or `timeout` passed first.
  std::optional<SseEvent> NextOfType(const std::string& type, absl::Duration timeout);
  bool ended() const { return ended_; }

  // Everything the stream said so far, as the browser would keep it.
  const std::string& last_id() const { return parser_.last_id(); }
  int comments() const { return parser_.comments(); }
  int retry_ms() const { return parser_.retry_ms(); }

 private:
  explicit SseClient(int fd) : fd_(fd) {}
  bool Fill(absl::Time deadline);  // reads more raw bytes; false on end or timeout
  bool NextLine(absl::Time deadline, std::string* line);

  int fd_;
  int status_ = 0;
  std::string head_;
  std::string raw_;      // undecoded bytes
  std::string decoded_;  // chunk-decoded body bytes
  bool chunked_ = false;
  bool ended_ = false;
  bool last_chunk_ = false;  // the terminating chunk arrived
  EventStreamParser parser_;
};

}  // namespace herald::testing
