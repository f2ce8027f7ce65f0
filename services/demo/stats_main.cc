// herald-demo-stats: the mesh's own live figures, read from the components'
// /metrics once per interval and published as `mesh.stats` events for the
// dashboard. See README.md.
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "event_sender.h"
#include "grpcpp/grpcpp.h"
#include "herald/common/logging.h"
#include "herald/common/process.h"
#include "herald/common/service.h"
#include "producer.h"
#include "scrape.h"

ABSL_FLAG(std::string, publisher, "127.0.0.1:7001", "herald-publisher");
ABSL_FLAG(std::string, stream, "mesh.stats", "Where mesh.stats events go");
ABSL_FLAG(absl::Duration, interval, absl::Seconds(1), "How often the figures are read");
ABSL_FLAG(std::string, publisher_metrics, "http://127.0.0.1:9101/metrics",
          "herald-publisher's metrics");
ABSL_FLAG(std::string, fanout_metrics, "http://127.0.0.1:9102/metrics", "herald-fanout's metrics");
ABSL_FLAG(std::string, edge_metrics, "http://127.0.0.1:8080/metrics", "herald-edge's metrics");
ABSL_FLAG(std::string, metrics_address, "0.0.0.0:9105",
          "Where this producer's own /metrics, /healthz and /readyz are served");
ABSL_FLAG(std::string, ready_file, "", "Once running, write {\"metrics_port\": N} to this file");

namespace herald::demo {
namespace {

std::string Number(std::optional<double> v, double scale = 1) {
  return v.has_value() ? absl::StrFormat("%.3f", *v * scale) : "null";
}

int Run() {
  const absl::Duration interval = absl::GetFlag(FLAGS_interval);
  if (interval < absl::Milliseconds(100)) {
    spdlog::critical("--interval must be at least 100ms");
    return 2;
  }
  common::Registry metrics;
  common::Counter& scrape_failures = metrics.AddCounter("herald_demo_scrape_failures_total",
                                                        "Metrics endpoints that did not answer");
  EventSender sender(herald::v1::Publisher::NewStub(grpc::CreateChannel(
                         absl::GetFlag(FLAGS_publisher), grpc::InsecureChannelCredentials())),
                     metrics, "stats");
  const std::string stream = absl::GetFlag(FLAGS_stream);
  auto loop = [&](const std::atomic<bool>& stop) {
    struct Snapshot {
      absl::Time at;
      Samples publisher, fanout, edge;
    };
    auto read = [&](const std::string& url, Samples* into) {
      absl::StatusOr<std::string> text = HttpGet(url, absl::Seconds(2));
      if (!text.ok()) {
        if (scrape_failures.Value() == 0) spdlog::warn("{}", text.status().message());
        scrape_failures.Increment();
        return false;
      }
      *into = ParsePrometheus(*text);
      return true;
    };
    std::optional<Snapshot> last;
    absl::Time next = absl::Now();
    while (!stop.load()) {
      Snapshot now{absl::Now(), {}, {}, {}};
      const bool ok = read(absl::GetFlag(FLAGS_publisher_metrics), &now.publisher) &
                      read(absl::GetFlag(FLAGS_fanout_metrics), &now.fanout) &
                      read(absl::GetFlag(FLAGS_edge_metrics), &now.edge);
      if (ok && last.has_value()) {
        const double seconds = absl::ToDoubleSeconds(now.at - last->at);
        auto rate = [&](const Samples& a, const Samples& b, const char* name) {
          return std::max(0.0, (b.Sum(name) - a.Sum(name)) / seconds);
        };
        const auto before = last->edge.Buckets("herald_edge_feed_latency_seconds");
        const auto after = now.edge.Buckets("herald_edge_feed_latency_seconds");
        sender.Send(
            stream, "mesh.stats",
            absl::StrFormat(
                R"({"ts":%d,"publishedPerSec":%.1f,"deliveredPerSec":%.1f,"connections":%d,)"
                R"("kafkaLag":%d,"latencyP50Ms":%s,"latencyP99Ms":%s,"rpcCalls":%d})",
                absl::ToUnixMillis(now.at),
                rate(last->publisher, now.publisher, "herald_publisher_published_total"),
                rate(last->edge, now.edge, "herald_edge_events_sent_total"),
                static_cast<int64_t>(now.edge.Sum("herald_edge_connections")),
                static_cast<int64_t>(now.fanout.Sum("herald_fanout_partition_lag")),
                Number(QuantileBetween(before, after, 0.5), 1000),
                Number(QuantileBetween(before, after, 0.99), 1000),
                static_cast<int64_t>(now.edge.Sum("herald_edge_rpc_calls_total"))));
      }
      if (ok) last = std::move(now);
      next += interval;
      if (next < absl::Now()) next = absl::Now();
      while (!stop.load() && absl::Now() < next) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  };
  return RunProducer({.name = "herald-demo-stats",
                      .metrics_address = absl::GetFlag(FLAGS_metrics_address),
                      .ready_file = absl::GetFlag(FLAGS_ready_file),
                      .describe = absl::StrCat("mesh figures every ",
                                               absl::FormatDuration(interval), " on ", stream)},
                     metrics, sender, loop);
}

}  // namespace
}  // namespace herald::demo

int main(int argc, char** argv) {
  herald::common::InitProcess(argc, argv, "herald-demo-stats",
                              "herald-demo-stats: publishes the mesh's live figures (events/s, "
                              "connections, latency, Kafka lag) read from the components' "
                              "metrics. Every flag can also be set as HERALD_<FLAG>.");
  return herald::demo::Run();
}
