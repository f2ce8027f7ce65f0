// PayloadRenderer: an event's SSE data.
//
// JSON text is sent as it was published. A typed protobuf payload
// (google.protobuf.Any) is sent through its proto3 JSON mapping: the message
// itself (not an Any envelope; the type is on the event: line), resolved in
// the descriptor set the edge was given, or else among the types compiled
// into the edge (herald.v1 and the well-known types). A type the edge does not
// know, or bytes that do not parse as it, are never dropped silently: the data
// is {"@type": "<type url>", "error": "<why>"} and the failure is counted.
//
// Thread-safety: Data() may be called from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "google/protobuf/dynamic_message.h"
#include "herald/common/descriptors.h"
#include "herald/v1/event.pb.h"

namespace herald::edge {

class PayloadRenderer final {
 public:
  // `types` may be null: then only the compiled-in types are known.
  explicit PayloadRenderer(std::unique_ptr<common::DescriptorSet> types = nullptr);
  ~PayloadRenderer();

  std::string Data(const v1::Event& event) const;
  int64_t failures() const { return failures_.load(); }

 private:
  std::unique_ptr<common::DescriptorSet> types_;
  // Messages of the set's types (thread-safe).
  std::unique_ptr<google::protobuf::DynamicMessageFactory> factory_;
  mutable std::atomic<int64_t> failures_{0};
};

}  // namespace herald::edge
