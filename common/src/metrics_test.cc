#include "herald/common/metrics.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace herald::common {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, RendersCountersGaugesWithLabels) {
  Registry r;
  r.AddCounter("herald_x_total", "Things", {{"kind", "a"}}).Increment(3);
  r.AddCounter("herald_x_total", "Things", {{"kind", "b\"q"}}).Increment();
  r.AddGauge("herald_conns", "Connections").Set(42);
  const std::string text = r.Render();
  EXPECT_THAT(text, HasSubstr("# HELP herald_x_total Things\n# TYPE herald_x_total counter\n"));
  EXPECT_THAT(text, HasSubstr("herald_x_total{kind=\"a\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("herald_x_total{kind=\"b\\\"q\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("herald_conns 42\n"));
}

TEST(MetricsTest, SameNameAndLabelsIsSameMetric) {
  Registry r;
  r.AddCounter("c_total", "h").Increment();
  r.AddCounter("c_total", "h").Increment();
  EXPECT_EQ(r.AddCounter("c_total", "h").Value(), 2);
}

TEST(MetricsTest, HistogramIsCumulative) {
  Registry r;
  Histogram& h = r.AddHistogram("lat_seconds", "Latency", {0.1, 1});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(0.5);
  h.Observe(7);
  const std::string text = r.Render();
  EXPECT_THAT(text, HasSubstr("lat_seconds_bucket{le=\"0.1\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_bucket{le=\"1\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_bucket{le=\"+Inf\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_count 4\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_sum 8.05\n"));
}

TEST(MetricsTest, CollectorsEmitAtRenderTime) {
  Registry r;
  int lag = 5;
  r.AddCollector("lag", "Lag", MetricType::kGauge, [&](const Emit& emit) {
    emit({{"partition", "0"}}, lag);
  });
  EXPECT_THAT(r.Render(), HasSubstr("lag{partition=\"0\"} 5\n"));
  lag = 9;
  EXPECT_THAT(r.Render(), HasSubstr("lag{partition=\"0\"} 9\n"));
}

TEST(MetricsDeathTest, TypeClashCrashesLoudly) {
  Registry r;
  r.AddCounter("m", "h");
  EXPECT_DEATH(r.AddGauge("m", "h"), "registered as counter and gauge");
}

}  // namespace
}  // namespace herald::common
