#include "herald/common/metrics.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace herald::common {
namespace {

bool ValidName(const std::string& name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::string FormatValue(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return absl::StrFormat("%.0f", v);
  return absl::StrFormat("%.9g", v);
}

std::string FormatLabels(const Labels& labels, const Labels& extra = {}) {
  if (labels.empty() && extra.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const Labels* set : {&labels, &extra}) {
    for (const auto& [k, v] : *set) {
      absl::StrAppend(&out, first ? "" : ",", k, "=\"", EscapeLabelValue(v), "\"");
      first = false;
    }
  }
  return out + "}";
}

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::Observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::CumulativeCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    out[i] = total;
  }
  return out;
}

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Registry::Family& Registry::FamilyFor(const std::string& name, const std::string& help,
                                      MetricType type) {
  if (!ValidName(name)) {
    std::fprintf(stderr, "invalid metric name '%s'\n", name.c_str());
    std::abort();
  }
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.help = help;
    it->second.type = type;
  } else if (it->second.type != type) {
    // A programming error: crash loudly, on stderr whatever the logger.
    std::fprintf(stderr, "metric '%s' registered as %s and %s\n", name.c_str(),
                 TypeName(it->second.type), TypeName(type));
    std::abort();
  }
  return it->second;
}

Counter& Registry::AddCounter(const std::string& name, const std::string& help,
                              const Labels& labels) {
  absl::MutexLock lock(&mu_);
  auto& slot = FamilyFor(name, help, MetricType::kCounter).counters[labels];
  if (slot == nullptr) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Registry::AddGauge(const std::string& name, const std::string& help, const Labels& labels) {
  absl::MutexLock lock(&mu_);
  auto& slot = FamilyFor(name, help, MetricType::kGauge).gauges[labels];
  if (slot == nullptr) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& Registry::AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<double> bounds, const Labels& labels) {
  absl::MutexLock lock(&mu_);
  auto& slot = FamilyFor(name, help, MetricType::kHistogram).histograms[labels];
  if (slot == nullptr) slot = std::make_unique<Histogram>(std::move(bounds));
  return *slot;
}

void Registry::AddCollector(const std::string& name, const std::string& help, MetricType type,
                            std::function<void(const Emit&)> collect) {
  absl::MutexLock lock(&mu_);
  FamilyFor(name, help, type).collectors.push_back(std::move(collect));
}

std::string Registry::Render() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  for (const auto& [name, family] : families_) {
    absl::StrAppend(&out, "# HELP ", name, " ", family.help, "\n# TYPE ", name, " ",
                    TypeName(family.type), "\n");
    for (const auto& [labels, c] : family.counters) {
      absl::StrAppend(&out, name, FormatLabels(labels), " ", FormatValue(c->Value()), "\n");
    }
    for (const auto& [labels, g] : family.gauges) {
      absl::StrAppend(&out, name, FormatLabels(labels), " ", FormatValue(g->Value()), "\n");
    }
    for (const auto& [labels, h] : family.histograms) {
      const std::vector<uint64_t> counts = h->CumulativeCounts();
      for (size_t i = 0; i < counts.size(); ++i) {
        const std::string le = i < h->bounds().size() ? FormatValue(h->bounds()[i]) : "+Inf";
        absl::StrAppend(&out, name, "_bucket", FormatLabels(labels, {{"le", le}}), " ", counts[i],
                        "\n");
      }
      absl::StrAppend(&out, name, "_sum", FormatLabels(labels), " ", FormatValue(h->Sum()), "\n",
                      name, "_count", FormatLabels(labels), " ", counts.back(), "\n");
    }
    const std::string& family_name = name;  // (clang 14 cannot capture a structured binding)
    for (const auto& collect : family.collectors) {
      collect([&](const Labels& labels, double v) {
        absl::StrAppend(&out, family_name, FormatLabels(labels), " ", FormatValue(v), "\n");
      });
    }
  }
  return out;
}

}  // namespace herald::common
