#include "core/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace strata {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/strata-log-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    (void)InitLogging("", "");                      // back to stderr only, releasing the file
    (void)std::system(("rm -rf " + dir_).c_str());  // best effort: test scratch
  }
  std::string dir_;
};

TEST(ParseLogLevelTest, KnownLevels) {
  EXPECT_EQ(*ParseLogLevel("trace"), spdlog::level::trace);
  EXPECT_EQ(*ParseLogLevel("debug"), spdlog::level::debug);
  EXPECT_EQ(*ParseLogLevel("info"), spdlog::level::info);
  EXPECT_EQ(*ParseLogLevel("warn"), spdlog::level::warn);
  EXPECT_EQ(*ParseLogLevel("error"), spdlog::level::err);
  EXPECT_EQ(*ParseLogLevel("off"), spdlog::level::off);
  EXPECT_EQ(*ParseLogLevel(""), spdlog::level::warn);
}

TEST(ParseLogLevelTest, BadLevelListsValidOnes) {
  auto r = ParseLogLevel("verbose");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EINVAL);
  EXPECT_EQ(
      r.error().message(),
      "log level \"verbose\": unknown (expected one of trace, debug, info, warn, error, off)");
  EXPECT_FALSE(ParseLogLevel("WARN").ok());
  EXPECT_FALSE(ParseLogLevel("warning").ok());
}

TEST_F(LogTest, BadLevelFailsInit) { EXPECT_EQ(InitLogging("loud", "").error().code(), EINVAL); }

TEST_F(LogTest, FileGetsMessagesAtOrAboveLevelAndAppends) {
  std::string file = dir_ + "/strata.log";
  std::ofstream(file) << "existing line\n";
  ASSERT_TRUE(InitLogging("info", file).ok());
  ::testing::internal::CaptureStderr();
  spdlog::debug("hidden debug");
  spdlog::info("visible info {}", 42);
  spdlog::default_logger()->flush();
  std::string err = ::testing::internal::GetCapturedStderr();
  std::string text = ReadAll(file);
  EXPECT_THAT(text, HasSubstr("existing line"));
  EXPECT_THAT(text, HasSubstr("visible info 42"));
  EXPECT_THAT(text, Not(HasSubstr("hidden debug")));
  EXPECT_THAT(err, HasSubstr("strata: info: visible info 42"));
}

TEST_F(LogTest, DefaultLevelIsWarn) {
  ASSERT_TRUE(InitLogging("", "").ok());
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::warn);
  ::testing::internal::CaptureStderr();
  spdlog::info("quiet info");
  spdlog::warn("loud warning");
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, Not(HasSubstr("quiet info")));
  EXPECT_THAT(err, HasSubstr("loud warning"));
}

TEST_F(LogTest, UnopenableFileCarriesErrno) {
  auto r = InitLogging("info", dir_ + "/missing-dir/strata.log");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ENOENT);
  EXPECT_THAT(r.error().message(), HasSubstr("missing-dir/strata.log"));
  EXPECT_EQ(InitLogging("info", dir_).error().code(), EISDIR);
}

}  // namespace
}  // namespace strata
