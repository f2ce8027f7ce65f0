// EdgeServer: herald-edge's HTTP side on Pistache 0.0.5.
//
//   GET /v1/events?stream=A&stream=B[&rewind=N][&lastEventId=C]   Server-Sent Events
//   POST /v1/streams/{stream}/events   {"type": ..., "data": ...} -> Publisher.Publish, 201
//   POST /v1/rpc/{package.Service}/{Method}   JSON -> unary gRPC to the routed service -> JSON
//   GET /healthz   GET /readyz   GET /metrics
//   GET /, /app.js, ...   the dashboard (--static_dir)
//
// A stream's bytes bypass Pistache's writer (see socket_writer.h); Pistache
// parses requests and reports disconnections. Limits: a global and a per-IP
// connection cap (503 with Retry-After), streams per connection and rewind
// (400 with a JSON body), queued bytes per connection (slow clients are
// dropped and resume from their cursor).
//
// A stream opened with a token ends when the token does (expiry_timers.h):
// one last `herald.auth` event with {"reason":"expired"} and the cursor as
// its id, then the end; the browser resumes with a fresh token and that id.
//
// Every request that opens, publishes or calls is authenticated (auth.h):
// 401 for a missing or bad token where one is needed, 403 for a token that
// does not grant it, whole requests only (a stream set with one forbidden
// stream is refused). The POST rate limit applies per subject, or per client
// address without a token.
//
// One owner per connection (connection_table.h): a connection holding a
// stream or a POST awaiting its answer starts no second handler; bytes that
// arrive on it are ignored and counted, and a stream that receives them is
// closed (its browser resumes from its cursor).
//
// Lifecycle: Start(), then Drain() on SIGTERM (readiness off, new streams
// refused, open streams closed over the drain window with jittered retry:
// hints), then Stop(), which also stops the hub: every connection, and every
// writer it holds, is gone before the server's own parts are.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "auth.h"
#include "connection_table.h"
#include "expiry_timers.h"
#include "h2_server.h"
#include "herald/common/metrics.h"
#include "herald/v1/publisher.grpc.pb.h"
#include "hub.h"
#include "request.h"
#include "rpc.h"
#include "socket_writer.h"
#include "static_files.h"

namespace Pistache::Http {
class Endpoint;
}

namespace herald::edge {

struct EdgeOptions {
  std::string address = "0.0.0.0:8080";
  int threads = 2;
  // Connections waiting to be accepted (the kernel caps it at somaxconn).
  int listen_backlog = 4096;
  size_t max_connections = 19'000;
  size_t max_connections_per_ip = 19'000;
  RequestLimits request;
  size_t max_queued_bytes = 256 * 1024;
  absl::Duration heartbeat = absl::Seconds(15);
  absl::Duration drain = absl::Seconds(10);
  int64_t retry_ms = 2000;
  // herald-publisher, for POSTed events.
  std::string publisher = "127.0.0.1:7001";
  absl::Duration publish_timeout = absl::Seconds(10);
  // Larger request bodies get 413 as soon as their Content-Length is seen;
  // the body is never read.
  size_t max_body_bytes = 1 << 20;
  // Origins whose pages may read the edge's answers (CORS, credentials
  // allowed); "*" for any. Empty: no CORS headers.
  std::vector<std::string> cors_origins;
  // POSTs per second per client address, with bursts up to `post_burst`
  // (429 with Retry-After past them).
  double post_rate = 100;
  double post_burst = 200;
  // Who may do what; null: authentication off.
  const Authenticator* auth = nullptr;
  // Services behind /v1/rpc; null: none.
  const RpcGateway* rpc = nullptr;
  // The dashboard, served at `/`; null: none.
  const StaticFiles* static_files = nullptr;
  // HTTP/2 over TLS (ALPN h2) on `https.address`, and h2c with prior
  // knowledge on `h2c_address`; empty: off. See h2_server.h.
  H2ServerOptions https;
  std::string h2c_address;
};

class EdgeServer final {
 public:
  EdgeServer(EdgeOptions options, Hub& hub, common::Registry& metrics);
  ~EdgeServer();

  // Unavailable if the address cannot be bound.
  absl::Status Start();
  int port() const;
  // The HTTPS (HTTP/2) and h2c ports; -1 when off.
  int https_port() const;
  int h2c_port() const;
  // Refuses new streams and closes open ones over the drain window.
  void Drain();
  void Stop();
  // What /readyz says: attached to a fanout replica and not draining.
  bool Ready() const;

  // The endpoints, whatever the protocol (http_handler.h).
  class Router;
  // HTTP/1.1 through Pistache (one per reactor thread).
  class Handler;

 private:
  void Heartbeats();
  // The request's Origin if CORS allows it.
  std::optional<std::string> AllowedOrigin(const std::string& origin) const;
  // 0 if a POST from `client` may go now, else the seconds to wait.
  int PostDelay(const std::string& client);

  const EdgeOptions options_;
  Hub& hub_;
  common::Registry& metrics_;
  WriterStats stats_;
  H2Stats h2_stats_;
  std::unique_ptr<ExpiryTimers> expiry_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<Pistache::Http::Endpoint> endpoint_;
  std::unique_ptr<H2Server> https_;
  std::unique_ptr<H2Server> h2c_;
  std::atomic<int64_t> http1_connections_{0};
  std::atomic<size_t> h2_keys_{size_t{1} << 62};  // table keys of HTTP/2 streams
  std::atomic<bool> draining_{false};
  std::atomic<bool> stopping_{false};
  std::thread heartbeat_;

  // Who owns each connection: streams, and answers written later from a gRPC
  // thread (aborted if the client goes first).
  ConnectionTable table_;
  std::unique_ptr<v1::Publisher::Stub> publisher_;
  struct Bucket {
    double tokens = 0;
    absl::Time updated;
  };
  absl::Mutex buckets_mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(buckets_mu_);
  std::atomic<int> calls_in_flight_{0};

  common::Counter& accepted_;
  common::Counter& refused_;
  common::Counter& bad_requests_;
  common::Counter& posted_;
  common::Counter& post_failures_;
  common::Counter& rate_limited_;
  common::Counter& rpc_calls_;
  common::Counter& rpc_failures_;
  common::Counter& forbidden_;
  common::Counter& busy_requests_;
  common::Counter& ended_expired_;
  absl::flat_hash_map<std::string, common::Counter*> auth_failures_;  // by reason
};

}  // namespace herald::edge
