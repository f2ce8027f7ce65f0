// The start-up and shutdown every Herald gRPC service shares: flags and
// logging, the gRPC server (health, reflection, keepalive), the admin HTTP
// server (/metrics, /healthz, /readyz), gRPC health following readiness, the
// ready file, the shutdown signal and a graceful stop.
//
//   int main(int argc, char** argv) {
//     InitProcess(argc, argv, "herald-publisher", "herald-publisher: ...");
//     ...
//     absl::StatusOr<std::unique_ptr<Service>> serving = Service::Start(
//         {.name = "herald-publisher", .grpc_address = ..., .metrics_address = ...,
//          .ready_file = ..., .services = {&publisher},
//          .health_names = {"herald.v1.Publisher"}}, metrics);
//     int signal = (*serving)->AwaitShutdownSignal();
//     (*serving)->Stop();   // not ready at once, then calls get the grace to end
//   }
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "herald/common/admin_http.h"
#include "herald/common/grpc_server.h"
#include "herald/common/metrics.h"

namespace herald::common {

// Blocks the shutdown signals (before any thread starts), parses the flags
// (each also HERALD_<FLAG>) and sets up logging for `component`.
void InitProcess(int argc, char** argv, absl::string_view component, absl::string_view usage);

struct ServiceOptions {
  std::string name;  // for logs: "herald-publisher"
  std::string grpc_address;
  std::string metrics_address;
  std::string ready_file;  // empty: none written
  std::vector<grpc::Service*> services;
  // Reported by grpc.health.v1 besides the overall "" status.
  std::vector<std::string> health_names;
  // Adjusts the gRPC server further (message sizes, thread limits).
  std::function<void(grpc::ServerBuilder&)> configure;
  // Readiness (/readyz and gRPC health), checked every 50 ms. Null: ready
  // while serving.
  std::function<bool()> ready;
  // On Stop(), how long calls in progress have to end.
  absl::Duration shutdown_grace = absl::Seconds(10);
  // Appended to the "serving" log line.
  std::string detail;
};

class Service final {
 public:
  // Starts both servers, then writes the ready file ({"grpc_port",
  // "metrics_port"}). An error names what could not start.
  static absl::StatusOr<std::unique_ptr<Service>> Start(ServiceOptions options, Registry& metrics);
  ~Service();  // Stop()

  int grpc_port() const { return grpc_.port; }
  int metrics_port() const { return http_->port(); }

  // Waits for SIGINT or SIGTERM; returns the signal.
  int AwaitShutdownSignal();
  // Not ready from now on: /readyz answers 503 and gRPC health NOT_SERVING,
  // so load balancers and clients move elsewhere. Calls go on.
  void Drain();
  // Drain(), then gRPC's shutdown: calls in progress get the grace, then are
  // cancelled. Idempotent.
  void Stop();

 private:
  Service(ServiceOptions options, GrpcServer grpc);
  void FollowReadiness();

  const ServiceOptions options_;
  GrpcServer grpc_;
  std::unique_ptr<AdminHttpServer> http_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> stopped_{false};
  std::thread health_;
};

}  // namespace herald::common
