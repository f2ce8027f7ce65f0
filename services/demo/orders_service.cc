#include "orders_service.h"

#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/json_util.h"
#include "herald/common/logging.h"

namespace herald::demo {
namespace {

constexpr char kEventType[] = "order.placed";

std::string NewInstanceId() {
  std::random_device random;
  return absl::StrFormat("%08x", random());
}

}  // namespace

absl::Status ValidateOrder(const v1::PlaceOrderRequest& request) {
  const std::string& symbol = request.symbol();
  if (symbol.empty() || symbol.size() > 10 || !absl::ascii_isupper(symbol[0])) {
    return absl::InvalidArgumentError(
        "symbol: 1 to 10 characters, A-Z and 0-9, starting with a letter (e.g. ACME)");
  }
  for (char c : symbol) {
    if (!absl::ascii_isupper(c) && !absl::ascii_isdigit(c)) {
      return absl::InvalidArgumentError(
          absl::StrCat("symbol: '", std::string(1, c), "' is not A-Z or 0-9"));
    }
  }
  if (request.side() != v1::SIDE_BUY && request.side() != v1::SIDE_SELL) {
    return absl::InvalidArgumentError("side: SIDE_BUY or SIDE_SELL");
  }
  if (request.quantity() < 1 || request.quantity() > 1'000'000) {
    return absl::InvalidArgumentError(
        absl::StrCat("quantity: ", request.quantity(), " is not between 1 and 1000000"));
  }
  const double price = request.limit_price();
  if (!(price > 0) || !(price < 1e9)) {
    return absl::InvalidArgumentError("limit_price: must be above 0 and below 1000000000");
  }
  const std::string& id = request.client_order_id();
  if (id.size() > 64) return absl::InvalidArgumentError("client_order_id: at most 64 characters");
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError("client_order_id: printable ASCII without spaces only");
    }
  }
  return absl::OkStatus();
}

OrdersService::OrdersService(std::shared_ptr<herald::v1::Publisher::StubInterface> publisher,
                             common::Registry& metrics, OrdersOptions options)
    : publisher_(std::move(publisher)),
      options_(std::move(options)),
      placed_(
          metrics.AddCounter("herald_demo_orders_placed_total", "Orders validated and published")),
      refused_(metrics.AddCounter("herald_demo_orders_refused_total",
                                  "Orders refused (invalid or a repeated client_order_id)")),
      failed_(metrics.AddCounter("herald_demo_orders_publish_failures_total",
                                 "Orders the publisher did not accept in time")),
      instance_(NewInstanceId()) {}

bool OrdersService::Remember(const std::string& id) {
  absl::MutexLock lock(&mu_);
  if (!ids_.insert(id).second) return false;
  id_order_.push_back(id);
  while (id_order_.size() > options_.remembered_ids) {
    ids_.erase(id_order_.front());
    id_order_.pop_front();
  }
  return true;
}

void OrdersService::Forget(const std::string& id) {
  absl::MutexLock lock(&mu_);
  ids_.erase(id);  // its place in id_order_ ages out harmlessly
}

grpc::ServerUnaryReactor* OrdersService::PlaceOrder(grpc::CallbackServerContext* context,
                                                    const v1::PlaceOrderRequest* request,
                                                    v1::PlaceOrderResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status valid = ValidateOrder(*request); !valid.ok()) {
    refused_.Increment();
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(valid.message())));
    return reactor;
  }
  const std::string& client_id = request->client_order_id();
  if (!client_id.empty() && !Remember(client_id)) {
    refused_.Increment();
    reactor->Finish(grpc::Status(grpc::StatusCode::ALREADY_EXISTS,
                                 absl::StrCat("order ", client_id, " was placed already")));
    return reactor;
  }
  v1::Order* order = response->mutable_order();
  order->set_order_id(absl::StrCat("o-", instance_, "-", ++sequence_));
  order->set_symbol(request->symbol());
  order->set_side(request->side());
  order->set_quantity(request->quantity());
  order->set_limit_price(request->limit_price());
  order->set_client_order_id(client_id);
  const auto& metadata = context->client_metadata();
  if (auto it = metadata.find("herald-subject"); it != metadata.end()) {
    order->set_placed_by(std::string(it->second.data(), it->second.size()));
  }
  order->set_placed_at(absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::UTCTimeZone()));
  response->set_stream(options_.stream);

  struct Publish {
    grpc::ClientContext context;
    herald::v1::PublishRequest request;
    herald::v1::PublishResponse response;
  };
  auto publish = std::make_shared<Publish>();
  herald::v1::Event* event = publish->request.mutable_event();
  event->set_stream(options_.stream);
  event->set_type(kEventType);
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(*order, &json);
  event->set_text(std::move(json));
  event->set_idempotency_key(order->order_id());
  if (auto it = metadata.find("traceparent"); it != metadata.end()) {
    (*event->mutable_headers())["traceparent"] = std::string(it->second.data(), it->second.size());
  }
  // Never wait longer than the caller does.
  absl::Time deadline = absl::Now() + options_.publish_timeout;
  deadline = std::min(deadline, absl::FromChrono(context->deadline()));
  publish->context.set_deadline(absl::ToChronoTime(deadline));
  publisher_->async()->Publish(&publish->context, &publish->request, &publish->response,
                               [this, publish, reactor, response, client_id](grpc::Status status) {
                                 if (status.ok()) {
                                   placed_.Increment();
                                   response->set_event_id(publish->response.cursor());
                                 } else {
                                   failed_.Increment();
                                   if (!client_id.empty())
                                     Forget(client_id);  // the client may retry it
                                   spdlog::warn("publishing {} failed: {}",
                                                response->order().order_id(),
                                                status.error_message());
                                 }
                                 reactor->Finish(status);
                               });
  return reactor;
}

}  // namespace herald::demo
