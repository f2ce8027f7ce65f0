// What every Herald process that talks to Kafka does at start: read the Kafka
// flags, make sure the topic is there, and learn the topic's epoch.
//
// Flags (each also HERALD_<NAME>):
//   --kafka_bootstrap        host:port list (default 127.0.0.1:9092)
//   --kafka_properties       extra librdkafka settings, key=value,key=value
//   --topic                  the deployment's topic (default herald.events)
//   --partitions             partitions when the topic is created (default 6)
//   --retention_ms           retention when the topic is created (default 7 days)
//   --create_topic           create the topic if missing (default true)
//   --kafka_startup_timeout  how long to wait for Kafka at start (default 60s)
//
//   broker::ClientConfig client = KafkaClientFromFlags("herald-publisher");
//   absl::StatusOr<TopicInfo> topic = PrepareTopic(client);
#pragma once

#include <functional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "herald/broker/config.h"

namespace herald::broker {

struct TopicInfo {
  std::string topic;
  int32_t partitions = 0;
  std::string cluster_id;
  // Empty where it cannot be read (listeners other than PLAINTEXT).
  std::string topic_id;
  std::string epoch;
};

// InvalidArgument for a malformed --kafka_bootstrap or --kafka_properties.
absl::StatusOr<broker::ClientConfig> KafkaClientFromFlags(absl::string_view client_id);

// The value of --topic.
std::string TopicFromFlags();

// Ensures the topic exists (or, with --create_topic=false, that it does), then
// reads the cluster id and partition count and computes the epoch. While Kafka
// is unreachable it retries, logging each attempt, until
// --kafka_startup_timeout; then DEADLINE_EXCEEDED with the last error.
absl::StatusOr<TopicInfo> PrepareTopic(const broker::ClientConfig& client);

// Watches the topic for a change of shape: partitions added, or the topic
// deleted and created again (another topic id), or what `also` reports (a
// non-empty reason). Checks every `interval` on a thread of its own and calls
// `changed` there, once per change, with the reason and the topic as it is
// now (its new epoch); a deleted topic counts once it exists again.
class TopicWatch final {
 public:
  using Changed = std::function<void(const std::string& why, const TopicInfo& now)>;
  TopicWatch(broker::ClientConfig client, TopicInfo info, absl::Duration interval, Changed changed,
             std::function<std::string()> also = nullptr);
  ~TopicWatch();
  TopicWatch(const TopicWatch&) = delete;
  TopicWatch& operator=(const TopicWatch&) = delete;

 private:
  void Run();

  const broker::ClientConfig client_;
  TopicInfo info_;
  const absl::Duration interval_;
  const Changed changed_;
  const std::function<std::string()> also_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace herald::broker
