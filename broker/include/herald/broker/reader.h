// Reader: reads chosen partitions of one topic from chosen offsets.
//
// No consumer group, no committed offsets: the caller says where to read
// (Herald's cursors are Kafka positions) and the reader reads exactly from
// there, in offset order per partition, each record once.
//
//   ReaderOptions options{.client = {.bootstrap_servers = "127.0.0.1:9092"},
//                         .topic = "herald.events"};
//   auto reader = Reader::Create(options);
//   (*reader)->Assign({{.partition = 0, .offset = 1200}, {.partition = 3, .offset = kOffsetEnd}});
//   absl::StatusOr<Batch> batch = (*reader)->Poll(500, absl::Milliseconds(100));
//
// A start below the partition's log start offset (deleted by retention) or
// beyond its end is not silently moved: it comes back in Batch::out_of_range
// and that partition stops until the caller seeks it.
//
// Thread-safety: none; one thread owns a Reader for its whole life.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "herald/broker/config.h"
#include "herald/broker/types.h"

namespace herald::broker {

struct ReaderOptions {
  ClientConfig client;
  std::string topic = "herald.events";
  // How long the broker may hold a fetch open waiting for data; lower means
  // lower latency (librdkafka's default, 500 ms, is far too high for Herald).
  absl::Duration fetch_wait = absl::Milliseconds(10);
  // Upper bound on what librdkafka prefetches per partition.
  int32_t max_prefetch_kbytes = 4 * 1024;
};

struct Batch {
  // In offset order within each partition.
  std::vector<Record> records;
  // Partitions that were read up to their current end during this poll.
  std::vector<int32_t> end_of_partition;
  // Starts that lie outside the partition's log; those partitions are paused.
  std::vector<Position> out_of_range;
};

class Reader final {
 public:
  static absl::StatusOr<std::unique_ptr<Reader>> Create(const ReaderOptions& options);

  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Reads exactly these partitions from these offsets (an offset may be
  // kOffsetBeginning or kOffsetEnd), replacing any earlier assignment.
  absl::Status Assign(absl::Span<const Position> starts);

  // Moves one assigned partition to `start.offset`; the next record returned
  // for it has that offset (or the next one that exists). Other partitions go on
  // from the record after the last one returned (one that has returned nothing
  // yet starts again from its symbolic start, so prefer numeric starts).
  // FailedPrecondition if the partition is not assigned.
  absl::Status Seek(const Position& start);

  // Waits up to `timeout` for the first record, then returns what is ready, at
  // most `max_records`. UNAVAILABLE only when no broker can be reached and
  // nothing was read.
  absl::StatusOr<Batch> Poll(size_t max_records, absl::Duration timeout);

  // Asks the partition leader for the partition's bounds.
  absl::StatusOr<Watermarks> QueryWatermarks(int32_t partition, absl::Duration timeout);

  // The offset the next record returned for `partition` will have at least;
  // nullopt when it is not assigned or still at a symbolic start.
  std::optional<int64_t> NextOffset(int32_t partition) const;

  class Impl;

 private:
  explicit Reader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald::broker
