// Test support: a plain TCP client on loopback for tests that speak HTTP by
// hand (hostile clients, byte timings).
//
//   auto s = RawSocket::Connect(port);
//   (*s)->Send("GET /v1/events?stream=a HTTP/1.1\r\nHost: x\r\n\r\n");
//   (*s)->ReadUntil("\r\n\r\n", absl::Seconds(5));   // the response head
//   (*s)->received();                                // every byte so far
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace herald::testing {

// A TCP socket connected to 127.0.0.1:`port` (SO_RCVBUF set when
// `receive_buffer` > 0), or Unavailable.
absl::StatusOr<int> ConnectLoopback(int port, int receive_buffer = 0);

class RawSocket final {
 public:
  static absl::StatusOr<std::unique_ptr<RawSocket>> Connect(int port);
  ~RawSocket();

  bool Send(absl::string_view bytes);
  // Reads what arrives within `timeout` (at least one read if any is ready);
  // false once the peer closed.
  bool ReadSome(absl::Duration timeout);
  // Reads until `needle` is among the bytes received, the peer closes or
  // `timeout` passes; whether it was found.
  bool ReadUntil(absl::string_view needle, absl::Duration timeout);
  // Reads until the peer closes or `timeout` passes; whether it closed.
  bool ReadToEnd(absl::Duration timeout);
  const std::string& received() const { return received_; }
  bool closed() const { return closed_; }
  void Close();

 private:
  explicit RawSocket(int fd) : fd_(fd) {}
  int fd_;
  std::string received_;
  bool closed_ = false;
};

}  // namespace herald::testing
