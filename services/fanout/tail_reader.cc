#include "tail_reader.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "herald/broker/event_codec.h"
#include "herald/common/logging.h"
#include "herald/common/partitioner.h"

namespace herald::fanout {

TailReader::TailReader(EventStore& store, broker::ReaderOptions reader_options, int64_t warm_events,
                       DedupOptions dedup, common::Registry& metrics)
    : store_(store),
      reader_options_(std::move(reader_options)),
      warm_events_(warm_events),
      dedup_options_(dedup),
      lag_(store.partitions()),
      ingested_(metrics.AddCounter("herald_fanout_ingested_total",
                                   "Events read from Kafka into the rings")),
      skipped_(metrics.AddCounter("herald_fanout_skipped_total",
                                  "Records that could not be served (bad key, value or type)")),
      misplaced_(metrics.AddCounter(
          "herald_fanout_misplaced_total",
          "Records in none of their stream's candidate partitions (murmur2, CRC-32, FNV-1a)")),
      duplicates_(metrics.AddCounter(
          "herald_fanout_duplicates_total",
          "Records skipped as an earlier event's copy (same stream and idempotency key)")),
      jumps_(metrics.AddCounter("herald_fanout_tail_jumps_total",
                                "Times the tail fell out of retention and jumped forward")) {
  metrics.AddCollector("herald_fanout_partition_lag", "Records written to Kafka but not yet read",
                       common::MetricType::kGauge, [this](const common::Emit& emit) {
                         for (size_t p = 0; p < lag_.size(); ++p) {
                           emit({{"partition", absl::StrCat(p)}}, lag_[p].load());
                         }
                       });
  metrics.AddCollector("herald_fanout_ready", "1 once the rings are warm",
                       common::MetricType::kGauge,
                       [this](const common::Emit& emit) { emit({}, Ready() ? 1 : 0); });
}

TailReader::~TailReader() { Stop(); }

absl::Status TailReader::Start(absl::Duration timeout) {
  absl::StatusOr<std::unique_ptr<broker::Reader>> reader = broker::Reader::Create(reader_options_);
  if (!reader.ok()) return reader.status();
  reader_ = std::move(*reader);
  const absl::Time deadline = absl::Now() + timeout;
  std::vector<broker::Position> starts;
  for (int32_t p = 0; p < store_.partitions(); ++p) {
    absl::StatusOr<broker::Watermarks> w;
    do {
      w = reader_->QueryWatermarks(p, absl::Seconds(5));
    } while (!w.ok() && absl::Now() < deadline);
    if (!w.ok()) return w.status();
    const int64_t start = std::max(w->low, w->high - warm_events_);
    const int64_t index_from = std::max(w->low, start - dedup_options_.lookback);
    store_.Begin(p, start);
    store_.DedupFrom(p, start);
    starts.push_back({p, index_from});
    serve_from_.push_back(start);
    dedup_.emplace_back(dedup_options_);
    warm_target_.push_back(w->high);
    spdlog::info("partition {}: warming from {} to {} (log start {}, dedup index from {})", p,
                 start, w->high, w->low, index_from);
  }
  if (absl::Status s = reader_->Assign(starts); !s.ok()) return s;
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void TailReader::Stop() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
}

void TailReader::Run() {
  absl::Time next_lag_update = absl::InfinitePast();
  absl::Time next_error_log = absl::InfinitePast();
  while (!stopping_.load()) {
    absl::StatusOr<broker::Batch> batch = reader_->Poll(5000, absl::Milliseconds(100));
    if (!batch.ok()) {
      if (absl::Now() >= next_error_log) {
        spdlog::warn("reading the topic: {}", batch.status());
        next_error_log = absl::Now() + absl::Seconds(10);
      }
      continue;
    }
    Ingest(*batch);
    if (!ready_.load()) {
      bool warm = true;
      for (int32_t p = 0; p < store_.partitions(); ++p) {
        warm = warm && store_.Tail(p) >= warm_target_[p];
      }
      if (warm) {
        ready_.store(true);
        spdlog::info("rings warm: serving");
      }
    }
    if (absl::Now() >= next_lag_update) {
      UpdateLag();
      next_lag_update = absl::Now() + absl::Seconds(2);
    }
  }
}

void TailReader::Ingest(const broker::Batch& batch) {
  std::map<int32_t, std::vector<EventPtr>> events;
  std::map<int32_t, std::vector<int64_t>> duplicates;
  std::map<int32_t, int64_t> next;
  for (const broker::Record& record : batch.records) {
    const int32_t p = record.position.partition;
    if (p < 0 || p >= store_.partitions()) continue;
    const bool duplicate = dedup_[p].Check(record);
    if (record.position.offset < serve_from_[p]) continue;  // the look-back only
    next[p] = record.position.offset + 1;
    if (duplicate) {
      duplicates_.Increment();
      duplicates[p].push_back(record.position.offset);
      continue;
    }
    absl::StatusOr<v1::Event> event = broker::DecodeFromKafka(record);
    if (!event.ok()) {
      skipped_.Increment();
      spdlog::warn("skipping {}", event.status());
      continue;
    }
    if (!common::IsCandidate(record.key, record.position.partition, store_.partitions())) {
      // Subscribers look for a stream in its candidate partitions only.
      misplaced_.Increment();
      // One line per 10 s: a misconfigured producer must not flood the log.
      const absl::Time now = absl::Now();
      if (now < next_misplaced_log_) continue;
      next_misplaced_log_ = now + absl::Seconds(10);
      spdlog::warn(
          "skipping record {}/{} of stream {}: no common partitioner puts that stream in "
          "partition {} of {} (murmur2 gives {}, librdkafka's CRC-32 {}, sarama's FNV-1a {}); "
          "configure the producer with one of them (one line per 10 s; "
          "herald_fanout_misplaced_total counts them all)",
          record.position.partition, record.position.offset, record.key, record.position.partition,
          store_.partitions(), common::PartitionForKey(record.key, store_.partitions()),
          common::Crc32Partition(record.key, store_.partitions()),
          common::Fnv1aPartition(record.key, store_.partitions()));
      continue;
    }
    ingested_.Increment();
    events[record.position.partition].push_back(
        std::make_shared<const v1::Event>(std::move(*event)));
  }
  for (int32_t p : batch.end_of_partition) {
    if (std::optional<int64_t> n = reader_->NextOffset(p); n.has_value()) {
      next[p] = std::max(next[p], *n);
    }
  }
  for (auto& [p, n] : next) store_.Ingest(p, std::move(events[p]), n, duplicates[p]);
  for (const broker::Position& lost : batch.out_of_range) {
    absl::StatusOr<broker::Watermarks> w =
        reader_->QueryWatermarks(lost.partition, absl::Seconds(5));
    if (!w.ok()) continue;  // next poll reports it again
    if (lost.offset > w->high) {
      // Past the end, not behind the start: another log than the one read.
      NoteRecreated(lost.partition, w->high, lost.offset);
      continue;
    }
    spdlog::error("partition {}: position {} fell out of retention; jumping to {}", lost.partition,
                  lost.offset, w->low);
    jumps_.Increment();
    store_.Begin(lost.partition, w->low);
    (void)reader_->Seek({lost.partition, w->low});
  }
}

void TailReader::UpdateLag() {
  for (int32_t p = 0; p < store_.partitions(); ++p) {
    absl::StatusOr<broker::Watermarks> w = reader_->QueryWatermarks(p, absl::Seconds(1));
    if (!w.ok()) continue;
    const int64_t tail = store_.Tail(p);
    lag_[p].store(std::max<int64_t>(0, w->high - tail));
    // Kafka never shortens a partition's log: this is another log.
    if (w->high < tail) NoteRecreated(p, w->high, tail);
  }
}

void TailReader::NoteRecreated(int32_t partition, int64_t end, int64_t read) {
  absl::MutexLock lock(&recreated_mu_);
  if (!recreated_.empty()) return;
  recreated_ = absl::StrCat("partition ", partition, " ends at offset ", end,
                            " but was read up to ", read, ": the topic was recreated");
}

std::string TailReader::Recreated() const {
  absl::MutexLock lock(&recreated_mu_);
  return recreated_;
}

}  // namespace herald::fanout
