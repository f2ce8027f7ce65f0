// TailReader: the fanout's one reader of the whole topic.
//
// On Start() it asks Kafka for each partition's bounds and starts reading
// `warm_events` records before the end (or at the log start), so that the
// rings hold recent history before the first subscriber asks; the dedup
// look-back before that is read too, only to fill the dedup index, so that
// its decisions are those of every other reader of the log. From then on it
// follows every partition's tail, decodes records (Herald events and raw
// records) and ingests them into the EventStore. Records that cannot be served
// are skipped, counted and logged; their offsets still move the tail.
//
// Lifecycle: Start() once, Stop() (or the destructor) joins the thread.
// Threads: one internal thread owns the Kafka reader; Ready() and the metrics
// may be read from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dedup.h"
#include "event_store.h"
#include "herald/broker/reader.h"
#include "herald/common/metrics.h"

namespace herald::fanout {

class TailReader final {
 public:
  TailReader(EventStore& store, broker::ReaderOptions reader_options, int64_t warm_events,
             DedupOptions dedup, common::Registry& metrics);
  ~TailReader();

  // Reads the partitions' bounds (retrying until `timeout`) and starts the thread.
  absl::Status Start(absl::Duration timeout);
  void Stop();

  // True once every partition was read up to the end it had at Start().
  bool Ready() const { return ready_.load(); }

  // Non-empty once a partition's log was seen to end below what was already
  // read from it: the topic was deleted and created again. Says which.
  std::string Recreated() const;

 private:
  void Run();
  void Ingest(const broker::Batch& batch);
  void UpdateLag();
  // Keeps the first sign that the topic was recreated, for Recreated().
  void NoteRecreated(int32_t partition, int64_t end, int64_t read);

  EventStore& store_;
  const broker::ReaderOptions reader_options_;
  const int64_t warm_events_;
  std::unique_ptr<broker::Reader> reader_;
  std::vector<int64_t> warm_target_;
  const DedupOptions dedup_options_;
  std::vector<DedupIndex> dedup_;
  // Per partition: records below it are read only to fill the dedup index.
  std::vector<int64_t> serve_from_;
  absl::Time next_misplaced_log_ = absl::InfinitePast();
  std::vector<std::atomic<int64_t>> lag_;
  std::atomic<bool> ready_{false};
  mutable absl::Mutex recreated_mu_;
  std::string recreated_ ABSL_GUARDED_BY(recreated_mu_);
  std::atomic<bool> stopping_{false};
  std::thread thread_;

  common::Counter& ingested_;
  common::Counter& skipped_;
  common::Counter& misplaced_;
  common::Counter& duplicates_;
  common::Counter& jumps_;
};

}  // namespace herald::fanout
