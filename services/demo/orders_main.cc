// herald-demo-orders: the demo command service. See README.md.
#include <string>

#include "absl/flags/flag.h"
#include "grpcpp/grpcpp.h"
#include "herald/common/admin_http.h"
#include "herald/common/flags.h"
#include "herald/common/grpc_server.h"
#include "herald/common/logging.h"
#include "herald/common/process.h"
#include "orders_service.h"

ABSL_FLAG(std::string, grpc_address, "0.0.0.0:7003", "Where the Orders gRPC service listens");
ABSL_FLAG(std::string, metrics_address, "0.0.0.0:9103",
          "Where /metrics, /healthz and /readyz are served");
ABSL_FLAG(std::string, publisher, "127.0.0.1:7001", "herald-publisher, where orders are published");
ABSL_FLAG(std::string, stream, "orders", "The stream order.placed events are published on");
ABSL_FLAG(absl::Duration, publish_timeout, absl::Seconds(5),
          "How long a PlaceOrder waits for the publisher (bounded by the caller's deadline)");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(5),
          "How long calls in progress may finish after SIGTERM");
ABSL_FLAG(std::string, ready_file, "",
          "Once serving, write {\"grpc_port\": N, \"metrics_port\": M} to this file");

namespace herald::demo {
namespace {

int Run() {
  common::Registry metrics;
  OrdersService service(herald::v1::Publisher::NewStub(grpc::CreateChannel(
                            absl::GetFlag(FLAGS_publisher), grpc::InsecureChannelCredentials())),
                        metrics,
                        {.stream = absl::GetFlag(FLAGS_stream),
                         .publish_timeout = absl::GetFlag(FLAGS_publish_timeout)});
  absl::StatusOr<common::GrpcServer> server =
      common::StartGrpcServer(absl::GetFlag(FLAGS_grpc_address), {&service});
  if (!server.ok()) {
    spdlog::critical("{}", server.status());
    return 1;
  }
  server->service_names = {"herald.demo.v1.Orders"};
  server->SetServing(true);
  std::atomic<bool> ready{true};
  absl::StatusOr<std::unique_ptr<common::AdminHttpServer>> http = common::AdminHttpServer::Start(
      absl::GetFlag(FLAGS_metrics_address), metrics, [&] { return ready.load(); });
  if (!http.ok()) {
    spdlog::critical("{}", http.status());
    return 1;
  }
  spdlog::info("herald-demo-orders serving gRPC on port {}, metrics on port {}; orders go to {}",
               server->port, (*http)->port(), absl::GetFlag(FLAGS_stream));
  if (absl::Status s =
          common::WriteReadyFile(absl::GetFlag(FLAGS_ready_file),
                                 {{"grpc_port", server->port}, {"metrics_port", (*http)->port()}});
      !s.ok()) {
    spdlog::error("{}", s);
  }
  const int signal = common::AwaitShutdownSignal();
  spdlog::info("signal {}: stopping", signal);
  ready = false;
  server->SetServing(false);
  server->server->Shutdown(std::chrono::system_clock::now() +
                           absl::ToChronoMilliseconds(absl::GetFlag(FLAGS_shutdown_grace)));
  spdlog::info("herald-demo-orders stopped");
  return 0;
}

}  // namespace
}  // namespace herald::demo

int main(int argc, char** argv) {
  herald::common::BlockShutdownSignals();
  herald::common::ParseFlags(
      argc, argv,
      "herald-demo-orders: the demo command service (herald.demo.v1.Orders). Validates orders "
      "and publishes them as order.placed events. Every flag can also be set as HERALD_<FLAG>.");
  herald::common::InitLogging("herald-demo-orders");
  return herald::demo::Run();
}
