// The chart's Grafana dashboard and alert rules use only metrics that Herald
// exports: every herald_* name in charts/herald/dashboards/*.json and
// charts/herald/rules/alerts.yaml must appear in the /metrics output of a
// running mesh (publisher, fanout, edge on the test run's Kafka). The names
// come from the files and the scrape, not from a list kept by hand.
#include <filesystem>
#include <regex>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "herald/common/http_client.h"
#include "support/backbone.h"
#include "support/fleet.h"
#include "support/process.h"
#include "support/sse_client.h"

namespace herald::testing {
namespace {

// Every herald_* token of `text`.
std::set<std::string> MetricNames(const std::string& text) {
  static const std::regex kName("herald_[a-z0-9_]+");
  std::set<std::string> names;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kName);
       it != std::sregex_iterator(); ++it) {
    names.insert(it->str());
  }
  return names;
}

// The series names of a Prometheus text exposition (samples, not comments).
std::set<std::string> Exported(const std::string& exposition) {
  std::set<std::string> names;
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    names.insert(std::string(line.substr(0, line.find_first_of("{ "))));
  }
  return names;
}

TEST(ChartMetricsTest, EveryMetricTheDashboardAndTheAlertsUseIsExported) {
  std::set<std::string> used;
  std::vector<std::string> files;
  for (const auto& entry :
       std::filesystem::directory_iterator(HeraldSource("charts/herald/dashboards"))) {
    if (entry.path().extension() == ".json") files.push_back(entry.path().string());
  }
  files.push_back(HeraldSource("charts/herald/rules/alerts.yaml"));
  for (const std::string& file : files) {
    const std::string text = ReadWholeFile(file);
    ASSERT_FALSE(text.empty()) << file;
    const std::set<std::string> names = MetricNames(text);
    EXPECT_FALSE(names.empty()) << file << " uses no herald_ metric";
    used.insert(names.begin(), names.end());
  }
  ASSERT_GE(files.size(), 2u);

  // A mesh with some traffic: an event stream open, events published and delivered.
  Backbone mesh;
  ASSERT_TRUE(mesh.Start().ok());
  ASSERT_TRUE(mesh.StartEdge().ok());
  auto sse = SseClient::Connect(mesh.edge_port(), Target({"metrics.check"}));
  ASSERT_TRUE(sse.ok()) << sse.status();
  ASSERT_EQ((*sse)->status(), 200) << (*sse)->head();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(mesh.Publish("metrics.check", "tick", absl::StrCat(R"({"n":)", i, "}")).ok());
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE((*sse)->NextOfType("tick", deadline - absl::Now()).has_value()) << "tick " << i;
  }

  std::set<std::string> exported;
  for (const std::string& url :
       {absl::StrCat("http://127.0.0.1:", mesh.publisher_metrics_port(), "/metrics"),
        absl::StrCat("http://127.0.0.1:", mesh.fanout_metrics_port(), "/metrics"),
        absl::StrCat("http://127.0.0.1:", mesh.edge_port(), "/metrics")}) {
    absl::StatusOr<std::string> scraped = common::HttpGet(url, absl::Seconds(5));
    ASSERT_TRUE(scraped.ok()) << scraped.status();
    const std::set<std::string> names = Exported(*scraped);
    exported.insert(names.begin(), names.end());
  }

  std::vector<std::string> missing;
  for (const std::string& name : used) {
    if (!exported.contains(name)) missing.push_back(name);
  }
  EXPECT_TRUE(missing.empty()) << "used by the dashboard or the alerts, exported by no component: "
                               << absl::StrJoin(missing, ", ");
  std::printf("%zu metrics used by the dashboard and the alerts, all among the %zu exported\n",
              used.size(), exported.size());
}

}  // namespace
}  // namespace herald::testing
