// OrdersService: the demo command service (herald.demo.v1.Orders).
//
// Browsers reach it through the edge's POST /v1/rpc. A PlaceOrder is
// validated field by field (INVALID_ARGUMENT names the field), then published
// through herald-publisher as an `order.placed` event whose data is the Order
// as JSON; the call answers once Kafka has the event, with its id, so the
// caller can watch it arrive on the stream. A repeated client_order_id gets
// ALREADY_EXISTS (the last `remembered_ids` ids are kept). The subject the
// edge authenticated arrives as `herald-subject` metadata and is recorded on
// the order.
//
// Thread-safety: gRPC calls it from its threads; state is behind a mutex.
#pragma once

#include <deque>
#include <memory>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "herald/common/metrics.h"
#include "herald/demo/v1/orders.grpc.pb.h"
#include "herald/v1/publisher.grpc.pb.h"

namespace herald::demo {

struct OrdersOptions {
  std::string stream = "orders";
  absl::Duration publish_timeout = absl::Seconds(5);
  size_t remembered_ids = 100'000;
};

// InvalidArgument naming the first field that is wrong, or OK.
absl::Status ValidateOrder(const v1::PlaceOrderRequest& request);

class OrdersService final : public v1::Orders::CallbackService {
 public:
  OrdersService(std::shared_ptr<herald::v1::Publisher::StubInterface> publisher,
                common::Registry& metrics, OrdersOptions options);

  grpc::ServerUnaryReactor* PlaceOrder(grpc::CallbackServerContext* context,
                                       const v1::PlaceOrderRequest* request,
                                       v1::PlaceOrderResponse* response) override;

 private:
  // False if `id` was placed already (then nothing is recorded).
  bool Remember(const std::string& id);
  void Forget(const std::string& id);

  std::shared_ptr<herald::v1::Publisher::StubInterface> publisher_;
  const OrdersOptions options_;
  common::Counter& placed_;
  common::Counter& refused_;
  common::Counter& failed_;
  std::atomic<uint64_t> sequence_{0};
  const std::string instance_;  // makes order ids unique across restarts

  absl::Mutex mu_;
  absl::flat_hash_set<std::string> ids_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> id_order_ ABSL_GUARDED_BY(mu_);
};

}  // namespace herald::demo
