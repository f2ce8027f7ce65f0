#include "herald/common/flags.h"

#include <map>
#include <string>

#include "absl/flags/flag.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

ABSL_FLAG(int, test_port, 7001, "a port, for the test");
ABSL_FLAG(std::string, test_bootstrap, "127.0.0.1:9092", "a string, for the test");
ABSL_FLAG(bool, test_enabled, false, "a bool, for the test");

namespace herald::common {
namespace {

using ::testing::HasSubstr;

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

class FlagEnvironmentTest : public ::testing::Test {
 protected:
  void TearDown() override {
    absl::SetFlag(&FLAGS_test_port, 7001);
    absl::SetFlag(&FLAGS_test_bootstrap, "127.0.0.1:9092");
    absl::SetFlag(&FLAGS_test_enabled, false);
  }
};

TEST(EnvVarForFlagTest, UppercasesWithPrefix) {
  EXPECT_EQ(EnvVarForFlag("kafka_bootstrap"), "HERALD_KAFKA_BOOTSTRAP");
  EXPECT_EQ(EnvVarForFlag("port"), "HERALD_PORT");
}

TEST_F(FlagEnvironmentTest, AppliesEveryKindOfFlag) {
  ASSERT_TRUE(ApplyFlagEnvironment(FakeEnv({{"HERALD_TEST_PORT", "7100"},
                                            {"HERALD_TEST_BOOTSTRAP", "10.1.2.3:9092"},
                                            {"HERALD_TEST_ENABLED", "true"}}))
                  .ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_test_port), 7100);
  EXPECT_EQ(absl::GetFlag(FLAGS_test_bootstrap), "10.1.2.3:9092");
  EXPECT_TRUE(absl::GetFlag(FLAGS_test_enabled));
}

TEST_F(FlagEnvironmentTest, UnsetVariablesKeepDefaults) {
  ASSERT_TRUE(ApplyFlagEnvironment(FakeEnv({})).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_test_port), 7001);
}

TEST_F(FlagEnvironmentTest, BadValueNamesVariableAndFlagAndAppliesTheRest) {
  absl::Status status = ApplyFlagEnvironment(
      FakeEnv({{"HERALD_TEST_PORT", "seven"}, {"HERALD_TEST_BOOTSTRAP", "k:9092"}}));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("HERALD_TEST_PORT='seven'"));
  EXPECT_THAT(status.message(), HasSubstr("--test_port"));
  EXPECT_EQ(absl::GetFlag(FLAGS_test_port), 7001);
  EXPECT_EQ(absl::GetFlag(FLAGS_test_bootstrap), "k:9092");
}

TEST_F(FlagEnvironmentTest, AbseilBuiltinsAreNotReadFromEnvironment) {
  // --flagfile is Abseil's; a HERALD_FLAGFILE variable must not load a file.
  EXPECT_TRUE(ApplyFlagEnvironment(FakeEnv({{"HERALD_FLAGFILE", "/nonexistent"}})).ok());
}

}  // namespace
}  // namespace herald::common
