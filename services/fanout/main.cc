// herald-fanout: reads the whole topic, keeps recent events per stream, and
// serves Subscribe (services, heraldctl) and Attach (edges). See README.md.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "event_store.h"
#include "fanout_service.h"
#include "herald/broker/kafka_setup.h"
#include "herald/common/logging.h"
#include "herald/common/service.h"
#include "tail_reader.h"

ABSL_FLAG(std::string, grpc_address, "0.0.0.0:7002", "Where the Fanout gRPC service listens");
ABSL_FLAG(std::string, metrics_address, "0.0.0.0:9102",
          "Where /metrics, /healthz and /readyz are served");
ABSL_FLAG(int64_t, ring_events, 1024, "Events kept in memory per stream");
ABSL_FLAG(int64_t, ring_bytes, 1 << 20, "Bytes kept in memory per stream");
ABSL_FLAG(int64_t, max_streams, 100'000, "Streams kept in memory; the idlest are dropped past it");
ABSL_FLAG(int64_t, max_store_bytes, 512LL << 20, "Bytes kept in memory across all streams");
ABSL_FLAG(int64_t, warm_events, 10'000,
          "Records per partition read from before the end at start, to warm the rings");
ABSL_FLAG(int32_t, max_rewind, 10'000, "Largest rewind a subscriber may ask for");
ABSL_FLAG(int32_t, max_subscribe_streams, 64, "Streams one Subscribe call may follow");
ABSL_FLAG(absl::Duration, fetch_wait, absl::Milliseconds(5),
          "How long Kafka may hold a fetch waiting for data (latency)");
ABSL_FLAG(absl::Duration, cursor_interval, absl::Seconds(1),
          "Cursor-only progress and heartbeat interval on idle subscriptions");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(5),
          "How long calls may take to end after SIGTERM");
ABSL_FLAG(int32_t, max_threads, 4096,
          "Threads for gRPC's synchronous calls (Attach: two per edge session)");
ABSL_FLAG(int32_t, subscribe_threads, 4,
          "Threads moving every Subscribe call forward (calls have no thread of their own)");
ABSL_FLAG(absl::Duration, topology_interval, absl::Seconds(2),
          "How often the topic's partition count is checked; a change (partitions added, "
          "the topic recreated) makes the fanout start again in place with the new epoch");
ABSL_FLAG(absl::Duration, dedup_window, absl::Minutes(10),
          "An event published again with the same stream and idempotency key within this "
          "time of the previous copy is skipped (must be equal on every replica)");
ABSL_FLAG(int64_t, dedup_lookback, 20'000,
          "Records per partition the duplicate rule looks back at most: bounds its memory and "
          "shortens the window at high rates (must be equal on every replica)");
ABSL_FLAG(std::string, ready_file, "",
          "Once serving, write {\"grpc_port\": N, \"metrics_port\": M} to this file");

namespace herald::fanout {
namespace {

// What Run() leaves for main() when the topic changed shape under it.
struct Restart {
  bool wanted = false;
  int grpc_port = 0;
  int metrics_port = 0;
};

// `address` (host:port) with another port.
std::string WithPort(const std::string& address, int port) {
  const size_t colon = address.rfind(':');
  return absl::StrCat(colon == std::string::npos ? address : address.substr(0, colon), ":", port);
}

// Starts this program again in this process, with the ports it had: partitions
// were added or the topic recreated, so the epoch, the placement of streams
// and the rings all change. Clients were told to reconnect (UNAVAILABLE) and
// find the new epoch; their cursors get herald.reset (epoch).
[[noreturn]] void StartAgain(char** argv, const Restart& restart) {
  std::vector<std::string> args;
  for (char** a = argv; *a != nullptr; ++a) args.emplace_back(*a);
  // Later flags win: the ports stay those clients know (a :0 became a port).
  args.push_back("--grpc_address=" +
                 WithPort(absl::GetFlag(FLAGS_grpc_address), restart.grpc_port));
  args.push_back("--metrics_address=" +
                 WithPort(absl::GetFlag(FLAGS_metrics_address), restart.metrics_port));
  std::vector<char*> raw;
  for (std::string& a : args) raw.push_back(a.data());
  raw.push_back(nullptr);
  spdlog::default_logger()->flush();
  execv("/proc/self/exe", raw.data());
  spdlog::critical("cannot start again: {}", std::strerror(errno));
  std::_Exit(1);
}

int Run(Restart& restart) {
  absl::StatusOr<broker::ClientConfig> client = broker::KafkaClientFromFlags("herald-fanout");
  if (!client.ok()) {
    spdlog::critical("{}", client.status());
    return 2;
  }
  absl::StatusOr<broker::TopicInfo> topic = broker::PrepareTopic(*client);
  if (!topic.ok()) {
    spdlog::critical("{}", topic.status());
    return 1;
  }
  const broker::ReaderOptions reader_options{
      .client = *client, .topic = topic->topic, .fetch_wait = absl::GetFlag(FLAGS_fetch_wait)};
  EventStore store(topic->partitions,
                   {.ring_events = static_cast<size_t>(absl::GetFlag(FLAGS_ring_events)),
                    .ring_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_ring_bytes)),
                    .max_streams = static_cast<size_t>(absl::GetFlag(FLAGS_max_streams)),
                    .max_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_max_store_bytes))});
  common::Registry metrics;
  metrics.AddCollector(
      "herald_fanout_store_bytes", "Bytes held in the rings", common::MetricType::kGauge,
      [&](const common::Emit& emit) { emit({}, static_cast<double>(store.GetStats().bytes)); });
  metrics.AddCollector(
      "herald_fanout_store_streams", "Streams with a ring", common::MetricType::kGauge,
      [&](const common::Emit& emit) { emit({}, static_cast<double>(store.GetStats().streams)); });
  const DedupOptions dedup{.window = absl::GetFlag(FLAGS_dedup_window),
                           .lookback = std::max<int64_t>(0, absl::GetFlag(FLAGS_dedup_lookback))};
  TailReader tail(store, reader_options, absl::GetFlag(FLAGS_warm_events), dedup, metrics);
  if (absl::Status s = tail.Start(absl::Seconds(60)); !s.ok()) {
    spdlog::critical("cannot read topic {}: {}", topic->topic, s);
    return 1;
  }

  FanoutOptions options;
  options.max_rewind = static_cast<uint32_t>(absl::GetFlag(FLAGS_max_rewind));
  options.max_subscribe_streams = static_cast<size_t>(absl::GetFlag(FLAGS_max_subscribe_streams));
  options.cursor_interval = absl::GetFlag(FLAGS_cursor_interval);
  options.subscribe_threads = std::max(1, absl::GetFlag(FLAGS_subscribe_threads));
  options.session.dedup = dedup;
  ReaderFactory readers = [reader_options]() { return broker::Reader::Create(reader_options); };
  FanoutService service(store, readers, *topic, options, metrics);

  absl::StatusOr<std::unique_ptr<common::Service>> serving = common::Service::Start(
      {.name = "herald-fanout",
       .grpc_address = absl::GetFlag(FLAGS_grpc_address),
       .metrics_address = absl::GetFlag(FLAGS_metrics_address),
       .ready_file = absl::GetFlag(FLAGS_ready_file),
       .services = {&service},
       .health_names = {"herald.v1.Fanout"},
       .configure =
           [](grpc::ServerBuilder& builder) {
             grpc::ResourceQuota quota("herald-fanout");
             quota.SetMaxThreads(absl::GetFlag(FLAGS_max_threads));
             builder.SetResourceQuota(quota);
           },
       // Ready (and gRPC health SERVING) once the rings are warm.
       .ready = [&] { return tail.Ready(); },
       .shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace),
       .detail = absl::StrCat("topic ", topic->topic, " (", topic->partitions,
                              " partitions, epoch ", topic->epoch, ")")},
      metrics);
  if (!serving.ok()) {
    spdlog::critical("{}", serving.status());
    return 1;
  }

  // The topic's shape: partitions added or the topic recreated make every
  // position of this process's epoch mean something else.
  absl::Mutex changed_mu;
  std::string changed;
  std::optional<broker::TopicWatch> watch;
  watch.emplace(
      *client, *topic, absl::GetFlag(FLAGS_topology_interval),
      [&](const std::string& why, const broker::TopicInfo& now) {
        absl::MutexLock lock(&changed_mu);
        if (!changed.empty()) return;
        changed = now.epoch == topic->epoch
                      ? why
                      : absl::StrCat(why, " (epoch ", topic->epoch, " is now ", now.epoch, ")");
        kill(getpid(), SIGTERM);  // AwaitShutdownSignal() returns
      },
      [&] { return tail.Recreated(); });

  const int signal = (*serving)->AwaitShutdownSignal();
  watch.reset();
  {
    absl::MutexLock lock(&changed_mu);
    restart.wanted = !changed.empty();
  }
  if (restart.wanted) {
    spdlog::warn("{}: ending every subscription and starting again with the new epoch", changed);
    restart.grpc_port = (*serving)->grpc_port();
    restart.metrics_port = (*serving)->metrics_port();
  } else {
    spdlog::info("signal {}: closing subscriptions so that clients move to another replica",
                 signal);
  }
  (*serving)->Drain();
  service.Shutdown();
  (*serving)->Stop();
  tail.Stop();
  spdlog::info("herald-fanout stopped");
  return 0;
}

}  // namespace
}  // namespace herald::fanout

int main(int argc, char** argv) {
  herald::common::InitProcess(argc, argv, "herald-fanout",
                              "herald-fanout: follows the Herald topic and serves streams from "
                              "cursors (herald.v1.Fanout). Every flag can also be set as "
                              "HERALD_<FLAG>.");
  herald::fanout::Restart restart;
  const int code = herald::fanout::Run(restart);
  if (restart.wanted) herald::fanout::StartAgain(argv, restart);
  return code;
}
