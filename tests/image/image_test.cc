// Herald's container image, tested by running it: the image scripts/image
// built (localhost/herald:<chart appVersion>, or HERALD_IMAGE) is mounted
// with buildah, and its publisher, fanout and edge run from it, each in the
// image's own root as user 65532 (tests/image/run-in-image.sh), against the
// test run's Kafka. An event published over gRPC arrives over SSE, and
// heraldctl check (the chart's helm test) passes from the image too.
//
// Container engines cannot run here (crun cannot set its rlimits in this
// sandbox); buildah mount + chroot runs the same files with the same user.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "support/backbone.h"
#include "support/fleet.h"
#include "support/process.h"
#include "support/sse_client.h"

namespace herald::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string ImageName() {
  if (const char* image = std::getenv("HERALD_IMAGE"); image != nullptr && *image != '\0') {
    return image;
  }
  std::ifstream chart(HeraldSource("charts/herald/Chart.yaml"));
  std::string line;
  while (std::getline(chart, line)) {
    if (absl::StartsWith(line, "appVersion:")) {
      std::string version(absl::StripAsciiWhitespace(line.substr(11)));
      version.erase(std::remove(version.begin(), version.end(), '"'), version.end());
      return absl::StrCat("localhost/herald:", version);
    }
  }
  return "localhost/herald:latest";
}

class ImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(getuid(), 0u) << "the image test mounts the image with buildah: run it as root";
    buildah_ = FindProgram("buildah");
    ASSERT_FALSE(buildah_.empty()) << "buildah not found: run scripts/image";
    buildah_ += " --storage-driver vfs";
    image_ = ImageName();
    CommandResult inspect = RunCommand(absl::StrCat(buildah_, " inspect --type image ", image_));
    ASSERT_EQ(inspect.exit_code, 0) << image_ << " is not built: run scripts/image\n"
                                    << inspect.output;
    RemoveStaleContainers();
    const std::string name = absl::StrCat("herald-image-test-", getpid());
    CommandResult from =
        RunCommand(absl::StrCat(buildah_, " from --pull=false --name ", name, " ", image_));
    ASSERT_EQ(from.exit_code, 0) << from.output;
    container_ = name;
    CommandResult mount = RunCommand(absl::StrCat(buildah_, " mount ", container_));
    ASSERT_EQ(mount.exit_code, 0) << mount.output;
    root_ = std::string(absl::StripAsciiWhitespace(mount.output));
    ASSERT_TRUE(std::filesystem::exists(root_ + "/usr/local/bin/herald-edge")) << root_;
  }

  void TearDown() override {
    SetHeraldLauncher("", "");
    if (!container_.empty()) RunCommand(absl::StrCat(buildah_, " rm ", container_));
  }

  // A run that died (a ctest timeout) left its container, and maybe its
  // processes: those run as user 65532, for which the kernel drops the
  // parent-death signal. Both go now.
  void RemoveStaleContainers() {
    CommandResult names =
        RunCommand(absl::StrCat(buildah_, " containers --format '{{.ContainerName}}'"));
    for (absl::string_view name : absl::StrSplit(names.output, '\n', absl::SkipWhitespace())) {
      if (!absl::StartsWith(name, "herald-image-test-")) continue;
      CommandResult mount = RunCommand(absl::StrCat(buildah_, " mount ", name));
      const std::string root(absl::StripAsciiWhitespace(mount.output));
      for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        int pid = 0;
        if (!absl::SimpleAtoi(entry.path().filename().string(), &pid)) continue;
        std::error_code error;
        if (std::filesystem::read_symlink(entry.path() / "root", error) == root) kill(pid, SIGKILL);
      }
      RunCommand(absl::StrCat(buildah_, " rm ", name));
    }
  }

  // What the image's own dynamic loader resolves for `binary`, inside the image.
  CommandResult Libraries(const std::string& binary) {
    return RunCommand(
        absl::StrCat("chroot ", root_, " /lib64/ld-linux-x86-64.so.2 --list ", binary));
  }

  std::string buildah_, image_, container_, root_;
};

TEST_F(ImageTest, HoldsEveryBinaryAndItsLibrariesAndNothingToRunAShellWith) {
  // The configuration: non-root, no shell in the entrypoint.
  CommandResult user = RunCommand(
      absl::StrCat(buildah_, " inspect --type image --format '{{.OCIv1.Config.User}}' ", image_));
  EXPECT_EQ(absl::StripAsciiWhitespace(user.output), "65532:65532");
  CommandResult entrypoint = RunCommand(absl::StrCat(
      buildah_, " inspect --type image --format '{{.OCIv1.Config.Entrypoint}}' ", image_));
  EXPECT_EQ(absl::StripAsciiWhitespace(entrypoint.output), "[/usr/local/bin/herald-edge]");

  // Every binary, the descriptor set and the dashboard, in cmake --install's layout.
  for (const char* file :
       {"/usr/local/bin/herald-publisher", "/usr/local/bin/herald-fanout",
        "/usr/local/bin/herald-edge", "/usr/local/bin/heraldctl",
        "/usr/local/bin/herald-demo-orders", "/usr/local/bin/herald-demo-ticker",
        "/usr/local/bin/herald-demo-stats", "/usr/local/share/herald/herald.pb",
        "/usr/local/share/herald/dashboard/index.html", "/usr/local/share/herald/dashboard/app.js",
        "/etc/ssl/certs/ca-certificates.crt"}) {
    EXPECT_TRUE(std::filesystem::exists(root_ + file)) << file << " missing from the image";
  }
  // No shell, package manager or compiler.
  for (const char* absent :
       {"/bin/sh", "/usr/bin/sh", "/usr/bin/bash", "/usr/bin/dash", "/usr/bin/apt-get",
        "/usr/bin/dpkg", "/usr/bin/gcc", "/usr/bin/g++", "/usr/bin/cc"}) {
    EXPECT_FALSE(std::filesystem::exists(root_ + absent)) << absent << " is in the image";
  }

  // Each binary finds every library inside the image (ldd, as the image's
  // loader sees it), and the files are there (not only the names).
  int binaries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(root_ + "/usr/local/bin")) {
    const std::string binary = "/usr/local/bin/" + entry.path().filename().string();
    CommandResult ldd = Libraries(binary);
    ++binaries;
    EXPECT_EQ(ldd.exit_code, 0) << binary << ":\n" << ldd.output;
    EXPECT_THAT(ldd.output, Not(HasSubstr("not found"))) << binary << ":\n" << ldd.output;
    int libraries = 0;
    for (absl::string_view line : absl::StrSplit(ldd.output, '\n')) {
      const size_t arrow = line.find("=> /");
      if (arrow == absl::string_view::npos) continue;
      const absl::string_view rest = line.substr(arrow + 3);
      const std::string path(rest.substr(0, rest.find(' ')));
      EXPECT_TRUE(std::filesystem::exists(root_ + path)) << binary << " loads " << path;
      ++libraries;
    }
    EXPECT_GT(libraries, 10) << binary << ":\n" << ldd.output;
  }
  EXPECT_EQ(binaries, 7);
}

TEST_F(ImageTest, ItsPublisherFanoutAndEdgeCarryAnEventFromGrpcToSse) {
  setenv("HERALD_IMAGE_ROOT", root_.c_str(), 1);
  SetHeraldLauncher(HeraldSource("tests/image/run-in-image.sh"), "/usr/local/bin");
  Backbone mesh;
  ASSERT_TRUE(mesh.Start().ok());
  ASSERT_TRUE(mesh.StartEdge({"--descriptor_set=/usr/local/share/herald/herald.pb",
                              "--static_dir=/usr/local/share/herald/dashboard"})
                  .ok());
  // Each runs as the image's user, from the image's files.
  for (ChildProcess* process : {&mesh.publisher(), &mesh.fanout(), &mesh.edge()}) {
    const std::string status = ReadWholeFile(absl::StrCat("/proc/", process->pid(), "/status"));
    EXPECT_THAT(status, HasSubstr("\nUid:\t65532\t65532\t65532\t65532\n"));
    std::error_code error;
    const std::string root =
        std::filesystem::read_symlink(absl::StrCat("/proc/", process->pid(), "/root"), error);
    EXPECT_EQ(root, root_);
  }

  auto sse = SseClient::Connect(mesh.edge_port(), Target({"image.check"}));
  ASSERT_TRUE(sse.ok()) << sse.status();
  ASSERT_EQ((*sse)->status(), 200) << (*sse)->head();
  ASSERT_TRUE(mesh.Publish("image.check", "image.event", R"({"from":"the image"})").ok());
  std::optional<SseEvent> event = (*sse)->NextOfType("image.event", absl::Seconds(30));
  ASSERT_TRUE(event.has_value());
  EXPECT_THAT(event->data, HasSubstr("the image"));

  // The dashboard is served from the image.
  EXPECT_THAT(mesh.EdgeGet("/"), HasSubstr(" 200 "));

  // The chart's helm test: heraldctl check from the image, as user 65532.
  CommandResult check = RunCommand(
      absl::StrCat("HERALD_IMAGE_ROOT=", root_, " ", HeraldSource("tests/image/run-in-image.sh"),
                   " /usr/local/bin/heraldctl check --edge=http://127.0.0.1:", mesh.edge_port(),
                   " --publisher=", mesh.publisher_address(), " --timeout=60s"));
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_THAT(check.output, HasSubstr("edge ready"));
  EXPECT_THAT(check.output, HasSubstr("received over SSE"));
}

}  // namespace
}  // namespace herald::testing
