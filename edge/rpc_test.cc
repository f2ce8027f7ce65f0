#include "rpc.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "herald/demo/v1/orders.pb.h"

namespace herald::edge {
namespace {

using ::testing::HasSubstr;

TEST(RpcRouteTest, Parses) {
  absl::StatusOr<RpcRoute> route =
      ParseRpcRoute("herald.demo.v1.Orders=127.0.0.1:7003", absl::Seconds(5));
  ASSERT_TRUE(route.ok()) << route.status();
  EXPECT_EQ(route->service, "herald.demo.v1.Orders");
  EXPECT_EQ(route->address, "127.0.0.1:7003");
  EXPECT_EQ(route->timeout, absl::Seconds(5));
  route = ParseRpcRoute("a.B=dns:///b:7000;timeout=250ms", absl::Seconds(5));
  ASSERT_TRUE(route.ok()) << route.status();
  EXPECT_EQ(route->address, "dns:///b:7000");
  EXPECT_EQ(route->timeout, absl::Milliseconds(250));
  for (const char* bad : {"", "a.B", "a.B=", "a..B=x:1", "a B=x:1", "a.B=x:1;timeout=0s",
                          "a.B=x:1;timeout=1h", "a.B=x:1;retries=3"}) {
    EXPECT_FALSE(ParseRpcRoute(bad, absl::Seconds(5)).ok()) << bad;
  }
}

TEST(RpcRouteTest, GrpcTimeout) {
  EXPECT_EQ(*ParseGrpcTimeout("500m"), absl::Milliseconds(500));
  EXPECT_EQ(*ParseGrpcTimeout("2S"), absl::Seconds(2));
  EXPECT_EQ(*ParseGrpcTimeout("1M"), absl::Minutes(1));
  for (const char* bad : {"", "m", "5", "5s", "-5S", "123456789S", "0S", " S"}) {
    EXPECT_FALSE(ParseGrpcTimeout(bad).ok()) << bad;
  }
}

class RpcGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Links the generated descriptors into the generated pool.
    demo::v1::PlaceOrderRequest::descriptor();
    absl::StatusOr<std::unique_ptr<RpcGateway>> gateway =
        RpcGateway::Create(google::protobuf::DescriptorPool::generated_pool(),
                           {{"herald.demo.v1.Orders", "127.0.0.1:1", absl::Seconds(3)}});
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    gateway_ = std::move(*gateway);
    absl::StatusOr<const RpcMethod*> method = gateway_->Find("herald.demo.v1.Orders/PlaceOrder");
    ASSERT_TRUE(method.ok()) << method.status();
    method_ = *method;
  }
  std::unique_ptr<RpcGateway> gateway_;
  const RpcMethod* method_ = nullptr;
};

TEST_F(RpcGatewayTest, FindsRoutedMethodsOnly) {
  EXPECT_EQ(method_->path, "/herald.demo.v1.Orders/PlaceOrder");
  EXPECT_EQ(method_->timeout, absl::Seconds(3));
  EXPECT_TRUE(absl::IsNotFound(gateway_->Find("herald.demo.v1.Orders/Nope").status()));
  EXPECT_TRUE(absl::IsNotFound(gateway_->Find("herald.v1.Publisher/Publish").status()));
  EXPECT_TRUE(absl::IsNotFound(gateway_->Find("garbage").status()));
  EXPECT_TRUE(absl::IsNotFound(gateway_->Find("").status()));
  EXPECT_FALSE(RpcGateway::Create(google::protobuf::DescriptorPool::generated_pool(),
                                  {{"no.such.Service", "x:1", absl::Seconds(1)}})
                   .ok());
}

TEST_F(RpcGatewayTest, TranscodesJsonBothWays) {
  absl::StatusOr<std::string> bytes = gateway_->EncodeRequest(
      *method_,
      R"({"symbol":"ACME","side":"SIDE_SELL","quantity":"12","limitPrice":9.5,"client_order_id":"c1"})");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  demo::v1::PlaceOrderRequest request;
  ASSERT_TRUE(request.ParseFromString(*bytes));
  EXPECT_EQ(request.symbol(), "ACME");
  EXPECT_EQ(request.side(), demo::v1::SIDE_SELL);
  EXPECT_EQ(request.quantity(), 12);
  EXPECT_EQ(request.limit_price(), 9.5);
  EXPECT_EQ(request.client_order_id(), "c1");
  EXPECT_TRUE(gateway_->EncodeRequest(*method_, "").ok());

  demo::v1::PlaceOrderResponse response;
  response.set_stream("orders");
  response.mutable_order()->set_quantity(3);
  absl::StatusOr<std::string> json =
      gateway_->DecodeResponse(*method_, response.SerializeAsString());
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_THAT(*json, HasSubstr(R"("stream":"orders")"));
  EXPECT_THAT(*json, HasSubstr(R"("quantity":"3")"));
  EXPECT_THAT(*json, HasSubstr(R"("eventId":"")"));  // defaults are printed
  // Field 1 (order) claims 10 bytes and has 2.
  absl::StatusOr<std::string> cut =
      gateway_->DecodeResponse(*method_, std::string("\x0a\x0a\x08\x01", 4));
  EXPECT_TRUE(absl::IsInternal(cut.status())) << cut.status() << " " << cut.value_or("");
}

TEST_F(RpcGatewayTest, BadBodiesNameTheProblem) {
  auto error = [&](absl::string_view body) {
    absl::StatusOr<std::string> bytes = gateway_->EncodeRequest(*method_, body);
    EXPECT_TRUE(absl::IsInvalidArgument(bytes.status())) << body;
    EXPECT_THAT(std::string(bytes.status().message()), ::testing::Not(HasSubstr("\n")));
    return std::string(bytes.status().message());
  };
  EXPECT_THAT(error(R"({"quantity": "many"})"), HasSubstr("quantity"));
  EXPECT_THAT(error(R"({"symbol": 5})"), HasSubstr("symbol"));
  EXPECT_THAT(error(R"({"side": "SIDEWAYS"})"), HasSubstr("side"));
  EXPECT_THAT(error(R"({"colour": "red"})"), HasSubstr("colour"));
  EXPECT_THAT(error(R"({"symbol": )"), HasSubstr("PlaceOrderRequest"));
  EXPECT_THAT(error("[1,2]"), HasSubstr("PlaceOrderRequest"));
  error(std::string(10000, '['));
}

}  // namespace
}  // namespace herald::edge
