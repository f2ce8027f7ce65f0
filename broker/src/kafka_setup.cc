#include "herald/broker/kafka_setup.h"

#include <algorithm>
#include <memory>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "herald/broker/admin.h"
#include "herald/common/cursor.h"
#include "herald/common/logging.h"

ABSL_FLAG(std::string, kafka_bootstrap, "127.0.0.1:9092", "Kafka bootstrap servers, host:port,...");
ABSL_FLAG(std::string, kafka_properties, "",
          "Extra librdkafka settings as key=value,key=value (security.protocol, sasl.*, ssl.*)");
ABSL_FLAG(std::string, topic, "herald.events", "The deployment's Kafka topic");
ABSL_FLAG(int32_t, partitions, 6, "Partitions of the topic when Herald creates it");
ABSL_FLAG(int64_t, retention_ms, 7LL * 24 * 3600 * 1000,
          "retention.ms of the topic when Herald creates it");
ABSL_FLAG(bool, create_topic, true,
          "Create the topic when it does not exist (when false, a missing topic is looked "
          "for during 10 s, then startup fails)");
ABSL_FLAG(absl::Duration, kafka_startup_timeout, absl::Seconds(60),
          "How long to wait for Kafka at start before giving up");

namespace herald::broker {

absl::StatusOr<broker::ClientConfig> KafkaClientFromFlags(absl::string_view client_id) {
  broker::ClientConfig client;
  client.bootstrap_servers = absl::GetFlag(FLAGS_kafka_bootstrap);
  client.client_id = std::string(client_id);
  if (absl::Status s = broker::ValidateBootstrapServers(client.bootstrap_servers); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--kafka_bootstrap: ", s.message()));
  }
  absl::StatusOr<broker::PropertyMap> properties =
      broker::ParseProperties(absl::GetFlag(FLAGS_kafka_properties));
  if (!properties.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--kafka_properties: ", properties.status().message()));
  }
  client.properties = std::move(*properties);
  return client;
}

std::string TopicFromFlags() { return absl::GetFlag(FLAGS_topic); }

absl::StatusOr<TopicInfo> PrepareTopic(const broker::ClientConfig& client) {
  TopicInfo info;
  info.topic = absl::GetFlag(FLAGS_topic);
  const int32_t partitions = absl::GetFlag(FLAGS_partitions);
  if (partitions < 1) return absl::InvalidArgumentError("--partitions must be at least 1");
  absl::StatusOr<std::unique_ptr<broker::Admin>> admin = broker::Admin::Create(client);
  if (!admin.ok()) return admin.status();

  const absl::Time deadline = absl::Now() + absl::GetFlag(FLAGS_kafka_startup_timeout);
  // In a cluster, the broker asked may learn of a topic just created by
  // another a moment later: a missing topic is looked for again this long.
  const absl::Time not_found_until = std::min(deadline, absl::Now() + absl::Seconds(10));
  absl::Duration backoff = absl::Milliseconds(200);
  absl::Status last;
  for (int attempt = 1;; ++attempt) {
    const absl::Duration step = absl::Seconds(10);
    if (absl::GetFlag(FLAGS_create_topic)) {
      broker::TopicSpec spec{.name = info.topic, .partitions = partitions};
      spec.configs["retention.ms"] = absl::StrCat(absl::GetFlag(FLAGS_retention_ms));
      last = (*admin)->EnsureTopic(spec, step);
    } else {
      last = absl::OkStatus();
    }
    absl::StatusOr<int32_t> count =
        last.ok() ? (*admin)->PartitionCount(info.topic, step) : absl::StatusOr<int32_t>(last);
    absl::StatusOr<std::string> cluster =
        count.ok() ? (*admin)->ClusterId(step) : absl::StatusOr<std::string>(count.status());
    if (cluster.ok()) {
      info.partitions = *count;
      info.cluster_id = *cluster;
      absl::StatusOr<std::string> id = (*admin)->TopicId(info.topic, step);
      if (id.ok()) {
        info.topic_id = *id;
      } else {
        spdlog::warn(
            "topic {}: no topic id ({}); a topic deleted and created again with the same "
            "partitions is then only noticed by a running fanout",
            info.topic, id.status().message());
      }
      info.epoch =
          common::ComputeEpoch(info.cluster_id, info.topic, info.partitions, info.topic_id);
      spdlog::info("topic {} on cluster {}: {} partitions, id {}, epoch {}", info.topic,
                   info.cluster_id, info.partitions, info.topic_id.empty() ? "-" : info.topic_id,
                   info.epoch);
      return info;
    }
    last = cluster.status();
    // A bad setting will not fix itself, nor (after a short while) a missing
    // topic with --create_topic=false; unreachable Kafka is worth waiting for.
    if (absl::IsInvalidArgument(last) || absl::IsFailedPrecondition(last) ||
        absl::IsPermissionDenied(last) ||
        (absl::IsNotFound(last) && !absl::GetFlag(FLAGS_create_topic) &&
         absl::Now() + backoff >= not_found_until)) {
      return last;
    }
    if (absl::Now() + backoff >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "Kafka at ", client.bootstrap_servers, " not usable within --kafka_startup_timeout=",
          absl::FormatDuration(absl::GetFlag(FLAGS_kafka_startup_timeout)), ": ", last.message()));
    }
    spdlog::warn("waiting for Kafka at {} (attempt {}): {}", client.bootstrap_servers, attempt,
                 last.message());
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(backoff));
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
}

TopicWatch::TopicWatch(broker::ClientConfig client, TopicInfo info, absl::Duration interval,
                       Changed changed, std::function<std::string()> also)
    : client_(std::move(client)),
      info_(std::move(info)),
      interval_(interval),
      changed_(std::move(changed)),
      also_(std::move(also)),
      thread_([this] { Run(); }) {}

TopicWatch::~TopicWatch() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void TopicWatch::Run() {
  std::unique_ptr<broker::Admin> admin;
  absl::MutexLock lock(&mu_);
  while (!mu_.AwaitWithTimeout(absl::Condition(&stopping_), interval_)) {
    mu_.Unlock();
    std::string why;
    TopicInfo now = info_;
    if (admin == nullptr) {
      absl::StatusOr<std::unique_ptr<broker::Admin>> created = broker::Admin::Create(client_);
      if (created.ok()) admin = std::move(*created);
    }
    if (admin != nullptr) {
      const absl::Duration timeout = std::max(interval_, absl::Seconds(2));
      absl::StatusOr<int32_t> count = admin->PartitionCount(info_.topic, timeout);
      absl::StatusOr<std::string> id = info_.topic_id.empty()
                                           ? absl::StatusOr<std::string>(std::string())
                                           : admin->TopicId(info_.topic, timeout);
      // Deleted, or unreachable: nothing to compare yet.
      if (count.ok() && id.ok()) {
        now.partitions = *count;
        now.topic_id = *id;
        if (now.topic_id != info_.topic_id) {
          why = absl::StrCat("topic ", info_.topic, " was deleted and created again (id ",
                             info_.topic_id, " is now ", now.topic_id, ")");
        } else if (now.partitions != info_.partitions) {
          why = absl::StrCat("topic ", info_.topic, " has ", now.partitions, " partitions, not ",
                             info_.partitions);
        }
      }
    }
    if (why.empty() && also_ != nullptr) why = also_();
    if (!why.empty()) {
      now.epoch = common::ComputeEpoch(now.cluster_id, now.topic, now.partitions, now.topic_id);
      changed_(why, now);
      info_ = now;
    }
    mu_.Lock();
  }
}

}  // namespace herald::broker
