// Cursors: the opaque resume tokens Herald hands to subscribers and browsers.
//
// A cursor names an epoch (which topic of which cluster it belongs to) and, for
// each partition the subscription's streams live in, the next offset to serve:
// every event of those streams below it has been delivered. It travels as the
// SSE `id:` and comes back as Last-Event-ID, so it uses only URL- and
// header-safe bytes:
//
//   1~<epoch>~<partition>.<next offset>~<partition>.<next offset>...
//   e.g. 1~4f1c0de2a9b3~0.1200~3.88
//
//   Cursor c{.epoch = epoch, .next = {{0, 1200}, {3, 88}}};
//   std::string id = EncodeCursor(c);
//   absl::StatusOr<Cursor> back = DecodeCursor(id);   // InvalidArgument if malformed
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace herald::common {

inline constexpr size_t kMaxCursorBytes = 8192;
inline constexpr int32_t kMaxCursorPartition = 65535;

struct Cursor {
  std::string epoch;
  // partition -> next offset to serve.
  std::map<int32_t, int64_t> next;

  friend bool operator==(const Cursor&, const Cursor&) = default;
};

std::string EncodeCursor(const Cursor& cursor);

// InvalidArgument saying what is wrong: wrong version, bad epoch, a partition
// or offset that is not a number in range, a partition given twice, too long.
absl::StatusOr<Cursor> DecodeCursor(absl::string_view text);

// The epoch of a deployment's topic: a stable 12-character digest of the
// cluster id, the topic name, its partition count and (when known) its topic
// id. Recreating the cluster or the topic, or changing the partition count
// (which moves streams), changes it.
std::string ComputeEpoch(absl::string_view cluster_id, absl::string_view topic, int32_t partitions,
                         absl::string_view topic_id = "");

}  // namespace herald::common
