// herald-demo-orders: the demo command service. See README.md.
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "herald/common/logging.h"
#include "herald/common/service.h"
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
  absl::StatusOr<std::unique_ptr<common::Service>> serving =
      common::Service::Start({.name = "herald-demo-orders",
                              .grpc_address = absl::GetFlag(FLAGS_grpc_address),
                              .metrics_address = absl::GetFlag(FLAGS_metrics_address),
                              .ready_file = absl::GetFlag(FLAGS_ready_file),
                              .services = {&service},
                              .health_names = {"herald.demo.v1.Orders"},
                              .shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace),
                              .detail = absl::StrCat("orders go to ", absl::GetFlag(FLAGS_stream))},
                             metrics);
  if (!serving.ok()) {
    spdlog::critical("{}", serving.status());
    return 1;
  }
  const int signal = (*serving)->AwaitShutdownSignal();
  spdlog::info("signal {}: stopping", signal);
  (*serving)->Stop();
  spdlog::info("herald-demo-orders stopped");
  return 0;
}

}  // namespace
}  // namespace herald::demo

int main(int argc, char** argv) {
  herald::common::InitProcess(
      argc, argv, "herald-demo-orders",
      "herald-demo-orders: the demo command service (herald.demo.v1.Orders). Validates orders "
      "and publishes them as order.placed events. Every flag can also be set as HERALD_<FLAG>.");
  return herald::demo::Run();
}
