// `strata run` end to end on the host (overlay driver, hybrid cgroups): exit codes, env, user,
// volumes attached for the container's life, limits, and a failed start leaving nothing.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/conformance/oci_builder.h"
#include "tests/support/run_command.h"

namespace strata {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::RunStrata;
using testing::TarBuilder;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class RunCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists("/bin/busybox")) GTEST_SKIP() << "needs busybox-static (tools/dev/deps.txt)";
    char tmpl[] = "/var/tmp/strata-run-cli-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    root_ = dir_ + "/root";
    TarBuilder base;
    base.Dir("bin").File("bin/busybox", ReadFile("/bin/busybox"), 0755);
    for (const char* applet : {"sh", "true", "cat", "echo", "id", "hostname", "sleep", "ls",
                               "head", "tr", "touch", "mount"}) {
      base.Symlink(std::string("bin/") + applet, "busybox");
    }
    base.Dir("etc").File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
        .File("etc/group", "root:x:0:\napp:x:1000:\n")
        .Dir("proc").Dir("sys").Dir("dev").Dir("tmp", 01777).Dir("data");
    testing::TestImage image;
    image.layers.push_back(std::move(base));
    image.ref_name = "latest";
    image.env = {"PATH=/bin", "GREETING=hello"};
    image.entrypoint = {};
    ASSERT_TRUE(testing::WriteOciLayout(dir_ + "/layout", {image}).ok());
    auto load = Strata({"image", "load", dir_ + "/layout", "--name", "bb"});
    ASSERT_EQ(load.exit_code, 0) << load.err;
  }
  void TearDown() override {
    if (dir_.empty()) return;
    testing::RunCommand({"sh", "-c", "grep -o ' " + dir_ + "[^ ]*' /proc/self/mountinfo | sort -r | "
                                     "xargs -r -n1 umount -l"});
    fs::remove_all(dir_);
  }
  testing::CommandResult Strata(std::vector<std::string> args) {
    args.insert(args.begin(), {"--driver", "overlay"});
    return RunStrata(root_, args);
  }
  size_t LayerCount() {
    auto r = Strata({"layer", "ls", "-q"});
    return static_cast<size_t>(std::count(r.out.begin(), r.out.end(), '\n'));
  }
  std::string dir_, root_;
};

TEST_F(RunCliTest, ExitCodesEnvUserAndHostname) {
  auto ok = Strata({"run", "--rm", "bb", "true"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  auto seven = Strata({"run", "--rm", "bb", "sh", "-c", "exit 7"});
  EXPECT_EQ(seven.exit_code, 7) << seven.err;
  // With --init the payload is not PID 1, so its own SIGKILL is not ignored.
  auto killed = Strata({"run", "--rm", "--init", "bb", "sh", "-c", "kill -9 $$"});
  EXPECT_EQ(killed.exit_code, 137) << killed.err;
  auto env = Strata({"run", "--rm", "-e", "EXTRA=1", "-u", "app", "--hostname", "box", "bb", "sh",
                     "-c", "echo $GREETING $EXTRA $(id -u) $(hostname) $$"});
  EXPECT_EQ(env.exit_code, 0) << env.err;
  EXPECT_EQ(env.out, "hello 1 1000 box 1\n");
  EXPECT_EQ(LayerCount(), 1u);  // only the image's: --rm removed each container layer
}

TEST_F(RunCliTest, VolumeIsAttachedForTheContainersLife) {
  ASSERT_EQ(Strata({"vol", "create", "data", "--backend", "local"}).exit_code, 0);
  auto write = Strata({"run", "--rm", "-v", "data:/data", "bb", "sh", "-c",
                       "echo kept > /data/file"});
  ASSERT_EQ(write.exit_code, 0) << write.err;
  auto read = Strata({"run", "--rm", "-v", "data:/data:ro", "bb", "sh", "-c",
                      "cat /data/file; touch /data/x 2>/dev/null && echo writable; true"});
  EXPECT_EQ(read.exit_code, 0) << read.err;
  EXPECT_EQ(read.out, "kept\n");
  auto inspect = Strata({"vol", "inspect", "data"});
  auto info = nlohmann::json::parse(inspect.out, nullptr, false);
  ASSERT_FALSE(info.is_discarded()) << inspect.out;
  EXPECT_TRUE(info[0]["attachments"].empty()) << inspect.out;
}

TEST_F(RunCliTest, LimitsAreEnforced) {
  auto oom = Strata({"run", "--rm", "--memory", "16m", "bb", "sh", "-c",
                     "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived"});
  EXPECT_EQ(oom.exit_code, 137) << oom.out << oom.err;
  auto pids = Strata({"run", "--rm", "--pids-limit", "5", "bb", "sh", "-c",
                      "for i in 1 2 3 4 5 6 7 8; do sleep 2 & done; wait; echo done"});
  EXPECT_NE(pids.exit_code, 0);
  EXPECT_THAT(pids.err, HasSubstr("can't fork")) << pids.exit_code;
}

TEST_F(RunCliTest, FailedStartLeavesNothing) {
  auto missing = Strata({"run", "--rm", "bb", "no-such-command"});
  EXPECT_EQ(missing.exit_code, 125);
  EXPECT_THAT(missing.err, HasSubstr("no-such-command"));
  auto bad_volume = Strata({"run", "--rm", "-v", "nosuchvol:/data", "bb", "true"});
  EXPECT_EQ(bad_volume.exit_code, 125);
  EXPECT_THAT(bad_volume.err, HasSubstr("nosuchvol"));
  auto bad_flag = Strata({"run", "--network", "bridge", "bb", "true"});
  EXPECT_EQ(bad_flag.exit_code, 125);
  EXPECT_EQ(LayerCount(), 1u);
}

}  // namespace
}  // namespace strata
