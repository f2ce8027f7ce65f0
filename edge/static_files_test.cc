#include "static_files.h"

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace herald::edge {
namespace {

using ::testing::HasSubstr;

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("herald-static-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_ / "assets");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
  }
  std::filesystem::path dir_;
};

TEST_F(StaticFilesTest, ServesTheFolderFromMemory) {
  Write("index.html", "<!doctype html>");
  Write("assets/app.js", "export {}");
  auto files = StaticFiles::Load(dir_.string());
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ((*files)->size(), 2u);
  const StaticFile* index = (*files)->Find("/");
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index->body, "<!doctype html>");
  EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
  EXPECT_EQ(index->cache_control, "no-cache");
  const StaticFile* app = (*files)->Find("/assets/app.js");
  ASSERT_NE(app, nullptr);
  EXPECT_THAT(app->content_type, HasSubstr("text/javascript"));
  EXPECT_EQ((*files)->Find("/../index.html"), nullptr);
  EXPECT_EQ((*files)->Find("/assets/../index.html"), nullptr);
  EXPECT_EQ((*files)->Find("/nope.js"), nullptr);
  // Read once: later changes on disk are not served.
  Write("index.html", "changed");
  EXPECT_EQ((*files)->Find("/index.html")->body, "<!doctype html>");
}

TEST_F(StaticFilesTest, RefusesWhatCannotBeServed) {
  EXPECT_THAT(std::string(StaticFiles::Load((dir_ / "missing").string()).status().message()),
              HasSubstr("is not a folder"));
  Write("app.js", "x");
  EXPECT_THAT(std::string(StaticFiles::Load(dir_.string()).status().message()),
              HasSubstr("no index.html"));
  Write("index.html", std::string(2000, 'x'));
  EXPECT_THAT(std::string(StaticFiles::Load(dir_.string(), 1000).status().message()),
              HasSubstr("more than 1000 bytes"));
}

}  // namespace
}  // namespace herald::edge
