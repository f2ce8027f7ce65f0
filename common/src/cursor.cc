#include "herald/common/cursor.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "herald/common/stream_name.h"

namespace herald::common {
namespace {

constexpr absl::string_view kVersion = "1";
constexpr int64_t kMaxOffset = int64_t{1} << 62;

bool IsEpochByte(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

}  // namespace

std::string EncodeCursor(const Cursor& cursor) {
  std::string out = absl::StrCat(kVersion, "~", cursor.epoch);
  for (const auto& [partition, offset] : cursor.next) {
    absl::StrAppend(&out, "~", partition, ".", offset);
  }
  return out;
}

absl::StatusOr<Cursor> DecodeCursor(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("cursor ", QuoteForMessage(text), " is malformed: ", why));
  };
  if (text.empty()) return bad("it is empty");
  if (text.size() > kMaxCursorBytes) {
    return bad(absl::StrCat("it is ", text.size(), " bytes, over the limit of ", kMaxCursorBytes));
  }
  std::vector<absl::string_view> parts = absl::StrSplit(text, '~');
  if (parts[0] != kVersion) return bad("unknown version (expected 1~...)");
  if (parts.size() < 2 || parts[1].empty()) return bad("no epoch");
  Cursor cursor;
  cursor.epoch = std::string(parts[1]);
  for (char c : cursor.epoch) {
    if (!IsEpochByte(c)) return bad("the epoch is not lowercase hex");
  }
  for (size_t i = 2; i < parts.size(); ++i) {
    std::vector<absl::string_view> entry = absl::StrSplit(parts[i], '.');
    int32_t partition = 0;
    int64_t offset = 0;
    // SimpleAtoi accepts a leading '+' or spaces; positions are plain digits.
    auto digits = [](absl::string_view s) {
      return !s.empty() && s.size() <= 19 &&
             s.find_first_not_of("0123456789") == absl::string_view::npos;
    };
    if (entry.size() != 2 || !digits(entry[0]) || !digits(entry[1]) ||
        !absl::SimpleAtoi(entry[0], &partition) || !absl::SimpleAtoi(entry[1], &offset)) {
      return bad(
          absl::StrCat("position ", QuoteForMessage(parts[i], 40), " is not <partition>.<offset>"));
    }
    if (partition > kMaxCursorPartition) return bad(absl::StrCat("partition ", partition));
    if (offset >= kMaxOffset) return bad(absl::StrCat("offset ", offset, " is out of range"));
    if (!cursor.next.emplace(partition, offset).second) {
      return bad(absl::StrCat("partition ", partition, " appears twice"));
    }
  }
  return cursor;
}

std::string ComputeEpoch(absl::string_view cluster_id, absl::string_view topic, int32_t partitions,
                         absl::string_view topic_id) {
  // FNV-1a, 64-bit: stable across processes and builds (absl::Hash is not).
  uint64_t hash = 0xcbf29ce484222325ULL;
  auto mix = [&hash](absl::string_view bytes) {
    for (unsigned char c : bytes) {
      hash ^= c;
      hash *= 0x100000001b3ULL;
    }
    hash ^= 0xff;  // separator, so ("ab","c") and ("a","bc") differ
    hash *= 0x100000001b3ULL;
  };
  mix(cluster_id);
  mix(topic);
  mix(absl::StrCat(partitions));
  if (!topic_id.empty()) mix(topic_id);
  return absl::StrFormat("%012x", hash & 0xffffffffffffULL);
}

}  // namespace herald::common
