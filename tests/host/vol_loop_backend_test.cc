// The loop volume backend against the real kernel (root, /dev/loop-control, mkfs.ext4/xfs):
// images, loop devices, stage mounts, online and offline grow, frozen snapshots, cleanup.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "core/sys/files.h"
#include "core/sys/loop.h"
#include "core/sys/mounts.h"
#include "volumes/backend.h"
#include "volumes/fs_stage.h"
#include "volumes/loop_backend_internal.h"

namespace strata::volumes {
namespace {

using ::testing::HasSubstr;
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

uint64_t FsSizeBytes(const std::string& dir) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.f_blocks) * st.f_frsize;
}

// An autoclear loop device may go away just after the unmount returns.
bool LoopGone(const std::string& image) {
  for (int i = 0; i < 200; ++i) {
    if (!sys::LinuxLoop().FindByBackingFile(image).ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Whether this process has CAP_SYS_RESOURCE, which ext4 online resize (EXT4_IOC_RESIZE_FS)
// demands; some container sandboxes drop it even for root.
bool HasCapSysResource() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) {
      return (std::stoull(line.substr(7), nullptr, 16) >> 24) & 1;  // CAP_SYS_RESOURCE = 24
    }
  }
  return false;
}

// Delegates to the real seam, failing the calls a test chooses.
class FailingFiles : public sys::Files {
 public:
  int clone_errno = 0;
  int copy_errno = 0;
  Status Clone(int s, int d) override {
    if (clone_errno != 0) return Error(clone_errno, "FICLONE (injected)");
    return sys::LinuxFiles().Clone(s, d);
  }
  Result<std::optional<uint64_t>> SeekData(int fd, uint64_t off) override {
    return sys::LinuxFiles().SeekData(fd, off);
  }
  Result<uint64_t> SeekHole(int fd, uint64_t off) override {
    return sys::LinuxFiles().SeekHole(fd, off);
  }
  Result<uint64_t> CopyRange(int s, int d, uint64_t off, uint64_t len) override {
    if (copy_errno != 0) return Error(copy_errno, "copy_file_range (injected)");
    return sys::LinuxFiles().CopyRange(s, d, off, len);
  }
  Status Freeze(const std::string& mp) override { return sys::LinuxFiles().Freeze(mp); }
  Status Thaw(const std::string& mp) override { return sys::LinuxFiles().Thaw(mp); }
};

class VolLoopBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0 || ::access("/dev/loop-control", F_OK) != 0) {
      GTEST_SKIP() << "needs root and /dev/loop-control";
    }
    char tmpl[] = "/var/tmp/strata-vol-loop-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    env_.root = root_;
    env_.mounts = &sys::LinuxMounts();
    env_.loop = &sys::LinuxLoop();
    backend_ = NewLoopBackendWithFiles(env_, files_);
  }

  // Unmounts everything under the root (deepest first) and detaches its loop devices.
  void TearDown() override {
    if (root_.empty()) return;
    (void)sys::LinuxFiles().Thaw(StageDir(root_, "origin"));  // best effort: a failed test
    auto table = sys::LinuxMounts().MountInfo();
    if (table.ok()) {
      for (auto it = table->rbegin(); it != table->rend(); ++it) {
        if (it->mount_point.rfind(root_ + "/", 0) == 0) {
          (void)sys::LinuxMounts().Unmount(it->mount_point, sys::kMntDetach);
        }
      }
    }
    for (const char* name : {"origin", "snap", "v", "x"}) {
      std::string image = LoopImagePath(root_, name);
      for (int i = 0; i < 8; ++i) {
        auto dev = sys::LinuxLoop().FindByBackingFile(image);
        if (!dev.ok()) break;
        (void)sys::LinuxLoop().Detach(*dev);
      }
    }
    (void)std::system(("rm -rf " + root_).c_str());  // best effort: test scratch
  }

  VolumeRecord Record(const std::string& name, Filesystem fs, uint64_t size_bytes) {
    VolumeRecord v;
    v.name = name;
    v.backend = BackendKind::kLoop;
    v.fs = fs;
    v.size_bytes = size_bytes;
    return v;
  }

  // Create must leave the volume inactive: no stage, no device.
  void ExpectInactive(const VolumeRecord& v) {
    EXPECT_FALSE(PathExists(StageDir(root_, v.name)));
    EXPECT_TRUE(LoopGone(LoopImagePath(root_, v.name)));
  }

  std::string root_;
  BackendEnv env_;
  FailingFiles files_;
  std::unique_ptr<Backend> backend_;
};

TEST_F(VolLoopBackendTest, CreateActivateWriteDeactivateReactivate) {
  VolumeRecord v = Record("v", Filesystem::kExt4, 64 * kMiB);
  auto ref = backend_->Create(v);
  ASSERT_TRUE(ref.ok()) << ref.error().message();
  EXPECT_EQ(*ref, root_ + "/volumes/loop/v.img");
  struct stat st {};
  ASSERT_EQ(::stat(ref->c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), 64 * kMiB);
  EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, 32 * kMiB);  // sparse
  ExpectInactive(v);
  v.ref = *ref;

  auto stage = backend_->Activate(v);
  ASSERT_TRUE(stage.ok()) << stage.error().message();
  EXPECT_EQ(*stage, StageDir(root_, "v"));
  EXPECT_TRUE(*IsStageMounted(sys::LinuxMounts(), *stage));
  EXPECT_FALSE(PathExists(*stage + "/lost+found"));
  WriteAll(*stage + "/data", "hello volume");
  auto again = backend_->Activate(v);  // idempotent
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(*again, *stage);

  auto details = backend_->Details(v);
  ASSERT_TRUE(details.ok()) << details.error().message();
  EXPECT_THAT(details->device, HasSubstr("/dev/loop"));
  EXPECT_EQ(details->location, *ref);
  ASSERT_TRUE(details->used_bytes.has_value());
  EXPECT_GT(*details->used_bytes, 0u);

  ASSERT_TRUE(backend_->Deactivate(v).ok());
  ExpectInactive(v);
  ASSERT_TRUE(backend_->Deactivate(v).ok());  // not active: Ok
  EXPECT_EQ(backend_->Details(v)->device, "");

  stage = backend_->Activate(v);
  ASSERT_TRUE(stage.ok()) << stage.error().message();
  EXPECT_EQ(ReadAll(*stage + "/data"), "hello volume");
  ASSERT_TRUE(backend_->Deactivate(v).ok());
}

TEST_F(VolLoopBackendTest, DeactivateBusyStageIsEbusy) {
  VolumeRecord v = Record("v", Filesystem::kExt4, 32 * kMiB);
  ASSERT_TRUE(backend_->Create(v).ok());
  auto stage = backend_->Activate(v);
  ASSERT_TRUE(stage.ok()) << stage.error().message();
  int fd = ::open((*stage + "/busy").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  Status busy = backend_->Deactivate(v);
  ::close(fd);
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().code(), EBUSY);
  ASSERT_TRUE(backend_->Deactivate(v).ok());
}

TEST_F(VolLoopBackendTest, XfsCreateAndGrowOffline) {
  VolumeRecord v = Record("v", Filesystem::kXfs, 320 * kMiB);
  auto ref = backend_->Create(v);
  ASSERT_TRUE(ref.ok()) << ref.error().message();
  v.ref = *ref;
  ExpectInactive(v);
  Status grown = backend_->Grow(v, 640 * kMiB);
  ASSERT_TRUE(grown.ok()) << grown.error().message();
  ExpectInactive(v);  // the temporary activation is undone
  ASSERT_TRUE(backend_->Grow(v, 640 * kMiB).ok());  // a redo finishes (here: nothing) the job
  auto stage = backend_->Activate(v);
  ASSERT_TRUE(stage.ok()) << stage.error().message();
  EXPECT_GT(FsSizeBytes(*stage), 540 * kMiB);  // 640M less xfs's log and metadata
  ASSERT_TRUE(backend_->Deactivate(v).ok());
}

// Grow of an active volume: device and filesystem grow under the mount, data stays.
void GrowOnline(Backend& backend, VolumeRecord v, uint64_t to_bytes) {
  auto ref = backend.Create(v);
  ASSERT_TRUE(ref.ok()) << ref.error().message();
  v.ref = *ref;
  auto stage = backend.Activate(v);
  ASSERT_TRUE(stage.ok()) << stage.error().message();
  WriteAll(*stage + "/data", "kept");
  const uint64_t before = FsSizeBytes(*stage);
  EXPECT_LE(before, v.size_bytes);
  Status grown = backend.Grow(v, to_bytes);
  ASSERT_TRUE(grown.ok()) << grown.error().message();
  EXPECT_TRUE(*IsStageMounted(sys::LinuxMounts(), *stage));  // still active
  const uint64_t after = FsSizeBytes(*stage);
  EXPECT_GT(after, before + (to_bytes - v.size_bytes) * 9 / 10);
  EXPECT_EQ(ReadAll(*stage + "/data"), "kept");
  ASSERT_TRUE(backend.Grow(v, v.size_bytes).ok());  // never shrinks
  EXPECT_EQ(FsSizeBytes(*stage), after);
  ASSERT_TRUE(backend.Deactivate(v).ok());
}

TEST_F(VolLoopBackendTest, GrowOnlineXfs) {
  GrowOnline(*backend_, Record("v", Filesystem::kXfs, 320 * kMiB), 640 * kMiB);
}

TEST_F(VolLoopBackendTest, GrowOnlineExt4) {
  if (!HasCapSysResource()) {
    // Refused with the reason, and the volume stays usable.
    VolumeRecord v = Record("v", Filesystem::kExt4, 64 * kMiB);
    auto ref = backend_->Create(v);
    ASSERT_TRUE(ref.ok()) << ref.error().message();
    v.ref = *ref;
    ASSERT_TRUE(backend_->Activate(v).ok());
    Status grown = backend_->Grow(v, 256 * kMiB);
    ASSERT_FALSE(grown.ok());
    EXPECT_EQ(grown.error().code(), EPERM);
    EXPECT_THAT(grown.error().message(), HasSubstr("CAP_SYS_RESOURCE"));
    ASSERT_TRUE(backend_->Deactivate(v).ok());
    GTEST_SKIP() << "ext4 online resize needs CAP_SYS_RESOURCE (checked the refusal only)";
  }
  GrowOnline(*backend_, Record("v", Filesystem::kExt4, 64 * kMiB), 256 * kMiB);
}

// Detached ext4 grows offline (e2fsck + resize2fs on the image file), with no capability needed.
TEST_F(VolLoopBackendTest, GrowOfflineExt4) {
  VolumeRecord v = Record("v", Filesystem::kExt4, 64 * kMiB);
  auto ref = backend_->Create(v);
  ASSERT_TRUE(ref.ok()) << ref.error().message();
  v.ref = *ref;
  // Offline (e2fsck + resize2fs on the image): works without CAP_SYS_RESOURCE too.
  Status grown = backend_->Grow(v, 256 * kMiB);
  ExpectInactive(v);
  ASSERT_TRUE(grown.ok()) << grown.error().message();
  auto stage = backend_->Activate(v);
  ASSERT_TRUE(stage.ok()) << stage.error().message();
  EXPECT_GT(FsSizeBytes(*stage), 200 * kMiB);
  ASSERT_TRUE(backend_->Deactivate(v).ok());
}

// The origin stays mounted and in use; the copy is taken frozen, grown to the bigger size, and
// the two are independent afterwards. xfs: both mount at once thanks to nouuid.
TEST_F(VolLoopBackendTest, SnapshotOfActiveXfsOriginIsIndependent) {
  VolumeRecord origin = Record("origin", Filesystem::kXfs, 320 * kMiB);
  auto ref = backend_->Create(origin);
  ASSERT_TRUE(ref.ok()) << ref.error().message();
  origin.ref = *ref;
  auto ostage = backend_->Activate(origin);
  ASSERT_TRUE(ostage.ok()) << ostage.error().message();
  WriteAll(*ostage + "/data", "before");

  VolumeRecord snap = Record("snap", Filesystem::kXfs, 400 * kMiB);
  auto sref = backend_->Snapshot(origin, snap);
  ASSERT_TRUE(sref.ok()) << sref.error().message();
  snap.ref = *sref;
  ExpectInactive(snap);
  // Thawed: thawing again is EINVAL, and the origin takes writes.
  EXPECT_EQ(sys::LinuxFiles().Thaw(*ostage).error().code(), EINVAL);
  WriteAll(*ostage + "/data", "origin after");

  struct stat st {};
  ASSERT_EQ(::stat(sref->c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), 400 * kMiB);
  EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, 200 * kMiB);  // holes kept

  auto sstage = backend_->Activate(snap);
  ASSERT_TRUE(sstage.ok()) << sstage.error().message();
  EXPECT_EQ(ReadAll(*sstage + "/data"), "before");
  EXPECT_GT(FsSizeBytes(*sstage), FsSizeBytes(*ostage) + 70 * kMiB);  // grown by 80M
  WriteAll(*sstage + "/data", "snap after");
  EXPECT_EQ(ReadAll(*ostage + "/data"), "origin after");
  ASSERT_TRUE(backend_->Deactivate(snap).ok());
  ASSERT_TRUE(backend_->Deactivate(origin).ok());
}

TEST_F(VolLoopBackendTest, FailedSnapshotThawsOriginAndLeavesNothing) {
  VolumeRecord origin = Record("origin", Filesystem::kExt4, 32 * kMiB);
  auto ref = backend_->Create(origin);
  ASSERT_TRUE(ref.ok()) << ref.error().message();
  origin.ref = *ref;
  auto ostage = backend_->Activate(origin);
  ASSERT_TRUE(ostage.ok()) << ostage.error().message();
  files_.clone_errno = EOPNOTSUPP;
  files_.copy_errno = EIO;
  auto sref = backend_->Snapshot(origin, Record("snap", Filesystem::kExt4, 32 * kMiB));
  ASSERT_FALSE(sref.ok());
  EXPECT_EQ(sref.error().code(), EIO);
  EXPECT_THAT(sref.error().message(), HasSubstr("copy_file_range (injected)"));
  EXPECT_EQ(sys::LinuxFiles().Thaw(*ostage).error().code(), EINVAL);  // not frozen
  EXPECT_FALSE(PathExists(LoopImagePath(root_, "snap")));
  WriteAll(*ostage + "/data", "writable");
  EXPECT_EQ(ReadAll(*ostage + "/data"), "writable");
  ASSERT_TRUE(backend_->Deactivate(origin).ok());
}

TEST_F(VolLoopBackendTest, DestroyIsIdempotent) {
  VolumeRecord v = Record("v", Filesystem::kExt4, 32 * kMiB);
  auto ref = backend_->Create(v);
  ASSERT_TRUE(ref.ok()) << ref.error().message();
  ASSERT_TRUE(backend_->Activate(v).ok());
  Status destroyed = backend_->Destroy(v);  // ref "" : found by name
  ASSERT_TRUE(destroyed.ok()) << destroyed.error().message();
  EXPECT_FALSE(PathExists(*ref));
  ExpectInactive(v);
  ASSERT_TRUE(backend_->Destroy(v).ok());
  ASSERT_TRUE(backend_->Destroy(Record("never-made", Filesystem::kExt4, 0)).ok());
}

// A persistent (non-autoclear) device bound to the image, as a crash of another tool leaves.
TEST_F(VolLoopBackendTest, DestroyDetachesLeftoverDevices) {
  VolumeRecord v = Record("v", Filesystem::kExt4, 32 * kMiB);
  auto ref = backend_->Create(v);
  ASSERT_TRUE(ref.ok()) << ref.error().message();
  sys::LoopConfig persistent;
  persistent.autoclear = sys::LoopAutoclear::kNever;
  // Tests run in parallel: another one may take the free device between GetFree and Configure.
  Result<int> index = Error(EBUSY, "no attempt");
  Result<UniqueFd> configured = Error(EBUSY, "no attempt");
  for (int attempt = 0; attempt < 20 && !configured.ok(); ++attempt) {
    index = sys::LinuxLoop().GetFree();
    ASSERT_TRUE(index.ok()) << index.error().message();
    configured = sys::LinuxLoop().Configure(*index, *ref, persistent);
  }
  ASSERT_TRUE(configured.ok()) << configured.error().message();
  configured->Reset();  // as the crashed tool's: the binding stays (no autoclear), no fd open
  ASSERT_TRUE(sys::LinuxLoop().FindByBackingFile(*ref).ok());
  auto stage = backend_->Activate(v);  // reuses the bound device
  ASSERT_TRUE(stage.ok()) << stage.error().message();
  EXPECT_EQ(backend_->Details(v)->device, "/dev/loop" + std::to_string(*index));
  ASSERT_TRUE(backend_->Destroy(v).ok());
  EXPECT_TRUE(LoopGone(*ref));
  EXPECT_FALSE(PathExists(*ref));
}

TEST_F(VolLoopBackendTest, FailedMkfsLeavesNothing) {
  VolumeRecord v = Record("v", Filesystem::kExt4, 32 * kMiB);
  v.mkfs_options = {"-O", "no_such_feature"};
  auto ref = backend_->Create(v);
  ASSERT_FALSE(ref.ok());
  EXPECT_EQ(ref.error().code(), EIO);
  EXPECT_THAT(ref.error().message(), HasSubstr("mkfs.ext4"));
  EXPECT_FALSE(PathExists(LoopImagePath(root_, "v")));
  ExpectInactive(v);
}

TEST_F(VolLoopBackendTest, FailedMountLeavesNothing) {
  VolumeRecord v = Record("v", Filesystem::kExt4, 32 * kMiB);
  v.mount_options = {"no_such_option"};
  auto ref = backend_->Create(v);
  ASSERT_FALSE(ref.ok());
  EXPECT_THAT(ref.error().message(), HasSubstr("mount"));
  EXPECT_FALSE(PathExists(LoopImagePath(root_, "v")));
  ExpectInactive(v);
}

TEST_F(VolLoopBackendTest, CheckCreateRejectsSmallAndMissingSizes) {
  Status small = backend_->CheckCreate(Record("v", Filesystem::kExt4, 1 * kMiB));
  ASSERT_FALSE(small.ok());
  EXPECT_EQ(small.error().code(), EINVAL);
  EXPECT_THAT(small.error().message(), HasSubstr("size 1M is below the ext4 minimum of 16M"));
  Status none = backend_->CheckCreate(Record("v", Filesystem::kXfs, 0));
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), EINVAL);
  EXPECT_TRUE(backend_->CheckCreate(Record("v", Filesystem::kXfs, 300 * kMiB)).ok());
  EXPECT_TRUE(backend_->Probe().ok());
  EXPECT_FALSE(PathExists(root_ + "/volumes"));  // changes nothing
}

// Holes stay holes and data stays equal when the filesystem cannot reflink.
TEST_F(VolLoopBackendTest, CopyImageKeepsHoles) {
  const std::string src = root_ + "/src", dst = root_ + "/dst";
  int s = ::open(src.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  ASSERT_GE(s, 0);
  ASSERT_EQ(::ftruncate(s, 40 * kMiB), 0);
  ASSERT_EQ(::pwrite(s, "head", 4, 0), 4);
  ASSERT_EQ(::pwrite(s, "middle", 6, 20 * kMiB), 6);
  int d = ::open(dst.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  ASSERT_GE(d, 0);
  files_.clone_errno = EOPNOTSUPP;
  Status copied = CopyImage(files_, s, d, 40 * kMiB);
  ::close(s);
  ::close(d);
  ASSERT_TRUE(copied.ok()) << copied.error().message();
  EXPECT_EQ(ReadAll(src), ReadAll(dst));
  struct stat st {};
  ASSERT_EQ(::stat(dst.c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), 40 * kMiB);
  EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, 1 * kMiB);
}

}  // namespace
}  // namespace strata::volumes
