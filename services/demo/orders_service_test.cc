#include "orders_service.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace herald::demo {
namespace {

using ::testing::HasSubstr;

v1::PlaceOrderRequest Good() {
  v1::PlaceOrderRequest r;
  r.set_symbol("ACME2");
  r.set_side(v1::SIDE_BUY);
  r.set_quantity(10);
  r.set_limit_price(12.5);
  r.set_client_order_id("web-1");
  return r;
}

TEST(ValidateOrderTest, AcceptsAGoodOrder) { EXPECT_TRUE(ValidateOrder(Good()).ok()); }

TEST(ValidateOrderTest, NamesTheField) {
  auto field_of = [](auto change) {
    v1::PlaceOrderRequest r = Good();
    change(r);
    absl::Status s = ValidateOrder(r);
    EXPECT_TRUE(absl::IsInvalidArgument(s));
    return std::string(s.message());
  };
  EXPECT_THAT(field_of([](auto& r) { r.set_symbol(""); }), HasSubstr("symbol"));
  EXPECT_THAT(field_of([](auto& r) { r.set_symbol("acme"); }), HasSubstr("symbol"));
  EXPECT_THAT(field_of([](auto& r) { r.set_symbol("9ACME"); }), HasSubstr("symbol"));
  EXPECT_THAT(field_of([](auto& r) { r.set_symbol("ABCDEFGHIJK"); }), HasSubstr("symbol"));
  EXPECT_THAT(field_of([](auto& r) { r.set_side(v1::SIDE_UNSPECIFIED); }), HasSubstr("side"));
  EXPECT_THAT(field_of([](auto& r) { r.set_quantity(0); }), HasSubstr("quantity"));
  EXPECT_THAT(field_of([](auto& r) { r.set_quantity(1'000'001); }), HasSubstr("quantity"));
  EXPECT_THAT(field_of([](auto& r) { r.set_limit_price(0); }), HasSubstr("limit_price"));
  EXPECT_THAT(field_of([](auto& r) { r.set_limit_price(std::nan("")); }), HasSubstr("limit_price"));
  EXPECT_THAT(field_of([](auto& r) { r.set_client_order_id("a b"); }),
              HasSubstr("client_order_id"));
  EXPECT_THAT(field_of([](auto& r) { r.set_client_order_id(std::string(65, 'x')); }),
              HasSubstr("client_order_id"));
}

}  // namespace
}  // namespace herald::demo
