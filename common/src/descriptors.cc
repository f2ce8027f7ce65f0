#include "herald/common/descriptors.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.pb.h"

namespace herald::common {

absl::StatusOr<std::unique_ptr<DescriptorSet>> DescriptorSet::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read descriptor set '", path, "'"));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return Parse(bytes.str(), path);
}

absl::StatusOr<std::unique_ptr<DescriptorSet>> DescriptorSet::Parse(absl::string_view bytes,
                                                                    absl::string_view origin) {
  google::protobuf::FileDescriptorSet files;
  if (!files.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", origin, "' is not a serialized FileDescriptorSet"));
  }
  auto set = std::unique_ptr<DescriptorSet>(new DescriptorSet());
  for (const google::protobuf::FileDescriptorProto& file : files.file()) {
    if (!set->database_.Add(file)) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", origin, "': file ", file.name(), " is given twice, differently"));
    }
  }
  set->pool_ = std::make_unique<google::protobuf::DescriptorPool>(&set->database_);
  // Link every file now, so that a set missing its imports fails at start-up
  // rather than at the first event of an unlucky type.
  for (const google::protobuf::FileDescriptorProto& file : files.file()) {
    if (set->pool_->FindFileByName(file.name()) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", origin, "': file ", file.name(),
                       " does not link (was the set built with protoc --include_imports?)"));
    }
  }
  set->file_count_ = static_cast<size_t>(files.file_size());
  return set;
}

}  // namespace herald::common
