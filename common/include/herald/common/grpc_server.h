// Starting a Herald gRPC server the same way in every service: health checking
// (grpc.health.v1), server reflection, keepalive, and a clear error when the
// port is taken (gRPC 1.51's BuildAndStart() just returns nullptr).
//
//   PublisherService service(...);
//   absl::StatusOr<GrpcServer> server = StartGrpcServer("0.0.0.0:7001", {&service});
//   server->SetServing(true);
//   ...
//   server->server->Shutdown(deadline);
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace herald::common {

struct GrpcServer {
  std::unique_ptr<grpc::Server> server;
  // The port bound (useful with port 0).
  int port = 0;

  // Sets the overall health status ("" service) and each registered service's.
  void SetServing(bool serving);
  std::vector<std::string> service_names;
};

// `configure` may adjust the builder further (message sizes, thread limits).
absl::StatusOr<GrpcServer> StartGrpcServer(
    const std::string& address, const std::vector<grpc::Service*>& services,
    const std::function<void(grpc::ServerBuilder&)>& configure = {});

// The gRPC status for an absl::Status (the codes are the same numbers).
grpc::Status ToGrpcStatus(const absl::Status& status);

// The absl::Status for a gRPC status.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace herald::common
