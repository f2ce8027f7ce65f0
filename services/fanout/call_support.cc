#include "call_support.h"

#include "absl/strings/str_cat.h"

namespace herald::fanout {

v1::Reset RecreatedReset(int32_t partition, const std::vector<std::string>& streams) {
  v1::Reset r;
  for (const std::string& s : streams) r.add_streams(s);
  r.set_reason("epoch");
  r.set_detail(
      absl::StrCat("partition ", partition, " has no such position: the topic was recreated"));
  return r;
}

std::vector<Chunk> SplitDelivery(const std::vector<EventPtr>& events,
                                 const std::map<int32_t, int64_t>& positions, size_t max_bytes) {
  std::vector<Chunk> chunks(1);
  size_t bytes = 0;
  for (const EventPtr& e : events) {
    const size_t size = e->ByteSizeLong() + 16;
    if (!chunks.back().events.empty() && bytes + size > max_bytes) {
      chunks.emplace_back();
      bytes = 0;
    }
    chunks.back().events.push_back(e.get());
    bytes += size;
  }
  std::map<int32_t, int64_t> later;  // partition -> first offset in later chunks
  for (auto chunk = chunks.rbegin(); chunk != chunks.rend(); ++chunk) {
    chunk->positions = positions;
    for (const auto& [p, first] : later) chunk->positions[p] = first;
    for (auto e = chunk->events.rbegin(); e != chunk->events.rend(); ++e) {
      later[(*e)->position().partition()] = (*e)->position().offset();
    }
  }
  return chunks;
}

grpc::Status Unavailable(const absl::Status& status) {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      absl::StrCat("fanout cannot read Kafka: ", status.message()));
}

grpc::Status ShuttingDown() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "fanout shutting down; reconnect");
}

}  // namespace herald::fanout
