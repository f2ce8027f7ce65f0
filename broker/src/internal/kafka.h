// Private to broker/src: the one place that includes librdkafka.
//
// RAII aliases for every C handle, the error-code mapping to absl::Status, and
// configuration helpers shared by the producer, the reader and the admin.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "herald/broker/config.h"

namespace herald::broker::internal {

template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    if (p != nullptr) Fn(p);
  }
};

using KafkaHandle = std::unique_ptr<rd_kafka_t, Deleter<rd_kafka_destroy>>;
using KafkaConf = std::unique_ptr<rd_kafka_conf_t, Deleter<rd_kafka_conf_destroy>>;
using QueueHandle = std::unique_ptr<rd_kafka_queue_t, Deleter<rd_kafka_queue_destroy>>;
using EventHandle = std::unique_ptr<rd_kafka_event_t, Deleter<rd_kafka_event_destroy>>;
using AdminOptions =
    std::unique_ptr<rd_kafka_AdminOptions_t, Deleter<rd_kafka_AdminOptions_destroy>>;
using NewTopicHandle = std::unique_ptr<rd_kafka_NewTopic_t, Deleter<rd_kafka_NewTopic_destroy>>;
using DeleteTopicHandle =
    std::unique_ptr<rd_kafka_DeleteTopic_t, Deleter<rd_kafka_DeleteTopic_destroy>>;
using NewPartitionsHandle =
    std::unique_ptr<rd_kafka_NewPartitions_t, Deleter<rd_kafka_NewPartitions_destroy>>;

inline void DestroyMetadata(const rd_kafka_metadata_t* md) { rd_kafka_metadata_destroy(md); }
using MetadataHandle = std::unique_ptr<const rd_kafka_metadata_t, Deleter<DestroyMetadata>>;

// The status for a librdkafka error code, its message naming `context` and the
// error (e.g. "produce to herald.events: Local: Message timed out").
absl::Status KafkaStatus(int code, absl::string_view context);

// `value` as a librdkafka millisecond setting.
std::string Millis(absl::Duration value);

// Applies, in order, `defaults`, the client's bootstrap, client id and
// properties, then `required` (settings the caller's correctness rests on).
// InvalidArgument names a setting librdkafka refuses.
absl::Status ApplyConfig(RdKafka::Conf& conf, const ClientConfig& client,
                         const PropertyMap& defaults, const PropertyMap& required);
absl::Status ApplyConfig(rd_kafka_conf_t* conf, const ClientConfig& client,
                         const PropertyMap& defaults, const PropertyMap& required);

// Forwards librdkafka's logs and error events to spdlog, tagged with the client.
class LogForwarder final : public RdKafka::EventCb {
 public:
  explicit LogForwarder(std::string client) : client_(std::move(client)) {}
  void event_cb(RdKafka::Event& event) override;

 private:
  const std::string client_;
};

// The C-API twin of LogForwarder, for handles made with rd_kafka_new().
void ForwardLogs(const rd_kafka_t* rk, int level, const char* facility, const char* message);

}  // namespace herald::broker::internal
