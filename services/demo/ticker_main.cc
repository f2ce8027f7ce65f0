// herald-demo-ticker: a steady, realistic domain feed for the dashboard:
// prices of a few symbols, each a random walk, published as `price.tick`
// events. See README.md.
#include <random>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "event_sender.h"
#include "grpcpp/grpcpp.h"
#include "herald/common/logging.h"
#include "herald/common/process.h"
#include "herald/common/service.h"
#include "producer.h"

ABSL_FLAG(std::string, publisher, "127.0.0.1:7001", "herald-publisher");
ABSL_FLAG(std::string, stream, "prices", "Where price.tick events go");
ABSL_FLAG(std::vector<std::string>, symbols,
          std::vector<std::string>({"ACME", "GLOBX", "INITECH", "UMBRL", "WAYNE", "STARK"}),
          "The symbols quoted, comma-separated");
ABSL_FLAG(double, rate, 20, "Ticks per second, across all symbols");
ABSL_FLAG(std::string, metrics_address, "0.0.0.0:9104",
          "Where /metrics, /healthz and /readyz are served");
ABSL_FLAG(std::string, ready_file, "", "Once running, write {\"metrics_port\": N} to this file");

namespace herald::demo {
namespace {

int Run() {
  const std::vector<std::string> symbols = absl::GetFlag(FLAGS_symbols);
  const double rate = absl::GetFlag(FLAGS_rate);
  if (symbols.empty() || rate <= 0 || rate > 10'000) {
    spdlog::critical("--symbols must name at least one symbol and --rate be in (0, 10000]");
    return 2;
  }
  common::Registry metrics;
  EventSender sender(herald::v1::Publisher::NewStub(grpc::CreateChannel(
                         absl::GetFlag(FLAGS_publisher), grpc::InsecureChannelCredentials())),
                     metrics, "ticker");
  const std::string stream = absl::GetFlag(FLAGS_stream);
  auto loop = [&](const std::atomic<bool>& stop) {
    std::mt19937_64 random(std::random_device{}());
    std::normal_distribution<double> step(0, 0.002);
    std::vector<double> prices;
    for (size_t i = 0; i < symbols.size(); ++i) prices.push_back(50.0 + 25.0 * i);
    const absl::Duration period = absl::Seconds(1) / rate;
    absl::Time next = absl::Now();
    for (uint64_t n = 0; !stop.load(); ++n) {
      const size_t i = n % symbols.size();
      const double before = prices[i];
      prices[i] = std::max(1.0, before * (1 + step(random)));
      const absl::Time now = absl::Now();
      sender.Send(
          stream, "price.tick",
          absl::StrFormat(R"({"symbol":"%s","price":%.2f,"change":%.2f,"ts":%d})", symbols[i],
                          prices[i], prices[i] - before, absl::ToUnixMillis(now)));
      next += period;
      if (next < now) next = now;  // never burst to catch up
      std::this_thread::sleep_for(absl::ToChronoNanoseconds(next - absl::Now()));
    }
  };
  return RunProducer({.name = "herald-demo-ticker",
                      .metrics_address = absl::GetFlag(FLAGS_metrics_address),
                      .ready_file = absl::GetFlag(FLAGS_ready_file),
                      .describe = absl::StrFormat("%g ticks/s of %s on %s", rate,
                                                  absl::StrJoin(symbols, ","), stream)},
                     metrics, sender, loop);
}

}  // namespace
}  // namespace herald::demo

int main(int argc, char** argv) {
  herald::common::InitProcess(argc, argv, "herald-demo-ticker",
                              "herald-demo-ticker: publishes a steady feed of price ticks. Every "
                              "flag can also be set as HERALD_<FLAG>.");
  return herald::demo::Run();
}
