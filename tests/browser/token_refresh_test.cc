// herald.js in headless Chromium on a stream whose tokens live 5 s, over 30 s
// of events: the edge ends the stream at each token's expiry (herald.auth),
// the page refreshes its token and reopens from the last id, and receives
// every event exactly once, in order, with a clean console.
#include <filesystem>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "support/backbone.h"
#include "support/process.h"
#include "support/status_assert.h"
#include "support/test_events.h"
#include "support/tokens.h"

namespace herald::testing {
namespace {

using ::testing::HasSubstr;

// The number after `"key": ` in `json`, or -1.
int NumberOf(const std::string& json, const std::string& key) {
  const std::string needle = absl::StrCat("\"", key, "\": ");
  const size_t at = json.find(needle);
  if (at == std::string::npos) return -1;
  int n = -1;
  const size_t start = at + needle.size();
  (void)absl::SimpleAtoi(json.substr(start, json.find_first_of(",\n}", start) - start), &n);
  return n;
}

TEST(TokenRefreshTest, ShortTokensRefreshedByTheClientLoseAndRepeatNothing) {
  const std::string node = FindProgram("node");
  ASSERT_FALSE(node.empty()) << "node is not on PATH (scripts/setup installs it)";
  const std::string secret = "browser-refresh-secret-browser-refresh-01";
  const std::string secret_file = WriteTempFile("refresh-hs256", secret);
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start());
  ASSERT_TRUE(mesh.StartEdge({"--jwt_hs256_secret_file=" + secret_file, "--jwt_leeway=0s",
                              std::string("--static_dir=") + HERALD_DASHBOARD_DIR})
                  .ok());
  const std::string dir =
      std::filesystem::temp_directory_path() / absl::StrCat("herald-refresh-", getpid());
  std::filesystem::create_directories(dir);
  const std::string out = dir + "/result.json";
  const std::string ready = dir + "/ready.json";
  auto page = ChildProcess::Start(
      node, {HeraldSource("tests/browser/token_refresh_page.mjs"),
             absl::StrCat("--origin=http://127.0.0.1:", mesh.edge_port()), "--stream=auth/s",
             "--secret_file=" + secret_file, "--token_seconds=5", "--out=" + out,
             "--open_file=" + ready, "--timeout_ms=90000"});
  ASSERT_TRUE(page.ok()) << page.status();
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (!std::filesystem::exists(ready) && (*page)->Running() && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(std::filesystem::exists(ready)) << ReadWholeFile(out) << "\n"
                                              << (*page)->LogTail() << mesh.edge().LogTail();

  // 30 s of events, 10 a second.
  constexpr int kEvents = 300;
  for (int n = 0; n < kEvents; ++n) {
    HERALD_ASSERT_OK(mesh.Publish("auth/s", "tick", TestPayload("auth/s", n)));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the pace of a live feed
  }
  HERALD_ASSERT_OK(mesh.Publish("auth/s", "done", TestPayload("auth/s", kEvents)));
  absl::StatusOr<int> exit = (*page)->Wait(absl::Seconds(120));
  const std::string result = ReadWholeFile(out);
  ASSERT_TRUE(exit.ok()) << "the page did not finish\n" << (*page)->LogTail();
  EXPECT_EQ(*exit, 0) << result << "\n"
                      << (*page)->LogTail() << "\nedge:\n"
                      << mesh.edge().LogTail();
  std::printf("%s\n", result.c_str());
  EXPECT_EQ(NumberOf(result, "received"), kEvents) << result;
  EXPECT_THAT(result, HasSubstr(R"("exact": true)"));
  EXPECT_GE(NumberOf(result, "refreshes"), 4) << "tokens of 5 s over 30 s";
  EXPECT_THAT(result, HasSubstr(R"("consoleErrors": [])"));
  EXPECT_GE(mesh.EdgeMetric(R"(herald_edge_streams_ended_total{reason="expired"})"), 4);
  std::filesystem::remove_all(dir);
  std::filesystem::remove(secret_file);
}

}  // namespace
}  // namespace herald::testing
