// The local volume backend against the real kernel: plain directories on the host, and project
// quotas on an xfs filesystem mounted with prjquota from a loop image (root, mkfs.xfs).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/sys/mounts.h"
#include "core/sys/quota.h"
#include "tests/fakes/fake_quota.h"
#include "tests/support/run_command.h"
#include "volumes/backend.h"

namespace strata::volumes {
namespace {

using ::testing::HasSubstr;
using strata::testing::RunCommand;

// XFS reports an exceeded project quota as ENOSPC (a project is a directory tree, so it reads
// like a full filesystem); user and group quotas give EDQUOT.
::testing::Matcher<int> OverQuota() { return ::testing::AnyOf(ENOSPC, EDQUOT); }
constexpr uint64_t kMiB = 1024 * 1024;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::trunc);
  out << content;
}

bool PathExists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// Writes `bytes` of data to `path` and fsyncs; returns 0 or the first errno.
int WriteBytes(const std::string& path, uint64_t bytes) {
  int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  std::vector<char> chunk(1 * kMiB, 'x');
  int err = 0;
  for (uint64_t done = 0; done < bytes && err == 0; done += chunk.size()) {
    if (::write(fd, chunk.data(), chunk.size()) < 0) err = errno;
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  ::close(fd);
  return err;
}

class VolLocalBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    char tmpl[] = "/var/tmp/strata-vol-local-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    UseRoot(dir_ + "/root");
  }
  void TearDown() override {
    if (dir_.empty()) return;
    for (auto it = mounted_.rbegin(); it != mounted_.rend(); ++it) {
      (void)sys::LinuxMounts().Unmount(*it, sys::kMntDetach);  // frees mount(8)'s loop device
    }
    (void)std::system(("rm -rf " + dir_).c_str());  // best effort: test scratch
  }

  void UseRoot(const std::string& root) {
    ::mkdir(root.c_str(), 0700);
    env_ = BackendEnv();
    env_.root = root;
    env_.mounts = &sys::LinuxMounts();
    env_.quota = &sys::LinuxQuota();
    backend_ = NewLocalBackend(env_);
  }

  // An xfs filesystem from a loop image, mounted at <dir>/<name> with `options`.
  std::string MountXfs(const std::string& name, const std::string& options) {
    const std::string image = dir_ + "/" + name + ".img", mnt = dir_ + "/" + name;
    EXPECT_EQ(RunCommand({"truncate", "-s", "320M", image}).exit_code, 0);
    auto mkfs = RunCommand({"mkfs.xfs", "-q", image});
    EXPECT_EQ(mkfs.exit_code, 0) << mkfs.err;
    ::mkdir(mnt.c_str(), 0755);
    auto mount = RunCommand({"mount", "-o", "loop" + options, image, mnt});
    if (mount.exit_code == 0) mounted_.push_back(mnt);
    return mount.exit_code == 0 ? mnt : "";
  }

  // MountXfs with prjquota, or "" when this kernel cannot (CONFIG_XFS_QUOTA off).
  std::string MountXfsPrjquota() {
    std::string mnt = MountXfs("quota", ",prjquota");
    if (mnt.empty()) {
      auto dmesg = RunCommand({"dmesg"});
      EXPECT_THAT(dmesg.out, HasSubstr("quota support not available")) << "mount failed otherwise";
    }
    return mnt;
  }

  VolumeRecord Record(const std::string& name, uint64_t size_bytes, std::string path = "") {
    VolumeRecord v;
    v.name = name;
    v.backend = BackendKind::kLocal;
    v.size_bytes = size_bytes;
    v.path = std::move(path);
    return v;
  }

  std::string dir_;
  std::vector<std::string> mounted_;
  BackendEnv env_;
  std::unique_ptr<Backend> backend_;
};

TEST_F(VolLocalBackendTest, CreateActivateDestroyWithoutSize) {
  VolumeRecord v = Record("v", 0);
  auto ref = backend_->Create(v);
  ASSERT_TRUE(ref.ok()) << ref.error().message();
  EXPECT_EQ(*ref, env_.root + "/volumes/local/v");
  struct stat st {};
  ASSERT_EQ(::stat(ref->c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  auto active = backend_->Activate(v);
  ASSERT_TRUE(active.ok()) << active.error().message();
  EXPECT_EQ(*active, *ref);
  WriteAll(*active + "/data", "kept");
  ASSERT_TRUE(backend_->Deactivate(v).ok());
  EXPECT_EQ(ReadAll(*backend_->Activate(v) + "/data"), "kept");
  auto details = backend_->Details(v);
  ASSERT_TRUE(details.ok());
  EXPECT_EQ(details->location, *ref);
  EXPECT_FALSE(details->used_bytes.has_value());  // no quota on the host filesystem
  ASSERT_TRUE(backend_->Destroy(v).ok());
  EXPECT_FALSE(PathExists(*ref));
  ASSERT_TRUE(backend_->Destroy(v).ok());
  EXPECT_EQ(backend_->Activate(v).error().code(), ENOENT);
}

TEST_F(VolLocalBackendTest, SizeWithoutProjectQuotaIsEopnotsupp) {
  // The host filesystem (whatever it is) as the root: /var/tmp has no prjquota here.
  Status check = backend_->CheckCreate(Record("v", 64 * kMiB));
  if (check.ok()) GTEST_SKIP() << "/var/tmp enforces project quotas on this machine";
  EXPECT_EQ(check.error().code(), EOPNOTSUPP);
  EXPECT_THAT(check.error().message(), HasSubstr("needs XFS with project quotas"));
  EXPECT_THAT(check.error().message(), HasSubstr("prjquota"));
  auto ref = backend_->Create(Record("v", 64 * kMiB));
  ASSERT_FALSE(ref.ok());
  EXPECT_EQ(ref.error().code(), EOPNOTSUPP);
  EXPECT_FALSE(PathExists(env_.root + "/volumes/local/v"));
}

TEST_F(VolLocalBackendTest, SizeOnXfsWithoutPrjquotaIsEopnotsupp) {
  const std::string mnt = MountXfs("plain", "");
  ASSERT_FALSE(mnt.empty());
  UseRoot(mnt);
  Status check = backend_->CheckCreate(Record("v", 64 * kMiB));
  ASSERT_FALSE(check.ok());
  EXPECT_EQ(check.error().code(), EOPNOTSUPP);
  EXPECT_THAT(check.error().message(), HasSubstr("is on xfs (mounted at " + mnt + ")"));
  EXPECT_THAT(check.error().message(), HasSubstr("without project quota enforcement"));
  EXPECT_EQ(backend_->Grow(Record("v", 0), 64 * kMiB).error().code(), EOPNOTSUPP);
}

TEST_F(VolLocalBackendTest, QuotaLimitsWritesAndGrowRaisesIt) {
  const std::string mnt = MountXfsPrjquota();
  if (mnt.empty()) GTEST_SKIP() << "kernel without xfs project quotas (CONFIG_XFS_QUOTA)";
  UseRoot(mnt);
  VolumeRecord v = Record("v", 8 * kMiB);
  ASSERT_TRUE(backend_->CheckCreate(v).ok());
  auto ref = backend_->Create(v);
  ASSERT_TRUE(ref.ok()) << ref.error().message();
  auto id = sys::LinuxQuota().GetProjectId(*ref);
  ASSERT_TRUE(id.ok()) << id.error().message();
  EXPECT_GE(*id, 100000u);
  EXPECT_EQ(WriteBytes(*ref + "/small", 4 * kMiB), 0);
  EXPECT_THAT(WriteBytes(*ref + "/big", 16 * kMiB), OverQuota());
  auto details = backend_->Details(v);
  ASSERT_TRUE(details.ok());
  ASSERT_TRUE(details->used_bytes.has_value());
  EXPECT_GE(*details->used_bytes, 4 * kMiB);

  ASSERT_TRUE(backend_->Grow(v, 32 * kMiB).ok());
  ASSERT_TRUE(backend_->Grow(v, 32 * kMiB).ok());  // idempotent
  EXPECT_EQ(*sys::LinuxQuota().GetProjectId(*ref), *id);  // same project, higher limit
  EXPECT_EQ(WriteBytes(*ref + "/big", 16 * kMiB), 0);

  // A second volume gets a project of its own.
  auto other = backend_->Create(Record("w", 8 * kMiB));
  ASSERT_TRUE(other.ok()) << other.error().message();
  EXPECT_NE(*sys::LinuxQuota().GetProjectId(*other), *id);

  ASSERT_TRUE(backend_->Destroy(v).ok());
  EXPECT_FALSE(PathExists(*ref));
  auto usage = sys::LinuxQuota().GetProjectUsage(env_.root, *id);
  if (usage.ok()) {
    EXPECT_EQ(usage->hard_limit_bytes, 0u);  // limit gone (or no record at all)
  }
}

TEST_F(VolLocalBackendTest, SnapshotCopiesTreeIntoItsOwnProject) {
  const std::string mnt = MountXfsPrjquota();
  if (mnt.empty()) GTEST_SKIP() << "kernel without xfs project quotas (CONFIG_XFS_QUOTA)";
  UseRoot(mnt);
  VolumeRecord origin = Record("origin", 16 * kMiB);
  auto ref = backend_->Create(origin);
  ASSERT_TRUE(ref.ok()) << ref.error().message();
  origin.ref = *ref;
  ASSERT_EQ(::mkdir((*ref + "/sub").c_str(), 0711), 0);
  WriteAll(*ref + "/sub/file", "before");
  ASSERT_EQ(::chown((*ref + "/sub/file").c_str(), 1234, 5678), 0);

  VolumeRecord snap = Record("snap", 32 * kMiB);
  auto sref = backend_->Snapshot(origin, snap);
  ASSERT_TRUE(sref.ok()) << sref.error().message();
  EXPECT_EQ(ReadAll(*sref + "/sub/file"), "before");
  struct stat st {};
  ASSERT_EQ(::stat((*sref + "/sub").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0711u);
  ASSERT_EQ(::stat((*sref + "/sub/file").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1234u);
  const uint32_t snap_id = *sys::LinuxQuota().GetProjectId(*sref);
  EXPECT_NE(snap_id, 0u);
  EXPECT_NE(snap_id, *sys::LinuxQuota().GetProjectId(*ref));
  EXPECT_EQ(*sys::LinuxQuota().GetProjectId(*sref + "/sub/file"), snap_id);

  WriteAll(*ref + "/sub/file", "origin after");
  EXPECT_EQ(ReadAll(*sref + "/sub/file"), "before");
  EXPECT_EQ(WriteBytes(*sref + "/big", 24 * kMiB), 0);  // the snapshot's own, bigger limit
  EXPECT_THAT(WriteBytes(*ref + "/big", 24 * kMiB), OverQuota());
  ASSERT_TRUE(backend_->Destroy(snap).ok());
  ASSERT_TRUE(backend_->Destroy(origin).ok());
}

TEST_F(VolLocalBackendTest, AdoptedPathKeepsDataOnDestroy) {
  const std::string mnt = MountXfsPrjquota();
  if (mnt.empty()) GTEST_SKIP() << "kernel without xfs project quotas (CONFIG_XFS_QUOTA)";
  UseRoot(mnt + "/root");
  const std::string path = mnt + "/mine";
  ASSERT_EQ(::mkdir(path.c_str(), 0750), 0);
  WriteAll(path + "/existing", "user data");

  VolumeRecord v = Record("v", 8 * kMiB, path);
  auto ref = backend_->Create(v);
  ASSERT_TRUE(ref.ok()) << ref.error().message();
  EXPECT_EQ(*ref, path);
  const uint32_t id = *sys::LinuxQuota().GetProjectId(path);
  EXPECT_NE(id, 0u);
  EXPECT_EQ(*sys::LinuxQuota().GetProjectId(path + "/existing"), id);  // charged too
  EXPECT_THAT(WriteBytes(path + "/big", 16 * kMiB), OverQuota());

  ASSERT_TRUE(backend_->Destroy(v).ok());
  EXPECT_EQ(ReadAll(path + "/existing"), "user data");
  EXPECT_EQ(*sys::LinuxQuota().GetProjectId(path), 0u);
  EXPECT_EQ(*sys::LinuxQuota().GetProjectId(path + "/existing"), 0u);
  EXPECT_EQ(WriteBytes(path + "/big", 16 * kMiB), 0);  // no limit any more
  ASSERT_TRUE(backend_->Destroy(v).ok());
}

TEST_F(VolLocalBackendTest, SnapshotWithoutSizeCopiesTree) {
  VolumeRecord origin = Record("origin", 0);
  auto ref = backend_->Create(origin);
  ASSERT_TRUE(ref.ok()) << ref.error().message();
  origin.ref = *ref;
  ASSERT_EQ(::mkdir((*ref + "/sub").c_str(), 0711), 0);
  WriteAll(*ref + "/sub/file", "before");
  ASSERT_EQ(::chown((*ref + "/sub/file").c_str(), 1234, 5678), 0);
  auto sref = backend_->Snapshot(origin, Record("snap", 0));
  ASSERT_TRUE(sref.ok()) << sref.error().message();
  EXPECT_EQ(*sref, env_.root + "/volumes/local/snap");
  struct stat st {};
  ASSERT_EQ(::stat((*sref + "/sub").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0711u);
  ASSERT_EQ(::stat((*sref + "/sub/file").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1234u);
  WriteAll(*ref + "/sub/file", "origin after");
  EXPECT_EQ(ReadAll(*sref + "/sub/file"), "before");
  EXPECT_EQ(backend_->Snapshot(origin, Record("snap", 0)).error().code(), EEXIST);
  EXPECT_EQ(ReadAll(*sref + "/sub/file"), "before");  // the failed one did not touch it
  EXPECT_EQ(backend_->Snapshot(origin, Record("p", 0, dir_)).error().code(), EINVAL);
}

TEST_F(VolLocalBackendTest, CheckCreateRejectsBadPaths) {
  EXPECT_EQ(backend_->CheckCreate(Record("v", 0, "relative/dir")).error().code(), EINVAL);
  EXPECT_EQ(backend_->CheckCreate(Record("v", 0, dir_ + "/missing")).error().code(), ENOENT);
  WriteAll(dir_ + "/file", "x");
  EXPECT_EQ(backend_->CheckCreate(Record("v", 0, dir_ + "/file")).error().code(), ENOTDIR);
  EXPECT_TRUE(backend_->CheckCreate(Record("v", 0, dir_)).ok());
  EXPECT_TRUE(backend_->Probe().ok());
}

// The project-quota policy with a fake seam, on any filesystem (this runs even where the kernel
// has no quota support): fresh ids, skipping taken ones, limits, rollback, adopted directories.
class VolLocalQuotaPolicyTest : public VolLocalBackendTest {
 protected:
  void SetUp() override {
    VolLocalBackendTest::SetUp();
    if (IsSkipped()) return;
    env_.quota = &quota_;
    backend_ = NewLocalBackend(env_);
  }
  FakeQuota quota_;
};

TEST_F(VolLocalQuotaPolicyTest, CreateGrowDestroy) {
  quota_.SetUsage(100000, {4096, 0});  // in use by someone else: skipped
  VolumeRecord v = Record("v", 8 * kMiB);
  auto ref = backend_->Create(v);
  ASSERT_TRUE(ref.ok()) << ref.error().message();
  EXPECT_EQ(quota_.id(*ref), 100001u);
  EXPECT_TRUE(quota_.inherits(*ref));
  EXPECT_EQ(quota_.limit(100001), 8 * kMiB);
  EXPECT_EQ(ReadAll(env_.root + "/volumes/local/.next-project-id"), "100002\n");
  ASSERT_TRUE(backend_->Grow(v, 16 * kMiB).ok());
  EXPECT_EQ(quota_.id(*ref), 100001u);
  EXPECT_EQ(quota_.limit(100001), 16 * kMiB);
  auto w = backend_->Create(Record("w", 8 * kMiB));
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(quota_.id(*w), 100002u);
  ASSERT_TRUE(backend_->Destroy(v).ok());
  EXPECT_EQ(quota_.limit(100001), 0u);
  EXPECT_FALSE(PathExists(*ref));
}

TEST_F(VolLocalQuotaPolicyTest, FailedLimitRollsBack) {
  quota_.FailNext("set_limit", EPERM);
  auto ref = backend_->Create(Record("v", 8 * kMiB));
  ASSERT_FALSE(ref.ok());
  EXPECT_EQ(ref.error().code(), EPERM);
  EXPECT_FALSE(PathExists(env_.root + "/volumes/local/v"));
}

TEST_F(VolLocalQuotaPolicyTest, QuotasOffIsEopnotsupp) {
  quota_.set_enforced(false);
  Status check = backend_->CheckCreate(Record("v", 8 * kMiB));
  ASSERT_FALSE(check.ok());
  EXPECT_EQ(check.error().code(), EOPNOTSUPP);
  EXPECT_TRUE(backend_->CheckCreate(Record("v", 0)).ok());
}

TEST_F(VolLocalQuotaPolicyTest, AdoptedTreeIsChargedAndReleased) {
  const std::string path = dir_ + "/mine";
  ASSERT_EQ(::mkdir(path.c_str(), 0750), 0);
  ASSERT_EQ(::mkdir((path + "/sub").c_str(), 0750), 0);
  WriteAll(path + "/sub/existing", "user data");
  ASSERT_EQ(::symlink("existing", (path + "/sub/link").c_str()), 0);
  VolumeRecord v = Record("v", 8 * kMiB, path);
  auto ref = backend_->Create(v);
  ASSERT_TRUE(ref.ok()) << ref.error().message();
  const uint32_t id = quota_.id(path);
  EXPECT_NE(id, 0u);
  EXPECT_EQ(quota_.id(path + "/sub"), id);
  EXPECT_TRUE(quota_.inherits(path + "/sub"));
  EXPECT_EQ(quota_.id(path + "/sub/existing"), id);
  EXPECT_FALSE(quota_.inherits(path + "/sub/existing"));
  EXPECT_EQ(quota_.id(path + "/sub/link"), 0u);  // symlinks have no fsxattr
  ASSERT_TRUE(backend_->Destroy(v).ok());
  EXPECT_EQ(ReadAll(path + "/sub/existing"), "user data");
  EXPECT_EQ(quota_.id(path), 0u);
  EXPECT_EQ(quota_.id(path + "/sub/existing"), 0u);
  EXPECT_FALSE(quota_.inherits(path));
  EXPECT_EQ(quota_.limit(id), 0u);
}

}  // namespace
}  // namespace strata::volumes
