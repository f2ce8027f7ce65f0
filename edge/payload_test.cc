#include "payload.h"

#include "gmock/gmock.h"
#include "google/protobuf/descriptor.pb.h"
#include "gtest/gtest.h"
#include "herald/v1/fanout.pb.h"

namespace herald::edge {
namespace {

using ::testing::HasSubstr;

// demo.Price { string symbol = 1; double price = 2; repeated int64 ticks = 3; }
std::string PriceSet() {
  google::protobuf::FileDescriptorSet set;
  google::protobuf::FileDescriptorProto* file = set.add_file();
  file->set_name("demo/price.proto");
  file->set_package("demo");
  file->set_syntax("proto3");
  google::protobuf::DescriptorProto* msg = file->add_message_type();
  msg->set_name("Price");
  auto add = [&](const char* name, int number, google::protobuf::FieldDescriptorProto::Type type,
                 bool repeated) {
    google::protobuf::FieldDescriptorProto* f = msg->add_field();
    f->set_name(name);
    f->set_number(number);
    f->set_type(type);
    f->set_label(repeated ? google::protobuf::FieldDescriptorProto::LABEL_REPEATED
                          : google::protobuf::FieldDescriptorProto::LABEL_OPTIONAL);
  };
  add("symbol", 1, google::protobuf::FieldDescriptorProto::TYPE_STRING, false);
  add("price", 2, google::protobuf::FieldDescriptorProto::TYPE_DOUBLE, false);
  add("ticks", 3, google::protobuf::FieldDescriptorProto::TYPE_INT64, true);
  return set.SerializeAsString();
}

v1::Event Typed(const std::string& url, const std::string& value) {
  v1::Event e;
  e.set_stream("prices");
  e.mutable_proto()->set_type_url(url);
  e.mutable_proto()->set_value(value);
  return e;
}

TEST(PayloadRendererTest, TextIsSentAsPublished) {
  PayloadRenderer renderer;
  v1::Event e;
  e.set_text(R"({"a": 1})");
  EXPECT_EQ(renderer.Data(e), R"({"a": 1})");
}

TEST(PayloadRendererTest, CompiledInTypesRenderWithoutASet) {
  PayloadRenderer renderer;
  v1::StreamStart start;
  start.set_stream("orders");
  start.set_next_offset(42);
  v1::Event e;
  e.mutable_proto()->PackFrom(start);
  EXPECT_EQ(renderer.Data(e), R"({"stream":"orders","nextOffset":"42"})");
  EXPECT_EQ(renderer.failures(), 0);
}

TEST(PayloadRendererTest, TypesFromADescriptorSetUnderAnyUrlPrefix) {
  auto set = common::DescriptorSet::Parse(PriceSet(), "test");
  ASSERT_TRUE(set.ok()) << set.status();
  PayloadRenderer renderer(std::move(*set));
  // symbol "EUR", price 1.5, ticks [1, 2] (packed).
  const std::string value = std::string(
                                "\x0a\x03"
                                "EUR"
                                "\x11",
                                6) +
                            std::string("\x00\x00\x00\x00\x00\x00\xf8\x3f", 8) +
                            std::string("\x1a\x02\x01\x02", 4);
  EXPECT_EQ(renderer.Data(Typed("type.googleapis.com/demo.Price", value)),
            R"({"symbol":"EUR","price":1.5,"ticks":["1","2"]})");
  EXPECT_EQ(renderer.Data(Typed("example.com/types/demo.Price", value)),
            R"({"symbol":"EUR","price":1.5,"ticks":["1","2"]})");
  // The compiled-in types stay known beside the set's.
  v1::Event e;
  e.mutable_proto()->PackFrom(v1::StreamStart());
  EXPECT_EQ(renderer.Data(e), "{}");
}

TEST(PayloadRendererTest, UnknownTypesAndBadBytesSayWhy) {
  PayloadRenderer renderer;
  const std::string unknown = renderer.Data(Typed("type.googleapis.com/demo.Nope", "\x08\x01"));
  EXPECT_THAT(unknown, HasSubstr(R"("@type":"type.googleapis.com/demo.Nope")"));
  EXPECT_THAT(unknown, HasSubstr("cannot render as JSON"));
  // Field 1 of StreamStart is a string: its length says 9, 2 bytes follow.
  const std::string bad = renderer.Data(Typed("type.googleapis.com/herald.v1.StreamStart",
                                              "\x0a\x09"
                                              "ab"));
  EXPECT_THAT(bad, HasSubstr(R"("error":)"));
  EXPECT_EQ(renderer.failures(), 2);
}

TEST(DescriptorSetTest, RefusesGarbageAndSetsMissingTheirImports) {
  EXPECT_FALSE(common::DescriptorSet::Parse("\xff\xff\xff", "garbage").ok());
  google::protobuf::FileDescriptorSet set;
  google::protobuf::FileDescriptorProto* file = set.add_file();
  file->set_name("a.proto");
  file->add_dependency("b.proto");  // not in the set
  auto parsed = common::DescriptorSet::Parse(set.SerializeAsString(), "partial.pb");
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.status().message(), HasSubstr("--include_imports"));
  EXPECT_FALSE(common::DescriptorSet::Load("/nonexistent/types.pb").ok());
}

}  // namespace
}  // namespace herald::edge
