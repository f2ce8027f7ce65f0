// EventSender: the demo producers' way to publish, without ever blocking
// their clock. Each event is one async Publisher.Publish; past
// `max_in_flight` unanswered ones an event is skipped and counted (a producer
// of live figures would rather drop one than fall behind).
//
// Thread-safety: Send() from one thread; callbacks on gRPC's.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "herald/common/metrics.h"
#include "herald/v1/publisher.grpc.pb.h"

namespace herald::demo {

class EventSender final {
 public:
  EventSender(std::shared_ptr<herald::v1::Publisher::StubInterface> publisher,
              common::Registry& metrics, const std::string& producer, int max_in_flight = 200,
              absl::Duration timeout = absl::Seconds(5));
  ~EventSender();

  // False if skipped (too many in flight).
  bool Send(const std::string& stream, const std::string& type, std::string json);
  // Waits (bounded) for the calls in flight.
  void Drain(absl::Duration timeout);

 private:
  std::shared_ptr<herald::v1::Publisher::StubInterface> publisher_;
  const int max_in_flight_;
  const absl::Duration timeout_;
  std::atomic<int> in_flight_{0};
  common::Counter& sent_;
  common::Counter& failed_;
  common::Counter& skipped_;
};

}  // namespace herald::demo
