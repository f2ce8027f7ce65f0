#include "payload.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "herald/common/json.h"
#include "herald/common/logging.h"

namespace herald::edge {

PayloadRenderer::PayloadRenderer(std::unique_ptr<common::DescriptorSet> types)
    : types_(std::move(types)) {
  if (types_ != nullptr) {
    factory_ = std::make_unique<google::protobuf::DynamicMessageFactory>(&types_->pool());
  }
}

PayloadRenderer::~PayloadRenderer() = default;

std::string PayloadRenderer::Data(const v1::Event& event) const {
  if (!event.has_proto()) return event.text();
  const std::string& url = event.proto().type_url();
  // Any prefix names the same type: the part after the last '/'.
  const std::string name = url.substr(url.rfind('/') + 1);
  // The set's types first, then the compiled-in ones.
  const google::protobuf::Message* prototype = nullptr;
  if (types_ != nullptr) {
    if (const auto* d = types_->pool().FindMessageTypeByName(name)) {
      prototype = factory_->GetPrototype(d);
    }
  }
  if (prototype == nullptr) {
    if (const auto* d =
            google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(name)) {
      prototype = google::protobuf::MessageFactory::generated_factory()->GetPrototype(d);
    }
  }
  std::string why;
  if (prototype == nullptr) {
    why = absl::StrCat("unknown type ", name, " (not in the edge's descriptor set)");
  } else {
    std::unique_ptr<google::protobuf::Message> message(prototype->New());
    if (!message->ParseFromString(event.proto().value())) {
      why = absl::StrCat("the bytes do not parse as ", name);
    } else {
      std::string json;
      google::protobuf::util::Status status =
          google::protobuf::util::MessageToJsonString(*message, &json);
      if (status.ok()) return json;
      why = std::string(status.message());
    }
  }
  if (failures_.fetch_add(1) % 1000 == 0) {
    spdlog::warn("cannot render a payload of stream {} as JSON: {}", event.stream(), why);
  }
  return absl::StrCat("{\"@type\":", common::JsonQuote(url), ",\"error\":",
                      common::JsonQuote(absl::StrCat("cannot render as JSON: ", why)), "}");
}

}  // namespace herald::edge
