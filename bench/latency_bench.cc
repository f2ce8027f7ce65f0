// latency_bench: publish -> subscriber latency through the backbone.
//
// Subscribes to --streams streams through herald-fanout, then publishes at a
// fixed --rate for --duration through herald-publisher, each payload carrying
// its send time. The subscriber records now - sent for every event (same
// host, same clock) and the benchmark reports p50, p99, max and the delivery
// ratio. Publishing is paced on a schedule, so a slow response never lowers
// the offered rate. The first --warmup of publishing is not measured (a
// freshly started Kafka JVM is still compiling its hot paths); its samples are
// reported apart.
//
//   latency_bench --publisher=127.0.0.1:7001 --fanout=127.0.0.1:7002 --rate=1000 --duration=30s
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "herald/v1/fanout.grpc.pb.h"
#include "herald/v1/publisher.grpc.pb.h"

ABSL_FLAG(std::string, publisher, "127.0.0.1:7001", "herald-publisher address");
ABSL_FLAG(std::string, fanout, "127.0.0.1:7002", "herald-fanout address");
ABSL_FLAG(double, rate, 1000, "Events per second offered");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(30), "How long to publish");
ABSL_FLAG(int32_t, streams, 10, "Streams (all followed by the subscriber)");
ABSL_FLAG(int32_t, payload_bytes, 256, "Payload size");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(5), "Publishing at the rate before measuring");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int streams = absl::GetFlag(FLAGS_streams);
  const std::string run = absl::StrCat(absl::ToUnixMillis(absl::Now()));
  auto fanout = herald::v1::Fanout::NewStub(
      grpc::CreateChannel(absl::GetFlag(FLAGS_fanout), grpc::InsecureChannelCredentials()));
  herald::v1::SubscribeRequest request;
  for (int s = 0; s < streams; ++s) request.add_streams(absl::StrCat("lat/", run, "/", s));

  absl::Mutex mu;
  std::vector<double> latencies_ms;
  int64_t warmup_events = 0;
  // Events sent before this (Unix ns) are warm-up.
  std::atomic<int64_t> measure_from{std::numeric_limits<int64_t>::max()};
  std::atomic<bool> subscribed{false};
  grpc::ClientContext sub_context;
  std::thread subscriber([&] {
    auto reader = fanout->Subscribe(&sub_context, request);
    herald::v1::SubscribeResponse response;
    while (reader->Read(&response)) {
      subscribed = true;
      const int64_t now = absl::ToUnixNanos(absl::Now());
      absl::MutexLock lock(&mu);
      for (const herald::v1::Event& e : response.batch().events()) {
        int64_t sent = 0;
        const size_t at = e.text().find("\"t\":");
        if (at != std::string::npos &&
            absl::SimpleAtoi(e.text().substr(at + 4, e.text().find(',', at) - at - 4), &sent)) {
          if (sent < measure_from.load()) {
            ++warmup_events;
          } else {
            latencies_ms.push_back(static_cast<double>(now - sent) / 1e6);
          }
        }
      }
    }
    reader->Finish();
  });
  while (!subscribed.load()) absl::SleepFor(absl::Milliseconds(5));

  auto publisher = herald::v1::Publisher::NewStub(
      grpc::CreateChannel(absl::GetFlag(FLAGS_publisher), grpc::InsecureChannelCredentials()));
  grpc::ClientContext pub_context;
  auto stream = publisher->PublishStream(&pub_context);
  std::atomic<int64_t> acked{0};
  std::thread acks([&] {
    herald::v1::PublishStreamResponse response;
    while (stream->Read(&response)) {
      for (const herald::v1::PublishResult& r : response.results()) acked += r.has_ok() ? 1 : 0;
    }
  });
  const double rate = absl::GetFlag(FLAGS_rate);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  const std::string padding(std::max(0, absl::GetFlag(FLAGS_payload_bytes) - 40), 'x');
  const absl::Duration warmup = absl::GetFlag(FLAGS_warmup);
  const absl::Time start = absl::Now();
  measure_from = absl::ToUnixNanos(start + warmup);
  int64_t sent = 0;
  int64_t warmup_sent = 0;
  while (true) {
    const absl::Time due = start + absl::Seconds(static_cast<double>(sent + warmup_sent) / rate);
    if (due - start >= warmup + duration) break;
    if (absl::Time now = absl::Now(); due > now) absl::SleepFor(due - now);
    herald::v1::PublishRequest r;
    r.set_request_id(static_cast<uint64_t>(sent));
    r.mutable_event()->set_stream(request.streams(static_cast<int>(sent % streams)));
    r.mutable_event()->set_type("lat");
    r.mutable_event()->set_text(
        absl::StrCat("{\"t\":", absl::ToUnixNanos(absl::Now()), ",\"p\":\"", padding, "\"}"));
    if (!stream->Write(r)) break;
    if (due < start + warmup) {
      ++warmup_sent;
    } else {
      ++sent;
    }
  }
  stream->WritesDone();
  acks.join();
  stream->Finish();
  // Let the last events arrive (bounded), then stop the subscriber.
  const absl::Time drain = absl::Now() + absl::Seconds(10);
  while (absl::Now() < drain) {
    {
      absl::MutexLock lock(&mu);
      if (static_cast<int64_t>(latencies_ms.size()) >= sent) break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  sub_context.TryCancel();
  subscriber.join();

  std::vector<double> l;
  {
    absl::MutexLock lock(&mu);
    l = latencies_ms;
  }
  std::sort(l.begin(), l.end());
  auto pct = [&](double p) {
    return l.empty() ? 0 : l[std::min(l.size() - 1, static_cast<size_t>(p * l.size()))];
  };
  std::printf(
      "latency_bench: %.0f events/s for %s (after %s of warm-up) over %d streams, "
      "%d-byte payloads, one Subscribe following all streams\n",
      rate, absl::FormatDuration(duration).c_str(), absl::FormatDuration(warmup).c_str(), streams,
      absl::GetFlag(FLAGS_payload_bytes));
  std::printf("  warm-up: published %lld, received %lld (not measured)\n",
              static_cast<long long>(warmup_sent), static_cast<long long>(warmup_events));
  std::printf("  measured: published %lld, acknowledged (all) %lld, received %zu (delivery %.4f)\n",
              static_cast<long long>(sent), static_cast<long long>(acked.load()), l.size(),
              sent ? static_cast<double>(l.size()) / sent : 0);
  std::printf("  publish->subscriber latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", pct(0.5),
              pct(0.99), l.empty() ? 0 : l.back());
  return static_cast<int64_t>(l.size()) == sent ? 0 : 1;
}
