// The small HTTP endpoint every gRPC service runs beside its gRPC port:
// GET /metrics (Prometheus text), /healthz (process alive) and /readyz
// (serving). Pistache, one thread.
//
//   auto http = AdminHttpServer::Start("0.0.0.0:9101", registry, [&] { return ready; });
//   int port = (*http)->port();
//
// Lifecycle: serves from Start() until destroyed. `ready` is called from the
// server's thread and must be cheap and thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "herald/common/metrics.h"

namespace herald::common {

class AdminHttpServer final {
 public:
  // `address` is host:port; port 0 picks a free one. Unavailable if the port is taken.
  static absl::StatusOr<std::unique_ptr<AdminHttpServer>> Start(const std::string& address,
                                                                const Registry& registry,
                                                                std::function<bool()> ready);
  ~AdminHttpServer();

  int port() const;

  class Impl;

 private:
  explicit AdminHttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald::common
