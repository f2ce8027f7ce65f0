// libFuzzer: the JSON -> protobuf transcoder behind /v1/rpc and the POSTed
// event parser. The first byte picks the target; the rest is the body.
// Property: no crash; a body the transcoder accepts survives a round trip.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "herald/common/json.h"
#include "herald/demo/v1/orders.pb.h"
#include "request.h"
#include "rpc.h"

namespace {

const herald::edge::RpcMethod* method = nullptr;
herald::edge::RpcGateway* gateway = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  herald::demo::v1::PlaceOrderRequest::descriptor();  // links the generated descriptors
  auto created = herald::edge::RpcGateway::Create(
      google::protobuf::DescriptorPool::generated_pool(),
      {{"herald.demo.v1.Orders", "127.0.0.1:1", absl::Seconds(1)}});
  if (!created.ok()) __builtin_trap();
  gateway = created->release();
  method = *gateway->Find("herald.demo.v1.Orders/PlaceOrder");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      absl::StatusOr<std::string> bytes = gateway->EncodeRequest(*method, body);
      if (bytes.ok()) {
        herald::demo::v1::PlaceOrderRequest request;
        if (!request.ParseFromString(*bytes)) __builtin_trap();
      }
      break;
    }
    case 1:
      (void)gateway->DecodeResponse(*method, body);
      break;
    case 2:
      (void)herald::edge::ParsePostEvent("fuzz.stream", body);
      break;
    case 3:
      if (auto members = herald::common::ParseJsonObject(body); members.ok()) {
        for (const auto& [name, value] : *members) (void)herald::common::JsonUnquote(value);
      }
      (void)herald::edge::ParseRpcRoute(body, absl::Seconds(1));
      (void)herald::edge::ParseGrpcTimeout(body);
      break;
  }
  return 0;
}
