#include "producer.h"

#include <thread>

#include "herald/common/admin_http.h"
#include "herald/common/logging.h"
#include "herald/common/process.h"

namespace herald::demo {

int RunProducer(const ProducerOptions& options, common::Registry& metrics, EventSender& sender,
                const std::function<void(const std::atomic<bool>& stop)>& loop) {
  absl::StatusOr<std::unique_ptr<common::AdminHttpServer>> http =
      common::AdminHttpServer::Start(options.metrics_address, metrics, [] { return true; });
  if (!http.ok()) {
    spdlog::critical("{}", http.status());
    return 1;
  }
  spdlog::info("{}: {}; metrics on port {}", options.name, options.describe, (*http)->port());
  if (absl::Status s =
          common::WriteReadyFile(options.ready_file, {{"metrics_port", (*http)->port()}});
      !s.ok()) {
    spdlog::error("{}", s);
  }
  std::atomic<bool> stop{false};
  std::thread worker([&] { loop(stop); });
  const int signal = common::AwaitShutdownSignal();
  spdlog::info("signal {}: stopping", signal);
  stop = true;
  worker.join();
  sender.Drain(absl::Seconds(5));
  return 0;
}

}  // namespace herald::demo
