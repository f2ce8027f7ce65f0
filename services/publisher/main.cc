// herald-publisher: gRPC in, Kafka out. See README.md.
#include <algorithm>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "herald/broker/kafka_setup.h"
#include "herald/broker/producer.h"
#include "herald/common/logging.h"
#include "herald/common/service.h"
#include "publisher_service.h"

ABSL_FLAG(absl::Duration, dedup_window, absl::Minutes(10),
          "An event again with the stream and idempotency key of one acknowledged here within "
          "this time is answered with the first copy's position and not written again");
ABSL_FLAG(int64_t, dedup_keys, 100'000, "Acknowledged idempotency keys remembered at most");
ABSL_FLAG(std::string, grpc_address, "0.0.0.0:7001", "Where the Publisher gRPC service listens");
ABSL_FLAG(std::string, metrics_address, "0.0.0.0:9101",
          "Where /metrics, /healthz and /readyz are served");
ABSL_FLAG(int64_t, max_payload_bytes, 1 << 20, "Largest event payload accepted, in bytes");
ABSL_FLAG(int64_t, max_in_flight, 20'000,
          "Events waiting for Kafka across all calls before RESOURCE_EXHAUSTED");
ABSL_FLAG(int64_t, stream_window, 2'000,
          "Unanswered events per PublishStream before the publisher stops reading it");
ABSL_FLAG(absl::Duration, linger, absl::Milliseconds(5),
          "How long Kafka writes wait to batch (larger batches cost the broker less)");
ABSL_FLAG(absl::Duration, delivery_timeout, absl::Seconds(30),
          "How long an event may wait for Kafka before DEADLINE_EXCEEDED");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "How long calls in progress may finish after SIGTERM");
ABSL_FLAG(std::string, ready_file, "",
          "Once serving, write {\"grpc_port\": N, \"metrics_port\": M} to this file");

namespace herald::publisher {
namespace {

int Run() {
  absl::StatusOr<broker::ClientConfig> client = broker::KafkaClientFromFlags("herald-publisher");
  if (!client.ok()) {
    spdlog::critical("{}", client.status());
    return 2;
  }
  absl::StatusOr<broker::TopicInfo> topic = broker::PrepareTopic(*client);
  if (!topic.ok()) {
    spdlog::critical("{}", topic.status());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<broker::Producer>> producer =
      broker::Producer::Create({.client = *client,
                                .topic = topic->topic,
                                .linger = absl::GetFlag(FLAGS_linger),
                                .delivery_timeout = absl::GetFlag(FLAGS_delivery_timeout),
                                .max_record_bytes = static_cast<int32_t>(
                                    absl::GetFlag(FLAGS_max_payload_bytes) + 256 * 1024)});
  if (!producer.ok()) {
    spdlog::critical("{}", producer.status());
    return 2;
  }

  common::Registry metrics;
  PublisherOptions options;
  options.limits.max_payload_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_max_payload_bytes));
  options.max_in_flight = absl::GetFlag(FLAGS_max_in_flight);
  options.stream_window = absl::GetFlag(FLAGS_stream_window);
  options.epoch = topic->epoch;
  options.dedup_window = absl::GetFlag(FLAGS_dedup_window);
  options.dedup_keys = static_cast<size_t>(std::max<int64_t>(0, absl::GetFlag(FLAGS_dedup_keys)));
  PublisherService service(**producer, metrics, options);
  // Partitions added or the topic created again: responses carry the new
  // epoch (the producer follows the new partitions by itself).
  broker::TopicWatch watch(
      *client, *topic, absl::Seconds(2), [&](const std::string& why, const broker::TopicInfo& now) {
        spdlog::warn("{}: cursors in responses are of epoch {} now", why, now.epoch);
        service.SetEpoch(now.epoch);
      });

  const int max_message = static_cast<int>(options.limits.max_payload_bytes + 256 * 1024);
  absl::StatusOr<std::unique_ptr<common::Service>> serving = common::Service::Start(
      {.name = "herald-publisher",
       .grpc_address = absl::GetFlag(FLAGS_grpc_address),
       .metrics_address = absl::GetFlag(FLAGS_metrics_address),
       .ready_file = absl::GetFlag(FLAGS_ready_file),
       .services = {&service},
       .health_names = {"herald.v1.Publisher"},
       .configure =
           [&](grpc::ServerBuilder& builder) { builder.SetMaxReceiveMessageSize(max_message); },
       .shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace),
       .detail = absl::StrCat("topic ", topic->topic)},
      metrics);
  if (!serving.ok()) {
    spdlog::critical("{}", serving.status());
    return 1;
  }

  const int signal = (*serving)->AwaitShutdownSignal();
  spdlog::info("signal {}: draining (up to {})", signal,
               absl::FormatDuration(absl::GetFlag(FLAGS_shutdown_grace)));
  (*serving)->Stop();
  if (absl::Status s = (*producer)->Flush(absl::Seconds(5)); !s.ok()) spdlog::warn("{}", s);
  spdlog::info("herald-publisher stopped");
  return 0;
}

}  // namespace
}  // namespace herald::publisher

int main(int argc, char** argv) {
  herald::common::InitProcess(argc, argv, "herald-publisher",
                              "herald-publisher: takes events over gRPC (herald.v1.Publisher) and "
                              "writes them to Kafka. Every flag can also be set as HERALD_<FLAG>.");
  return herald::publisher::Run();
}
