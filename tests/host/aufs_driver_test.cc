// The aufs driver with the strata-aufs FUSE helper, for real (root): the Docker-aufs layout on
// disk, writes through the union landing in diff/<id> with .wh. whiteouts, a SIGKILLed helper
// detected (IsMounted false) and cleaned by Unmount and by a later Mount, a missing helper
// giving EOPNOTSUPP naming it, and rootless layers through the CLI as uid 65534.
#include "drivers/aufs/aufs_driver.h"

#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "core/sys/mounts.h"
#include "tests/support/run_command.h"

namespace strata::drivers::aufs {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string AufsBinary() { return fs::path(STRATA_BINARY).parent_path().string() + "/strata-aufs"; }

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Put(const std::string& path, const std::string& content) { std::ofstream(path) << content; }

// The fs type of the mount at `path` ("" when none).
std::string MountType(const std::string& path) {
  auto table = sys::LinuxMounts().MountInfo();
  std::string type;
  if (table.ok()) {
    for (const sys::MountEntry& e : *table) {
      if (e.mount_point == path) type = e.fs_type;
    }
  }
  return type;
}

// The pid of the strata-aufs daemon serving `mnt` (its argv ends with the mount point), or 0.
pid_t HelperPid(const std::string& mnt) {
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = Slurp(entry.path().string() + "/cmdline");
    if (cmdline.find("strata-aufs") == std::string::npos) continue;
    if (cmdline.find(std::string(1, '\0') + mnt + std::string(1, '\0')) == std::string::npos) {
      continue;
    }
    return static_cast<pid_t>(std::stoi(name));
  }
  return 0;
}

// Kills the helper of `mnt` and waits until the mount answers ENOTCONN.
void KillHelper(const std::string& mnt) {
  const pid_t pid = HelperPid(mnt);
  ASSERT_NE(pid, 0) << "no strata-aufs process for " << mnt;
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  for (int i = 0; i < 200; ++i) {
    struct statfs st {};
    if (::statfs(mnt.c_str(), &st) != 0 && errno == ENOTCONN) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL() << mnt << " does not answer ENOTCONN after SIGKILL of its helper";
}

class AufsDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    if (::access("/dev/fuse", F_OK) != 0) GTEST_SKIP() << "needs /dev/fuse";
    char tmpl[] = "/var/tmp/strata-aufs-drv-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    const char* saved = std::getenv(kHelperEnv);
    if (saved != nullptr) saved_helper_env_ = saved;
    ASSERT_EQ(::setenv(kHelperEnv, AufsBinary().c_str(), 1), 0);
    auto driver = NewAufsDriver(DriverEnv{root_, &sys::LinuxMounts(), nullptr}, nullptr);
    ASSERT_TRUE(driver.ok()) << driver.error().message();
    driver_ = std::move(driver).value();
    home_ = root_ + "/aufs";
  }

  void TearDown() override {
    if (root_.empty()) return;
    driver_.reset();
    auto table = sys::LinuxMounts().MountInfo();
    if (table.ok()) {
      for (auto it = table->rbegin(); it != table->rend(); ++it) {
        if (it->mount_point.rfind(root_ + "/", 0) == 0) {
          (void)sys::LinuxMounts().Unmount(it->mount_point, sys::kMntDetach);  // test cleanup
        }
      }
    }
    // Other suites in this binary (the conformance suite) find the helper through it too.
    if (saved_helper_env_) {
      (void)::setenv(kHelperEnv, saved_helper_env_->c_str(), 1);
    } else {
      (void)::unsetenv(kHelperEnv);
    }
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // base (etc/keep, etc/gone) <- mid (etc/mid) <- top (read-write).
  void MakeChain() {
    ASSERT_TRUE(driver_->Create("base", "", LayerKind::kReadOnly, {}).ok());
    fs::create_directories(home_ + "/diff/base/etc");
    Put(home_ + "/diff/base/etc/keep", "keep\n");
    Put(home_ + "/diff/base/etc/gone", "gone\n");
    ASSERT_TRUE(driver_->Create("mid", "base", LayerKind::kReadOnly, {}).ok());
    fs::create_directories(home_ + "/diff/mid/etc");
    Put(home_ + "/diff/mid/etc/mid", "mid\n");
    ASSERT_TRUE(driver_->Create("top", "mid", LayerKind::kReadWrite, {}).ok());
  }

  std::string root_, home_;
  std::optional<std::string> saved_helper_env_;
  std::unique_ptr<Driver> driver_;
};

TEST_F(AufsDriverTest, LayoutAndWritesLandInDiff) {
  MakeChain();
  EXPECT_TRUE(fs::is_directory(home_ + "/diff/top"));
  EXPECT_EQ(Slurp(home_ + "/layers/base"), "");
  EXPECT_EQ(Slurp(home_ + "/layers/mid"), "base\n");
  EXPECT_EQ(Slurp(home_ + "/layers/top"), "mid\nbase\n");
  auto path = driver_->Mount("top");
  ASSERT_TRUE(path.ok()) << path.error().message();
  EXPECT_EQ(*path, home_ + "/mnt/top");
  EXPECT_EQ(MountType(*path), "fuse.strata-aufs");
  EXPECT_FALSE(fs::exists(home_ + "/mnt/.top.br")) << "the branch file outlives the mount";
  EXPECT_EQ(Slurp(*path + "/etc/keep"), "keep\n");
  EXPECT_EQ(Slurp(*path + "/etc/mid"), "mid\n");
  Put(*path + "/etc/new", "new\n");
  ASSERT_EQ(::unlink((*path + "/etc/gone").c_str()), 0);
  EXPECT_EQ(Slurp(home_ + "/diff/top/etc/new"), "new\n");
  EXPECT_TRUE(fs::exists(home_ + "/diff/top/etc/.wh.gone"));
  auto mounted = driver_->IsMounted("top");
  ASSERT_TRUE(mounted.ok());
  EXPECT_TRUE(*mounted);

  auto changes = driver_->Changes("top");
  ASSERT_TRUE(changes.ok()) << changes.error().message();
  std::vector<std::string> listed;
  for (const archive::Change& c : *changes) {
    listed.push_back(std::string(1, archive::ChangeKindLetter(c.kind)) + " " + c.path);
  }
  EXPECT_THAT(listed, ::testing::IsSupersetOf({"A etc/new", "D etc/gone"}));

  ASSERT_TRUE(driver_->Unmount("top").ok());
  EXPECT_EQ(MountType(home_ + "/mnt/top"), "");
  EXPECT_FALSE(fs::exists(home_ + "/mnt/top"));
  ASSERT_TRUE(driver_->Remove("top").ok());
  EXPECT_FALSE(fs::exists(home_ + "/diff/top"));
  EXPECT_FALSE(fs::exists(home_ + "/layers/top"));
}

TEST_F(AufsDriverTest, ParentMountIsReadOnly) {
  MakeChain();
  auto path = driver_->Mount("mid");
  ASSERT_TRUE(path.ok()) << path.error().message();
  std::ofstream out(*path + "/etc/x");
  EXPECT_FALSE(out.is_open()) << "mid is top's parent: its mount must be read-only";
  ASSERT_TRUE(driver_->Unmount("mid").ok());
}

TEST_F(AufsDriverTest, KilledHelperIsCleanedByUnmount) {
  MakeChain();
  auto path = driver_->Mount("top");
  ASSERT_TRUE(path.ok()) << path.error().message();
  KillHelper(*path);
  if (HasFatalFailure()) return;
  auto mounted = driver_->IsMounted("top");
  ASSERT_TRUE(mounted.ok()) << mounted.error().message();
  EXPECT_FALSE(*mounted) << "a dead helper's mount is not a usable mount";
  Status unmount = driver_->Unmount("top");
  ASSERT_TRUE(unmount.ok()) << unmount.error().message();
  EXPECT_EQ(MountType(home_ + "/mnt/top"), "");
  EXPECT_FALSE(fs::exists(home_ + "/mnt/top"));
}

TEST_F(AufsDriverTest, KilledHelperIsCleanedByNextMount) {
  MakeChain();
  auto path = driver_->Mount("top");
  ASSERT_TRUE(path.ok()) << path.error().message();
  KillHelper(*path);
  if (HasFatalFailure()) return;
  auto again = driver_->Mount("top");
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(Slurp(*again + "/etc/mid"), "mid\n");
  auto mounted = driver_->IsMounted("top");
  ASSERT_TRUE(mounted.ok());
  EXPECT_TRUE(*mounted);
  size_t mounts_at = 0;
  auto table = sys::LinuxMounts().MountInfo();
  ASSERT_TRUE(table.ok());
  for (const sys::MountEntry& e : *table) mounts_at += e.mount_point == *again;
  EXPECT_EQ(mounts_at, 1u) << "the dead mount was stacked over instead of cleaned";
  ASSERT_TRUE(driver_->Unmount("top").ok());
}

TEST_F(AufsDriverTest, MissingHelperIsNotSupportedNamingIt) {
  ASSERT_EQ(::setenv(kHelperEnv, "/nonexistent/strata-aufs", 1), 0);
  const DriverEnv env{root_ + "/other", &sys::LinuxMounts(), nullptr};
  Status probe = ProbeAufs(env);
  ASSERT_FALSE(probe.ok());
  EXPECT_EQ(probe.error().code(), EOPNOTSUPP);
  EXPECT_THAT(probe.error().message(), HasSubstr("/nonexistent/strata-aufs"));
  auto driver = NewAufsDriver(env, nullptr);
  ASSERT_FALSE(driver.ok());
  EXPECT_EQ(driver.error().code(), EOPNOTSUPP);
}

// Rootless layers: the strata CLI as uid 65534 imports a layer tar of root's files, mounts a
// layer on it (strata-aufs, through the setuid fusermount3), writes, lists the changes and unmounts
// (fusermount3 again: a user may not umount2), then does the same after SIGKILLing the helper
// (testing::RunAsNobodyWithFuse).
TEST_F(AufsDriverTest, RootlessLayersThroughTheCli) {
  ASSERT_EQ(::chmod(root_.c_str(), 0755), 0);
  const std::string user_root = root_ + "/user";
  ASSERT_EQ(::mkdir(user_root.c_str(), 0755), 0);
  ASSERT_EQ(::chown(user_root.c_str(), 65534, 65534), 0);
  // A layer tar of root's files, one with a trusted.* xattr: a user keeps neither (the files
  // become the user's, as GNU tar extracts them for a user), and the import still works.
  fs::create_directories(root_ + "/src/etc");
  Put(root_ + "/src/etc/f", "from the tar\n");
  ASSERT_EQ(::setxattr((root_ + "/src/etc/f").c_str(), "trusted.k", "v", 1, 0), 0);
  auto tar = testing::RunCommand({"tar", "-C", root_ + "/src", "--xattrs", "--xattrs-include=*",
                                  "--owner=0", "--group=0", "-cf", root_ + "/layer.tar", "."});
  ASSERT_EQ(tar.exit_code, 0) << tar.err;
  ASSERT_EQ(::chmod((root_ + "/layer.tar").c_str(), 0644), 0);
  const std::string script = "set -e\nR=" + user_root + "\nS=\"" + std::string(STRATA_BINARY) +
                             " --root $R --driver aufs\"\n" +
                             R"(base=$($S layer import "$R/../layer.tar")
$S layer create --rw -p "$base" top
m=$($S layer mount top)
cat "$m/etc/f"
echo hi >"$m/file"
$S layer changes top
ours() { awk -v m="$m" '$5 == m && / - fuse.strata-aufs /' /proc/self/mountinfo | wc -l; }
ours
$S layer umount top
ours
m=$($S layer mount top)
cat "$m/file"
pkill -KILL -f "br_file=$R/"
while stat -f "$m" >/dev/null 2>&1; do sleep 0.05; done
$S layer umount top
ours
$S layer rm top "$base"
echo done
)";
  std::string skip;
  auto r = testing::RunAsNobodyWithFuse(root_, script, &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out,
            "top\n"
            "from the tar\n"
            "A /file\n"
            "1\n"
            "0\n"
            "hi\n"
            "0\n"
            "done\n");
  EXPECT_FALSE(fs::exists(user_root + "/aufs/diff/top"));
}

}  // namespace
}  // namespace strata::drivers::aufs
