// How Herald's components reach Kafka.
//
//   ClientConfig config{.bootstrap_servers = "127.0.0.1:9092"};
//   absl::StatusOr<PropertyMap> extra = ParseProperties("socket.keepalive.enable=true");
//
// `properties` passes librdkafka settings through (security.protocol, sasl.*,
// ssl.*, ...); settings the component relies on for correctness (acks=all and
// idempotence on the producer, manual offsets on readers) cannot be weakened.
#pragma once

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace herald::broker {

using PropertyMap = std::map<std::string, std::string, std::less<>>;

struct ClientConfig {
  // Comma-separated host:port list.
  std::string bootstrap_servers = "127.0.0.1:9092";
  // Shows up in broker logs and quotas.
  std::string client_id = "herald";
  // Extra librdkafka settings.
  PropertyMap properties;
};

// Parses "key=value,key=value" (spaces around items are trimmed). An empty
// string gives an empty map. InvalidArgument names the item that is not of the
// form key=value, or a key given twice.
absl::StatusOr<PropertyMap> ParseProperties(absl::string_view text);

// OK when `servers` is a non-empty comma-separated list of host:port with a
// port in 1-65535; otherwise InvalidArgument naming the bad entry.
absl::Status ValidateBootstrapServers(absl::string_view servers);

}  // namespace herald::broker
