// The dashboard in headless Chromium against the whole mesh: publisher,
// fanout, edge (serving the bundled dashboard), the demo command service and
// both demo producers. The charts advance, an order placed with the form
// comes back over SSE, the page reconnects by itself after an edge restart
// and shows it, a screenshot is saved, and the console stays clean.
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "support/backbone.h"
#include "support/process.h"
#include "support/status_assert.h"

namespace herald::testing {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<ChildProcess> Start(const std::string& binary, std::vector<std::string> args,
                                    const std::string& port_name, int* port) {
  auto process = ChildProcess::Start(HeraldBinary(binary), std::move(args));
  EXPECT_TRUE(process.ok()) << process.status();
  if (!process.ok()) return nullptr;
  absl::StatusOr<int> bound = (*process)->WaitForPort(port_name, absl::Seconds(60));
  EXPECT_TRUE(bound.ok()) << bound.status();
  *port = bound.value_or(0);
  return std::move(*process);
}

TEST(DashboardTest, ChartsAdvanceAnOrderComesBackAndTheConsoleIsClean) {
  const std::string node = FindProgram("node");
  ASSERT_FALSE(node.empty()) << "node is not on PATH (scripts/setup installs it)";
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start());
  int orders_port = 0, ticker_port = 0, stats_port = 0;
  auto orders = Start("herald-demo-orders",
                      {"--grpc_address=127.0.0.1:0", "--metrics_address=127.0.0.1:0",
                       "--publisher=" + mesh.publisher_address(), "--stream=orders"},
                      "grpc_port", &orders_port);
  ASSERT_NE(orders, nullptr);
  ASSERT_TRUE(
      mesh.StartEdge({absl::StrCat("--rpc_routes=herald.demo.v1.Orders=127.0.0.1:", orders_port),
                      std::string("--descriptor_set=") + HERALD_DESCRIPTOR_SET,
                      std::string("--static_dir=") + HERALD_DASHBOARD_DIR})
          .ok());
  auto ticker = Start("herald-demo-ticker",
                      {"--metrics_address=127.0.0.1:0", "--publisher=" + mesh.publisher_address(),
                       "--stream=prices", "--rate=25"},
                      "metrics_port", &ticker_port);
  auto stats = Start(
      "herald-demo-stats",
      {"--metrics_address=127.0.0.1:0", "--publisher=" + mesh.publisher_address(),
       "--stream=mesh.stats", "--interval=500ms",
       absl::StrCat("--publisher_metrics=http://127.0.0.1:", mesh.publisher_metrics_port(),
                    "/metrics"),
       absl::StrCat("--fanout_metrics=http://127.0.0.1:", mesh.fanout_metrics_port(), "/metrics"),
       absl::StrCat("--edge_metrics=http://127.0.0.1:", mesh.edge_port(), "/metrics")},
      "metrics_port", &stats_port);
  ASSERT_NE(ticker, nullptr);
  ASSERT_NE(stats, nullptr);

  // The page is served by the edge, with the bundled script and no CDN.
  const std::string index = mesh.EdgeGet("/");
  ASSERT_THAT(index, HasSubstr(" 200 "));
  EXPECT_THAT(index, HasSubstr("text/html"));
  EXPECT_THAT(index, HasSubstr(R"(src="app.js")"));
  EXPECT_THAT(index, ::testing::Not(HasSubstr("https://")));
  EXPECT_THAT(mesh.EdgeGet("/app.js"), HasSubstr("text/javascript"));
  EXPECT_THAT(mesh.EdgeGet("/herald.js"), HasSubstr("export class HeraldClient"));

  const std::string dir =
      std::filesystem::temp_directory_path() / absl::StrCat("herald-dashboard-", getpid());
  std::filesystem::create_directories(dir);
  const char* keep = std::getenv("HERALD_SCREENSHOT");
  const std::string screenshot = keep != nullptr ? keep : dir + "/dashboard.png";
  const std::string out = dir + "/result.json";
  const std::string ready = dir + "/ready.json";
  auto page = ChildProcess::Start(
      node, {HeraldSource("tests/browser/dashboard_page.mjs"),
             absl::StrCat("--url=http://127.0.0.1:", mesh.edge_port(), "/"),
             "--screenshot=" + screenshot, "--out=" + out, "--restart_file=" + ready,
             "--timeout_ms=" + std::string(std::getenv("HERALD_PAGE_TIMEOUT_MS")
                                               ? std::getenv("HERALD_PAGE_TIMEOUT_MS")
                                               : "90000")});
  ASSERT_TRUE(page.ok()) << page.status();
  // Once the order is back, the edge is killed and restarted: the page must
  // reconnect by itself, resume, and show it.
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  while (!std::filesystem::exists(ready) && (*page)->Running() && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (std::filesystem::exists(ready)) {
    mesh.edge().Kill(SIGKILL);
    (void)mesh.edge().Wait(absl::Seconds(10));
    HERALD_ASSERT_OK(mesh.StartEdge());
  }
  absl::StatusOr<int> exit = (*page)->Wait(absl::Seconds(150));
  const std::string result = ReadWholeFile(out);
  ASSERT_TRUE(exit.ok()) << "the page did not finish\n" << (*page)->LogTail();
  EXPECT_EQ(*exit, 0) << result << "\n"
                      << (*page)->LogTail() << "\nticker:\n"
                      << ticker->LogTail() << "\nstats:\n"
                      << stats->LogTail() << "\nedge:\n"
                      << mesh.edge().LogTail();
  std::printf("%s\n", result.c_str());
  EXPECT_THAT(result, HasSubstr(R"("consoleErrors": [])"));
  EXPECT_THAT(result, HasSubstr(R"("state": "open")"));
  EXPECT_THAT(result, HasSubstr(R"("reconnects": 1)"));
  EXPECT_THAT(result, HasSubstr(R"("resumes": 1)"));
  EXPECT_THAT(result, HasSubstr("arrived on the orders stream"));
  EXPECT_THAT(result, HasSubstr(R"("arrived": [)"));
  EXPECT_GT(std::filesystem::file_size(screenshot), 10'000u) << "no screenshot";
  if (keep == nullptr) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace herald::testing
