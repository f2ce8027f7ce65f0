// herald-edge: Server-Sent Events for browsers. See README.md.
#include <sys/resource.h>

#include <algorithm>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_join.h"
#include "herald/common/descriptors.h"
#include "herald/common/logging.h"
#include "herald/common/metrics.h"
#include "herald/common/process.h"
#include "herald/common/service.h"
#include "http_server.h"
#include "hub.h"
#include "payload.h"
#include "rpc.h"

ABSL_FLAG(std::string, http_address, "0.0.0.0:8080", "Where browsers connect");
ABSL_FLAG(std::string, publisher, "127.0.0.1:7001", "herald-publisher, for POSTed events");
ABSL_FLAG(int64_t, max_body_bytes, 1 << 20,
          "Largest request body; a larger Content-Length gets 413 before the body is read");
ABSL_FLAG(std::vector<std::string>, cors_origins, {},
          "Origins (e.g. https://dash.example.com) whose pages may read the edge's answers; * for "
          "any; empty: no CORS headers");
ABSL_FLAG(double, post_rate, 100, "POSTs per second per client address (then 429)");
ABSL_FLAG(double, post_burst, 200, "POSTs a client may send at once before the rate applies");
ABSL_FLAG(absl::Duration, publish_timeout, absl::Seconds(10),
          "Deadline of the Publish call behind a POSTed event (then 504)");
ABSL_FLAG(std::vector<std::string>, fanout, {"127.0.0.1:7002"},
          "herald-fanout replicas, comma-separated; the edge fails over among them");
ABSL_FLAG(int32_t, threads, 2, "Pistache reactor threads");
ABSL_FLAG(int32_t, listen_backlog, 4096,
          "Connections waiting to be accepted (capped by net.core.somaxconn): thousands of "
          "browsers reconnecting at once wait here instead of retrying their SYNs seconds later");
ABSL_FLAG(int32_t, delivery_threads, 0,
          "Event loops owning the connections and writing the shared feed to them (0: one per "
          "core)");
ABSL_FLAG(int32_t, max_catchups, 256,
          "Catch-ups (private Subscribe calls of resuming browsers) running at once; the rest "
          "queue and start as others end");
ABSL_FLAG(int64_t, max_connections, 19'000, "Open streams before 503");
ABSL_FLAG(int64_t, max_connections_per_ip, 19'000, "Open streams per client address before 503");
ABSL_FLAG(int32_t, max_streams_per_connection, 16, "Streams one EventSource may follow");
ABSL_FLAG(int32_t, max_rewind, 1000, "Largest rewind= accepted");
ABSL_FLAG(int64_t, max_queued_bytes, 256 * 1024,
          "Bytes queued for a slow client before it is dropped (it resumes from its cursor)");
ABSL_FLAG(absl::Duration, heartbeat, absl::Seconds(15), "Heartbeat comment interval");
ABSL_FLAG(int64_t, retry_ms, 2000, "The retry: hint sent to browsers");
ABSL_FLAG(absl::Duration, drain, absl::Seconds(10),
          "On SIGTERM, open streams are closed evenly over this window");
ABSL_FLAG(std::string, descriptor_set, "",
          "A FileDescriptorSet (protoc --descriptor_set_out --include_imports) with the types "
          "of typed payloads, rendered to browsers as JSON; without it, only herald.v1 and "
          "the well-known types are known");
ABSL_FLAG(absl::Duration, upstream_timeout, absl::Seconds(6),
          "A fanout that sends nothing on a call for this long (it sends progress every "
          "second) is dropped: the edge fails over to the next replica and /readyz says 503 "
          "until one serves");
ABSL_FLAG(absl::Duration, attach_wait, absl::Seconds(30),
          "At start, how long to wait for a fanout before serving HTTP anyway (a browser "
          "refused with 503 would not retry)");
ABSL_FLAG(std::vector<std::string>, rpc_routes, {},
          "Services behind POST /v1/rpc: package.Service=host:port[;timeout=5s], "
          "comma-separated; their types come from --descriptor_set");
ABSL_FLAG(absl::Duration, rpc_timeout, absl::Seconds(10),
          "Deadline of a /v1/rpc call when its route sets none; a Grpc-Timeout header may "
          "shorten it");
ABSL_FLAG(std::string, jwt_hs256_secret_file, "",
          "File holding the HS256 secret (at least 32 bytes); enables authentication");
ABSL_FLAG(std::string, jwt_rs256_public_key_file, "",
          "PEM file with the RSA public key for RS256 tokens; enables authentication");
ABSL_FLAG(std::string, jwt_es256_public_key_file, "",
          "PEM file with the P-256 public key for ES256 tokens; enables authentication");
ABSL_FLAG(absl::Duration, jwt_leeway, absl::Seconds(30), "Clock skew allowed on exp and nbf");
ABSL_FLAG(std::string, jwt_issuer, "", "When set, tokens' iss must equal it");
ABSL_FLAG(std::string, jwt_audience, "", "When set, tokens' aud must hold it");
ABSL_FLAG(std::vector<std::string>, public_streams, {},
          "Glob patterns of streams anyone may subscribe to without a token");
ABSL_FLAG(std::vector<std::string>, public_methods, {},
          "Glob patterns of package.Service/Method anyone may call without a token");
ABSL_FLAG(std::string, static_dir, "",
          "A folder served at / (the dashboard: build/<preset>/dashboard); empty: none");
ABSL_FLAG(std::string, https_address, "",
          "Where browsers connect over HTTPS (HTTP/2 by ALPN), e.g. 0.0.0.0:8443; needs "
          "--tls_cert_file and --tls_key_file; empty: off");
ABSL_FLAG(std::string, tls_cert_file, "", "PEM certificate chain of the HTTPS listener");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of the HTTPS listener");
ABSL_FLAG(std::string, h2c_address, "",
          "Cleartext HTTP/2 with prior knowledge (for proxies and meshes), e.g. 0.0.0.0:8081; "
          "empty: off");
ABSL_FLAG(int32_t, h2_max_concurrent_streams, 100,
          "Streams one HTTP/2 connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS)");
ABSL_FLAG(int64_t, h2_max_header_bytes, 16 * 1024,
          "Largest HTTP/2 header list accepted (as HPACK counts it); larger: the stream is reset");
ABSL_FLAG(absl::Duration, h2_idle_timeout, absl::Minutes(2),
          "An HTTP/2 connection with no stream open for this long is sent GOAWAY");
ABSL_FLAG(std::string, ready_file, "", "Once serving, write {\"http_port\": N} to this file");

namespace herald::edge {
namespace {

int DeliveryThreads() {
  const int flag = absl::GetFlag(FLAGS_delivery_threads);
  if (flag > 0) return flag;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

int Run() {
  // One descriptor per stream: use all the process may have.
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  if (const int32_t backlog = absl::GetFlag(FLAGS_listen_backlog); backlog < 1 || backlog > 65535) {
    spdlog::critical("--listen_backlog must be 1 to 65535, not {}", backlog);
    return 2;
  }
  std::unique_ptr<common::DescriptorSet> types;
  if (const std::string path = absl::GetFlag(FLAGS_descriptor_set); !path.empty()) {
    absl::StatusOr<std::unique_ptr<common::DescriptorSet>> loaded =
        common::DescriptorSet::Load(path);
    if (!loaded.ok()) {
      spdlog::critical("--descriptor_set: {}", loaded.status());
      return 2;
    }
    spdlog::info("payload types from {} ({} files)", path, (*loaded)->file_count());
    types = std::move(*loaded);
  }
  // /v1/rpc resolves types in the same set (or the compiled-in ones).
  std::unique_ptr<RpcGateway> rpc;
  if (const std::vector<std::string> specs = absl::GetFlag(FLAGS_rpc_routes); !specs.empty()) {
    std::vector<RpcRoute> routes;
    for (const std::string& spec : specs) {
      absl::StatusOr<RpcRoute> route = ParseRpcRoute(spec, absl::GetFlag(FLAGS_rpc_timeout));
      if (!route.ok()) {
        spdlog::critical("--rpc_routes: {}", route.status().message());
        return 2;
      }
      routes.push_back(*route);
    }
    absl::StatusOr<std::unique_ptr<RpcGateway>> gateway = RpcGateway::Create(
        types != nullptr ? &types->pool() : google::protobuf::DescriptorPool::generated_pool(),
        routes);
    if (!gateway.ok()) {
      spdlog::critical("--rpc_routes: {}", gateway.status().message());
      return 2;
    }
    rpc = std::move(*gateway);
    spdlog::info("/v1/rpc serves {}", absl::StrJoin(specs, ", "));
  }
  absl::StatusOr<std::unique_ptr<Authenticator>> auth = Authenticator::Create({
      .hs256_secret_file = absl::GetFlag(FLAGS_jwt_hs256_secret_file),
      .rs256_public_key_file = absl::GetFlag(FLAGS_jwt_rs256_public_key_file),
      .es256_public_key_file = absl::GetFlag(FLAGS_jwt_es256_public_key_file),
      .leeway = absl::GetFlag(FLAGS_jwt_leeway),
      .issuer = absl::GetFlag(FLAGS_jwt_issuer),
      .audience = absl::GetFlag(FLAGS_jwt_audience),
      .public_streams = absl::GetFlag(FLAGS_public_streams),
      .public_methods = absl::GetFlag(FLAGS_public_methods),
  });
  if (!auth.ok()) {
    spdlog::critical("{}", auth.status().message());
    return 2;
  }
  if ((*auth)->enabled()) {
    spdlog::info("authentication on: {} tokens; public streams [{}], public methods [{}]",
                 (*auth)->algorithms(), absl::StrJoin(absl::GetFlag(FLAGS_public_streams), ", "),
                 absl::StrJoin(absl::GetFlag(FLAGS_public_methods), ", "));
  } else {
    spdlog::warn(
        "authentication is OFF: anyone may subscribe, publish and call (set --jwt_*_file)");
  }
  std::unique_ptr<StaticFiles> static_files;
  if (const std::string dir = absl::GetFlag(FLAGS_static_dir); !dir.empty()) {
    absl::StatusOr<std::unique_ptr<StaticFiles>> loaded = StaticFiles::Load(dir);
    if (!loaded.ok()) {
      spdlog::critical("{}", loaded.status().message());
      return 2;
    }
    spdlog::info("serving {} files from {} at /", (*loaded)->size(), dir);
    static_files = std::move(*loaded);
  }
  if (absl::GetFlag(FLAGS_upstream_timeout) < absl::Seconds(2)) {
    spdlog::critical(
        "--upstream_timeout must be at least 2s (the fanout sends progress every "
        "second)");
    return 2;
  }
  if (absl::GetFlag(FLAGS_heartbeat) < absl::Milliseconds(100)) {
    spdlog::critical("--heartbeat must be at least 100ms");
    return 2;
  }
  const PayloadRenderer renderer(std::move(types));
  common::Registry metrics;
  metrics.AddCollector("herald_edge_render_failures_total",
                       "Typed payloads that could not be rendered as JSON",
                       common::MetricType::kCounter, [&renderer](const common::Emit& emit) {
                         emit({}, static_cast<double>(renderer.failures()));
                       });
  Hub hub({.fanouts = absl::GetFlag(FLAGS_fanout),
           .retry_ms = absl::GetFlag(FLAGS_retry_ms),
           .renderer = &renderer,
           .delivery_threads = DeliveryThreads(),
           .upstream_timeout = absl::GetFlag(FLAGS_upstream_timeout),
           .max_catchups = static_cast<size_t>(std::max(1, absl::GetFlag(FLAGS_max_catchups)))},
          metrics);
  hub.Start();
  // EventSource gives up for good on a 503: serve browsers once there is
  // something to serve them.
  if (!hub.AwaitReady(absl::GetFlag(FLAGS_attach_wait))) {
    spdlog::warn("no fanout answered within {}; serving anyway (streams get 503 until one does)",
                 absl::FormatDuration(absl::GetFlag(FLAGS_attach_wait)));
  }
  EdgeOptions options;
  options.address = absl::GetFlag(FLAGS_http_address);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.listen_backlog = absl::GetFlag(FLAGS_listen_backlog);
  options.max_connections = static_cast<size_t>(absl::GetFlag(FLAGS_max_connections));
  options.max_connections_per_ip = static_cast<size_t>(absl::GetFlag(FLAGS_max_connections_per_ip));
  options.request.max_streams =
      static_cast<size_t>(absl::GetFlag(FLAGS_max_streams_per_connection));
  options.request.max_rewind = static_cast<uint32_t>(absl::GetFlag(FLAGS_max_rewind));
  options.max_queued_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_max_queued_bytes));
  options.heartbeat = absl::GetFlag(FLAGS_heartbeat);
  options.drain = absl::GetFlag(FLAGS_drain);
  options.retry_ms = absl::GetFlag(FLAGS_retry_ms);
  options.publisher = absl::GetFlag(FLAGS_publisher);
  options.publish_timeout = absl::GetFlag(FLAGS_publish_timeout);
  options.max_body_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_max_body_bytes));
  options.cors_origins = absl::GetFlag(FLAGS_cors_origins);
  options.post_rate = absl::GetFlag(FLAGS_post_rate);
  options.post_burst = absl::GetFlag(FLAGS_post_burst);
  options.auth = auth->get();
  options.rpc = rpc.get();
  options.static_files = static_files.get();
  options.https.address = absl::GetFlag(FLAGS_https_address);
  options.https.cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.https.key_file = absl::GetFlag(FLAGS_tls_key_file);
  options.https.listen_backlog = options.listen_backlog;
  options.https.idle_timeout = absl::GetFlag(FLAGS_h2_idle_timeout);
  options.https.session.max_body_bytes = options.max_body_bytes;
  options.https.session.max_queued_bytes = options.max_queued_bytes;
  options.h2c_address = absl::GetFlag(FLAGS_h2c_address);
  if (const int32_t streams = absl::GetFlag(FLAGS_h2_max_concurrent_streams);
      streams < 1 || streams > 10'000) {
    spdlog::critical("--h2_max_concurrent_streams must be 1 to 10000, not {}", streams);
    return 2;
  } else {
    options.https.session.max_concurrent_streams = static_cast<uint32_t>(streams);
  }
  if (const int64_t bytes = absl::GetFlag(FLAGS_h2_max_header_bytes);
      bytes < 1024 || bytes > (1 << 20)) {
    spdlog::critical("--h2_max_header_bytes must be 1024 to 1048576, not {}", bytes);
    return 2;
  } else {
    options.https.session.max_header_bytes = static_cast<size_t>(bytes);
  }
  if (options.post_rate <= 0 || options.post_burst < 1) {
    spdlog::critical("--post_rate must be > 0 and --post_burst >= 1");
    return 2;
  }
  EdgeServer server(options, hub, metrics);
  if (absl::Status s = server.Start(); !s.ok()) {
    spdlog::critical("{}", s);
    return 1;
  }
  spdlog::info("herald-edge serving HTTP on port {}, fanouts {}", server.port(),
               absl::StrJoin(absl::GetFlag(FLAGS_fanout), ","));
  std::vector<std::pair<std::string, int>> ports = {{"http_port", server.port()}};
  if (server.https_port() >= 0) {
    spdlog::info("HTTPS (HTTP/2) on port {}", server.https_port());
    ports.emplace_back("https_port", server.https_port());
  }
  if (server.h2c_port() >= 0) {
    spdlog::info("h2c (HTTP/2 with prior knowledge) on port {}", server.h2c_port());
    ports.emplace_back("h2c_port", server.h2c_port());
  }
  if (absl::Status s = common::WriteReadyFile(absl::GetFlag(FLAGS_ready_file), ports); !s.ok()) {
    spdlog::error("{}", s);
  }
  const int signal = common::AwaitShutdownSignal();
  spdlog::info("signal {}: draining for {}", signal,
               absl::FormatDuration(absl::GetFlag(FLAGS_drain)));
  server.Drain();
  server.Stop();
  hub.Stop();
  spdlog::info("herald-edge stopped");
  return 0;
}

}  // namespace
}  // namespace herald::edge

int main(int argc, char** argv) {
  herald::common::InitProcess(argc, argv, "herald-edge",
                              "herald-edge: serves streams to browsers as Server-Sent Events. "
                              "Every flag can also be set as HERALD_<FLAG>.");
  return herald::edge::Run();
}
