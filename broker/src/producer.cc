#include "herald/broker/producer.h"

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "herald/common/logging.h"
#include "internal/kafka.h"

namespace herald::broker {

using internal::KafkaStatus;
using internal::Millis;

class Producer::Impl final : public RdKafka::DeliveryReportCb, public RdKafka::EventCb {
 public:
  Impl(const ProducerOptions& options) : options_(options), logs_(options.client.client_id) {}

  ~Impl() override {
    // Let records in flight finish, then fail the rest so that every callback
    // runs exactly once, before the handle goes away.
    if (producer_ != nullptr) {
      if (absl::Status s = Flush(options_.close_timeout); !s.ok()) {
        spdlog::warn("producer {}: closing with {} records unacknowledged: {}",
                     options_.client.client_id, InFlight(), s.message());
      }
    }
    stopping_.store(true);
    if (poller_.joinable()) poller_.join();
    if (producer_ != nullptr) {
      producer_->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
      // Purged records get their reports through poll(); drain them here.
      while (InFlight() > 0) producer_->poll(10);
    }
  }

  absl::Status Init() {
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    const PropertyMap defaults = {
        {"linger.ms", Millis(options_.linger)},
        {"message.timeout.ms", Millis(options_.delivery_timeout)},
        {"queue.buffering.max.messages", absl::StrCat(options_.max_queued_records)},
        {"queue.buffering.max.kbytes", absl::StrCat(options_.max_queued_kbytes)},
        {"message.max.bytes", absl::StrCat(options_.max_record_bytes)},
        {"socket.nagle.disable", "true"},
        {"compression.codec", "lz4"},
        // Partitions added to the topic move streams: follow the new count
        // within a second rather than librdkafka's 5 minutes.
        {"topic.metadata.refresh.interval.ms", "1000"},
    };
    // Exactly-once per partition and no acknowledged write lost on failover;
    // streams must land where Java's producer would put them.
    const PropertyMap required = {
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"partitioner", "murmur2_random"},
    };
    if (absl::Status s = internal::ApplyConfig(*conf, options_.client, defaults, required);
        !s.ok()) {
      return s;
    }
    std::string error;
    if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(this), error) !=
            RdKafka::Conf::CONF_OK ||
        conf->set("event_cb", static_cast<RdKafka::EventCb*>(this), error) !=
            RdKafka::Conf::CONF_OK) {
      return absl::InternalError(absl::StrCat("producer callbacks refused: ", error));
    }
    producer_.reset(RdKafka::Producer::create(conf.get(), error));
    if (producer_ == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("cannot create Kafka producer: ", error));
    }
    poller_ = std::thread([this] { Poll(); });
    return absl::OkStatus();
  }

  absl::Status Produce(absl::string_view key, absl::string_view value,
                       absl::Span<const Header> headers, DeliveryCallback done) {
    if (!reachable_.load()) return Unreachable("the record was not sent");
    RdKafka::Headers* kafka_headers = nullptr;
    if (!headers.empty()) {
      kafka_headers = RdKafka::Headers::create();
      for (const Header& h : headers) kafka_headers->add(h.key, h.value.data(), h.value.size());
    }
    auto* callback = new DeliveryCallback(std::move(done));
    {
      absl::MutexLock lock(&mu_);
      ++in_flight_;
    }
    const RdKafka::ErrorCode err =
        producer_->produce(options_.topic, RdKafka::Topic::PARTITION_UA,
                           RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(value.data()),
                           value.size(), key.data(), key.size(), 0, kafka_headers, callback);
    if (err != RdKafka::ERR_NO_ERROR) {
      // Not queued: the headers and the callback are still ours.
      delete kafka_headers;
      delete callback;
      absl::MutexLock lock(&mu_);
      --in_flight_;
      return KafkaStatus(err, absl::StrCat("produce to ", options_.topic));
    }
    return absl::OkStatus();
  }

  void dr_cb(RdKafka::Message& message) override {
    std::unique_ptr<DeliveryCallback> callback(
        static_cast<DeliveryCallback*>(message.msg_opaque()));
    if (message.err() == RdKafka::ERR_NO_ERROR) {
      std::move (*callback)(Position{message.partition(), message.offset()});
    } else {
      std::move (*callback)(
          KafkaStatus(message.err(), absl::StrCat("produce to ", options_.topic)));
    }
    absl::MutexLock lock(&mu_);
    --in_flight_;
  }

  absl::Status Flush(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto drained = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&drained), timeout)) {
      return absl::DeadlineExceededError(absl::StrCat(in_flight_, " records to ", options_.topic,
                                                      " still unacknowledged after ",
                                                      absl::FormatDuration(timeout)));
    }
    return absl::OkStatus();
  }

  int64_t InFlight() const {
    absl::MutexLock lock(&mu_);
    return in_flight_;
  }

  bool Reachable() const { return reachable_.load(); }

  // Logs and errors go to spdlog; "all brokers down" also asks Poll() to probe.
  void event_cb(RdKafka::Event& event) override {
    logs_.event_cb(event);
    if (event.type() == RdKafka::Event::EVENT_ERROR &&
        event.err() == RdKafka::ERR__ALL_BROKERS_DOWN) {
      probe_now_ = true;
    }
  }

  const ProducerOptions options_;

 private:
  // The delivery thread: serves callbacks and, once every broker connection is
  // down, probes Kafka (a metadata request bounded by `probe_timeout`). While
  // no broker answers, Produce() refuses new records at once instead of
  // holding them for the delivery timeout; a probe every `probe_interval`
  // notices a broker back. A probe is needed because librdkafka also says "all
  // brokers down" when idle connections close. Records queued before stay
  // queued until acknowledged or timed out: purging them would leave a hole in
  // the idempotent producer's sequence, which the broker, once back, answers
  // with a fatal out-of-order-sequence error.
  void Poll() {
    absl::Time next_probe = absl::InfinitePast();
    while (!stopping_.load(std::memory_order_relaxed)) {
      producer_->poll(50);
      const bool due = probe_now_ || (!reachable_.load() && absl::Now() >= next_probe);
      if (!due || stopping_.load()) continue;
      probe_now_ = false;
      RdKafka::Metadata* metadata = nullptr;
      const RdKafka::ErrorCode err =
          producer_->metadata(false, nullptr, &metadata,
                              static_cast<int>(absl::ToInt64Milliseconds(options_.probe_timeout)));
      delete metadata;
      const bool reachable = err == RdKafka::ERR_NO_ERROR;
      if (reachable_.exchange(reachable) != reachable) {
        if (reachable) {
          spdlog::info("producer {}: Kafka reachable again", options_.client.client_id);
        } else {
          spdlog::error("producer {}: no Kafka broker answers ({}); failing records at once",
                        options_.client.client_id, RdKafka::err2str(err));
        }
      }
      if (!reachable) next_probe = absl::Now() + options_.probe_interval;
    }
  }

  absl::Status Unreachable(absl::string_view what) const {
    return absl::UnavailableError(absl::StrCat("produce to ", options_.topic,
                                               ": no Kafka broker is reachable; ", what,
                                               " (retry; it succeeds once a broker is back)"));
  }

  internal::LogForwarder logs_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::thread poller_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> reachable_{true};
  bool probe_now_ = false;  // only touched on the delivery thread
  mutable absl::Mutex mu_;
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

absl::StatusOr<std::unique_ptr<Producer>> Producer::Create(const ProducerOptions& options) {
  if (options.topic.empty()) return absl::InvalidArgumentError("producer topic is empty");
  auto impl = std::make_unique<Impl>(options);
  if (absl::Status s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<Producer>(new Producer(std::move(impl)));
}

Producer::Producer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Producer::~Producer() = default;

absl::Status Producer::Produce(absl::string_view key, absl::string_view value,
                               absl::Span<const Header> headers, DeliveryCallback done) {
  return impl_->Produce(key, value, headers, std::move(done));
}

absl::StatusOr<Position> Producer::ProduceAndWait(absl::string_view key, absl::string_view value,
                                                  absl::Span<const Header> headers) {
  absl::Notification delivered;
  absl::StatusOr<Position> result;
  absl::Status queued = impl_->Produce(key, value, headers, [&](absl::StatusOr<Position> p) {
    result = std::move(p);
    delivered.Notify();
  });
  if (!queued.ok()) return queued;
  delivered.WaitForNotification();
  return result;
}

absl::Status Producer::Flush(absl::Duration timeout) { return impl_->Flush(timeout); }
int64_t Producer::InFlight() const { return impl_->InFlight(); }
bool Producer::Reachable() const { return impl_->Reachable(); }
const std::string& Producer::topic() const { return impl_->options_.topic; }

}  // namespace herald::broker
