// The lifecycle the demo producers share: serve their own metrics, write the
// ready file, run their loop on its own thread until SIGINT or SIGTERM, then
// let the publishes in flight finish.
//
//   return RunProducer({.name = "herald-demo-ticker", .metrics_address = ..., .ready_file = ...},
//                      metrics, sender, [&](const std::atomic<bool>& stop) { ... });
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "event_sender.h"
#include "herald/common/metrics.h"

namespace herald::demo {

struct ProducerOptions {
  std::string name;
  std::string metrics_address;
  std::string ready_file;  // {"metrics_port": N}; empty: none
  std::string describe;    // logged at start
};

// The process's exit code: 1 if the metrics address cannot be served.
int RunProducer(const ProducerOptions& options, common::Registry& metrics, EventSender& sender,
                const std::function<void(const std::atomic<bool>& stop)>& loop);

}  // namespace herald::demo
