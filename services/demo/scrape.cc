#include "scrape.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace herald::demo {

Samples ParsePrometheus(absl::string_view text) {
  Samples samples;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    if (space == absl::string_view::npos) continue;
    double value = 0;
    const absl::string_view number = line.substr(space + 1);
    if (number == "+Inf") {
      value = std::numeric_limits<double>::infinity();
    } else if (!absl::SimpleAtod(number, &value)) {
      continue;
    }
    const absl::string_view series = line.substr(0, space);
    const size_t brace = series.find('{');
    const std::string name(series.substr(0, brace));
    const std::string labels(brace == absl::string_view::npos ? "" : series.substr(brace));
    samples.by_name.emplace(name, std::make_pair(labels, value));
  }
  return samples;
}

double Samples::Sum(absl::string_view name) const {
  double sum = 0;
  auto [first, last] = by_name.equal_range(std::string(name));
  for (auto it = first; it != last; ++it) sum += it->second.second;
  return sum;
}

bool Samples::Has(absl::string_view name) const { return by_name.count(std::string(name)) > 0; }

std::vector<std::pair<double, double>> Samples::Buckets(absl::string_view name) const {
  std::map<double, double> by_le;
  auto [first, last] = by_name.equal_range(absl::StrCat(name, "_bucket"));
  for (auto it = first; it != last; ++it) {
    const std::string& labels = it->second.first;
    const size_t at = labels.find("le=\"");
    if (at == std::string::npos) continue;
    const size_t end = labels.find('"', at + 4);
    const std::string le = labels.substr(at + 4, end - at - 4);
    double bound = std::numeric_limits<double>::infinity();
    if (le != "+Inf" && !absl::SimpleAtod(le, &bound)) continue;
    by_le[bound] += it->second.second;
  }
  return {by_le.begin(), by_le.end()};
}

std::optional<double> QuantileBetween(const std::vector<std::pair<double, double>>& before,
                                      const std::vector<std::pair<double, double>>& after,
                                      double q) {
  if (after.empty() || before.size() != after.size()) return std::nullopt;
  std::vector<double> counts(after.size());
  for (size_t i = 0; i < after.size(); ++i) counts[i] = after[i].second - before[i].second;
  const double total = counts.back();
  if (total <= 0) return std::nullopt;
  const double rank = q * total;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] < rank) continue;
    const double upper = after[i].first;
    const double lower = i == 0 ? 0 : after[i - 1].first;
    if (std::isinf(upper)) return lower;
    const double below = i == 0 ? 0 : counts[i - 1];
    const double in_bucket = counts[i] - below;
    return in_bucket <= 0 ? upper : lower + (upper - lower) * (rank - below) / in_bucket;
  }
  return after.back().first;
}

}  // namespace herald::demo
