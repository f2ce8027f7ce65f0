#include "scrape.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace herald::demo {
namespace {

constexpr char kText[] = R"(# HELP herald_x_total things
# TYPE herald_x_total counter
herald_x_total{reason="a"} 3
herald_x_total{reason="b"} 4.5
herald_y 7
herald_lat_seconds_bucket{le="0.001"} 1
herald_lat_seconds_bucket{le="0.01"} 5
herald_lat_seconds_bucket{le="+Inf"} 10
herald_lat_seconds_sum 0.5
herald_lat_seconds_count 10
)";

TEST(ScrapeTest, ParsesPrometheusText) {
  Samples s = ParsePrometheus(kText);
  EXPECT_DOUBLE_EQ(s.Sum("herald_x_total"), 7.5);
  EXPECT_DOUBLE_EQ(s.Sum("herald_y"), 7);
  EXPECT_DOUBLE_EQ(s.Sum("herald_missing"), 0);
  EXPECT_TRUE(s.Has("herald_y"));
  auto buckets = s.Buckets("herald_lat_seconds");
  ASSERT_EQ(buckets.size(), 3u);
  EXPECT_DOUBLE_EQ(buckets[0].first, 0.001);
  EXPECT_TRUE(std::isinf(buckets[2].first));
  EXPECT_DOUBLE_EQ(buckets[2].second, 10);
}

TEST(ScrapeTest, QuantilesOfTheObservationsBetweenSnapshots) {
  const std::vector<std::pair<double, double>> before = {{0.001, 0}, {0.01, 0}, {0.1, 0}};
  const std::vector<std::pair<double, double>> after = {{0.001, 50}, {0.01, 90}, {0.1, 100}};
  EXPECT_NEAR(*QuantileBetween(before, after, 0.5), 0.001, 1e-9);
  EXPECT_NEAR(*QuantileBetween(before, after, 0.9), 0.01, 1e-9);
  EXPECT_NEAR(*QuantileBetween(before, after, 0.99), 0.01 + 0.09 * 0.9, 1e-9);
  EXPECT_FALSE(QuantileBetween(after, after, 0.5).has_value());  // nothing new
  EXPECT_FALSE(QuantileBetween({}, after, 0.5).has_value());
}

TEST(ScrapeTest, HttpGetSaysWhyItFailed) {
  EXPECT_FALSE(HttpGet("ftp://x/", absl::Seconds(1)).ok());
  absl::StatusOr<std::string> refused = HttpGet("http://127.0.0.1:1/metrics", absl::Seconds(1));
  EXPECT_TRUE(absl::IsUnavailable(refused.status())) << refused.status();
}

}  // namespace
}  // namespace herald::demo
