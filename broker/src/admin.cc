#include "herald/broker/admin.h"

#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "herald/common/logging.h"
#include "internal/kafka.h"
#include "internal/topic_id.h"

namespace herald::broker {

using internal::KafkaStatus;

namespace {

int TimeoutMs(absl::Duration d) {
  return static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(d)));
}

}  // namespace

class Admin::Impl final {
 public:
  explicit Impl(const ClientConfig& client) : client_(client) {}
  const ClientConfig& client() const { return client_; }

  absl::Status Init() {
    internal::KafkaConf conf(rd_kafka_conf_new());
    if (absl::Status s = internal::ApplyConfig(conf.get(), client_, {}, {}); !s.ok()) return s;
    rd_kafka_conf_set_log_cb(conf.get(), internal::ForwardLogs);
    char error[512];
    // rd_kafka_new() takes the configuration only on success.
    rk_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), error, sizeof(error)));
    if (rk_ == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("cannot create Kafka admin client: ", error));
    }
    conf.release();
    return absl::OkStatus();
  }

  absl::Status EnsureTopic(const TopicSpec& spec, absl::Duration timeout) {
    if (spec.name.empty()) return absl::InvalidArgumentError("topic name is empty");
    if (spec.partitions < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "topic ", spec.name, " needs at least one partition, not ", spec.partitions));
    }
    const absl::Time deadline = absl::Now() + timeout;
    absl::Status created = Create(spec, deadline);
    if (!created.ok() && !absl::IsAlreadyExists(created)) return created;
    // Creation is acknowledged by the controller before every broker knows the
    // topic; wait until the metadata shows all partitions with a leader.
    absl::Status last = absl::OkStatus();
    while (absl::Now() < deadline) {
      absl::StatusOr<int32_t> count = LeadersReady(spec.name, deadline);
      if (count.ok()) {
        if (*count < spec.partitions) {
          return absl::FailedPreconditionError(absl::StrCat(
              "topic ", spec.name, " exists with ", *count, " partitions but ", spec.partitions,
              " were asked for; add partitions deliberately (it moves streams between partitions) "
              "or use another topic"));
        }
        if (*count > spec.partitions) {
          spdlog::info("topic {} has {} partitions (asked for {}); using it as it is", spec.name,
                       *count, spec.partitions);
        }
        return absl::OkStatus();
      }
      last = count.status();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return absl::DeadlineExceededError(absl::StrCat("topic ", spec.name, " not ready after ",
                                                    absl::FormatDuration(timeout), ": ",
                                                    last.message()));
  }

  absl::Status DeleteTopic(const std::string& name, absl::Duration timeout) {
    internal::DeleteTopicHandle topic(rd_kafka_DeleteTopic_new(name.c_str()));
    rd_kafka_DeleteTopic_t* topics[] = {topic.get()};
    internal::AdminOptions options = Options(RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout);
    internal::QueueHandle queue(rd_kafka_queue_new(rk_.get()));
    rd_kafka_DeleteTopics(rk_.get(), topics, 1, options.get(), queue.get());
    absl::StatusOr<internal::EventHandle> event = Await(*queue, timeout, "delete topic " + name);
    if (!event.ok()) return event.status();
    const rd_kafka_DeleteTopics_result_t* result = rd_kafka_event_DeleteTopics_result(event->get());
    size_t count = 0;
    const rd_kafka_topic_result_t** results = rd_kafka_DeleteTopics_result_topics(result, &count);
    for (size_t i = 0; i < count; ++i) {
      if (rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]); err != 0) {
        return KafkaStatus(err, absl::StrCat("delete topic ", name));
      }
    }
    return absl::OkStatus();
  }

  absl::Status AddPartitions(const std::string& name, int32_t total, absl::Duration timeout) {
    char error[512];
    internal::NewPartitionsHandle partitions(
        rd_kafka_NewPartitions_new(name.c_str(), static_cast<size_t>(total), error, sizeof(error)));
    if (partitions == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("add partitions to ", name, ": ", error));
    }
    rd_kafka_NewPartitions_t* list[] = {partitions.get()};
    internal::AdminOptions options = Options(RD_KAFKA_ADMIN_OP_CREATEPARTITIONS, timeout);
    internal::QueueHandle queue(rd_kafka_queue_new(rk_.get()));
    rd_kafka_CreatePartitions(rk_.get(), list, 1, options.get(), queue.get());
    absl::StatusOr<internal::EventHandle> event =
        Await(*queue, timeout, "add partitions to " + name);
    if (!event.ok()) return event.status();
    const rd_kafka_CreatePartitions_result_t* result =
        rd_kafka_event_CreatePartitions_result(event->get());
    size_t count = 0;
    const rd_kafka_topic_result_t** results =
        rd_kafka_CreatePartitions_result_topics(result, &count);
    for (size_t i = 0; i < count; ++i) {
      if (rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]); err != 0) {
        return KafkaStatus(err, absl::StrCat("add partitions to ", name, ": ",
                                             rd_kafka_topic_result_error_string(results[i])));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<int32_t> PartitionCount(const std::string& name, absl::Duration timeout) {
    absl::StatusOr<internal::MetadataHandle> md = Metadata(absl::Now() + timeout);
    if (!md.ok()) return md.status();
    absl::StatusOr<const rd_kafka_metadata_topic_t*> topic = FindTopic(**md, name);
    if (!topic.ok()) return topic.status();
    return (*topic)->partition_cnt;
  }

  absl::StatusOr<std::vector<int32_t>> PartitionLeaders(const std::string& name,
                                                        absl::Duration timeout) {
    absl::StatusOr<internal::MetadataHandle> md = Metadata(absl::Now() + timeout);
    if (!md.ok()) return md.status();
    absl::StatusOr<const rd_kafka_metadata_topic_t*> topic = FindTopic(**md, name);
    if (!topic.ok()) return topic.status();
    std::vector<int32_t> leaders((*topic)->partition_cnt, -1);
    for (int p = 0; p < (*topic)->partition_cnt; ++p) {
      const rd_kafka_metadata_partition_t& partition = (*topic)->partitions[p];
      if (partition.id >= 0 && partition.id < (*topic)->partition_cnt) {
        leaders[partition.id] = partition.leader;
      }
    }
    return leaders;
  }

  absl::StatusOr<std::string> ClusterId(absl::Duration timeout) {
    char* id = rd_kafka_clusterid(rk_.get(), TimeoutMs(timeout));
    if (id == nullptr) {
      return absl::UnavailableError(absl::StrCat("no cluster id from ", client_.bootstrap_servers,
                                                 " within ", absl::FormatDuration(timeout)));
    }
    std::string result(id);
    rd_kafka_mem_free(rk_.get(), id);
    return result;
  }

 private:
  absl::Status Create(const TopicSpec& spec, absl::Time deadline) {
    char error[512];
    internal::NewTopicHandle topic(rd_kafka_NewTopic_new(
        spec.name.c_str(), spec.partitions, spec.replication_factor, error, sizeof(error)));
    if (topic == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("topic ", spec.name, ": ", error));
    }
    for (const auto& [key, value] : spec.configs) {
      if (rd_kafka_resp_err_t err =
              rd_kafka_NewTopic_set_config(topic.get(), key.c_str(), value.c_str());
          err != 0) {
        return KafkaStatus(err, absl::StrCat("topic ", spec.name, " setting ", key));
      }
    }
    rd_kafka_NewTopic_t* topics[] = {topic.get()};
    const absl::Duration timeout = deadline - absl::Now();
    internal::AdminOptions options = Options(RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout);
    internal::QueueHandle queue(rd_kafka_queue_new(rk_.get()));
    rd_kafka_CreateTopics(rk_.get(), topics, 1, options.get(), queue.get());
    absl::StatusOr<internal::EventHandle> event =
        Await(*queue, timeout, "create topic " + spec.name);
    if (!event.ok()) return event.status();
    const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event->get());
    size_t count = 0;
    const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &count);
    for (size_t i = 0; i < count; ++i) {
      if (rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]); err != 0) {
        const char* detail = rd_kafka_topic_result_error_string(results[i]);
        return KafkaStatus(err,
                           absl::StrCat("create topic ", spec.name,
                                        detail != nullptr ? absl::StrCat(" (", detail, ")") : ""));
      }
    }
    spdlog::info("created topic {} with {} partitions", spec.name, spec.partitions);
    return absl::OkStatus();
  }

  // The partition count once every partition has a leader; Unavailable before.
  absl::StatusOr<int32_t> LeadersReady(const std::string& name, absl::Time deadline) {
    absl::StatusOr<internal::MetadataHandle> md = Metadata(deadline);
    if (!md.ok()) return md.status();
    for (int i = 0; i < (*md)->topic_cnt; ++i) {
      const rd_kafka_metadata_topic_t& topic = (*md)->topics[i];
      if (name != topic.topic) continue;
      if (topic.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return KafkaStatus(topic.err, absl::StrCat("metadata of topic ", name));
      }
      for (int p = 0; p < topic.partition_cnt; ++p) {
        if (topic.partitions[p].leader < 0 || topic.partitions[p].err != 0) {
          return absl::UnavailableError(absl::StrCat("partition ", p, " has no leader yet"));
        }
      }
      return topic.partition_cnt;
    }
    return absl::UnavailableError(absl::StrCat("topic ", name, " not in metadata yet"));
  }

  // The topic's entry in `md`: NotFound when it does not exist, its error when
  // the cluster gave one.
  static absl::StatusOr<const rd_kafka_metadata_topic_t*> FindTopic(const rd_kafka_metadata_t& md,
                                                                    const std::string& name) {
    for (int i = 0; i < md.topic_cnt; ++i) {
      const rd_kafka_metadata_topic_t& topic = md.topics[i];
      if (name != topic.topic) continue;
      if (topic.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return KafkaStatus(topic.err, absl::StrCat("metadata of topic ", name));
      }
      return &topic;
    }
    return absl::NotFoundError(absl::StrCat("topic ", name, " does not exist"));
  }

  absl::StatusOr<internal::MetadataHandle> Metadata(absl::Time deadline) {
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t err =
        rd_kafka_metadata(rk_.get(), 1, nullptr, &md, TimeoutMs(deadline - absl::Now()));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return KafkaStatus(err, absl::StrCat("metadata from ", client_.bootstrap_servers));
    }
    return internal::MetadataHandle(md);
  }

  internal::AdminOptions Options(rd_kafka_admin_op_t op, absl::Duration timeout) {
    internal::AdminOptions options(rd_kafka_AdminOptions_new(rk_.get(), op));
    char error[512];
    rd_kafka_AdminOptions_set_request_timeout(options.get(), TimeoutMs(timeout), error,
                                              sizeof(error));
    rd_kafka_AdminOptions_set_operation_timeout(options.get(), TimeoutMs(timeout), error,
                                                sizeof(error));
    return options;
  }

  // Each request has a queue of its own, so concurrent calls never take each
  // other's results.
  absl::StatusOr<internal::EventHandle> Await(rd_kafka_queue_t& queue, absl::Duration timeout,
                                              const std::string& what) {
    // The request itself times out at `timeout`; allow a little more for the
    // result event to arrive.
    internal::EventHandle event(rd_kafka_queue_poll(&queue, TimeoutMs(timeout + absl::Seconds(1))));
    if (event == nullptr) {
      return absl::DeadlineExceededError(
          absl::StrCat(what, ": no answer within ", absl::FormatDuration(timeout)));
    }
    if (rd_kafka_resp_err_t err = rd_kafka_event_error(event.get()); err != 0) {
      return KafkaStatus(err,
                         absl::StrCat(what, " (", rd_kafka_event_error_string(event.get()), ")"));
    }
    return event;
  }

  const ClientConfig client_;
  internal::KafkaHandle rk_;
};

absl::StatusOr<std::unique_ptr<Admin>> Admin::Create(const ClientConfig& client) {
  auto impl = std::make_unique<Impl>(client);
  if (absl::Status s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<Admin>(new Admin(std::move(impl)));
}

Admin::Admin(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Admin::~Admin() = default;

absl::Status Admin::EnsureTopic(const TopicSpec& spec, absl::Duration timeout) {
  return impl_->EnsureTopic(spec, timeout);
}
absl::Status Admin::DeleteTopic(const std::string& name, absl::Duration timeout) {
  return impl_->DeleteTopic(name, timeout);
}
absl::Status Admin::AddPartitions(const std::string& name, int32_t total, absl::Duration timeout) {
  return impl_->AddPartitions(name, total, timeout);
}
absl::StatusOr<int32_t> Admin::PartitionCount(const std::string& name, absl::Duration timeout) {
  return impl_->PartitionCount(name, timeout);
}
absl::StatusOr<std::vector<int32_t>> Admin::PartitionLeaders(const std::string& name,
                                                             absl::Duration timeout) {
  return impl_->PartitionLeaders(name, timeout);
}
absl::StatusOr<std::string> Admin::TopicId(const std::string& name, absl::Duration timeout) {
  return internal::ReadTopicId(impl_->client(), name, absl::Now() + timeout);
}
absl::StatusOr<std::string> Admin::ClusterId(absl::Duration timeout) {
  return impl_->ClusterId(timeout);
}

}  // namespace herald::broker
