#include "event_sender.h"

#include <thread>

#include "herald/common/logging.h"

namespace herald::demo {

EventSender::EventSender(std::shared_ptr<herald::v1::Publisher::StubInterface> publisher,
                         common::Registry& metrics, const std::string& producer, int max_in_flight,
                         absl::Duration timeout)
    : publisher_(std::move(publisher)),
      max_in_flight_(max_in_flight),
      timeout_(timeout),
      sent_(metrics.AddCounter("herald_demo_events_published_total", "Events published",
                               {{"producer", producer}})),
      failed_(metrics.AddCounter("herald_demo_events_failed_total",
                                 "Events the publisher refused or did not answer",
                                 {{"producer", producer}})),
      skipped_(metrics.AddCounter("herald_demo_events_skipped_total",
                                  "Events skipped: too many unanswered",
                                  {{"producer", producer}})) {}

EventSender::~EventSender() { Drain(timeout_ + absl::Seconds(1)); }

bool EventSender::Send(const std::string& stream, const std::string& type, std::string json) {
  if (in_flight_.load() >= max_in_flight_) {
    skipped_.Increment();
    return false;
  }
  struct Call {
    grpc::ClientContext context;
    herald::v1::PublishRequest request;
    herald::v1::PublishResponse response;
  };
  auto* call = new Call();
  herald::v1::Event* event = call->request.mutable_event();
  event->set_stream(stream);
  event->set_type(type);
  event->set_text(std::move(json));
  call->context.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  ++in_flight_;
  publisher_->async()->Publish(&call->context, &call->request, &call->response,
                               [this, call](grpc::Status status) {
                                 if (status.ok()) {
                                   sent_.Increment();
                                 } else {
                                   if (failed_.Value() == 0) {
                                     spdlog::warn("publish failed: {}", status.error_message());
                                   }
                                   failed_.Increment();
                                 }
                                 delete call;
                                 --in_flight_;
                               });
  return true;
}

void EventSender::Drain(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (in_flight_.load() > 0 && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace herald::demo
