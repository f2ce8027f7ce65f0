#include "support/test_events.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace herald::testing {

std::string TestPayload(const std::string& stream, int n) {
  return absl::StrCat("{\"s\":\"", stream, "\",\"n\":", n, "}");
}

int SeqOf(const std::string& payload) {
  const size_t at = payload.find("\"n\":");
  int n = -1;
  if (at == std::string::npos) return n;
  const size_t end = payload.find_first_of(",}", at + 4);
  (void)absl::SimpleAtoi(payload.substr(at + 4, end - at - 4), &n);
  return n;
}

std::string StreamOf(const std::string& payload) {
  const size_t at = payload.find("\"s\":\"");
  if (at == std::string::npos) return "";
  return payload.substr(at + 5, payload.find('"', at + 5) - at - 5);
}

std::vector<int> CutPoints(int expected, int cuts, std::mt19937& rng) {
  std::vector<int> points;
  for (int i = 0; i < cuts; ++i) {
    const int lo = expected * i / (cuts + 1) + 1;
    const int hi = expected * (i + 1) / (cuts + 1);
    points.push_back(std::uniform_int_distribution<int>(lo, std::max(lo, hi))(rng));
  }
  return points;
}

}  // namespace herald::testing
