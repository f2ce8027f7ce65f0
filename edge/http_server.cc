// EdgeServer's life: its counters, start, heartbeats, drain and stop. The
// requests themselves are http_handler.h's.
#include "http_server.h"

#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "herald/common/logging.h"
#include "http_handler.h"
#include "sse.h"

namespace herald::edge {

EdgeServer::EdgeServer(EdgeOptions options, Hub& hub, common::Registry& metrics)
    : options_(std::move(options)),
      hub_(hub),
      metrics_(metrics),
      table_({.max_streams = options_.max_connections,
              .max_streams_per_ip = options_.max_connections_per_ip}),
      accepted_(metrics.AddCounter("herald_edge_streams_opened_total", "SSE streams opened")),
      refused_(metrics.AddCounter("herald_edge_streams_refused_total",
                                  "SSE streams refused with 503 (limits, drain, no fanout)")),
      bad_requests_(
          metrics.AddCounter("herald_edge_bad_requests_total", "Requests refused with 400 or 415")),
      posted_(metrics.AddCounter("herald_edge_posts_total", "Events POSTed and published")),
      post_failures_(metrics.AddCounter("herald_edge_post_failures_total",
                                        "POSTed events the publisher refused or did not answer")),
      rate_limited_(metrics.AddCounter("herald_edge_rate_limited_total",
                                       "POSTs refused with 429 (per-subject rate limit)")),
      rpc_calls_(metrics.AddCounter("herald_edge_rpc_calls_total",
                                    "/v1/rpc calls the service answered with OK")),
      rpc_failures_(metrics.AddCounter("herald_edge_rpc_failures_total",
                                       "/v1/rpc calls that ended with a gRPC error")),
      forbidden_(metrics.AddCounter("herald_edge_forbidden_total",
                                    "Requests refused with 403 (not granted by the token)")),
      busy_requests_(metrics.AddCounter(
          "herald_edge_busy_connection_requests_total",
          "Bytes of another request on a connection holding a stream or an unanswered request "
          "(dropped; a stream is closed)")),
      ended_expired_(metrics.AddCounter("herald_edge_streams_ended_total",
                                        "Streams the edge ended with herald.auth, by reason",
                                        {{"reason", "expired"}})) {
  for (const char* reason :
       {"missing", "malformed", "algorithm", "signature", "expired", "not_yet_valid", "claims"}) {
    auth_failures_[reason] =
        &metrics.AddCounter("herald_edge_auth_failures_total",
                            "Requests refused with 401, by reason", {{"reason", reason}});
  }
  metrics.AddCollector(
      "herald_edge_connections", "Open SSE streams", common::MetricType::kGauge,
      [this](const common::Emit& emit) { emit({}, static_cast<double>(table_.streams())); });
  metrics.AddCollector(
      "herald_edge_streams", "Open SSE streams, by protocol (an HTTP/2 connection carries many)",
      common::MetricType::kGauge, [this](const common::Emit& emit) {
        emit({{"protocol", "http1"}},
             static_cast<double>(table_.streams(ConnectionTable::Protocol::kHttp1)));
        emit({{"protocol", "h2"}},
             static_cast<double>(table_.streams(ConnectionTable::Protocol::kH2)));
      });
  metrics.AddCollector(
      "herald_edge_tcp_connections", "Open TCP connections, by protocol",
      common::MetricType::kGauge, [this](const common::Emit& emit) {
        emit({{"protocol", "http1"}}, static_cast<double>(http1_connections_.load()));
        emit({{"protocol", "h2"}}, static_cast<double>(h2_stats_.connections.load()));
      });
  metrics.AddCollector("herald_edge_h2_streams_total", "HTTP/2 requests (streams) received",
                       common::MetricType::kCounter, [this](const common::Emit& emit) {
                         emit({}, static_cast<double>(h2_stats_.streams.load()));
                       });
  metrics.AddCollector(
      "herald_edge_h2_refused_total",
      "HTTP/2 streams refused or reset by the edge, by reason (headers: header list too large; "
      "body: 413; busy: too many requests waiting; slow: the reader stopped)",
      common::MetricType::kCounter, [this](const common::Emit& emit) {
        emit({{"reason", "headers"}}, static_cast<double>(h2_stats_.refused_headers.load()));
        emit({{"reason", "body"}}, static_cast<double>(h2_stats_.refused_body.load()));
        emit({{"reason", "busy"}}, static_cast<double>(h2_stats_.refused_busy.load()));
        emit({{"reason", "slow"}}, static_cast<double>(h2_stats_.slow_resets.load()));
      });
  metrics.AddCollector("herald_edge_h2_protocol_errors_total",
                       "HTTP/2 connections ended for the client's protocol errors or floods "
                       "(GOAWAY)",
                       common::MetricType::kCounter, [this](const common::Emit& emit) {
                         emit({}, static_cast<double>(h2_stats_.protocol_errors.load()));
                       });
  metrics.AddCollector("herald_edge_tls_handshake_failures_total",
                       "TLS handshakes that failed or did not finish in time",
                       common::MetricType::kCounter, [this](const common::Emit& emit) {
                         emit({}, static_cast<double>(h2_stats_.tls_failures.load()));
                       });
  metrics.AddCollector("herald_edge_pending_answers",
                       "Requests whose answer is still to be written (POSTs waiting for gRPC)",
                       common::MetricType::kGauge, [this](const common::Emit& emit) {
                         emit({}, static_cast<double>(table_.answers()));
                       });
  metrics.AddCollector("herald_edge_bytes_sent_total", "SSE bytes written to sockets",
                       common::MetricType::kCounter, [this](const common::Emit& emit) {
                         emit({}, static_cast<double>(stats_.bytes_sent.load()));
                       });
  metrics.AddCollector("herald_edge_bytes_queued", "SSE bytes waiting for slow sockets",
                       common::MetricType::kGauge, [this](const common::Emit& emit) {
                         emit({}, static_cast<double>(stats_.bytes_queued.load()));
                       });
  metrics.AddCollector("herald_edge_slow_client_closes_total",
                       "Streams closed because the client read too slowly",
                       common::MetricType::kCounter, [this](const common::Emit& emit) {
                         emit({}, static_cast<double>(stats_.slow_closes.load()));
                       });
  metrics.AddCollector("herald_edge_ready",
                       "1 while /readyz answers 200 (attached to a fanout replica, not draining)",
                       common::MetricType::kGauge,
                       [this](const common::Emit& emit) { emit({}, Ready() ? 1 : 0); });
}

bool EdgeServer::Ready() const { return hub_.Ready() && !draining_.load(); }

EdgeServer::~EdgeServer() { Stop(); }

absl::Status EdgeServer::Start() {
  expiry_ = std::make_unique<ExpiryTimers>([this](Connection& connection) {
    connection.EndWith("herald.auth", R"({"reason":"expired"})");
    ended_expired_.Increment();
  });
  router_ = std::make_unique<Router>(this);
  publisher_ = v1::Publisher::NewStub(
      grpc::CreateChannel(options_.publisher, grpc::InsecureChannelCredentials()));
  const size_t colon = options_.address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(options_.address.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("'", options_.address, "' is not host:port"));
  }
  try {
    endpoint_ = std::make_unique<Http::Endpoint>(Pistache::Address(
        options_.address.substr(0, colon), Pistache::Port(static_cast<uint16_t>(port))));
    endpoint_->init(Http::Endpoint::options()
                        .threads(options_.threads)
                        .backlog(options_.listen_backlog)
                        .flags(Tcp::Options::ReuseAddr | Tcp::Options::ReusePort)
                        .maxRequestSize(16 * 1024 + options_.max_body_bytes)
                        // Streams are marked idle; idle peers are closed this long after
                        // their last request, so it must outlast any stream.
                        .keepaliveTimeout(std::chrono::hours(24 * 365)));
    endpoint_->setHandler(Http::make_handler<Handler>(this));
    endpoint_->serveThreaded();
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve HTTP on ", options_.address, ": ", e.what()));
  }
  auto route = [this](const ApiRequest& request, ApiExchange& exchange) {
    router_->Route(request, exchange);
  };
  if (!options_.https.address.empty()) {
    if (options_.https.cert_file.empty()) {
      return absl::InvalidArgumentError("an HTTPS address needs a certificate and a key");
    }
    https_ = std::make_unique<H2Server>(options_.https, hub_, table_, route, h2_stats_, stats_,
                                        h2_keys_);
    if (absl::Status started = https_->Start(); !started.ok()) return started;
  }
  if (!options_.h2c_address.empty()) {
    H2ServerOptions h2c = options_.https;
    h2c.address = options_.h2c_address;
    h2c.cert_file.clear();
    h2c.key_file.clear();
    h2c_ = std::make_unique<H2Server>(h2c, hub_, table_, route, h2_stats_, stats_, h2_keys_);
    if (absl::Status started = h2c_->Start(); !started.ok()) return started;
  }
  heartbeat_ = std::thread([this] { Heartbeats(); });
  return absl::OkStatus();
}

int EdgeServer::port() const { return static_cast<uint16_t>(endpoint_->getPort()); }

int EdgeServer::https_port() const { return https_ != nullptr ? https_->port() : -1; }

int EdgeServer::h2c_port() const { return h2c_ != nullptr ? h2c_->port() : -1; }

void EdgeServer::Heartbeats() {
  // Every tick (a fifth of the interval), connections that wrote nothing for
  // half of it get a heartbeat: the gap between two writes stays within
  // seven tenths of the interval, plus scheduling, never past it.
  const absl::Duration tick = std::max(options_.heartbeat / 5, absl::Milliseconds(10));
  const absl::Duration nap = std::min(absl::Milliseconds(100), tick / 4);
  absl::Time next = absl::Now() + tick;
  absl::Time next_h2 = absl::Now() + absl::Seconds(1);
  while (!stopping_.load()) {
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(nap));
    const absl::Time now = absl::Now();
    if (now >= next_h2) {
      if (https_ != nullptr) https_->Tick();
      if (h2c_ != nullptr) h2c_->Tick();
      next_h2 = now + absl::Seconds(1);
    }
    if (now < next) continue;
    hub_.HeartbeatAll(now - options_.heartbeat / 2);
    next = now + tick;
  }
}

void EdgeServer::Drain() {
  draining_.store(true);
  std::vector<ConnectionTable::Entry> open = table_.Streams();
  spdlog::info("draining {} open streams over {}", open.size(),
               absl::FormatDuration(options_.drain));
  if (open.empty()) return;
  // Close streams evenly over the window, each with a retry: hint spread over
  // the window too, so that reconnects reach other edges as a trickle.
  std::mt19937 rng(std::random_device{}());
  const int64_t window_ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.drain));
  std::uniform_int_distribution<int64_t> jitter(options_.retry_ms, options_.retry_ms + window_ms);
  const absl::Duration step = options_.drain / static_cast<double>(open.size());
  for (ConnectionTable::Entry& s : open) {
    s.connection->Retry(jitter(rng));
    s.connection->Close();
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(step));
  }
}

void EdgeServer::Stop() {
  if (stopping_.exchange(true)) return;
  if (heartbeat_.joinable()) heartbeat_.join();
  // Their intake threads route requests that use the expiry timers.
  if (https_ != nullptr) https_->Stop();
  if (h2c_ != nullptr) h2c_->Stop();
  expiry_.reset();
  // Before Pistache closes the sockets.
  for (ConnectionTable::Entry& entry : table_.ReleaseAll()) {
    if (entry.writer != nullptr) entry.writer->Abort();
  }
  if (endpoint_ != nullptr) endpoint_->shutdown();
  // The hub's connections hold writers that use this server's counters:
  // they go before the server does.
  hub_.Stop();
  // Publishes still in flight answer into aborted writers; wait for their
  // callbacks (each is bounded by the publish deadline).
  while (calls_in_flight_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

}  // namespace herald::edge
