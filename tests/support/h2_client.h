// Test support: a real HTTP/2 client (nghttp2) over TLS, negotiating h2 by
// ALPN, or h2c with prior knowledge, with many streams on one connection and
// control over each stream's flow control (a reader that stops on one stream
// while the others go on). Event-stream bodies are parsed as EventSource
// does (EventStreamParser).
//
//   auto c = H2Client::Connect(port, {.tls = true});
//   int32_t s = c->Get("/v1/events?stream=a");
//   c->PumpUntil([&] { return c->stream(s).events.size() >= 3; }, absl::Seconds(10));
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "support/event_stream.h"

struct nghttp2_session;

namespace herald::testing {

// A development CA and certificate for localhost (scripts/dev-cert), made
// once per test process in a temporary directory; the directory (ca.pem,
// cert.pem, key.pem, spki.txt).
absl::StatusOr<std::string> DevCertificate();

class H2Client final {
 public:
  struct Options {
    bool tls = true;
    // ALPN offered (TLS only).
    std::vector<std::string> alpn = {"h2"};
  };
  struct Stream {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;  // all of it (for answers); events also go to `events`
    std::vector<SseEvent> events;
    bool closed = false;
    uint32_t error_code = 0;  // RST_STREAM's, when reset
    bool paused = false;      // its data is not consumed: its window shuts
    std::string partial;      // an incomplete event-stream line
    EventStreamParser parser;
    std::string Header(const std::string& name) const;
  };

  static absl::StatusOr<std::unique_ptr<H2Client>> Connect(int port, Options options);
  static absl::StatusOr<std::unique_ptr<H2Client>> Connect(int port) {
    return Connect(port, Options{});
  }
  ~H2Client();

  // A request on a new stream; its id. `headers` besides the pseudo-headers.
  int32_t Request(const std::string& method, const std::string& path,
                  const std::vector<std::pair<std::string, std::string>>& headers = {},
                  const std::string& body = "");
  int32_t Get(const std::string& path,
              const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    return Request("GET", path, headers);
  }
  // Stops consuming `stream`'s data: its flow-control window shuts once the
  // edge has sent that much; the connection's stays open.
  void Pause(int32_t stream);
  // Sends RST_STREAM(CANCEL).
  void Cancel(int32_t stream);
  // Opens `count` GET streams and resets each right after its HEADERS (the
  // rapid-reset pattern), as raw frames written as fast as the socket takes
  // them. The session is not used afterwards: wait with DrainRaw.
  absl::Status RapidReset(const std::string& path, int count);
  // Reads raw frames until GOAWAY or the end of the connection (true), or
  // `wait` passes (false).
  bool DrainRaw(absl::Duration wait);

  // Reads and writes until `done()` or `timeout`; false on timeout or when
  // the connection ended first.
  bool PumpUntil(const std::function<bool()>& done, absl::Duration timeout);

  Stream& stream(int32_t id) { return streams_[id]; }
  bool connection_closed() const { return closed_; }
  bool goaway() const { return goaway_; }
  uint32_t goaway_code() const { return goaway_code_; }
  const std::string& alpn() const { return alpn_; }
  // The server's SETTINGS_MAX_CONCURRENT_STREAMS.
  uint32_t max_concurrent_streams() const;

 private:
  H2Client(int fd, SSL_CTX* ctx, SSL* ssl);
  bool Flush();
  bool ReadSome(absl::Duration wait);

  friend struct H2ClientCallbacks;
  int fd_;
  SSL_CTX* ctx_;
  SSL* ssl_;
  nghttp2_session* session_ = nullptr;
  std::map<int32_t, Stream> streams_;
  std::string out_;
  std::string raw_;  // raw frames read after RapidReset
  bool closed_ = false;
  bool goaway_ = false;
  uint32_t goaway_code_ = 0;
  std::string alpn_;
};

}  // namespace herald::testing
