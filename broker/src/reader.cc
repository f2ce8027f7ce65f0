#include "herald/broker/reader.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "herald/common/logging.h"
#include "internal/kafka.h"

namespace herald::broker {

using internal::KafkaStatus;
using internal::Millis;

class Reader::Impl final {
 public:
  explicit Impl(const ReaderOptions& options)
      : options_(options), logs_(options.client.client_id) {}

  ~Impl() {
    if (consumer_ != nullptr) consumer_->close();
  }

  absl::Status Init() {
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    const PropertyMap defaults = {
        {"fetch.wait.max.ms", Millis(options_.fetch_wait)},
        {"fetch.error.backoff.ms", "50"},
        {"queued.max.messages.kbytes", absl::StrCat(options_.max_prefetch_kbytes)},
        {"socket.nagle.disable", "true"},
    };
    // librdkafka's consumer needs a group id to start, but with assign() and no
    // commits the group is never joined. Offsets are the caller's alone, and an
    // out-of-range start is reported, never moved silently.
    const PropertyMap required = {
        {"group.id", "herald-reader-no-group"}, {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},  {"auto.offset.reset", "error"},
        {"enable.partition.eof", "true"},
    };
    if (absl::Status s = internal::ApplyConfig(*conf, options_.client, defaults, required);
        !s.ok()) {
      return s;
    }
    std::string error;
    if (conf->set("event_cb", static_cast<RdKafka::EventCb*>(&logs_), error) !=
        RdKafka::Conf::CONF_OK) {
      return absl::InternalError(absl::StrCat("reader callbacks refused: ", error));
    }
    consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), error));
    if (consumer_ == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("cannot create Kafka reader: ", error));
    }
    return absl::OkStatus();
  }

  absl::Status Assign(absl::Span<const Position> starts) {
    std::map<int32_t, int64_t> next;
    for (const Position& p : starts) {
      if (p.partition < 0) {
        return absl::InvalidArgumentError(absl::StrCat("partition ", p.partition, " is negative"));
      }
      if (p.offset < 0 && p.offset != kOffsetBeginning && p.offset != kOffsetEnd) {
        return absl::InvalidArgumentError(
            absl::StrCat("start offset ", p.offset, " for partition ", p.partition,
                         " is neither >= 0 nor kOffsetBeginning/kOffsetEnd"));
      }
      next[p.partition] = p.offset;
    }
    return Apply(std::move(next));
  }

  absl::Status Seek(const Position& start) {
    if (next_.find(start.partition) == next_.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("seek on partition ", start.partition, " which is not assigned"));
    }
    // librdkafka's seek() fails until fetching has started after an assign, so
    // a seek is a re-assignment at the positions already reached.
    std::map<int32_t, int64_t> next = next_;
    next[start.partition] = start.offset;
    return Apply(std::move(next));
  }

  absl::StatusOr<Batch> Poll(size_t max_records, absl::Duration timeout) {
    Batch batch;
    int wait_ms = static_cast<int>(absl::ToInt64Milliseconds(timeout));
    absl::Status transport_error;
    while (batch.records.size() < max_records) {
      std::unique_ptr<RdKafka::Message> message(consumer_->consume(wait_ms));
      wait_ms = 0;  // only the first read waits
      if (message == nullptr) break;
      const RdKafka::ErrorCode err = message->err();
      if (err == RdKafka::ERR__TIMED_OUT) break;
      if (err == RdKafka::ERR_NO_ERROR) {
        Take(*message, batch);
      } else if (err == RdKafka::ERR__PARTITION_EOF) {
        batch.end_of_partition.push_back(message->partition());
      } else if (err == RdKafka::ERR__AUTO_OFFSET_RESET ||
                 err == RdKafka::ERR_OFFSET_OUT_OF_RANGE) {
        const int32_t partition = message->partition();
        auto it = next_.find(partition);
        batch.out_of_range.push_back(
            {partition, it != next_.end() ? it->second : message->offset()});
      } else if (err == RdKafka::ERR__TRANSPORT || err == RdKafka::ERR__ALL_BROKERS_DOWN) {
        transport_error = KafkaStatus(err, absl::StrCat("read ", options_.topic));
      } else {
        spdlog::warn("reader {}: {} on partition {}", options_.client.client_id, message->errstr(),
                     message->partition());
      }
    }
    if (batch.records.empty() && !transport_error.ok()) return transport_error;
    return batch;
  }

  absl::StatusOr<Watermarks> QueryWatermarks(int32_t partition, absl::Duration timeout) {
    Watermarks w;
    const RdKafka::ErrorCode err =
        consumer_->query_watermark_offsets(options_.topic, partition, &w.low, &w.high,
                                           static_cast<int>(absl::ToInt64Milliseconds(timeout)));
    if (err != RdKafka::ERR_NO_ERROR) {
      return KafkaStatus(err, absl::StrCat("watermarks of ", options_.topic, "/", partition));
    }
    return w;
  }

  std::optional<int64_t> NextOffset(int32_t partition) const {
    auto it = next_.find(partition);
    if (it == next_.end() || it->second < 0) return std::nullopt;
    return it->second;
  }

 private:
  absl::Status Apply(std::map<int32_t, int64_t> next) {
    std::vector<RdKafka::TopicPartition*> partitions;
    for (const auto& [partition, offset] : next) {
      partitions.push_back(RdKafka::TopicPartition::create(options_.topic, partition, offset));
    }
    const RdKafka::ErrorCode err = consumer_->assign(partitions);
    RdKafka::TopicPartition::destroy(partitions);
    if (err != RdKafka::ERR_NO_ERROR) {
      return KafkaStatus(err, absl::StrCat("assign partitions of ", options_.topic));
    }
    next_ = std::move(next);
    return absl::OkStatus();
  }

  void Take(RdKafka::Message& message, Batch& batch) {
    const int32_t partition = message.partition();
    auto it = next_.find(partition);
    if (it == next_.end()) return;  // from an assignment since replaced
    // After a re-assignment librdkafka may still hand out a prefetched record
    // from before it; positions are ours, so drop anything already behind us.
    if (it->second >= 0 && message.offset() < it->second) return;
    it->second = message.offset() + 1;
    Record& record = batch.records.emplace_back();
    record.position = {partition, message.offset()};
    if (message.key_pointer() != nullptr) {
      record.key.assign(static_cast<const char*>(message.key_pointer()), message.key_len());
    }
    if (message.payload() != nullptr) {
      record.value.assign(static_cast<const char*>(message.payload()), message.len());
    }
    record.timestamp_ms = message.timestamp().timestamp;
    if (RdKafka::Headers* headers = message.headers(); headers != nullptr) {
      for (const RdKafka::Headers::Header& h : headers->get_all()) {
        record.headers.push_back(
            {h.key(), std::string(static_cast<const char*>(h.value()), h.value_size())});
      }
    }
  }

  const ReaderOptions options_;
  internal::LogForwarder logs_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  // Per assigned partition: the next offset to return, or a symbolic start.
  std::map<int32_t, int64_t> next_;
};

absl::StatusOr<std::unique_ptr<Reader>> Reader::Create(const ReaderOptions& options) {
  if (options.topic.empty()) return absl::InvalidArgumentError("reader topic is empty");
  auto impl = std::make_unique<Impl>(options);
  if (absl::Status s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<Reader>(new Reader(std::move(impl)));
}

Reader::Reader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Reader::~Reader() = default;

absl::Status Reader::Assign(absl::Span<const Position> starts) { return impl_->Assign(starts); }
absl::Status Reader::Seek(const Position& start) { return impl_->Seek(start); }
absl::StatusOr<Batch> Reader::Poll(size_t max_records, absl::Duration timeout) {
  return impl_->Poll(max_records, timeout);
}
absl::StatusOr<Watermarks> Reader::QueryWatermarks(int32_t partition, absl::Duration timeout) {
  return impl_->QueryWatermarks(partition, timeout);
}
std::optional<int64_t> Reader::NextOffset(int32_t partition) const {
  return impl_->NextOffset(partition);
}

}  // namespace herald::broker
