// Prometheus metrics: a registry of counters, gauges and histograms rendered
// in the text exposition format (version 0.0.4).
//
//   Registry registry;
//   Counter& published = registry.AddCounter("herald_publisher_published_total",
//                                            "Events acknowledged by Kafka");
//   Histogram& ack = registry.AddHistogram("herald_publisher_ack_seconds",
//                                          "Publish to Kafka ack", LatencyBuckets());
//   published.Increment();
//   registry.AddCollector("herald_fanout_partition_lag", "Records behind", MetricType::kGauge,
//                         [](const Emit& emit) { emit({{"partition", "0"}}, 12); });
//   std::string text = registry.Render();
//
// Thread-safety: metric updates are lock-free and safe from any thread;
// registration and Render() take the registry's lock. Metrics live as long as
// the registry.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace herald::common {

using Labels = std::vector<std::pair<std::string, std::string>>;

enum class MetricType { kCounter, kGauge, kHistogram };

class Counter final {
 public:
  void Increment(double by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge final {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double by) { value_.fetch_add(by, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram final {
 public:
  // `bounds` are the upper bounds of the buckets, ascending; +Inf is implied.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative counts per bucket (the last is +Inf), the count and the sum.
  std::vector<uint64_t> CumulativeCounts() const;
  double Sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

// Seconds from 100 µs to 10 s, roughly 2.5x apart.
std::vector<double> LatencyBuckets();

// A collector emits samples of one family when the registry renders.
using Emit = std::function<void(const Labels&, double)>;

class Registry final {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Each returns the metric for (name, labels), creating it on first use.
  // Names must match [a-zA-Z_:][a-zA-Z0-9_:]*; a name registered with another
  // type is a programming error (checked, crashes loudly).
  Counter& AddCounter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& AddGauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& AddHistogram(const std::string& name, const std::string& help,
                          std::vector<double> bounds, const Labels& labels = {});
  // Samples computed at render time (lag per partition, subscriptions per stream).
  void AddCollector(const std::string& name, const std::string& help, MetricType type,
                    std::function<void(const Emit&)> collect);

  std::string Render() const;

 private:
  struct Family {
    std::string help;
    MetricType type;
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Gauge>> gauges;
    std::map<Labels, std::unique_ptr<Histogram>> histograms;
    std::vector<std::function<void(const Emit&)>> collectors;
  };
  Family& FamilyFor(const std::string& name, const std::string& help, MetricType type)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, Family> families_ ABSL_GUARDED_BY(mu_);
};

// Escapes a label value for the text format (backslash, quote, newline).
std::string EscapeLabelValue(const std::string& value);

}  // namespace herald::common
