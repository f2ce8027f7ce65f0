// Private to broker/src: a topic's id from the Kafka protocol itself.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "herald/broker/config.h"

namespace herald::broker::internal {

// The topic's id as 32 lowercase hex digits, asked of the first bootstrap
// server that answers. NotFound without such a topic; Unimplemented when the
// client does not use PLAINTEXT (the request goes over a bare TCP connection).
absl::StatusOr<std::string> ReadTopicId(const ClientConfig& client, const std::string& topic,
                                        absl::Time deadline);

}  // namespace herald::broker::internal
