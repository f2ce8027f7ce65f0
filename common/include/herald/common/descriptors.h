// Protobuf types known at run time, from a descriptor set file
// (`protoc --descriptor_set_out=FILE --include_imports ...`).
//
//   absl::StatusOr<std::unique_ptr<DescriptorSet>> set = DescriptorSet::Load("types.pb");
//   const google::protobuf::Descriptor* d = (*set)->pool().FindMessageTypeByName("demo.Price");
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor_database.h"

namespace herald::common {

class DescriptorSet final {
 public:
  // Reads and links every file of the set. InvalidArgument names the file
  // that does not parse or link (e.g. a set built without --include_imports).
  static absl::StatusOr<std::unique_ptr<DescriptorSet>> Load(const std::string& path);
  // The same from the serialized FileDescriptorSet bytes.
  static absl::StatusOr<std::unique_ptr<DescriptorSet>> Parse(absl::string_view bytes,
                                                              absl::string_view origin);

  const google::protobuf::DescriptorPool& pool() const { return *pool_; }
  size_t file_count() const { return file_count_; }

 private:
  DescriptorSet() = default;
  google::protobuf::SimpleDescriptorDatabase database_;
  std::unique_ptr<google::protobuf::DescriptorPool> pool_;
  size_t file_count_ = 0;
};

}  // namespace herald::common
