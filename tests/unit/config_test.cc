#include "core/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>

namespace strata {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr char kPath[] = "/etc/strata/config.json";

Config Parsed(std::string_view text) {
  auto r = ParseConfig(text, kPath);
  EXPECT_TRUE(r.ok()) << r.error().message();
  return r.ok() ? *r : Config{};
}

std::string Rejected(std::string_view text) {
  auto r = ParseConfig(text, kPath);
  EXPECT_FALSE(r.ok()) << text;
  if (r.ok()) return "";
  EXPECT_EQ(r.error().code(), EINVAL) << r.error().message();
  return r.error().message();
}

TEST(ParseConfigTest, EmptyObjectKeepsDefaults) {
  Config c = Parsed("{}");
  EXPECT_TRUE(c.config_file_loaded);
  EXPECT_EQ(c.config_path, kPath);
  EXPECT_EQ(c.root.value, "/var/lib/strata");
  EXPECT_EQ(c.root.source, ConfigSource::kDefault);
  EXPECT_EQ(c.driver.value, "");
  EXPECT_EQ(c.log_level.value, "warn");
  EXPECT_EQ(c.log_file.value, "");
  EXPECT_EQ(c.driver_opts.value, json::object());
  EXPECT_EQ(c.driver_opts.source, ConfigSource::kDefault);
}

TEST(ParseConfigTest, AllKeys) {
  Config c = Parsed(R"({
    "root": "/srv/strata/",
    "driver": "overlay",
    "log-level": "debug",
    "log-file": "/var/log/strata.log",
    "driver-opts": {"overlay": {"mount-program": "x"}, "devicemapper": {}}
  })");
  EXPECT_EQ(c.root.value, "/srv/strata");  // trailing slash dropped
  EXPECT_EQ(c.root.source, ConfigSource::kConfigFile);
  EXPECT_EQ(c.driver.value, "overlay");
  EXPECT_EQ(c.driver.source, ConfigSource::kConfigFile);
  EXPECT_EQ(c.log_level.value, "debug");
  EXPECT_EQ(c.log_file.value, "/var/log/strata.log");
  EXPECT_EQ(c.driver_opts.value["overlay"]["mount-program"], "x");
  EXPECT_EQ(c.driver_opts.source, ConfigSource::kConfigFile);
}

TEST(ParseConfigTest, UnknownKeySuggestsCloseOne) {
  EXPECT_EQ(Rejected(R"({"roots": "/x"})"),
            "config /etc/strata/config.json: \"roots\": unknown key (did you mean \"root\"?)");
  EXPECT_THAT(Rejected(R"({"loglevel": "info"})"), HasSubstr("did you mean \"log-level\"?"));
  EXPECT_THAT(Rejected(R"({"zzzzzzzz": 1})"),
              HasSubstr("\"zzzzzzzz\": unknown key (expected one of root, driver, log-level, "
                        "log-file, driver-opts, volumes)"));
}

TEST(ParseConfigTest, WrongTypes) {
  EXPECT_THAT(Rejected(R"({"root": 5})"), HasSubstr("\"root\": expected a string"));
  EXPECT_THAT(Rejected(R"({"root": 5})"), HasSubstr("got a number"));
  EXPECT_THAT(Rejected(R"({"driver": ["overlay"]})"),
              HasSubstr("\"driver\": expected a string, got an array"));
  EXPECT_THAT(Rejected(R"({"log-level": true})"),
              HasSubstr("\"log-level\": expected a string, got a boolean"));
  EXPECT_THAT(Rejected(R"({"log-file": null})"), HasSubstr("\"log-file\": expected a string"));
  EXPECT_THAT(Rejected(R"({"driver-opts": []})"),
              HasSubstr("\"driver-opts\": expected an object, got an array"));
  EXPECT_EQ(Rejected(R"({"driver-opts": {"overlay": "fast"}})"),
            "config /etc/strata/config.json: \"driver-opts.overlay\": expected an object, got a "
            "string");
}

TEST(ParseConfigTest, ImpossibleValues) {
  EXPECT_THAT(Rejected(R"({"root": "var/lib/strata"})"),
              HasSubstr("\"root\": expected an absolute path, got \"var/lib/strata\""));
  EXPECT_THAT(Rejected(R"({"root": ""})"), HasSubstr("\"root\": expected an absolute path"));
  EXPECT_THAT(Rejected(R"({"log-file": "strata.log"})"),
              HasSubstr("\"log-file\": expected an absolute path"));
  std::string msg = Rejected(R"({"log-level": "loud"})");
  EXPECT_THAT(msg, HasSubstr("\"log-level\""));
  EXPECT_THAT(msg, HasSubstr("trace, debug, info, warn, error, off"));
}

TEST(ParseConfigTest, EmptyLogFileAndLevelMeanDefaults) {
  Config c = Parsed(R"({"log-file": "", "log-level": ""})");
  EXPECT_EQ(c.log_file.value, "");
  EXPECT_EQ(c.log_level.value, "warn");
}

TEST(ParseConfigTest, SyntaxErrorsHaveLineAndColumn) {
  std::string msg = Rejected("{\n  \"root\": \"/x\",\n  \"driver\" overlay\n}");
  EXPECT_THAT(msg, HasSubstr("config /etc/strata/config.json: "));
  EXPECT_THAT(msg, HasSubstr("line 3, column"));
  EXPECT_THAT(msg, ::testing::Not(HasSubstr("json.exception")));
  EXPECT_THAT(Rejected(""), HasSubstr("line 1, column 1"));
  EXPECT_THAT(Rejected("{\"root\": \"/x\",}"), HasSubstr("line 1"));
}

TEST(ParseConfigTest, TopLevelMustBeObject) {
  EXPECT_THAT(Rejected("[]"), HasSubstr("expected a JSON object, got an array"));
  EXPECT_THAT(Rejected("\"root\""), HasSubstr("got a string"));
}

TEST(ParseConfigTest, DuplicateTopLevelKeyRejected) {
  EXPECT_THAT(Rejected(R"({"root": "/a", "root": "/b"})"), HasSubstr("\"root\": duplicate key"));
  Parsed(R"({"driver-opts": {"overlay": {}, "vfs": {}}})");  // same inner keys elsewhere are fine
  Parsed(R"({"driver-opts": {"overlay": {"root": 1}, "vfs": {"root": 2}}})");
}

TEST(SourceNameTest, Names) {
  EXPECT_EQ(SourceName(ConfigSource::kDefault), "default");
  EXPECT_EQ(SourceName(ConfigSource::kConfigFile), "config file");
  EXPECT_EQ(SourceName(ConfigSource::kFlag), "flag");
}

class LoadConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/strata-config-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { (void)std::system(("rm -rf " + dir_).c_str()); }  // best effort
  std::string Write(const std::string& text) {
    std::string path = dir_ + "/config.json";
    std::ofstream(path) << text;
    return path;
  }
  std::string dir_;
};

TEST_F(LoadConfigTest, ExplicitMissingFileIsEnoent) {
  ConfigFlags flags;
  flags.config_path = dir_ + "/nope.json";
  auto r = LoadConfig(flags);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ENOENT);
  EXPECT_THAT(r.error().message(), HasSubstr("nope.json"));
}

TEST_F(LoadConfigTest, DirectoryAsConfigIsAnError) {
  ConfigFlags flags;
  flags.config_path = dir_;
  auto r = LoadConfig(flags);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EISDIR);
}

TEST_F(LoadConfigTest, FlagsOverrideFileOverrideDefaults) {
  ConfigFlags flags;
  flags.config_path = Write(R"({"root": "/from/file", "driver": "vfs", "log-level": "info"})");
  flags.driver = "overlay";
  flags.log_file = "/tmp/x.log";
  auto r = LoadConfig(flags);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(r->config_file_loaded);
  EXPECT_EQ(r->config_path, *flags.config_path);
  EXPECT_EQ(r->root.value, "/from/file");
  EXPECT_EQ(r->root.source, ConfigSource::kConfigFile);
  EXPECT_EQ(r->driver.value, "overlay");
  EXPECT_EQ(r->driver.source, ConfigSource::kFlag);
  EXPECT_EQ(r->log_level.value, "info");
  EXPECT_EQ(r->log_level.source, ConfigSource::kConfigFile);
  EXPECT_EQ(r->log_file.value, "/tmp/x.log");
  EXPECT_EQ(r->log_file.source, ConfigSource::kFlag);
  EXPECT_EQ(r->driver_opts.source, ConfigSource::kDefault);

  flags.root = "/from/flag";
  r = LoadConfig(flags);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->root.value, "/from/flag");
  EXPECT_EQ(r->root.source, ConfigSource::kFlag);
}

TEST_F(LoadConfigTest, RelativeRootFlagIsMadeAbsoluteAgainstCwd) {
  ConfigFlags flags;
  flags.config_path = Write("{}");
  flags.root = "rel/../state/";
  auto r = LoadConfig(flags);
  ASSERT_TRUE(r.ok()) << r.error().message();
  char cwd[4096];
  ASSERT_NE(::getcwd(cwd, sizeof(cwd)), nullptr);
  EXPECT_EQ(r->root.value, std::string(cwd) + "/state");
  flags.root = "";
  EXPECT_EQ(LoadConfig(flags).error().code(), EINVAL);
}

TEST_F(LoadConfigTest, LogFileFlagRelativeMadeAbsoluteEmptyTurnsOff) {
  ConfigFlags flags;
  flags.config_path = Write(R"({"log-file": "/var/log/strata.log"})");
  flags.log_file = "logs/strata.log";
  auto r = LoadConfig(flags);
  ASSERT_TRUE(r.ok()) << r.error().message();
  char cwd[4096];
  ASSERT_NE(::getcwd(cwd, sizeof(cwd)), nullptr);
  EXPECT_EQ(r->log_file.value, std::string(cwd) + "/logs/strata.log");
  flags.log_file = "";
  r = LoadConfig(flags);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->log_file.value, "");
  EXPECT_EQ(r->log_file.source, ConfigSource::kFlag);
}

TEST_F(LoadConfigTest, EmptyConfigFlagRejected) {
  ConfigFlags flags;
  flags.config_path = "";
  EXPECT_EQ(LoadConfig(flags).error().code(), EINVAL);
}

TEST_F(LoadConfigTest, BadFlagLogLevelRejected) {
  ConfigFlags flags;
  flags.config_path = Write("{}");
  flags.log_level = "chatty";
  auto r = LoadConfig(flags);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EINVAL);
  EXPECT_THAT(r.error().message(), HasSubstr("--log-level"));
}

TEST_F(LoadConfigTest, FileErrorsNameTheFile) {
  ConfigFlags flags;
  flags.config_path = Write(R"({"roots": "/x"})");
  auto r = LoadConfig(flags);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message(), HasSubstr("config " + *flags.config_path + ": \"roots\""));
}

TEST(LoadConfigDefaultPathTest, MissingDefaultFileMeansDefaults) {
  if (::access(kDefaultConfigPath, F_OK) == 0) GTEST_SKIP() << kDefaultConfigPath << " exists";
  auto r = LoadConfig(ConfigFlags{});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_FALSE(r->config_file_loaded);
  EXPECT_EQ(r->config_path, kDefaultConfigPath);
  EXPECT_EQ(r->root.value, kDefaultRoot);
  EXPECT_EQ(r->root.source, ConfigSource::kDefault);
}

TEST(ConfigToJsonTest, ValuesAndSources) {
  Config c = Parsed(R"({"driver": "overlay", "driver-opts": {"overlay": {}}})");
  c.root = {"/r", ConfigSource::kFlag};
  json j = ConfigToJson(c);
  EXPECT_EQ(j["config-path"], kPath);
  EXPECT_EQ(j["config-file-loaded"], true);
  EXPECT_EQ(j["root"], (json{{"value", "/r"}, {"source", "flag"}}));
  EXPECT_EQ(j["driver"], (json{{"value", "overlay"}, {"source", "config file"}}));
  EXPECT_EQ(j["log-level"], (json{{"value", "warn"}, {"source", "default"}}));
  EXPECT_EQ(j["log-file"]["value"], "");
  EXPECT_EQ(j["driver-opts"]["value"], (json{{"overlay", json::object()}}));
  EXPECT_EQ(j["driver-opts"]["source"], "config file");
}

}  // namespace
}  // namespace strata
