// End-to-end tests of the `strata` CLI as a user runs it: exit codes, --help, --json, config
// errors, and the layer lifecycle on each driver.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/sys/device_mapper.h"
#include "tests/support/run_command.h"

namespace strata {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::RunCommand;
using testing::RunStrata;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/strata-cli-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    root_ = dir_ + "/root";
  }
  void TearDown() override {
    // Drop any mounts a failed test left, then the scratch dir.
    RunCommand({"sh", "-c", "grep -o ' " + dir_ + "[^ ]*' /proc/self/mountinfo | sort -r | "
                            "xargs -r -n1 umount -l"});
    fs::remove_all(dir_);
  }
  void WriteFile(const std::string& path, const std::string& text) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path) << text;
  }
  std::string ReadFile(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::string dir_, root_;
};

TEST_F(CliTest, EveryCommandHasHelp) {
  const std::vector<std::vector<std::string>> commands = {
      {}, {"info"}, {"driver"}, {"driver", "ls"}, {"layer"}, {"layer", "create"},
      {"layer", "ls"}, {"layer", "inspect"}, {"layer", "mount"}, {"layer", "umount"},
      {"layer", "rm"}, {"layer", "import"}, {"layer", "export"}, {"layer", "changes"},
      {"pool"}, {"pool", "create"}, {"pool", "status"}, {"pool", "extend"}, {"pool", "check"},
      {"dm"}, {"dm", "ls"}, {"dm", "table"}, {"image"}, {"image", "load"}, {"image", "ls"},
      {"image", "inspect"}, {"image", "tag"}, {"image", "rm"}, {"image", "save"}, {"run"}};
  for (auto args : commands) {
    args.push_back("--help");
    auto r = RunStrata(root_, args);
    EXPECT_EQ(r.exit_code, 0) << ::testing::PrintToString(args) << r.err;
    EXPECT_THAT(r.out, HasSubstr("Usage")) << ::testing::PrintToString(args);
  }
}

TEST_F(CliTest, UsageErrorsExitTwoWithSuggestion) {
  auto r = RunStrata(root_, {"lyer", "ls"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("did you mean \"layer\""));
  EXPECT_EQ(RunStrata(root_, {"layer", "mount"}).exit_code, 2);  // missing id
  EXPECT_EQ(RunStrata(root_, {"layer", "ls", "--bogus"}).exit_code, 2);
}

TEST_F(CliTest, InfoShowsWhereEachValueCameFrom) {
  WriteFile(dir_ + "/config.json", R"({"driver": "vfs", "log-level": "error"})");
  auto r = RunStrata(root_, {"--config", dir_ + "/config.json", "info", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["config"]["driver"]["value"], "vfs");
  EXPECT_EQ(j["config"]["driver"]["source"], "config file");
  EXPECT_EQ(j["config"]["root"]["value"], root_);
  EXPECT_EQ(j["config"]["root"]["source"], "flag");
  EXPECT_EQ(j["driver"]["name"], "vfs");
  EXPECT_EQ(j["layers"], 0);
}

TEST_F(CliTest, BadConfigIsRejectedNamingTheKey) {
  WriteFile(dir_ + "/config.json", R"({"drivr": "vfs"})");
  auto r = RunStrata(root_, {"--config", dir_ + "/config.json", "layer", "ls"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("drivr"));
  EXPECT_THAT(r.err, HasSubstr("did you mean \"driver\""));
  EXPECT_FALSE(fs::exists(root_ + "/strata.db")) << "a rejected config must change nothing";

  WriteFile(dir_ + "/bad.json", R"({"driver-opts": {"vfs": {"bogus": 1}}})");
  r = RunStrata(root_, {"--config", dir_ + "/bad.json", "layer", "ls"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("driver-opts.vfs.bogus"));

  r = RunStrata(root_, {"--config", dir_ + "/missing.json", "info"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("missing.json"));
}

TEST_F(CliTest, DeviceMapperCommandsSayItIsMissingOnThisKernel) {
  // A /dev/mapper/control node may exist without a driver behind it (lvm2's package makes one).
  if (sys::ProbeDeviceMapper().ok()) GTEST_SKIP() << "this kernel has device-mapper";
  const bool had_dev_mapper = fs::exists("/dev/mapper");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"pool", "status"}, {"dm", "ls"}}) {
    auto r = RunStrata(root_, args);
    EXPECT_EQ(r.exit_code, 1) << args[0];
    EXPECT_THAT(r.err, HasSubstr("device-mapper not available")) << args[0];
  }
  if (!had_dev_mapper) {
    EXPECT_FALSE(fs::exists("/dev/mapper")) << "probing must not create /dev/mapper";
  }
}

TEST_F(CliTest, UnknownDriverSuggestsTheClosest) {
  auto r = RunStrata(root_, {"--driver", "ovrlay", "layer", "ls"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("did you mean \"overlay\""));
}

TEST_F(CliTest, DriverLsListsOverlayAndVfs) {
  auto r = RunStrata(root_, {"driver", "ls", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  std::vector<std::string> names;
  for (const auto& d : j) names.push_back(d["name"]);
  EXPECT_THAT(names, ::testing::Contains("overlay"));
  EXPECT_THAT(names, ::testing::Contains("vfs"));
}

class CliLayerTest : public CliTest, public ::testing::WithParamInterface<std::string> {
 protected:
  testing::CommandResult Strata(std::vector<std::string> args) {
    args.insert(args.begin(), {"--driver", GetParam()});
    return RunStrata(root_, args);
  }
  std::string MustRun(const std::vector<std::string>& args) {
    auto r = Strata(args);
    EXPECT_EQ(r.exit_code, 0) << ::testing::PrintToString(args) << ": " << r.err;
    std::string out = r.out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
};

TEST_P(CliLayerTest, ImportStackMountDiffExportRemove) {
  WriteFile(dir_ + "/base/etc/motd", "base\n");
  WriteFile(dir_ + "/base/etc/old.conf", "old\n");
  WriteFile(dir_ + "/top/etc/new.conf", "new\n");
  WriteFile(dir_ + "/top/etc/.wh.old.conf", "");
  ASSERT_EQ(RunCommand({"tar", "-C", dir_ + "/base", "-czf", dir_ + "/base.tgz", "."}).exit_code, 0);
  ASSERT_EQ(RunCommand({"tar", "-C", dir_ + "/top", "-cf", dir_ + "/top.tar", "."}).exit_code, 0);

  std::string base = MustRun({"layer", "import", dir_ + "/base.tgz"});
  ASSERT_EQ(base.size(), 64u) << base;
  std::string top = MustRun({"layer", "import", "--parent", base.substr(0, 12), dir_ + "/top.tar"});
  MustRun({"layer", "create", "--rw", "--parent", top, "ctr"});
  std::string mnt = MustRun({"layer", "mount", "ctr"});
  EXPECT_EQ(ReadFile(mnt + "/etc/motd"), "base\n");
  EXPECT_EQ(ReadFile(mnt + "/etc/new.conf"), "new\n");
  EXPECT_FALSE(fs::exists(mnt + "/etc/old.conf")) << "the whiteout must hide the base file";

  WriteFile(mnt + "/etc/motd", "changed\n");
  WriteFile(mnt + "/added", "x\n");
  fs::remove(mnt + "/etc/new.conf");
  std::string changes = MustRun({"layer", "changes", "ctr"});
  EXPECT_THAT(changes, HasSubstr("C /etc/motd"));
  EXPECT_THAT(changes, HasSubstr("A /added"));
  EXPECT_THAT(changes, HasSubstr("D /etc/new.conf"));

  // Removing a mounted layer fails and names the holder; the layer survives.
  auto busy = Strata({"layer", "rm", "ctr"});
  EXPECT_EQ(busy.exit_code, 1);
  EXPECT_THAT(busy.err, HasSubstr("mounted"));

  std::string digest = MustRun({"layer", "export", "ctr", "-o", dir_ + "/ctr.tar"});
  auto sum = RunCommand({"sha256sum", dir_ + "/ctr.tar"});
  EXPECT_EQ("sha256:" + sum.out.substr(0, 64), digest);

  // Applying the export onto the same parent reproduces the container's view.
  std::string copy = MustRun({"layer", "import", "--parent", top, dir_ + "/ctr.tar"});
  std::string copy_mnt = MustRun({"layer", "mount", copy});
  auto diff = RunCommand({"diff", "-r", "--no-dereference", mnt, copy_mnt});
  EXPECT_EQ(diff.exit_code, 0) << diff.out << diff.err;

  auto ls = nlohmann::json::parse(MustRun({"layer", "ls", "--json"}));
  EXPECT_EQ(ls.size(), 4u);

  MustRun({"layer", "umount", "ctr"});
  MustRun({"layer", "umount", copy});
  MustRun({"layer", "rm", "ctr", copy, top, base});
  MustRun({"layer", "rm", "ctr"});  // idempotent
  EXPECT_EQ(MustRun({"layer", "ls", "-q"}), "");
}

TEST_P(CliLayerTest, RejectedArchiveLeavesNoLayer) {
  // A tar whose entry climbs out of the layer root.
  WriteFile(dir_ + "/evil/x", "x\n");
  ASSERT_EQ(RunCommand({"tar", "-C", dir_ + "/evil", "-cf", dir_ + "/evil.tar",
                        "--transform", "s,^x,../../escaped,", "x"}).exit_code, 0);
  auto r = Strata({"layer", "import", dir_ + "/evil.tar"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("escaped"));
  EXPECT_EQ(MustRun({"layer", "ls", "-q"}), "");
  EXPECT_FALSE(fs::exists(dir_ + "/escaped"));
  EXPECT_FALSE(fs::exists("/tmp/escaped"));
}

INSTANTIATE_TEST_SUITE_P(Drivers, CliLayerTest, ::testing::Values("vfs", "overlay"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace strata
