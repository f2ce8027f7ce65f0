// Reading the components' Prometheus metrics, for herald-demo-stats.
//
//   absl::StatusOr<std::string> text = HttpGet("http://127.0.0.1:9101/metrics", absl::Seconds(2));
//   Samples samples = ParsePrometheus(*text);
//   double published = samples.Sum("herald_publisher_published_total");
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "herald/common/http_client.h"

namespace herald::demo {

// The components' /metrics are read with common::HttpGet.
using common::HttpGet;

// Prometheus text format samples: "name{labels}" -> value.
class Samples final {
 public:
  // The sum of every sample of `name` (all label sets); 0 if there is none.
  double Sum(absl::string_view name) const;
  // Histogram buckets of `name` summed over label sets: le -> cumulative count,
  // in order of le (+Inf last).
  std::vector<std::pair<double, double>> Buckets(absl::string_view name) const;
  bool Has(absl::string_view name) const;

  std::multimap<std::string, std::pair<std::string, double>> by_name;  // name -> (labels, value)
};

Samples ParsePrometheus(absl::string_view text);

// The q-quantile (0..1) of the observations between two snapshots of the same
// cumulative histogram, interpolated inside the bucket as Prometheus does;
// nullopt when there were none.
std::optional<double> QuantileBetween(const std::vector<std::pair<double, double>>& before,
                                      const std::vector<std::pair<double, double>>& after,
                                      double q);

}  // namespace herald::demo
