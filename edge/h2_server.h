// H2Server: the edge's HTTP/2 listener. With a certificate it serves TLS and
// negotiates h2 by ALPN (the HTTPS port browsers use: every stream and tab of
// an origin over one connection); without, h2c with prior knowledge (for
// proxies and meshes that speak HTTP/2 to their backends). The HTTP/1.1
// listener (Pistache) is unchanged beside it.
//
//   H2Server https(options, hub, table, route, stats, writer_stats);
//   HERALD_RETURN_IF_ERROR(https.Start());   // binds, loads the certificate
//   ...
//   https.Stop();                            // GOAWAY, then every connection closed
//
// Connections are accepted on the hub's first loop and each placed on a loop
// (Hub::PickLoop) for its life (h2_connection.h). Requests are routed on the
// server's intake threads, at most `max_waiting_requests` waiting (past it a
// request gets 503 at once). TLS 1.2 or later with AEAD ciphers only, as
// HTTP/2 requires; a client that offers ALPN without h2 is refused in the
// handshake, one that offers no ALPN must send HTTP/2's preface or is closed
// (HTTP/1.1 clients use the plain port). Out of descriptors, the listener
// pauses until the next Tick rather than spin.
//
// Thread-safety: Start/Stop from one thread; Tick from any.
#pragma once

#include <openssl/ssl.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "h2_connection.h"

namespace herald::edge {

struct H2ServerOptions {
  std::string address;  // host:port; empty: off
  // PEM files; both empty: h2c (no TLS).
  std::string cert_file;
  std::string key_file;
  H2Session::Options session;
  int listen_backlog = 4096;
  absl::Duration handshake_timeout = absl::Seconds(10);
  // A connection with no stream open for this long is sent GOAWAY.
  absl::Duration idle_timeout = absl::Minutes(2);
  int intake_threads = 2;
  size_t max_waiting_requests = 10'000;
};

class H2Server final {
 public:
  // `next_key` numbers the table entries of its streams: one counter for
  // every listener sharing `table`.
  H2Server(H2ServerOptions options, Hub& hub, ConnectionTable& table,
           std::function<void(const ApiRequest&, ApiExchange&)> route, H2Stats& stats,
           WriterStats& writer_stats, std::atomic<size_t>& next_key);
  ~H2Server();

  // InvalidArgument for a bad address or certificate, Unavailable if the
  // address cannot be bound.
  absl::Status Start();
  int port() const { return port_; }
  bool tls() const { return tls_ != nullptr; }
  // Handshake and idle timeouts; call every second or so.
  void Tick();
  void Stop();

 private:
  class Acceptor;
  void Accept();
  bool Intake(std::function<void()> fn, bool must);
  void RunIntake();

  const H2ServerOptions options_;
  Hub& hub_;
  H2Context context_;
  SSL_CTX* tls_ = nullptr;
  int listen_fd_ = -1;
  int port_ = -1;
  std::shared_ptr<Acceptor> acceptor_;
  bool accept_paused_ = false;  // out of descriptors: listening again on the next Tick

  absl::Mutex mu_;
  absl::flat_hash_map<const void*, std::shared_ptr<H2Connection>> connections_ ABSL_GUARDED_BY(mu_);
  std::deque<std::function<void()>> intake_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool intake_done_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> intake_threads_;
};

}  // namespace herald::edge
