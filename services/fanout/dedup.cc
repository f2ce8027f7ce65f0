#include "dedup.h"

#include "absl/strings/str_cat.h"
#include "herald/broker/event_codec.h"

namespace herald::fanout {

void DedupIndex::Evict(int64_t offset) {
  while (!order_.empty() && order_.front().first < offset - options_.lookback) {
    auto it = latest_.find(order_.front().second);
    if (it != latest_.end() && it->second.offset == order_.front().first) latest_.erase(it);
    order_.pop_front();
  }
}

bool DedupIndex::Check(int64_t offset, const std::string& stream, const std::string& key,
                       int64_t timestamp_ms) {
  Evict(offset);
  if (key.empty()) return false;
  // Stream names never hold '\n'.
  std::string id = absl::StrCat(stream, "\n", key);
  bool duplicate = false;
  auto [it, fresh] = latest_.try_emplace(id, Latest{offset, timestamp_ms});
  if (!fresh) {
    duplicate =
        timestamp_ms - it->second.timestamp_ms <= absl::ToInt64Milliseconds(options_.window);
    it->second = Latest{offset, timestamp_ms};
  }
  order_.emplace_back(offset, std::move(id));
  return duplicate;
}

bool DedupIndex::Check(const broker::Record& record) {
  const std::string* key = record.FindHeader(broker::kIdempotencyKeyHeader);
  return Check(record.position.offset, record.key, key != nullptr ? *key : std::string(),
               record.timestamp_ms);
}

}  // namespace herald::fanout
