// `strata run` end to end on the host (overlay driver, hybrid cgroups): exit codes, env, user,
// volumes attached for the container's life, limits, and a failed start leaving nothing; then
// containers' lives: -d, ps, logs, stop, kill, rm, names, and a monitor that dies.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/conformance/oci_builder.h"
#include "tests/support/run_command.h"

namespace strata {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
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
  // ps -a --json, the entry for `ref` (a name or a full id); null when absent.
  nlohmann::json Ps(const std::string& ref) {
    auto r = Strata({"ps", "-a", "--json"});
    auto all = nlohmann::json::parse(r.out, nullptr, false);
    if (all.is_discarded()) ADD_FAILURE() << r.out << r.err;
    for (const auto& c : all) {
      if (c["name"] == ref || c["id"] == ref) return c;
    }
    return nullptr;
  }
  // Polls `done` for up to 20 s.
  static bool WaitFor(const std::function<bool()>& done) {
    for (int i = 0; i < 200; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return done();
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
  // -d: the monitor's failure comes back to the foreground, which undoes everything, the volume
  // attachment included.
  ASSERT_EQ(Strata({"vol", "create", "data", "--backend", "local"}).exit_code, 0);
  auto detached = Strata({"run", "-d", "--name", "nope", "-v", "data:/data", "--memory", "32m",
                          "bb", "no-such-command"});
  EXPECT_EQ(detached.exit_code, 125);
  EXPECT_THAT(detached.err, HasSubstr("no-such-command"));
  EXPECT_EQ(detached.out, "");
  auto inspect = nlohmann::json::parse(Strata({"vol", "inspect", "data"}).out, nullptr, false);
  ASSERT_FALSE(inspect.is_discarded());
  EXPECT_TRUE(inspect[0]["attachments"].empty()) << inspect.dump();
  EXPECT_EQ(Strata({"ps", "-a", "-q"}).out, "");
  EXPECT_FALSE(fs::exists(root_ + "/containers") && !fs::is_empty(root_ + "/containers"));
  EXPECT_EQ(LayerCount(), 1u);
}

TEST_F(RunCliTest, DetachedContainerLivesThroughPsLogsStopRm) {
  auto run = Strata({"run", "-d", "--name", "web", "bb", "sh", "-c",
                     "echo started; echo oops >&2; sleep 60"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::string id = run.out.substr(0, run.out.find('\n'));
  EXPECT_EQ(id.size(), 64u) << run.out;
  auto c = Ps("web");
  ASSERT_FALSE(c.is_null());
  EXPECT_EQ(c["id"], id);
  EXPECT_EQ(c["state"], "running");
  EXPECT_TRUE(c["running"].get<bool>()) << c.dump();
  EXPECT_GT(c["pid"].get<int>(), 0);
  auto ps = Strata({"ps"});
  EXPECT_THAT(ps.out, HasSubstr("web"));
  EXPECT_THAT(ps.out, HasSubstr("Up "));
  EXPECT_TRUE(WaitFor([&] { return Strata({"logs", "web"}).out == "started\noops\n"; }))
      << Strata({"logs", "web"}).out;
  std::vector<std::string> cgroups = c["cgroups"];
  ASSERT_FALSE(cgroups.empty());
  for (const auto& dir : cgroups) EXPECT_TRUE(fs::exists(dir)) << dir;

  // sh as PID 1 ignores SIGTERM: stop waits -t, then SIGKILLs.
  auto stop = Strata({"stop", "-t", "1", "web"});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  c = Ps("web");
  EXPECT_EQ(c["state"], "exited") << c.dump();
  EXPECT_EQ(c["exit_code"], 137) << c.dump();
  EXPECT_FALSE(c["running"].get<bool>());
  for (const auto& dir : cgroups) EXPECT_FALSE(fs::exists(dir)) << dir;
  EXPECT_THAT(Strata({"ps"}).out, Not(HasSubstr("web")));
  EXPECT_EQ(Strata({"logs", "web"}).out, "started\noops\n");  // the log outlives the process
  EXPECT_EQ(LayerCount(), 2u);  // the exited container keeps its layer until rm

  auto rm = Strata({"rm", "web"});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_TRUE(Ps("web").is_null());
  EXPECT_EQ(LayerCount(), 1u);
  EXPECT_FALSE(fs::exists(root_ + "/containers/" + id));
  auto again = Strata({"rm", "web"});  // idempotent
  EXPECT_EQ(again.exit_code, 0) << again.err;
}

TEST_F(RunCliTest, DetachedExitCodesAndSignals) {
  ASSERT_EQ(Strata({"run", "-d", "--name", "three", "bb", "sh", "-c", "exit 3"}).exit_code, 0);
  EXPECT_TRUE(WaitFor([&] { return Ps("three")["state"] == "exited"; }));
  EXPECT_EQ(Ps("three")["exit_code"], 3);
  // With --init a SIGTERM reaches the payload: 128 + 15.
  ASSERT_EQ(Strata({"run", "-d", "--init", "--name", "term", "bb", "sleep", "60"}).exit_code, 0);
  EXPECT_EQ(Strata({"stop", "-t", "20", "term"}).exit_code, 0);
  EXPECT_EQ(Ps("term")["exit_code"], 143) << Ps("term").dump();
  // kill sends SIGKILL by default; a stopped container cannot be killed again.
  ASSERT_EQ(Strata({"run", "-d", "--name", "k", "bb", "sleep", "60"}).exit_code, 0);
  auto busy = Strata({"rm", "k"});
  EXPECT_EQ(busy.exit_code, 1);
  EXPECT_THAT(busy.err, HasSubstr("is running"));
  EXPECT_EQ(Strata({"kill", "k"}).exit_code, 0);
  EXPECT_TRUE(WaitFor([&] { return Ps("k")["state"] == "exited"; }));
  EXPECT_EQ(Ps("k")["exit_code"], 137);
  auto dead = Strata({"kill", "k"});
  EXPECT_EQ(dead.exit_code, 1);
  EXPECT_THAT(dead.err, HasSubstr("not running"));
  auto bad_signal = Strata({"kill", "-s", "NOPE", "k"});
  EXPECT_NE(bad_signal.exit_code, 0);
  EXPECT_THAT(bad_signal.err, HasSubstr("NOPE"));
  // rm -f kills a running one; -d --rm removes itself when it ends.
  ASSERT_EQ(Strata({"run", "-d", "--name", "f", "bb", "sleep", "60"}).exit_code, 0);
  EXPECT_EQ(Strata({"rm", "-f", "f"}).exit_code, 0);
  ASSERT_EQ(Strata({"run", "-d", "--rm", "--name", "gone", "bb", "true"}).exit_code, 0);
  EXPECT_TRUE(WaitFor([&] { return Ps("gone").is_null(); }));
  // logs -f follows until the container ends.
  ASSERT_EQ(Strata({"run", "-d", "--name", "follow", "bb", "sh", "-c",
                    "echo a; sleep 1; echo b"}).exit_code, 0);
  auto followed = Strata({"logs", "-f", "follow"});
  EXPECT_EQ(followed.exit_code, 0) << followed.err;
  EXPECT_EQ(followed.out, "a\nb\n");
  // The monitor ignores SIGHUP/SIGINT/SIGPIPE; the payload must not inherit that.
  ASSERT_EQ(Strata({"run", "-d", "--name", "sig", "bb", "cat", "/proc/self/status"}).exit_code, 0);
  EXPECT_TRUE(WaitFor([&] { return Ps("sig")["state"] == "exited"; }));
  EXPECT_THAT(Strata({"logs", "sig"}).out, HasSubstr("SigIgn:\t0000000000000000"));
  EXPECT_EQ(Strata({"rm", "three", "term", "k", "sig", "follow"}).exit_code, 0);
  EXPECT_EQ(LayerCount(), 1u);
  EXPECT_EQ(Strata({"ps", "-a", "-q"}).out, "");
}

TEST_F(RunCliTest, NamesGuardImagesAndLayers) {
  auto first = Strata({"run", "--name", "keep", "bb", "sh", "-c", "exit 4"});
  EXPECT_EQ(first.exit_code, 4) << first.err;
  auto c = Ps("keep");
  EXPECT_EQ(c["state"], "exited");
  EXPECT_EQ(c["exit_code"], 4);
  EXPECT_FALSE(c["detached"].get<bool>());
  auto taken = Strata({"run", "--name", "keep", "bb", "true"});
  EXPECT_EQ(taken.exit_code, 125);
  EXPECT_THAT(taken.err, HasSubstr("\"keep\" is taken"));
  auto bad_name = Strata({"run", "--name", "-x", "bb", "true"});
  EXPECT_EQ(bad_name.exit_code, 125);
  EXPECT_EQ(LayerCount(), 2u);  // neither refused run made a layer
  auto image_rm = Strata({"image", "rm", "bb"});
  EXPECT_EQ(image_rm.exit_code, 1);
  EXPECT_THAT(image_rm.err, HasSubstr("used by container keep (exited)"));
  auto layer_rm = Strata({"layer", "rm", c["id"].get<std::string>()});
  EXPECT_NE(layer_rm.exit_code, 0);
  EXPECT_THAT(layer_rm.err, HasSubstr("container keep"));
  auto logs = Strata({"logs", "keep"});
  EXPECT_EQ(logs.exit_code, 1);
  EXPECT_THAT(logs.err, HasSubstr("foreground"));
  auto unknown = Strata({"stop", "nobody"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("no such container: nobody"));
  // Short id prefixes work.
  EXPECT_EQ(Strata({"rm", c["id"].get<std::string>().substr(0, 6)}).exit_code, 0);
  EXPECT_EQ(Strata({"image", "rm", "bb"}).exit_code, 0);
}

TEST_F(RunCliTest, DetachedVolumeIsDetachedWhenTheContainerEnds) {
  ASSERT_EQ(Strata({"vol", "create", "data", "--backend", "local"}).exit_code, 0);
  ASSERT_EQ(Strata({"run", "-d", "--name", "w", "-v", "data:/data", "bb", "sh", "-c",
                    "echo x > /data/f; sleep 60"}).exit_code, 0);
  auto attachments = [&] {
    auto info = nlohmann::json::parse(Strata({"vol", "inspect", "data"}).out, nullptr, false);
    return info.is_discarded() ? 99 : static_cast<int>(info[0]["attachments"].size());
  };
  EXPECT_EQ(attachments(), 1);
  EXPECT_EQ(Strata({"stop", "-t", "0", "w"}).exit_code, 0);
  EXPECT_EQ(attachments(), 0);
  EXPECT_EQ(Strata({"rm", "w"}).exit_code, 0);
  auto read = Strata({"run", "--rm", "-v", "data:/data", "bb", "cat", "/data/f"});
  EXPECT_EQ(read.out, "x\n");
}

TEST_F(RunCliTest, StopFinishesTheWorkOfADeadMonitor) {
  ASSERT_EQ(Strata({"run", "-d", "--name", "orphan", "bb", "sleep", "60"}).exit_code, 0);
  auto c = Ps("orphan");
  ASSERT_GT(c["monitor_pid"].get<int>(), 0) << c.dump();
  ASSERT_EQ(::kill(c["monitor_pid"].get<int>(), SIGKILL), 0);
  EXPECT_TRUE(WaitFor([&] { return !fs::exists("/proc/" + std::to_string(c["monitor_pid"].get<int>()) + "/exe"); }));
  c = Ps("orphan");
  EXPECT_TRUE(c["running"].get<bool>()) << c.dump();  // the container outlives its monitor
  EXPECT_EQ(Strata({"stop", "-t", "0", "orphan"}).exit_code, 0);
  c = Ps("orphan");
  EXPECT_EQ(c["state"], "exited") << c.dump();
  EXPECT_TRUE(c["exit_code"].is_null());  // nobody could wait for it
  for (const auto& dir : c["cgroups"]) EXPECT_FALSE(fs::exists(dir.get<std::string>())) << dir;
  EXPECT_EQ(Strata({"rm", "orphan"}).exit_code, 0);
  EXPECT_EQ(LayerCount(), 1u);
}

}  // namespace
}  // namespace strata
