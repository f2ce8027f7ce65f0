// The dashboard over HTTPS in headless Chromium: 8 tabs of one origin with an
// EventSource each and a ninth tab with 10, all receiving events over HTTP/2
// on one or two TCP connections (HTTP/1.1 would allow 6 per origin: the
// seventh tab would hang). The edge is killed and restarted under them, and
// every EventSource resumes exactly by itself.
#include <signal.h>

#include <atomic>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "support/backbone.h"
#include "support/h2_client.h"
#include "support/kafka_env.h"
#include "support/process.h"
#include "support/status_assert.h"
#include "support/test_events.h"

namespace herald {
namespace {

using ::herald::testing::Backbone;
using ::herald::testing::ChildProcess;
using ::herald::testing::FindProgram;
using ::herald::testing::HeraldSource;
using ::herald::testing::ReadWholeFile;
using ::herald::testing::TestPayload;
using ::herald::testing::WaitFor;

constexpr int kTabs = 8;
constexpr int kPerPage = 10;
constexpr int kSources = kTabs + kPerPage;

struct PageResult {
  // Per EventSource, per stream, in arrival order.
  std::map<std::string, std::map<std::string, std::vector<int>>> ticks;
  std::map<std::string, std::map<std::string, int>> done;
  std::map<std::string, int> opens;
  int resets = 0;
  std::string protocol;
};

PageResult ReadPage(const std::string& path) {
  PageResult result;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    int n = -1;
    if (f.size() == 2 && f[0] == "protocol") {
      result.protocol = f[1];
    } else if (f.size() == 3 && f[0] == "opens") {
      (void)absl::SimpleAtoi(f[2], &result.opens[f[1]]);
    } else if (f.size() >= 4 && f[0] == "tick" && absl::SimpleAtoi(f[3], &n)) {
      result.ticks[f[1]][f[2]].push_back(n);
    } else if (f.size() >= 3 && f[0] == "done") {
      ++result.done[f[1]][f[2]];
    } else if (f[0] == "herald.reset") {
      ++result.resets;
    }
  }
  return result;
}

TEST(BrowserH2Test, EighteenEventSourcesInNineTabsShareOneConnectionAndResumeExactly) {
  const std::string node = FindProgram("node");
  ASSERT_FALSE(node.empty()) << "node is not on PATH (scripts/setup installs it)";
  absl::StatusOr<std::string> tls = herald::testing::DevCertificate();
  HERALD_ASSERT_OK(tls);
  const std::string spki(absl::StripAsciiWhitespace(ReadWholeFile(*tls + "/spki.txt")));
  Backbone mesh;
  HERALD_ASSERT_OK(mesh.Start());
  HERALD_ASSERT_OK(mesh.StartEdge({"--retry_ms=500", "--https_address=127.0.0.1:0",
                                   absl::StrCat("--tls_cert_file=", *tls, "/cert.pem"),
                                   absl::StrCat("--tls_key_file=", *tls, "/key.pem"),
                                   absl::StrCat("--static_dir=", HERALD_DASHBOARD_DIR)}));

  const std::vector<std::string> streams = {"tabs/a", "tabs/b"};
  char dir[] = "/tmp/herald-browser-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string out = absl::StrCat(dir, "/events.txt");
  auto page = ChildProcess::Start(
      node,
      {HeraldSource("tests/browser/h2_tabs_page.mjs"),
       absl::StrCat("--origin=https://127.0.0.1:", mesh.edge_https_port()), "--spki=" + spki,
       absl::StrCat("--streams=", absl::StrJoin(streams, ",")), absl::StrCat("--tabs=", kTabs),
       absl::StrCat("--per_page=", kPerPage), "--out=" + out, "--timeout_ms=120000"});
  ASSERT_TRUE(page.ok()) << page.status();
  absl::StatusOr<int> open = (*page)->WaitForPort("connected", absl::Seconds(90));
  ASSERT_TRUE(open.ok()) << open.status() << "\n" << (*page)->LogTail();
  ASSERT_EQ(*open, kSources);

  // Every EventSource (and each tab's dashboard stream) is an HTTP/2 stream
  // on one or two TCP connections.
  const double h2_streams = mesh.EdgeMetric(R"(herald_edge_streams{protocol="h2"})");
  const double h2_connections = mesh.EdgeMetric(R"(herald_edge_tcp_connections{protocol="h2"})");
  std::printf("%d EventSources in %d tabs: %.0f HTTP/2 streams on %.0f TCP connections\n", kSources,
              kTabs + 1, h2_streams, h2_connections);
  EXPECT_GE(h2_streams, kSources);
  EXPECT_GE(h2_connections, 1);
  EXPECT_LE(h2_connections, 2);
  EXPECT_EQ(mesh.EdgeMetric(R"(herald_edge_streams{protocol="http1"})"), 0);

  constexpr int kPerStream = 200;
  std::atomic<int> published{0};
  std::thread publisher([&] {
    for (int n = 0; n < kPerStream; ++n) {
      for (const std::string& s : streams) {
        HERALD_EXPECT_OK(mesh.Publish(s, "tick", TestPayload(s, n)));
        published.fetch_add(1);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(15));  // pacing, not a wait
    }
  });
  const bool third =
      WaitFor([&] { return published.load() >= kPerStream * 2 / 3; }, absl::Seconds(60));
  mesh.edge().Kill(SIGKILL);
  (void)mesh.edge().Wait(absl::Seconds(30));
  const int at_kill = published.load();
  const bool while_down =
      WaitFor([&] { return published.load() >= at_kill + 60; }, absl::Seconds(60));
  absl::Status restarted = mesh.StartEdge();
  publisher.join();
  ASSERT_TRUE(third && while_down) << "publishing stalled";
  ASSERT_TRUE(restarted.ok()) << restarted;
  for (const std::string& s : streams)
    HERALD_ASSERT_OK(mesh.Publish(s, "done", TestPayload(s, -2)));

  absl::StatusOr<int> exit = (*page)->Wait(absl::Seconds(150));
  ASSERT_TRUE(exit.ok()) << "the page never finished:\n" << (*page)->LogTail();
  EXPECT_EQ(*exit, 0) << (*page)->LogTail();
  const PageResult result = ReadPage(out);
  EXPECT_EQ(result.protocol, "h2");
  std::vector<int> expected(kPerStream);
  for (int n = 0; n < kPerStream; ++n) expected[n] = n;
  ASSERT_EQ(result.opens.size(), static_cast<size_t>(kSources));
  for (const auto& [source, opens] : result.opens) {
    EXPECT_GE(opens, 2) << source << " never reconnected by itself";
    for (const std::string& s : streams) {
      auto got = result.ticks.find(source);
      ASSERT_NE(got, result.ticks.end()) << "nothing arrived on " << source;
      EXPECT_EQ(got->second.at(s), expected)
          << source << " " << s << ": loss, duplicate or disorder";
      EXPECT_EQ(result.done.at(source).at(s), 1);
    }
  }
  EXPECT_EQ(result.resets, 0);
  std::printf("every EventSource: %d + %d events exactly, resumed after the edge's restart\n",
              kPerStream, kPerStream);
  std::remove(out.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace herald
