#include "internal/kafka.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "herald/common/logging.h"

namespace herald::broker::internal {

absl::Status KafkaStatus(int code, absl::string_view context) {
  const auto err = static_cast<rd_kafka_resp_err_t>(code);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
  const std::string message =
      absl::StrCat(context, ": ", rd_kafka_err2str(err), " (", rd_kafka_err2name(err), ")");
  switch (err) {
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
      return absl::DeadlineExceededError(message);
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
      return absl::ResourceExhaustedError(message);
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
      return absl::InvalidArgumentError(message);
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
      return absl::NotFoundError(message);
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
    case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
      return absl::OutOfRangeError(message);
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
      return absl::AlreadyExistsError(message);
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    case RD_KAFKA_RESP_ERR__DESTROY:
      return absl::CancelledError(message);
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
      return absl::PermissionDeniedError(message);
    case RD_KAFKA_RESP_ERR__STATE:
      return absl::FailedPreconditionError(message);
    case RD_KAFKA_RESP_ERR__FATAL:
      return absl::InternalError(message);
    default:
      // Transport trouble, leader changes, too few in-sync replicas: Kafka may
      // take the same write later.
      return absl::UnavailableError(message);
  }
}

std::string Millis(absl::Duration value) { return absl::StrCat(absl::ToInt64Milliseconds(value)); }

namespace {

template <typename SetFn>
absl::Status ApplyAll(const ClientConfig& client, const PropertyMap& defaults,
                      const PropertyMap& required, SetFn set) {
  if (absl::Status s = ValidateBootstrapServers(client.bootstrap_servers); !s.ok()) return s;
  PropertyMap merged = defaults;
  merged["bootstrap.servers"] = client.bootstrap_servers;
  merged["client.id"] = client.client_id;
  for (const auto& [key, value] : client.properties) merged[key] = value;
  for (const auto& [key, value] : required) {
    auto it = client.properties.find(key);
    if (it != client.properties.end() && it->second != value) {
      spdlog::warn("kafka setting {}={} ignored: {} needs {}={}", key, it->second, client.client_id,
                   key, value);
    }
    merged[key] = value;
  }
  for (const auto& [key, value] : merged) {
    std::string error;
    if (!set(key, value, error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("kafka setting ", key, "=", value, " is refused: ", error));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplyConfig(RdKafka::Conf& conf, const ClientConfig& client,
                         const PropertyMap& defaults, const PropertyMap& required) {
  return ApplyAll(client, defaults, required,
                  [&](const std::string& key, const std::string& value, std::string& error) {
                    return conf.set(key, value, error) == RdKafka::Conf::CONF_OK;
                  });
}

absl::Status ApplyConfig(rd_kafka_conf_t* conf, const ClientConfig& client,
                         const PropertyMap& defaults, const PropertyMap& required) {
  return ApplyAll(client, defaults, required,
                  [&](const std::string& key, const std::string& value, std::string& error) {
                    char buffer[512];
                    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), buffer,
                                          sizeof(buffer)) == RD_KAFKA_CONF_OK) {
                      return true;
                    }
                    error = buffer;
                    return false;
                  });
}

namespace {

spdlog::level::level_enum SyslogToSpdlog(int level) {
  if (level <= 3) return spdlog::level::err;
  if (level == 4) return spdlog::level::warn;
  if (level <= 6) return spdlog::level::info;
  return spdlog::level::debug;
}

}  // namespace

void LogForwarder::event_cb(RdKafka::Event& event) {
  switch (event.type()) {
    case RdKafka::Event::EVENT_ERROR:
      spdlog::log(event.fatal() ? spdlog::level::critical : spdlog::level::warn,
                  "kafka {}: {} ({})", client_, event.str(), RdKafka::err2str(event.err()));
      break;
    case RdKafka::Event::EVENT_LOG:
      spdlog::log(SyslogToSpdlog(event.severity()), "kafka {} {}: {}", client_, event.fac(),
                  event.str());
      break;
    default:
      break;
  }
}

void ForwardLogs(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
  spdlog::log(SyslogToSpdlog(level), "kafka {} {}: {}", rd_kafka_name(rk), facility, message);
}

}  // namespace herald::broker::internal
