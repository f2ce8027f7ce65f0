// RpcGateway: POST /v1/rpc/{package.Service}/{Method} as a unary gRPC call.
//
// The request body (proto3 JSON) is transcoded to the method's input message
// using a descriptor set, sent to the backend the routing table names for the
// service, and the output message comes back as proto3 JSON. Nothing is
// generated per service: adding a service is a descriptor set and a route.
//
//   --rpc_routes=herald.demo.v1.Orders=127.0.0.1:7003,shop.v1.Cart=cart:7000;timeout=2s
//
//   absl::StatusOr<const RpcMethod*> m = gateway->Find("herald.demo.v1.Orders/PlaceOrder");
//   absl::StatusOr<std::string> bytes = gateway->EncodeRequest(**m, body);  // 400 if bad
//   gateway->Call(**m, *bytes, options, [](grpc::Status s, std::string json) { ... });
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/type_resolver.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"

namespace herald::edge {

struct RpcRoute {
  std::string service;  // "package.Service"
  std::string address;  // a gRPC target, e.g. "orders:7003" or "dns:///orders:7003"
  absl::Duration timeout;
};

// "package.Service=address" or "package.Service=address;timeout=2s".
// InvalidArgument says what is wrong.
absl::StatusOr<RpcRoute> ParseRpcRoute(absl::string_view spec, absl::Duration default_timeout);

// A `Grpc-Timeout` header value ("500m", "2S", "1M": digits then one of H M S
// m u n); InvalidArgument otherwise.
absl::StatusOr<absl::Duration> ParseGrpcTimeout(absl::string_view value);

struct RpcMethod {
  const google::protobuf::MethodDescriptor* descriptor;
  std::string name;  // "package.Service/Method", as grants name it
  std::string path;  // "/package.Service/Method", the HTTP/2 path
  std::string input_type_url;
  std::string output_type_url;
  absl::Duration timeout;
  std::shared_ptr<grpc::GenericStub> stub;
};

struct RpcCallOptions {
  absl::Time deadline;
  std::vector<std::pair<std::string, std::string>> metadata;
};

class RpcGateway final {
 public:
  // Each routed service must be in `pool` (which must outlive the gateway):
  // InvalidArgument names one that is not, or a service routed twice.
  static absl::StatusOr<std::unique_ptr<RpcGateway>> Create(
      const google::protobuf::DescriptorPool* pool, const std::vector<RpcRoute>& routes);

  // "package.Service/Method". NotFound for a service without a route or an
  // unknown method; Unimplemented for a streaming method.
  absl::StatusOr<const RpcMethod*> Find(absl::string_view name) const;

  // The input message's wire bytes for a proto3 JSON body (an empty body is
  // the empty message). InvalidArgument names the field that is wrong.
  absl::StatusOr<std::string> EncodeRequest(const RpcMethod& method, absl::string_view json) const;
  // The output message's proto3 JSON (every field printed, defaults too).
  absl::StatusOr<std::string> DecodeResponse(const RpcMethod& method,
                                             absl::string_view bytes) const;

  // A unary call. `done` runs once, on a gRPC thread, with the status and, if
  // OK, the response as JSON (a response that does not decode is INTERNAL).
  void Call(const RpcMethod& method, std::string request, const RpcCallOptions& options,
            std::function<void(grpc::Status, std::string)> done) const;

  std::vector<std::string> services() const;

 private:
  RpcGateway() = default;
  const google::protobuf::DescriptorPool* pool_ = nullptr;
  std::unique_ptr<google::protobuf::util::TypeResolver> resolver_;
  std::unique_ptr<google::protobuf::DynamicMessageFactory> factory_;  // thread-safe
  std::map<std::string, RpcMethod, std::less<>> methods_;             // by name
  std::map<std::string, std::string> routes_;                         // service -> address
};

}  // namespace herald::edge
