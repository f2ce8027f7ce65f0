// Admin: topic management and cluster facts.
//
//   auto admin = Admin::Create({.bootstrap_servers = "127.0.0.1:9092"});
//   (*admin)->EnsureTopic({.name = "herald.events", .partitions = 6,
//                          .configs = {{"retention.ms", "604800000"}}}, absl::Seconds(30));
//
// Thread-safety: every method may be called from any thread; calls are
// independent requests to the cluster.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "herald/broker/config.h"

namespace herald::broker {

struct TopicSpec {
  std::string name;
  int32_t partitions = 6;
  // -1: the broker's default.
  int16_t replication_factor = -1;
  // Topic-level settings, e.g. retention.ms, segment.bytes.
  PropertyMap configs;
};

class Admin final {
 public:
  static absl::StatusOr<std::unique_ptr<Admin>> Create(const ClientConfig& client);

  ~Admin();
  Admin(const Admin&) = delete;
  Admin& operator=(const Admin&) = delete;

  // Creates the topic if it does not exist and waits until every partition has
  // a leader. An existing topic with fewer partitions than asked is
  // FailedPrecondition: adding partitions would move streams between
  // partitions, so it is an operator's decision. Settings of an existing topic
  // are left as they are.
  absl::Status EnsureTopic(const TopicSpec& spec, absl::Duration timeout);

  // Deletes the topic; NotFound if there is none.
  absl::Status DeleteTopic(const std::string& name, absl::Duration timeout);

  // Grows the topic to `total` partitions (Kafka never removes any). Records
  // keyed as before may land elsewhere from then on.
  absl::Status AddPartitions(const std::string& name, int32_t total, absl::Duration timeout);

  // NotFound if the topic does not exist.
  absl::StatusOr<int32_t> PartitionCount(const std::string& name, absl::Duration timeout);

  // The node id leading each partition of the topic, by partition (-1: none
  // now); NotFound if the topic does not exist.
  absl::StatusOr<std::vector<int32_t>> PartitionLeaders(const std::string& name,
                                                        absl::Duration timeout);

  // The topic's id (32 hex digits): a topic deleted and created again with
  // the same name has another. Read over PLAINTEXT listeners only
  // (Unimplemented otherwise); NotFound if the topic does not exist.
  absl::StatusOr<std::string> TopicId(const std::string& name, absl::Duration timeout);

  // The cluster's id (KRaft cluster id, as formatted by the storage tool).
  absl::StatusOr<std::string> ClusterId(absl::Duration timeout);

  class Impl;

 private:
  explicit Admin(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald::broker
