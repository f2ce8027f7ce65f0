// publish_bench: publish throughput through herald-publisher into Kafka.
//
// Opens --connections PublishStream calls, each keeping up to --window events
// unacknowledged, and publishes --events events of --payload_bytes bytes over
// --streams streams. An event counts once Kafka acknowledged it (acks=all).
// A first round of --warmup_events is published the same way and reported
// apart: a freshly started Kafka JVM runs far slower until its JIT is warm.
//
//   publish_bench --publisher=127.0.0.1:7001 --events=300000
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "herald/v1/publisher.grpc.pb.h"

ABSL_FLAG(std::string, publisher, "127.0.0.1:7001", "herald-publisher address");
ABSL_FLAG(int64_t, events, 300'000, "Events to publish in all");
ABSL_FLAG(int32_t, payload_bytes, 256, "Payload size");
ABSL_FLAG(int32_t, streams, 100, "Streams the events are spread over");
ABSL_FLAG(int32_t, connections, 2, "Parallel PublishStream calls (each on its own channel)");
ABSL_FLAG(int32_t, window, 2'000, "Unacknowledged events per call");
ABSL_FLAG(int64_t, warmup_events, 1'000'000, "Events published before the measured round");

namespace {

struct Round {
  int64_t acked = 0;
  int64_t failed = 0;
  double seconds = 0;
};

Round Publish(int64_t total) {
  const int connections = absl::GetFlag(FLAGS_connections);
  const int window = absl::GetFlag(FLAGS_window);
  const std::string payload = absl::StrCat(
      "{\"p\":\"", std::string(std::max(0, absl::GetFlag(FLAGS_payload_bytes) - 8), 'x'), "\"}");
  std::atomic<int64_t> acked{0}, failed{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> workers;
  for (int c = 0; c < connections; ++c) {
    workers.emplace_back([&, c] {
      grpc::ChannelArguments args;
      args.SetInt("herald-bench-channel", c);  // a distinct channel (and TCP connection) per call
      auto stub = herald::v1::Publisher::NewStub(grpc::CreateCustomChannel(
          absl::GetFlag(FLAGS_publisher), grpc::InsecureChannelCredentials(), args));
      grpc::ClientContext context;
      auto stream = stub->PublishStream(&context);
      const int64_t mine = total / connections + (c < total % connections ? 1 : 0);
      absl::Mutex mu;
      int64_t outstanding = 0;
      std::thread reader([&] {
        herald::v1::PublishStreamResponse response;
        while (stream->Read(&response)) {
          for (const herald::v1::PublishResult& r : response.results()) {
            if (r.has_ok()) {
              ++acked;
            } else {
              ++failed;
            }
          }
          absl::MutexLock lock(&mu);
          outstanding -= response.results_size();
        }
      });
      herald::v1::PublishRequest request;
      request.mutable_event()->set_type("bench");
      request.mutable_event()->set_text(payload);
      for (int64_t i = 0; i < mine; ++i) {
        {
          absl::MutexLock lock(&mu);
          auto room = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return outstanding < window; };
          mu.Await(absl::Condition(&room));
          ++outstanding;
        }
        request.set_request_id(static_cast<uint64_t>(i));
        request.mutable_event()->set_stream(
            absl::StrCat("bench/s", (i * connections + c) % absl::GetFlag(FLAGS_streams)));
        if (!stream->Write(request)) break;
      }
      stream->WritesDone();
      reader.join();
      grpc::Status status = stream->Finish();
      if (!status.ok()) std::fprintf(stderr, "stream %d: %s\n", c, status.error_message().c_str());
    });
  }
  for (auto& w : workers) w.join();
  return {acked.load(), failed.load(), absl::ToDoubleSeconds(absl::Now() - start)};
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int64_t total = absl::GetFlag(FLAGS_events);
  const int connections = absl::GetFlag(FLAGS_connections);
  const int window = absl::GetFlag(FLAGS_window);
  const Round warm = Publish(absl::GetFlag(FLAGS_warmup_events));
  const Round round = Publish(total);
  std::printf(
      "publish_bench: %lld events of %d-byte payloads over %d streams, %d PublishStream "
      "calls, window %d\n",
      static_cast<long long>(total), absl::GetFlag(FLAGS_payload_bytes),
      absl::GetFlag(FLAGS_streams), connections, window);
  std::printf("  warm-up round: %lld events in %.2f s (%.0f events/s, not counted)\n",
              static_cast<long long>(warm.acked), warm.seconds,
              warm.seconds > 0 ? static_cast<double>(warm.acked) / warm.seconds : 0);
  std::printf("  measured round: acknowledged (acks=all) %lld, failed %lld, in %.2f s\n",
              static_cast<long long>(round.acked), static_cast<long long>(round.failed),
              round.seconds);
  std::printf("  throughput: %.0f events/s\n", static_cast<double>(round.acked) / round.seconds);
  return round.failed == 0 && round.acked == total && warm.failed == 0 ? 0 : 1;
}
