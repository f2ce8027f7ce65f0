#include "herald/common/service.h"

#include "absl/strings/str_cat.h"
#include "herald/common/flags.h"
#include "herald/common/logging.h"
#include "herald/common/process.h"

namespace herald::common {

void InitProcess(int argc, char** argv, absl::string_view component, absl::string_view usage) {
  BlockShutdownSignals();
  ParseFlags(argc, argv, usage);
  InitLogging(component);
}

absl::StatusOr<std::unique_ptr<Service>> Service::Start(ServiceOptions options, Registry& metrics) {
  absl::StatusOr<GrpcServer> grpc =
      StartGrpcServer(options.grpc_address, options.services, options.configure);
  if (!grpc.ok()) return grpc.status();
  grpc->service_names = options.health_names;
  std::unique_ptr<Service> service(new Service(std::move(options), std::move(*grpc)));
  Service* self = service.get();
  absl::StatusOr<std::unique_ptr<AdminHttpServer>> http =
      AdminHttpServer::Start(self->options_.metrics_address, metrics, [self] {
        return !self->draining_.load() &&
               (self->options_.ready == nullptr || self->options_.ready());
      });
  if (!http.ok()) return http.status();
  self->http_ = std::move(*http);
  self->health_ = std::thread([self] { self->FollowReadiness(); });
  spdlog::info("{} serving gRPC on port {}, metrics on port {}{}{}", self->options_.name,
               self->grpc_port(), self->metrics_port(), self->options_.detail.empty() ? "" : ", ",
               self->options_.detail);
  if (absl::Status s = WriteReadyFile(
          self->options_.ready_file,
          {{"grpc_port", self->grpc_port()}, {"metrics_port", self->metrics_port()}});
      !s.ok()) {
    spdlog::error("{}", s);
  }
  return service;
}

Service::Service(ServiceOptions options, GrpcServer grpc)
    : options_(std::move(options)), grpc_(std::move(grpc)) {}

Service::~Service() { Stop(); }

void Service::FollowReadiness() {
  // gRPC health follows readiness: NOT_SERVING until ready, and from Drain() on.
  bool serving = false;
  grpc_.SetServing(false);
  while (!stopped_.load()) {
    const bool ready = !draining_.load() && (options_.ready == nullptr || options_.ready());
    if (ready != serving) {
      grpc_.SetServing(ready);
      serving = ready;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

int Service::AwaitShutdownSignal() { return common::AwaitShutdownSignal(); }

void Service::Drain() {
  draining_.store(true);
  grpc_.SetServing(false);
}

void Service::Stop() {
  if (stopped_.exchange(true)) return;
  draining_.store(true);
  if (health_.joinable()) health_.join();
  grpc_.SetServing(false);
  grpc_.server->Shutdown(std::chrono::system_clock::now() +
                         absl::ToChronoMilliseconds(options_.shutdown_grace));
  http_.reset();
}

}  // namespace herald::common
