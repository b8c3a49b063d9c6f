// strata-oci end to end on the host (root; hybrid cgroups here, pure v2 in the VM tier): a
// busybox bundle, run/create/start/state/kill/delete, failures leaving nothing, crun/runc
// generated configs.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/run_command.h"

extern char** environ;

namespace strata {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::CommandResult;
using ::testing::HasSubstr;
using testing::RunCommand;

constexpr const char* kApplets[] = {"sh",    "true", "cat",   "echo", "id",  "hostname",
                                    "sleep", "ls",   "touch", "test", "kill"};

std::string OciBinary() { return fs::path(STRATA_BINARY).parent_path().string() + "/strata-oci"; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A runc-spec-like config.json for the busybox rootfs.
json BaseConfig(std::vector<std::string> args) {
  json mounts = json::parse(R"([
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
     "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs",
     "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
     "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}])");
  return {{"ociVersion", "1.0.2"},
          {"process",
           {{"terminal", false},
            {"user", {{"uid", 0}, {"gid", 0}}},
            {"args", args},
            {"env", {"PATH=/bin"}},
            {"cwd", "/"},
            {"capabilities",
             {{"bounding", {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}},
              {"effective", {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}},
              {"permitted", {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}}}},
            {"noNewPrivileges", true}}},
          {"root", {{"path", "rootfs"}, {"readonly", false}}},
          {"hostname", "oci-test"},
          {"mounts", mounts},
          {"linux",
           {{"namespaces",
             {{{"type", "pid"}},
              {{"type", "network"}},
              {{"type", "ipc"}},
              {{"type", "uts"}},
              {{"type", "mount"}},
              {{"type", "cgroup"}}}},
            {"maskedPaths", {"/proc/kcore"}},
            {"readonlyPaths", {"/proc/sys"}}}}};
}

class OciCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    if (!fs::exists("/bin/busybox")) GTEST_SKIP() << "needs /bin/busybox (busybox-static)";
    ASSERT_TRUE(fs::exists(OciBinary())) << OciBinary();
    char tmpl[] = "/tmp/strata-oci-cli-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    bundle_ = dir_ + "/bundle";
    root_ = dir_ + "/state";  // not /run/strata: --root is honoured
    const std::string rootfs = bundle_ + "/rootfs";
    for (const char* d : {"", "/bin", "/proc", "/sys", "/dev", "/etc", "/tmp"}) {
      fs::create_directories(rootfs + d);
    }
    fs::copy_file("/bin/busybox", rootfs + "/bin/busybox");
    for (const char* applet : kApplets) fs::create_symlink("busybox", rootfs + "/bin/" + applet);
  }
  void TearDown() override {
    if (dir_.empty()) return;
    // Leave no container behind even when a test failed half way.
    for (const std::string& id : ids_) (void)Oci({"delete", "--force", id});
    fs::remove_all(dir_);
  }

  void WriteConfig(const json& config) {
    std::ofstream(bundle_ + "/config.json") << config.dump(2);
  }
  CommandResult Oci(std::vector<std::string> args) {
    args.insert(args.begin(), {OciBinary(), "--root", root_});
    return RunCommand(args);
  }
  // create/run with this test's bundle; the id is deleted in TearDown. A created container
  // keeps create's stdio (as under containerd), so create writes to files, not to RunCommand's
  // pipes, which would stay open for the container's life.
  CommandResult Launch(const std::string& command, const std::string& id,
                       std::vector<std::string> extra = {}) {
    ids_.push_back(id);
    std::vector<std::string> args = {command, "--bundle", bundle_};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(id);
    if (command != "create") return Oci(args);
    std::string line = OciBinary() + " --root " + root_;
    for (const std::string& a : args) line += " '" + a + "'";
    line += " >" + dir_ + "/create.out 2>" + dir_ + "/create.err </dev/null";
    CommandResult r = RunCommand({"sh", "-c", line});
    r.out = ReadFile(dir_ + "/create.out");
    r.err = ReadFile(dir_ + "/create.err");
    return r;
  }
  json State(const std::string& id) {
    auto r = Oci({"state", id});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out, nullptr, false);
  }
  std::string Status(const std::string& id) {
    json s = State(id);
    return s.is_object() ? s.value("status", "?") : "?";
  }
  // Polls `id`'s status until it is `want` (5 s at most); the container may not exist yet.
  bool WaitStatus(const std::string& id, const std::string& want) {
    for (int i = 0; i < 500; ++i) {
      json s = json::parse(Oci({"state", id}).out, nullptr, false);
      if (s.is_object() && s.value("status", "") == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  std::vector<std::string> CgroupPaths(const std::string& id) {
    json s = json::parse(ReadFile(root_ + "/" + id + "/state.json"), nullptr, false);
    if (!s.is_object() || !s["cgroupPaths"].is_array()) return {};
    return s["cgroupPaths"].get<std::vector<std::string>>();
  }
  // Whether any cgroup hierarchy still has strata/<id>.
  static bool AnyCgroupLeft(const std::string& id) {
    for (const auto& entry : fs::directory_iterator("/sys/fs/cgroup")) {
      if (fs::exists(entry.path() / "strata" / id)) return true;
    }
    return fs::exists("/sys/fs/cgroup/strata/" + id);
  }

  std::string dir_, bundle_, root_;
  std::vector<std::string> ids_;
};

TEST_F(OciCliTest, RunPassesExitCodesAndCleansUp) {
  WriteConfig(BaseConfig({"true"}));
  auto ok = Launch("run", "oci-run-0");
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  WriteConfig(BaseConfig({"sh", "-c", "echo $(hostname) $$; exit 3"}));
  auto three = Launch("run", "oci-run-3");
  EXPECT_EQ(three.exit_code, 3) << three.err;
  EXPECT_EQ(three.out, "oci-test 1\n");
  EXPECT_FALSE(fs::exists(root_ + "/oci-run-3"));  // a foreground run deletes its container
  EXPECT_FALSE(AnyCgroupLeft("oci-run-3"));
}

TEST_F(OciCliTest, OomScoreAdjIsApplied) {
  json config = BaseConfig({"cat", "/proc/self/oom_score_adj"});
  config["process"]["oomScoreAdj"] = 123;
  WriteConfig(config);
  auto r = Launch("run", "oci-oom-adj");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "123\n");
}

TEST_F(OciCliTest, RunOfAKilledPayloadExits137) {
  WriteConfig(BaseConfig({"sleep", "30"}));
  ids_.push_back("oci-run-kill");
  std::vector<std::string> args = {OciBinary(), "--root", root_,         "run",
                                   "--bundle",  bundle_,  "oci-run-kill"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);
  ASSERT_TRUE(WaitStatus("oci-run-kill", "running"));
  auto kill = Oci({"kill", "oci-run-kill", "KILL"});
  EXPECT_EQ(kill.exit_code, 0) << kill.err;
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 137);
}

TEST_F(OciCliTest, CreateStartKillDelete) {
  // The payload leaves a mark in the rootfs: it must not appear before `start`.
  WriteConfig(BaseConfig({"sh", "-c", "touch /tmp/started; exec sleep 30"}));
  const std::string pid_file = dir_ + "/pid";
  auto create = Launch("create", "oci-life", {"--pid-file", pid_file});
  ASSERT_EQ(create.exit_code, 0) << create.err;
  json state = State("oci-life");
  EXPECT_EQ(state["status"], "created");
  EXPECT_EQ(state["id"], "oci-life");
  EXPECT_EQ(state["bundle"], bundle_);
  ASSERT_TRUE(state["pid"].is_number_integer());
  EXPECT_GT(state["pid"].get<int>(), 0);
  EXPECT_EQ(ReadFile(pid_file), std::to_string(state["pid"].get<int>()));
  std::vector<std::string> cgroups = CgroupPaths("oci-life");
  ASSERT_FALSE(cgroups.empty());
  for (const std::string& p : cgroups) EXPECT_TRUE(fs::exists(p)) << p;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(fs::exists(bundle_ + "/rootfs/tmp/started"));
  EXPECT_NE(Oci({"delete", "oci-life-nope"}).exit_code, 0);  // unknown id: an error, as runc

  auto start = Oci({"start", "oci-life"});
  ASSERT_EQ(start.exit_code, 0) << start.err;
  EXPECT_EQ(Status("oci-life"), "running");
  for (int i = 0; i < 500 && !fs::exists(bundle_ + "/rootfs/tmp/started"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(fs::exists(bundle_ + "/rootfs/tmp/started"));
  EXPECT_NE(Oci({"start", "oci-life"}).exit_code, 0);  // only a created container starts
  auto busy = Oci({"delete", "oci-life"});
  EXPECT_NE(busy.exit_code, 0);
  EXPECT_THAT(busy.err, HasSubstr("running"));
  auto list = Oci({"list", "-q"});
  EXPECT_EQ(list.out, "oci-life\n");

  EXPECT_EQ(Oci({"kill", "oci-life", "SIGKILL"}).exit_code, 0);
  EXPECT_TRUE(WaitStatus("oci-life", "stopped"));
  EXPECT_EQ(State("oci-life")["pid"], 0);
  EXPECT_NE(Oci({"kill", "oci-life", "TERM"}).exit_code, 0);  // not running
  auto del = Oci({"delete", "oci-life"});
  EXPECT_EQ(del.exit_code, 0) << del.err;
  EXPECT_FALSE(fs::exists(root_ + "/oci-life"));
  for (const std::string& p : cgroups) EXPECT_FALSE(fs::exists(p)) << p;
  EXPECT_NE(Oci({"state", "oci-life"}).exit_code, 0);
  EXPECT_EQ(Oci({"delete", "--force", "oci-life"}).exit_code, 0);
}

TEST_F(OciCliTest, DeleteOfACreatedContainerKillsIt) {
  WriteConfig(BaseConfig({"sleep", "30"}));
  ASSERT_EQ(Launch("create", "oci-created").exit_code, 0);
  int pid = State("oci-created")["pid"].get<int>();
  auto del = Oci({"delete", "oci-created"});
  EXPECT_EQ(del.exit_code, 0) << del.err;
  EXPECT_FALSE(AnyCgroupLeft("oci-created"));
  // The init was our (RunCommand's grandchild's) orphan: gone or a zombie now.
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  EXPECT_TRUE(stat.empty() || stat.find(") Z") != std::string::npos) << stat;
}

TEST_F(OciCliTest, BadConfigFailsAtCreateAndLeavesNothing) {
  WriteConfig(BaseConfig({"/bin/no-such-program"}));
  auto missing = Launch("create", "oci-bad");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.err, HasSubstr("exec \"/bin/no-such-program\""));
  EXPECT_FALSE(fs::exists(root_ + "/oci-bad"));
  EXPECT_FALSE(AnyCgroupLeft("oci-bad"));

  json no_root = BaseConfig({"true"});
  no_root["root"]["path"] = "no-such-rootfs";
  WriteConfig(no_root);
  auto bad_root = Launch("create", "oci-bad");
  EXPECT_NE(bad_root.exit_code, 0);
  EXPECT_THAT(bad_root.err, HasSubstr("root.path " + bundle_ + "/no-such-rootfs"));
  EXPECT_FALSE(fs::exists(root_ + "/oci-bad"));

  json bad_field = BaseConfig({"true"});
  bad_field["process"]["cwd"] = "relative";
  WriteConfig(bad_field);
  auto cwd = Launch("create", "oci-bad");
  EXPECT_THAT(cwd.err, HasSubstr("process.cwd"));
  EXPECT_FALSE(fs::exists(root_ + "/oci-bad"));
  EXPECT_FALSE(AnyCgroupLeft("oci-bad"));

  auto bad_id = Launch("create", "../escape");
  EXPECT_NE(bad_id.exit_code, 0);
  EXPECT_THAT(bad_id.err, HasSubstr("container ID"));
}

TEST_F(OciCliTest, DuplicateIdIsRefused) {
  WriteConfig(BaseConfig({"sleep", "30"}));
  ASSERT_EQ(Launch("create", "oci-dup").exit_code, 0);
  auto again = Launch("create", "oci-dup");
  EXPECT_NE(again.exit_code, 0);
  EXPECT_THAT(again.err, HasSubstr("already exists"));
  EXPECT_EQ(Status("oci-dup"), "created");  // the first one is untouched
}

TEST_F(OciCliTest, HooksGetTheStateOnStdin) {
  json config = BaseConfig({"true"});
  auto hook = [&](const std::string& name) {
    return json{{"path", "/bin/sh"}, {"args", {"sh", "-c", "cat > " + dir_ + "/" + name}}};
  };
  config["hooks"] = {{"createRuntime", {hook("createRuntime")}},
                     {"poststart", {hook("poststart")}},
                     {"poststop", {hook("poststop")}}};
  config["annotations"] = {{"org.strata.test", "yes"}};
  WriteConfig(config);
  auto run = Launch("run", "oci-hooks");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  for (const char* name : {"createRuntime", "poststart", "poststop"}) {
    json s = json::parse(ReadFile(dir_ + "/" + name), nullptr, false);
    ASSERT_TRUE(s.is_object()) << name;
    EXPECT_EQ(s["id"], "oci-hooks") << name;
    EXPECT_EQ(s["annotations"]["org.strata.test"], "yes") << name;
    // Stopped containers report pid 0 (as runc): only poststop sees one.
    if (std::string(name) != "poststop") {
      EXPECT_GT(s["pid"].get<int>(), 0) << name;
    }
  }
}

TEST_F(OciCliTest, MainCliPassesThrough) {
  WriteConfig(BaseConfig({"sh", "-c", "exit 4"}));
  ids_.push_back("oci-main");
  auto r = RunCommand({STRATA_BINARY, "oci", "--root", root_, "run", "-b", bundle_, "oci-main"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  auto help = RunCommand({STRATA_BINARY, "oci", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("strata-oci"));
}

// A config.json written by crun or runc itself (`spec`), with only args and terminal patched.
TEST_F(OciCliTest, RunsConfigsFromCrunAndRuncSpec) {
  int tried = 0;
  for (const char* tool : {"crun", "runc"}) {
    if (RunCommand({"sh", "-c", std::string("command -v ") + tool}).exit_code != 0) continue;
    ++tried;
    fs::remove(bundle_ + "/config.json");
    auto spec = RunCommand({"sh", "-c", "cd " + bundle_ + " && " + tool + " spec"});
    ASSERT_EQ(spec.exit_code, 0) << tool << ": " << spec.err;
    json config = json::parse(ReadFile(bundle_ + "/config.json"), nullptr, false);
    ASSERT_TRUE(config.is_object()) << tool;
    config["process"]["terminal"] = false;
    config["process"]["args"] = {"sh", "-c",
                                 "echo from $(hostname); cat /proc/self/status | "
                                 "grep -c NoNewPrivs"};
    WriteConfig(config);
    const std::string id = std::string("oci-") + tool;
    auto r = Launch("run", id);
    EXPECT_EQ(r.exit_code, 0) << tool << ": " << r.err;
    EXPECT_THAT(r.out, HasSubstr("from " + config["hostname"].get<std::string>())) << tool;
  }
  if (tried == 0) GTEST_SKIP() << "neither crun nor runc is installed";
}

}  // namespace
}  // namespace strata
