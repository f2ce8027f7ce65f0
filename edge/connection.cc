#include "connection.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "event_loop.h"
#include "herald/common/cursor.h"
#include "herald/common/json.h"
#include "herald/common/partitioner.h"
#include "sse.h"

namespace herald::edge {
namespace {

// Counted per round on a delivery loop, at once elsewhere.
void Count(common::Counter* counter) { EventLoop::Tally(counter); }

std::vector<int32_t> PartitionsOf(const std::vector<std::string>& streams, int32_t count) {
  std::vector<int32_t> out;
  for (const std::string& s : streams) {
    for (int32_t p : common::CandidatePartitions(s, count)) out.push_back(p);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

SharedBlock::SharedBlock(std::string cursor, absl::string_view body) : id(std::move(cursor)) {
  const std::string line = IdLine(id);
  sse_size = line.size() + body.size();
  chunk = absl::StrCat(absl::Hex(sse_size), "\r\n");
  sse_begin = chunk.size();
  absl::StrAppend(&chunk, line, body, "\r\n");
}

Connection::Connection(std::string epoch, std::vector<std::string> streams, int32_t partitions,
                       std::unique_ptr<SseWriter> writer, ConnectionOptions options)
    : epoch_(std::move(epoch)),
      streams_(std::move(streams)),
      partition_count_(partitions),
      partitions_(PartitionsOf(streams_, partitions)),
      options_(options),
      writer_(std::move(writer)) {
  for (int32_t p : Partitions()) parts_[p];
}

std::vector<std::string> Connection::StreamsIn(int32_t partition) const {
  std::vector<std::string> out;
  for (const std::string& s : streams_) {
    if (common::IsCandidate(s, partition, partition_count_)) out.push_back(s);
  }
  return out;
}

bool Connection::Wants(const std::string& stream) const {
  return std::find(streams_.begin(), streams_.end(), stream) != streams_.end();
}

void Connection::SetPosition(int32_t partition, int64_t position) {
  absl::MutexLock lock(&mu_);
  auto it = parts_.find(partition);
  if (it == parts_.end() || it->second.live) return;
  it->second.position = position;
  MaybePreambleLocked();
  MaybeGoLiveLocked(partition);
}

void Connection::SetJoin(int32_t partition, int64_t join) {
  absl::MutexLock lock(&mu_);
  auto it = parts_.find(partition);
  if (it == parts_.end() || it->second.live) return;
  it->second.join = join;
  MaybeGoLiveLocked(partition);
}

bool Connection::Started() const {
  absl::MutexLock lock(&mu_);
  for (const auto& [partition, p] : parts_) {
    if (p.position == kUnknown) return false;
  }
  return true;
}

std::string Connection::CursorLocked() const {
  common::Cursor c{.epoch = epoch_};
  for (const auto& [partition, p] : parts_) {
    if (p.position != kUnknown) c.next[partition] = p.position;
  }
  return common::EncodeCursor(c);
}

std::string Connection::Cursor() const {
  absl::MutexLock lock(&mu_);
  return CursorLocked();
}

void Connection::WriteLocked(std::string bytes) {
  if (closed_) return;
  if (!writer_->Write(std::move(bytes))) closed_ = true;
  last_write_ = absl::Now();
}

void Connection::MaybePreambleLocked() {
  if (preamble_sent_) return;
  for (const auto& [partition, p] : parts_) {
    if (p.position == kUnknown) return;
  }
  preamble_sent_ = true;
  last_id_sent_ = CursorLocked();
  last_block_ = nullptr;
  WriteLocked(RetryBlock(options_.retry_ms) + IdOnlyBlock(last_id_sent_));
  for (std::string& reset : pending_resets_) WriteLocked(std::move(reset));
  pending_resets_.clear();
  // Partitions that were ready before the start block can go live now.
  for (auto& [partition, p] : parts_) MaybeGoLiveLocked(partition);
}

void Connection::SendLocked(const std::string& body, int32_t partition, int64_t offset) {
  parts_[partition].position = offset + 1;
  last_id_sent_ = CursorLocked();
  last_block_ = nullptr;
  std::string frame = IdLine(last_id_sent_);
  frame += body;
  WriteLocked(std::move(frame));
  Count(options_.metrics.events_sent);
}

void Connection::OnShared(const SharedEvent& event, BlockCache* cache) {
  if (!Wants(event.stream)) return;
  absl::MutexLock lock(&mu_);
  if (closed_) return;
  auto it = parts_.find(event.partition);
  if (it == parts_.end()) return;
  PartitionState& p = it->second;
  if (p.live) {
    if (event.offset < p.position) return;
    if (cache != nullptr && SendSharedLocked(event, *cache)) return;
    SendLocked(*event.body, event.partition, event.offset);
    return;
  }
  if (p.held.size() >= options_.max_held_events) {
    // Too far behind to keep holding: the browser resumes from its cursor.
    closed_ = true;
    writer_->Close();
    return;
  }
  p.held.push_back(event);
}

bool Connection::SendSharedLocked(const SharedEvent& event, BlockCache& cache) {
  if (!all_live_ || event.feed == nullptr || event.feed->epoch != epoch_) return false;
  // Every partition live: the feed position right after this event is a
  // valid position in each (as on progress); where every one of ours is
  // there, the cursor after the event is the same for every connection
  // following these partitions.
  const FeedSnapshot& feed = *event.feed;
  parts_[event.partition].position = event.offset + 1;
  bool at_feed = true;
  for (auto& [partition, state] : parts_) {
    const int64_t f = feed.At(partition);
    if (f > state.position) state.position = f;
    at_feed = at_feed && state.position == f;
  }
  if (!at_feed) {
    SendLocked(*event.body, event.partition, event.offset);
    return true;
  }
  std::shared_ptr<const SharedBlock>& block = cache.For(partitions_);
  if (block == nullptr) block = std::make_shared<const SharedBlock>(CursorLocked(), *event.body);
  last_block_ = block;
  if (!writer_->WriteShared(block)) closed_ = true;
  last_write_ = absl::Now();
  Count(options_.metrics.events_sent);
  return true;
}

void Connection::OnProgress(int32_t partition, int64_t next) {
  absl::MutexLock lock(&mu_);
  auto it = parts_.find(partition);
  // Live, every event of ours below `next` has been sent: the cursor may move.
  if (it != parts_.end() && it->second.live) {
    it->second.position = std::max(it->second.position, next);
  }
}

void Connection::OnPrivateEvents(const v1::EventBatch& batch) {
  absl::MutexLock lock(&mu_);
  if (closed_) return;
  for (const v1::Event& e : batch.events()) {
    auto it = parts_.find(e.position().partition());
    if (!preamble_sent_) break;  // a subscription always sends its cursor first
    if (it == parts_.end() || it->second.live) continue;
    if (it->second.position != kUnknown && e.position().offset() < it->second.position) continue;
    if (options_.bodies != nullptr) {
      SendLocked(*options_.bodies->Body(epoch_, e), e.position().partition(),
                 e.position().offset());
    } else {
      SendLocked(RenderEventBody(e.type(), e.text()), e.position().partition(),
                 e.position().offset());
    }
  }
  absl::StatusOr<common::Cursor> c = common::DecodeCursor(batch.cursor());
  if (!c.ok()) return;
  for (const auto& [partition, next] : c->next) {
    auto it = parts_.find(partition);
    if (it == parts_.end() || it->second.live) continue;
    it->second.position = std::max(it->second.position, next);
  }
  MaybePreambleLocked();
  for (const auto& [partition, next] : c->next) MaybeGoLiveLocked(partition, true);
}

void Connection::OnPrivateCursor(const std::map<int32_t, int64_t>& positions) {
  absl::MutexLock lock(&mu_);
  for (const auto& [partition, next] : positions) {
    auto it = parts_.find(partition);
    if (it == parts_.end() || it->second.live) continue;
    it->second.position = std::max(it->second.position, next);
  }
  MaybePreambleLocked();
  for (const auto& [partition, next] : positions) MaybeGoLiveLocked(partition, true);
}

void Connection::MaybeGoLiveLocked(int32_t partition, bool from_private) {
  PartitionState& p = parts_[partition];
  if (!preamble_sent_ || p.live || p.position == kUnknown || p.join == kUnknown ||
      p.position < p.join)
    return;
  // Everything below `position` was served; the held shared events are every
  // event from `join` (<= position) on: those below the position are spent.
  std::erase_if(p.held, [&](const SharedEvent& e) { return e.offset < p.position; });
  if (from_private) {
    size_t bytes = 0;
    for (const SharedEvent& e : p.held) bytes += e.body->size();
    if (bytes > options_.max_handover_bytes) return;  // the catch-up reads on
  }
  p.live = true;
  all_live_ =
      std::all_of(parts_.begin(), parts_.end(), [](const auto& e) { return e.second.live; });
  std::vector<SharedEvent> held = std::move(p.held);
  p.held.clear();
  for (const SharedEvent& e : held) {
    if (e.offset >= parts_[partition].position) SendLocked(*e.body, e.partition, e.offset);
  }
}

void Connection::OnReset(const v1::Reset& reset) {
  std::string names;
  for (const std::string& s : reset.streams()) {
    absl::StrAppend(&names, names.empty() ? "" : ",", common::JsonQuote(s));
  }
  const std::string data =
      absl::StrCat("{\"streams\":[", names, "],\"reason\":", common::JsonQuote(reset.reason()),
                   ",\"detail\":", common::JsonQuote(reset.detail()), "}");
  const ConnectionMetrics& m = options_.metrics;
  Count(reset.reason() == "retention"   ? m.resets_retention
        : reset.reason() == "epoch"     ? m.resets_epoch
        : reset.reason() == "malformed" ? m.resets_malformed
                                        : m.resets_other);
  absl::MutexLock lock(&mu_);
  std::string event = RenderEventBody("herald.reset", data);
  if (preamble_sent_) {
    WriteLocked(std::move(event));
  } else {
    pending_resets_.push_back(std::move(event));
  }
}

void Connection::Heartbeat(absl::Time stale_before) {
  absl::MutexLock lock(&mu_);
  if (!preamble_sent_ || last_write_ > stale_before) return;
  std::string bytes = CommentBlock("hb");
  std::string id = CursorLocked();
  if (id != LastIdLocked()) {
    bytes += IdOnlyBlock(id);
    last_id_sent_ = std::move(id);
    last_block_ = nullptr;
  }
  WriteLocked(std::move(bytes));
}

bool Connection::CatchingUp() const {
  absl::MutexLock lock(&mu_);
  for (const auto& [partition, p] : parts_) {
    if (!p.live) return true;
  }
  return false;
}

bool Connection::Closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

void Connection::WhenDrained(std::function<void()> fn) {
  SseWriter* writer;
  {
    absl::MutexLock lock(&mu_);
    writer = closed_ ? nullptr : writer_.get();
  }
  // Outside the lock: `fn` may run right here and start a read whose
  // completion takes the lock again.
  if (writer == nullptr) {
    fn();
  } else {
    writer->WhenDrained(std::move(fn));
  }
}

void Connection::EndWith(absl::string_view type, absl::string_view data) {
  absl::MutexLock lock(&mu_);
  if (closed_) return;
  std::string frame;
  if (preamble_sent_) {
    last_id_sent_ = CursorLocked();
    last_block_ = nullptr;
    frame = IdLine(last_id_sent_);
  }
  frame += RenderEventBody(type, data);
  WriteLocked(std::move(frame));
  closed_ = true;
  writer_->Close();
}

void Connection::Retry(int64_t milliseconds) {
  absl::MutexLock lock(&mu_);
  if (!closed_) WriteLocked(RetryBlock(milliseconds));
}

void Connection::Close() {
  absl::MutexLock lock(&mu_);
  if (closed_) return;
  closed_ = true;
  writer_->Close();
}

}  // namespace herald::edge
