// sys::LinuxDeviceMapper() against a real kernel (run inside the QEMU VM: this host has no
// device-mapper). Loop devices over sparse files back every device; every test removes what it
// made (thin devices before their pool, dm devices before their loops), even when it fails.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "core/loop.h"
#include "core/sys/device_mapper.h"
#include "core/unique_fd.h"
#include "thinpool/dm_nodes.h"

namespace strata {
namespace {

using sys::DmFlush;
using sys::DmLockFs;
using sys::DmRemove;
using sys::DmTarget;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint64_t kMiB = 1024 * 1024;

template <class R>
int Code(const R& r) {
  return r.ok() ? 0 : r.error().code();
}

sys::DeviceMapper& Dm() { return sys::LinuxDeviceMapper(); }

std::string NodePath(const std::string& name) { return std::string(sys::kDmNodeDir) + "/" + name; }

// A fresh temporary directory, removed (with its files) at scope exit.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/strata-libdm-XXXXXX";
    path_ = ::mkdtemp(tmpl) ? tmpl : "";
  }
  ~TempDir() { (void)std::system(("rm -rf '" + path_ + "'").c_str()); }  // best effort
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Creates a sparse file of `size_bytes` whose first 4 KiB are explicitly zero (a new thin pool's
// metadata must start with zeros, or the kernel tries to open stale metadata).
void MakeFile(const std::string& path, uint64_t size_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  ASSERT_TRUE(fd.valid()) << path;
  std::vector<char> zeros(4096, 0);
  ASSERT_EQ(::pwrite(fd.Get(), zeros.data(), zeros.size(), 0), 4096);
  ASSERT_EQ(::ftruncate(fd.Get(), static_cast<off_t>(size_bytes)), 0);
}

// "MAJ:MIN" of a block device path.
std::string DevNumber(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "?";
  return std::to_string(major(st.st_rdev)) + ":" + std::to_string(minor(st.st_rdev));
}

// Removes the named dm devices at scope exit, newest first (thin devices before their pool).
class DmCleanup {
 public:
  ~DmCleanup() {
    for (auto it = names_.rbegin(); it != names_.rend(); ++it) {
      if (Code(Dm().Remove(*it, DmRemove::kNow)) == EBUSY) {
        (void)Dm().Remove(*it, DmRemove::kDeferred);  // best effort: a test left it open
      }
    }
  }
  // A unique name for this process and test, registered for removal.
  std::string Add(const std::string& base) {
    names_.push_back("strata-vmtest-" + std::to_string(::getpid()) + "-" + base);
    return names_.back();
  }

 private:
  std::vector<std::string> names_;
};

// A loop device over a new sparse file in `dir`.
Result<LoopAttachment> Loop(const TempDir& dir, const std::string& file, uint64_t size_bytes) {
  std::string path = dir.path() + "/" + file;
  MakeFile(path, size_bytes);
  return AttachLoop(sys::LinuxLoop(), path, {});
}

// Creates, loads and resumes `name` with `table`.
Status Activate(const std::string& name, const std::vector<DmTarget>& table) {
  STRATA_TRY(Dm().Create(name, "STRATA-TEST-" + name));
  STRATA_TRY(Dm().Load(name, table));
  return Dm().Resume(name);
}

int SemaphoreSets() {
  std::ifstream in("/proc/sysvipc/sem");
  int lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  return lines - 1;  // the header
}

// Polls until `name` is gone (deferred removal completes in a kernel work item).
bool WaitGone(const std::string& name) {
  for (int i = 0; i < 100; ++i) {
    if (Code(Dm().Info(name)) == ENXIO) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// Bytes written through `node` (a linear map at offset 0) land on `backing`.
void ExpectWriteReaches(const std::string& node, const std::string& backing) {
  UniqueFd dm_fd(::open(node.c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(dm_fd.valid()) << node;
  ASSERT_EQ(::pwrite(dm_fd.Get(), "strata", 6, 4096), 6);
  ASSERT_EQ(::fsync(dm_fd.Get()), 0);
  dm_fd.Reset();
  char buf[6] = {};
  UniqueFd loop_fd(::open(backing.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_EQ(::pread(loop_fd.Get(), buf, 6, 4096), 6);
  EXPECT_EQ(std::string(buf, 6), "strata");
}

TEST(LibdmDeviceMapperTest, ProbeSucceedsInTheVm) {
  Status probe = sys::ProbeDeviceMapper();
  EXPECT_TRUE(probe.ok()) << probe.error().message();
}

TEST(LibdmDeviceMapperTest, LinearOverLoopInfoNodeAndTable) {
  TempDir dir;
  auto loop = Loop(dir, "data", 8 * kMiB);
  ASSERT_TRUE(loop.ok()) << loop.error().message();
  DmCleanup cleanup;
  std::string name = cleanup.Add("linear");
  std::string loop_dev = DevNumber(loop->device().path);
  std::vector<DmTarget> table = {{0, 16384, "linear", loop->device().path + " 0"}};
  Status s = Activate(name, table);
  ASSERT_TRUE(s.ok()) << s.error().message();

  auto info = Dm().Info(name);
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->name, name);
  EXPECT_EQ(info->uuid, "STRATA-TEST-" + name);
  EXPECT_TRUE(info->live_table);
  EXPECT_FALSE(info->inactive_table);
  EXPECT_FALSE(info->suspended);
  EXPECT_EQ(info->open_count, 0);
  EXPECT_EQ(info->target_count, 1u);
  EXPECT_GT(info->major, 0u);

  struct stat st {};
  ASSERT_EQ(::stat(NodePath(name).c_str(), &st), 0) << NodePath(name);
  EXPECT_TRUE(S_ISBLK(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(info->major, info->minor));

  // The kernel reports the target device by number.
  auto live = Dm().Table(name);
  ASSERT_TRUE(live.ok()) << live.error().message();
  EXPECT_THAT(*live, ElementsAre(DmTarget{0, 16384, "linear", loop_dev + " 0"}));

  ExpectWriteReaches(NodePath(name), loop->device().path);
}

TEST(LibdmDeviceMapperTest, ZeroTargetReadsZeros) {
  if (Code(Dm().TargetVersion("zero")) == ENOENT) {
    GTEST_SKIP() << "dm-zero is not in the VM's initramfs (tools/dev/vm/prepare modules)";
  }
  DmCleanup cleanup;
  std::string name = cleanup.Add("zero");
  Status s = Activate(name, {{0, 2048, "zero", ""}});
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_THAT(*Dm().Table(name), ElementsAre(DmTarget{0, 2048, "zero", ""}));
  UniqueFd fd(::open(NodePath(name).c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  std::vector<char> buf(4096, 'x');
  ASSERT_EQ(::pread(fd.Get(), buf.data(), buf.size(), 0), 4096);
  EXPECT_EQ(buf, std::vector<char>(4096, 0));
}

TEST(LibdmDeviceMapperTest, ErrorTargetTableRoundTripAndReload) {
  DmCleanup cleanup;
  std::string name = cleanup.Add("error");
  Status s = Activate(name, {{0, 1024, "error", ""}});
  ASSERT_TRUE(s.ok()) << s.error().message();
  ASSERT_TRUE(Dm().Load(name, {{0, 512, "error", ""}, {512, 512, "error", ""}}).ok());
  EXPECT_TRUE(Dm().Info(name)->inactive_table);
  EXPECT_THAT(*Dm().Table(name), ElementsAre(DmTarget{0, 1024, "error", ""}));
  ASSERT_TRUE(Dm().Resume(name).ok());
  EXPECT_THAT(*Dm().Table(name),
              ElementsAre(DmTarget{0, 512, "error", ""}, DmTarget{512, 512, "error", ""}));
  EXPECT_EQ(Code(Dm().Load(name, {{0, 8, "no-such-target", ""}})), EINVAL);
}

TEST(LibdmDeviceMapperTest, SuspendAndResume) {
  DmCleanup cleanup;
  std::string name = cleanup.Add("suspend");
  ASSERT_TRUE(Activate(name, {{0, 1024, "error", ""}}).ok());
  ASSERT_TRUE(Dm().Suspend(name, DmFlush::kFlush, DmLockFs::kLockFs).ok());
  EXPECT_TRUE(Dm().Info(name)->suspended);
  ASSERT_TRUE(Dm().Resume(name).ok());
  EXPECT_FALSE(Dm().Info(name)->suspended);
  ASSERT_TRUE(Dm().Suspend(name, DmFlush::kNoFlush, DmLockFs::kSkipLockFs).ok());
  EXPECT_TRUE(Dm().Info(name)->suspended);
  ASSERT_TRUE(Dm().Resume(name).ok());
  EXPECT_FALSE(Dm().Info(name)->suspended);
}

TEST(LibdmDeviceMapperTest, RemoveDeletesDeviceAndNode) {
  DmCleanup cleanup;
  std::string name = cleanup.Add("remove");
  ASSERT_TRUE(Activate(name, {{0, 1024, "error", ""}}).ok());
  ASSERT_EQ(::access(NodePath(name).c_str(), F_OK), 0);
  Status s = Dm().Remove(name, DmRemove::kNow);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_NE(::access(NodePath(name).c_str(), F_OK), 0);
  EXPECT_EQ(Code(Dm().Info(name)), ENXIO);
  Status again = Dm().Remove(name, DmRemove::kNow);
  EXPECT_EQ(Code(again), ENXIO);
  EXPECT_THAT(again.error().message(), HasSubstr("DM_DEV_REMOVE " + name));
  EXPECT_EQ(Code(Dm().Message(name, 0, "create_thin 1")), ENXIO);
}

TEST(LibdmDeviceMapperTest, DuplicateNameIsRefused) {
  DmCleanup cleanup;
  std::string name = cleanup.Add("dup");
  ASSERT_TRUE(Dm().Create(name, "STRATA-TEST-" + name).ok());
  EXPECT_EQ(Code(Dm().Create(name, "")), EEXIST);
  EXPECT_EQ(Code(Dm().Create(name + "-2", "STRATA-TEST-" + name)), EEXIST) << "uuid taken";
  EXPECT_EQ(Code(Dm().Create("a/b", "")), EINVAL);
}

TEST(LibdmDeviceMapperTest, RemoveWhileOpenIsBusy) {
  DmCleanup cleanup;
  std::string name = cleanup.Add("busy");
  ASSERT_TRUE(Activate(name, {{0, 1024, "error", ""}}).ok());
  UniqueFd fd(::open(NodePath(name).c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  EXPECT_EQ(Dm().Info(name)->open_count, 1);
  EXPECT_EQ(Code(Dm().Remove(name, DmRemove::kNow)), EBUSY);
  EXPECT_EQ(::access(NodePath(name).c_str(), F_OK), 0) << "a refused remove keeps the node";
  fd.Reset();
  EXPECT_TRUE(Dm().Remove(name, DmRemove::kNow).ok());
}

TEST(LibdmDeviceMapperTest, DeferredRemoveCompletesAtLastClose) {
  DmCleanup cleanup;
  std::string name = cleanup.Add("deferred");
  ASSERT_TRUE(Activate(name, {{0, 1024, "error", ""}}).ok());
  UniqueFd fd(::open(NodePath(name).c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  Status s = Dm().Remove(name, DmRemove::kDeferred);
  ASSERT_TRUE(s.ok()) << s.error().message();
  auto info = Dm().Info(name);
  ASSERT_TRUE(info.ok()) << "still there while open";
  EXPECT_TRUE(info->deferred_remove);
  EXPECT_NE(::access(NodePath(name).c_str(), F_OK), 0) << "the node goes at once";
  fd.Reset();
  EXPECT_TRUE(WaitGone(name));
}

TEST(LibdmDeviceMapperTest, ResumeReplacesWrongOrDanglingNodes) {
  DmCleanup cleanup;
  std::string name = cleanup.Add("node");
  ASSERT_EQ(::mkdir(sys::kDmNodeDir, 0755) == 0 || errno == EEXIST, true);
  ASSERT_EQ(::symlink("/nonexistent", NodePath(name).c_str()), 0);
  ASSERT_TRUE(Activate(name, {{0, 1024, "error", ""}}).ok());
  auto info = Dm().Info(name);
  ASSERT_TRUE(info.ok()) << info.error().message();
  struct stat st {};
  ASSERT_EQ(::lstat(NodePath(name).c_str(), &st), 0);
  EXPECT_TRUE(S_ISBLK(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(info->major, info->minor));

  // A stale block node with another number (a removed device's minor) is replaced too.
  ASSERT_EQ(::unlink(NodePath(name).c_str()), 0);
  ASSERT_EQ(::mknod(NodePath(name).c_str(), S_IFBLK | 0600, makedev(7, 200)), 0);
  ASSERT_TRUE(Dm().Resume(name).ok());
  ASSERT_EQ(::lstat(NodePath(name).c_str(), &st), 0);
  EXPECT_EQ(st.st_rdev, makedev(info->major, info->minor));
}

TEST(LibdmDeviceMapperTest, DmNodesLeaveForeignFilesAlone) {
  TempDir dir;
  std::string file = dir.path() + "/x";
  MakeFile(file, 0);
  EXPECT_EQ(Code(thinpool::EnsureDmNode(dir.path(), "x", 7, 0)), EEXIST);
  EXPECT_EQ(Code(thinpool::RemoveDmNode(dir.path(), "x")), EEXIST);
  EXPECT_EQ(::access(file.c_str(), F_OK), 0);
  ASSERT_TRUE(thinpool::EnsureDmNode(dir.path() + "/sub", "y", 7, 0).ok()) << "creates the dir";
  EXPECT_TRUE(thinpool::RemoveDmNode(dir.path() + "/sub", "y").ok());
  EXPECT_TRUE(thinpool::RemoveDmNode(dir.path() + "/sub", "y").ok()) << "idempotent";
}

// A thin pool over two loop files, torn down in order at scope exit.
class ThinPoolFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto meta = Loop(dir_, "meta", 16 * kMiB);
    auto data = Loop(dir_, "data", 64 * kMiB);
    ASSERT_TRUE(meta.ok()) << meta.error().message();
    ASSERT_TRUE(data.ok()) << data.error().message();
    meta_.push_back(std::move(*meta));
    meta_.push_back(std::move(*data));
    pool_ = cleanup_.Add("pool");
    Status s = Activate(pool_, {{0, kDataSectors, "thin-pool",
                                 meta_[0].device().path + " " + meta_[1].device().path +
                                     " 128 16 1 skip_block_zeroing"}});
    ASSERT_TRUE(s.ok()) << s.error().message();
    pool_dev_ = NodePath(pool_);
  }

  Result<std::string> Send(const std::string& message) { return Dm().Message(pool_, 0, message); }

  static constexpr uint64_t kDataSectors = 131072;  // 64 MiB: 1024 blocks of 64 KiB
  TempDir dir_;
  std::vector<LoopAttachment> meta_;  // [0] metadata, [1] data; detached after cleanup_ ran
  DmCleanup cleanup_;                 // declared after the loops: destroyed before them
  std::string pool_;
  std::string pool_dev_;
};

TEST_F(ThinPoolFixture, MessagesAndTheirErrnos) {
  auto created = Send("create_thin 1");
  ASSERT_TRUE(created.ok()) << created.error().message();
  EXPECT_EQ(Code(Send("create_thin 1")), EEXIST);
  EXPECT_TRUE(Send("create_snap 2 1").ok());
  EXPECT_EQ(Code(Send("create_snap 2 1")), EEXIST);
  EXPECT_EQ(Code(Send("create_snap 3 99")), ENODATA);
  EXPECT_EQ(Code(Send("delete 99")), ENODATA);
  EXPECT_EQ(Code(Send("set_transaction_id 5 6")), EINVAL);
  EXPECT_TRUE(Send("set_transaction_id 0 6").ok());
  EXPECT_EQ(Code(Send("frobnicate")), EINVAL);
  auto bad = Send("set_transaction_id 5 7");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message(), HasSubstr("DM_TARGET_MSG " + pool_));

  auto status = Dm().TargetStatus(pool_, DmFlush::kNoFlush);
  ASSERT_TRUE(status.ok()) << status.error().message();
  ASSERT_EQ(status->size(), 1u);
  EXPECT_EQ((*status)[0].type, "thin-pool");
  EXPECT_EQ((*status)[0].params.substr(0, 2), "6 ") << (*status)[0].params;
  std::cout << "pool status: \"" << (*status)[0].params << "\"\n";
  EXPECT_TRUE(Send("delete 2").ok());
  EXPECT_TRUE(Send("delete 1").ok());
}

TEST_F(ThinPoolFixture, ActiveThinCannotBeDeleted) {
  ASSERT_TRUE(Send("create_thin 7").ok());
  std::string thin = cleanup_.Add("thin7");
  Status s = Activate(thin, {{0, 20480, "thin", pool_dev_ + " 7"}});
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(Code(Send("delete 7")), EBUSY);
  auto status = Dm().TargetStatus(thin, DmFlush::kFlush);
  ASSERT_TRUE(status.ok()) << status.error().message();
  EXPECT_EQ((*status)[0].params, "0 -");
  EXPECT_EQ(Dm().Info(pool_)->open_count, 1) << "the thin table holds the pool";
  EXPECT_EQ(Code(Dm().Remove(pool_, DmRemove::kNow)), EBUSY);
  ASSERT_TRUE(Dm().Remove(thin, DmRemove::kNow).ok());
  EXPECT_TRUE(Send("delete 7").ok());
}

// The thin target's constructor opens the id at table load, so even an inactive table holds it.
TEST_F(ThinPoolFixture, InactiveThinTableAlsoHoldsTheId) {
  ASSERT_TRUE(Send("create_thin 8").ok());
  std::string thin = cleanup_.Add("thin8");
  ASSERT_TRUE(Dm().Create(thin, "").ok());
  ASSERT_TRUE(Dm().Load(thin, {{0, 20480, "thin", pool_dev_ + " 8"}}).ok());
  EXPECT_EQ(Code(Send("delete 8")), EBUSY);
  ASSERT_TRUE(Dm().Remove(thin, DmRemove::kNow).ok());
  EXPECT_TRUE(Send("delete 8").ok());
}

TEST_F(ThinPoolFixture, ThinTableForUnknownIdIsRejected) {
  std::string thin = cleanup_.Add("thin-unknown");
  ASSERT_TRUE(Dm().Create(thin, "").ok());
  Status s = Dm().Load(thin, {{0, 20480, "thin", pool_dev_ + " 42"}});
  EXPECT_FALSE(s.ok());
  std::cout << "unknown thin id load: " << (s.ok() ? "ok" : s.error().message()) << "\n";
  EXPECT_EQ(Code(s), ENODATA) << "FakeDeviceMapper models this errno";
}

TEST_F(ThinPoolFixture, ListShowsOurDevices) {
  auto list = Dm().List();
  ASSERT_TRUE(list.ok()) << list.error().message();
  auto info = Dm().Info(pool_);
  bool found = false;
  for (const sys::DmListEntry& e : *list) {
    if (e.name != pool_) continue;
    found = true;
    EXPECT_EQ(e.major, info->major);
    EXPECT_EQ(e.minor, info->minor);
  }
  EXPECT_TRUE(found);
}

TEST(LibdmDeviceMapperTest, NoSemaphoresAreCreated) {
  int before = SemaphoreSets();
  {
    DmCleanup cleanup;
    std::string name = cleanup.Add("sem");
    ASSERT_TRUE(Activate(name, {{0, 1024, "error", ""}}).ok());
    ASSERT_TRUE(Dm().Suspend(name, DmFlush::kFlush, DmLockFs::kLockFs).ok());
    ASSERT_TRUE(Dm().Resume(name).ok());
    ASSERT_TRUE(Dm().Remove(name, DmRemove::kNow).ok());
    EXPECT_EQ(Code(Dm().Remove(name, DmRemove::kNow)), ENXIO) << "a failing remove leaks none";
  }
  EXPECT_EQ(SemaphoreSets(), before);
}

TEST(LibdmDeviceMapperTest, ControlFdIsCloseOnExec) {
  ASSERT_TRUE(Dm().List().ok());
  struct stat control {};
  ASSERT_EQ(::stat("/dev/mapper/control", &control), 0);
  int found = 0;
  for (int fd = 0; fd < 1024; ++fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode) || st.st_rdev != control.st_rdev) continue;
    ++found;
    EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC) << "fd " << fd;
  }
  EXPECT_EQ(found, 1);
}

TEST(LibdmDeviceMapperTest, TargetVersions) {
  auto v = Dm().TargetVersion("thin-pool");
  ASSERT_TRUE(v.ok()) << v.error().message();
  ASSERT_EQ(v->size(), 3u);
  EXPECT_GE((*v)[0], 1u);
  EXPECT_EQ(Code(Dm().TargetVersion("no-such-target")), ENOENT);
}

}  // namespace
}  // namespace strata
