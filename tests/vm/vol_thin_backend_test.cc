// The thin volume backend on the VM's kernel: volumes as snapshots of a pre-formatted base grown
// to size (ext4 and xfs), smaller ones formatted at their size, the base made once and rebuilt
// after a crash, online and offline grow, snapshots of an active volume, and destroy by name.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/statvfs.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/store.h"
#include "core/units.h"
#include "core/sys/device_mapper.h"
#include "core/sys/loop.h"
#include "core/sys/mounts.h"
#include "tests/conformance/conformance_support.h"
#include "tests/conformance/driver_conformance.h"
#include "tests/support/run_command.h"
#include "thinpool/pool.h"
#include "thinpool/pool_open.h"
#include "volumes/backend.h"
#include "volumes/thin_base.h"

namespace strata::volumes {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using strata::testing::PathExists;
using strata::testing::RunCommand;

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;

std::string ReadLine(const std::string& path) {
  std::string line;
  std::getline(std::ifstream(path), line);
  return line;
}

uint64_t FsBytes(const std::string& path) {
  struct statvfs st {};
  EXPECT_EQ(::statvfs(path.c_str(), &st), 0) << path;
  return uint64_t{st.f_blocks} * st.f_frsize;
}

// Entries of a directory other than "." and "..".
int CountEntries(const std::string& dir) {
  auto r = RunCommand({"sh", "-c", "ls -A '" + dir + "' | wc -l"});
  return std::atoi(r.out.c_str());
}

class VolThinBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/strata-vol-thin-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    pool_name_ = "strata-volthin-" + root_.substr(root_.rfind('-') + 1);
    auto store = Store::Open(root_ + "/strata.db");
    ASSERT_TRUE(store.ok()) << store.error().message();
    store_ = std::move(store).value();
    auto config = thinpool::ParsePoolConfig({{"pool-name", pool_name_}, {"data-size", "4G"}});
    ASSERT_TRUE(config.ok()) << config.error().message();
    env_.root = root_;
    env_.store = store_.get();
    env_.mounts = &sys::LinuxMounts();
    env_.loop = &sys::LinuxLoop();
    env_.dm = &sys::LinuxDeviceMapper();
    env_.pool_config = *config;
    backend_ = NewThinBackend(env_);
  }
  void TearDown() override {
    backend_.reset();
    strata::testing::DetachMountsUnder(root_);
    drivers::conformance::RemovePoolDevices(pool_name_);
    (void)std::system(("rm -rf '" + root_ + "'").c_str());
  }

  static VolumeRecord Volume(const std::string& name, Filesystem fs, uint64_t size_bytes,
                             std::vector<std::string> mkfs_options = {}) {
    VolumeRecord v;
    v.name = name;
    v.backend = BackendKind::kThin;
    v.fs = fs;
    v.size_bytes = size_bytes;
    v.mkfs_options = std::move(mkfs_options);
    return v;
  }
  // An ext4 volume of `size_bytes`, created (ADD_FAILURE when it fails).
  VolumeRecord MustCreateVolume(const std::string& name, uint64_t size_bytes) {
    VolumeRecord v = Volume(name, Filesystem::kExt4, size_bytes);
    MustCreate(v);
    return v;
  }
  // Creates `v` and records its ref in it.
  void MustCreate(VolumeRecord& v) {
    auto ref = backend_->Create(v);
    ASSERT_TRUE(ref.ok()) << v.name << ": " << ref.error().message();
    v.ref = *ref;
    v.state = VolumeState::kReady;
  }
  std::string MustActivate(const VolumeRecord& v) {
    auto stage = backend_->Activate(v);
    EXPECT_TRUE(stage.ok()) << v.name << ": " << stage.error().message();
    return stage.ok() ? *stage : "/nonexistent";
  }
  void MustDeactivate(const VolumeRecord& v) {
    Status s = backend_->Deactivate(v);
    ASSERT_TRUE(s.ok()) << v.name << ": " << s.error().message();
  }
  std::vector<thinpool::ThinRecord> Records() {
    auto list = thinpool::ListThinRecords(*store_, pool_name_);
    EXPECT_TRUE(list.ok()) << list.error().message();
    return list.ok() ? *list : std::vector<thinpool::ThinRecord>{};
  }
  std::vector<thinpool::ThinRecord> RecordsNamed(const std::string& prefix) {
    std::vector<thinpool::ThinRecord> out;
    for (const thinpool::ThinRecord& r : Records()) {
      if (r.name.rfind(prefix, 0) == 0) out.push_back(r);
    }
    return out;
  }
  // Bases by prefix: the per-(fs, options) ones without "@<size>", or only the sized ones.
  enum class Sized { kNo, kYes };
  std::vector<thinpool::ThinRecord> Bases(const std::string& prefix, Sized sized = Sized::kNo) {
    std::vector<thinpool::ThinRecord> out;
    for (thinpool::ThinRecord& r : RecordsNamed(prefix)) {
      if ((r.name.find('@') != std::string::npos) == (sized == Sized::kYes)) out.push_back(r);
    }
    return out;
  }
  Result<std::unique_ptr<thinpool::ThinPool>> OpenPool() {
    thinpool::PoolEnv env{env_.dm, env_.loop, env_.store, root_};
    return thinpool::ThinPool::Open(env, env_.pool_config);
  }
  bool StageMounted(const std::string& name) {
    return strata::testing::IsMountPoint(StageDir(root_, name));
  }

  std::string root_;
  std::string pool_name_;
  std::unique_ptr<Store> store_;
  BackendEnv env_;
  std::unique_ptr<Backend> backend_;
};

TEST_F(VolThinBackendTest, ProbeSaysDeviceMapperWorks) {
  Status probed = backend_->Probe();
  EXPECT_TRUE(probed.ok()) << probed.error().message();
  EXPECT_EQ(backend_->kind(), BackendKind::kThin);
}

TEST_F(VolThinBackendTest, CheckCreateRefusesTooSmallAndChangesNothing) {
  Status small = backend_->CheckCreate(Volume("s", Filesystem::kExt4, kMiB));
  ASSERT_FALSE(small.ok());
  EXPECT_EQ(small.error().code(), EINVAL);
  EXPECT_THAT(small.error().message(), HasSubstr("size 1M is below the ext4 minimum of 16M"));
  Status xfs = backend_->CheckCreate(Volume("x", Filesystem::kXfs, 100 * kMiB));
  ASSERT_FALSE(xfs.ok());
  EXPECT_THAT(xfs.error().message(), HasSubstr("below the xfs minimum of 300M"));
  EXPECT_TRUE(backend_->CheckCreate(Volume("ok", Filesystem::kExt4, kGiB)).ok());
  EXPECT_FALSE(PathExists(root_ + "/devicemapper/data")) << "CheckCreate built the pool";
  auto made = backend_->Create(Volume("s", Filesystem::kExt4, kMiB));
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(made.error().code(), EINVAL);
}

// 1 GiB ext4: a snapshot of the 512 MiB base, grown. Empty (no lost+found), writable, and the
// data survives deactivate/activate.
TEST_F(VolThinBackendTest, Ext4CreateFromBaseActivateWriteReactivate) {
  VolumeRecord v = Volume("data", Filesystem::kExt4, kGiB);
  auto start = std::chrono::steady_clock::now();
  MustCreate(v);
  auto first = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(RecordsNamed("vol:data").size(), 1u);
  EXPECT_EQ(std::to_string(RecordsNamed("vol:data")[0].thin_id), v.ref);
  EXPECT_EQ(RecordsNamed("vol:data")[0].size_sectors * 512, kGiB);
  ASSERT_EQ(Bases("volbase:ext4:").size(), 1u);
  EXPECT_FALSE(StageMounted("data")) << "create left the stage mounted";

  std::string stage = MustActivate(v);
  EXPECT_EQ(stage, StageDir(root_, "data"));
  EXPECT_EQ(CountEntries(stage), 0) << "a new volume must be empty";
  EXPECT_GT(FsBytes(stage), 900 * kMiB) << "not grown to 1G";
  EXPECT_LE(FsBytes(stage), kGiB);
  EXPECT_THAT(RunCommand({"findmnt", "-n", "-o", "SOURCE", stage}).out,
              HasSubstr("/dev/mapper/" + pool_name_ + "-thin-" + v.ref));
  { std::ofstream(stage + "/hello") << "world\n"; }
  MustDeactivate(v);
  EXPECT_FALSE(StageMounted("data"));
  EXPECT_FALSE(PathExists(stage));
  MustDeactivate(v);  // idempotent
  stage = MustActivate(v);
  EXPECT_EQ(MustActivate(v), stage);  // idempotent
  EXPECT_EQ(ReadLine(stage + "/hello"), "world");
  MustDeactivate(v);

  // With the base made: snapshot, grow the device, activate, mount, grow ext4, unmount,
  // deactivate. Printed for the benchmark notes (emulated VMs are too noisy to assert on).
  auto ms = [](auto d) {
    return static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  };
  std::printf("[ timing ] thin ext4 1G create, making the base: %lld ms\n", ms(first));
  for (int i = 0; i < 3; ++i) {
    VolumeRecord next = Volume("next" + std::to_string(i), Filesystem::kExt4, kGiB);
    start = std::chrono::steady_clock::now();
    MustCreate(next);
    std::printf("[ timing ] thin ext4 1G create from the base: %lld ms\n",
                ms(std::chrono::steady_clock::now() - start));
  }
}

// The second volume with the same options reuses the base (no second mkfs: still one base, same
// id); other mkfs options get a base of their own.
TEST_F(VolThinBackendTest, BaseIsMadeOncePerFilesystemAndOptions) {
  VolumeRecord a = Volume("a", Filesystem::kExt4, kGiB);
  VolumeRecord b = Volume("b", Filesystem::kExt4, 2 * kGiB);
  MustCreate(a);
  auto bases = Bases("volbase");
  ASSERT_EQ(bases.size(), 1u);
  MustCreate(b);
  auto after = Bases("volbase");
  ASSERT_EQ(after.size(), 1u) << "the second create made another base";
  EXPECT_EQ(after[0].thin_id, bases[0].thin_id);
  EXPECT_EQ(after[0].size_sectors * 512, 512 * kMiB);

  VolumeRecord labelled = Volume("c", Filesystem::kExt4, kGiB, {"-L", "vollabel"});
  MustCreate(labelled);
  EXPECT_EQ(Bases("volbase:ext4:").size(), 2u);
  std::string stage = MustActivate(labelled);
  auto label = RunCommand({"blkid", "-s", "LABEL", "-o", "value",
                           "/dev/mapper/" + pool_name_ + "-thin-" + labelled.ref});
  EXPECT_THAT(label.out, HasSubstr("vollabel")) << label.err;
  MustDeactivate(labelled);
}

// Smaller than the base: formatted at its size, and no base is made for it.
TEST_F(VolThinBackendTest, SmallerThanTheBaseIsFormattedAtItsSize) {
  VolumeRecord v = Volume("small", Filesystem::kExt4, 64 * kMiB);
  MustCreate(v);
  EXPECT_TRUE(Bases("volbase").empty());
  std::string stage = MustActivate(v);
  EXPECT_LT(FsBytes(stage), 65 * kMiB);
  EXPECT_GT(FsBytes(stage), 40 * kMiB);
  EXPECT_EQ(CountEntries(stage), 0) << "lost+found was not removed";
  MustDeactivate(v);
}

// xfs: both volumes carry the base's uuid, so the second mount works only with nouuid. 400M is
// below the base (formatted at its size).
TEST_F(VolThinBackendTest, XfsVolumesAttachSideBySide) {
  VolumeRecord a = Volume("xa", Filesystem::kXfs, kGiB);
  VolumeRecord b = Volume("xb", Filesystem::kXfs, 600 * kMiB);
  VolumeRecord c = Volume("xc", Filesystem::kXfs, 400 * kMiB);
  MustCreate(a);
  MustCreate(b);
  MustCreate(c);
  EXPECT_EQ(Bases("volbase:xfs:").size(), 1u);
  std::string sa = MustActivate(a);
  std::string sb = MustActivate(b);
  std::string sc = MustActivate(c);
  EXPECT_THAT(RunCommand({"findmnt", "-n", "-o", "FSTYPE", sa}).out, HasSubstr("xfs"));
  EXPECT_TRUE(StageMounted("xa"));
  EXPECT_TRUE(StageMounted("xb"));
  EXPECT_GT(FsBytes(sa), 900 * kMiB);
  EXPECT_GT(FsBytes(sb), 520 * kMiB);
  EXPECT_LT(FsBytes(sb), 600 * kMiB);
  EXPECT_LT(FsBytes(sc), 400 * kMiB);
  EXPECT_EQ(CountEntries(sa), 0);
  { std::ofstream(sa + "/f") << "a\n"; }
  { std::ofstream(sb + "/f") << "b\n"; }
  EXPECT_EQ(ReadLine(sa + "/f"), "a");
  EXPECT_EQ(ReadLine(sb + "/f"), "b");
  MustDeactivate(a);
  MustDeactivate(b);
  MustDeactivate(c);
}

TEST_F(VolThinBackendTest, GrowOnlineAndOffline) {
  VolumeRecord v = Volume("g", Filesystem::kExt4, kGiB);
  MustCreate(v);
  std::string stage = MustActivate(v);
  { std::ofstream(stage + "/kept") << "kept\n"; }
  const uint64_t before = FsBytes(stage);
  Status online = backend_->Grow(v, 2 * kGiB);
  ASSERT_TRUE(online.ok()) << online.error().message();
  EXPECT_GT(FsBytes(stage), before + 900 * kMiB) << "not grown online";
  EXPECT_TRUE(backend_->Grow(v, 2 * kGiB).ok()) << "grow is idempotent";
  MustDeactivate(v);

  Status offline = backend_->Grow(v, 3 * kGiB + 4096);  // a last group of one block
  ASSERT_TRUE(offline.ok()) << offline.error().message();
  EXPECT_FALSE(StageMounted("g")) << "an offline grow left the stage mounted";
  stage = MustActivate(v);
  EXPECT_GT(FsBytes(stage), 2900 * kMiB);
  EXPECT_EQ(ReadLine(stage + "/kept"), "kept");
  MustDeactivate(v);
  EXPECT_EQ(RecordsNamed("vol:g")[0].size_sectors * 512, 3 * kGiB + 4096);
}

TEST_F(VolThinBackendTest, XfsGrowsOffline) {
  VolumeRecord v = Volume("xg", Filesystem::kXfs, kGiB);
  MustCreate(v);
  Status grown = backend_->Grow(v, 2 * kGiB);
  ASSERT_TRUE(grown.ok()) << grown.error().message();
  std::string stage = MustActivate(v);
  EXPECT_GT(FsBytes(stage), 1900 * kMiB);
  MustDeactivate(v);
}

// The origin is active and just written (no sync): the snapshot has the write, and the two are
// independent afterwards. A larger snapshot is grown.
TEST_F(VolThinBackendTest, SnapshotOfAnActiveVolume) {
  VolumeRecord origin = Volume("origin", Filesystem::kExt4, kGiB);
  MustCreate(origin);
  std::string so = MustActivate(origin);
  { std::ofstream(so + "/before") << "before\n"; }
  VolumeRecord snap = Volume("snap", Filesystem::kExt4, 2 * kGiB);
  snap.origin = "origin";
  snap.snapshot = true;
  auto ref = backend_->Snapshot(origin, snap);
  ASSERT_TRUE(ref.ok()) << ref.error().message();
  snap.ref = *ref;
  EXPECT_NE(snap.ref, origin.ref);
  { std::ofstream(so + "/after") << "after\n"; }  // the origin works after the resume
  std::string ss = MustActivate(snap);
  EXPECT_EQ(ReadLine(ss + "/before"), "before");
  EXPECT_FALSE(PathExists(ss + "/after"));
  EXPECT_GT(FsBytes(ss), 1900 * kMiB) << "the larger snapshot was not grown";
  { std::ofstream(ss + "/only-in-snap") << "x\n"; }
  EXPECT_FALSE(PathExists(so + "/only-in-snap"));
  MustDeactivate(snap);
  MustDeactivate(origin);

  VolumeRecord smaller = Volume("smaller", Filesystem::kExt4, 512 * kMiB);
  auto refused = backend_->Snapshot(origin, smaller);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), EINVAL);
  EXPECT_TRUE(RecordsNamed("vol:smaller").empty());
}

TEST_F(VolThinBackendTest, DestroyIsIdempotentAndUnmountsTheStage) {
  VolumeRecord v = Volume("gone", Filesystem::kExt4, kGiB);
  MustCreate(v);
  MustActivate(v);
  Status destroyed = backend_->Destroy(v);
  ASSERT_TRUE(destroyed.ok()) << destroyed.error().message();
  EXPECT_FALSE(StageMounted("gone"));
  EXPECT_TRUE(RecordsNamed("vol:gone").empty());
  EXPECT_EQ(Bases("volbase").size(), 1u) << "the base must stay";
  EXPECT_TRUE(backend_->Destroy(v).ok());
  EXPECT_TRUE(backend_->Destroy(Volume("never", Filesystem::kExt4, kGiB)).ok());
}

TEST_F(VolThinBackendTest, DestroyWithoutPoolIsOk) {
  EXPECT_TRUE(backend_->Destroy(Volume("nopool", Filesystem::kExt4, kGiB)).ok());
  EXPECT_TRUE(backend_->Deactivate(Volume("nopool", Filesystem::kExt4, kGiB)).ok());
  EXPECT_FALSE(PathExists(root_ + "/devicemapper/data")) << "destroy built a pool";
}

// As after a crash between the snapshot and the catalog learning its id.
TEST_F(VolThinBackendTest, DestroyFindsTheDeviceByNameWhenRefIsEmpty) {
  VolumeRecord v = Volume("orphan", Filesystem::kExt4, kGiB);
  MustCreate(v);
  auto pool = OpenPool();
  ASSERT_TRUE(pool.ok()) << pool.error().message();
  auto extra = (*pool)->CreateThin(64 * kMiB / 512, "vol:orphan");  // a second leftover
  ASSERT_TRUE(extra.ok()) << extra.error().message();
  ASSERT_EQ(RecordsNamed("vol:orphan").size(), 2u);
  v.ref = "";
  Status destroyed = backend_->Destroy(v);
  ASSERT_TRUE(destroyed.ok()) << destroyed.error().message();
  EXPECT_TRUE(RecordsNamed("vol:orphan").empty());
}

// As if a process died while formatting the base: the next create deletes it and makes a new one.
TEST_F(VolThinBackendTest, HalfMadeBaseIsRebuilt) {
  VolumeRecord first = Volume("first", Filesystem::kExt4, kGiB);
  MustCreate(first);
  auto bases = Bases("volbase:ext4:");
  ASSERT_EQ(bases.size(), 1u);
  const std::string base_name = bases[0].name;
  auto pool = OpenPool();
  ASSERT_TRUE(pool.ok()) << pool.error().message();
  ASSERT_TRUE((*pool)->Delete(bases[0].thin_id).ok());  // snapshots do not need their origin
  auto stale = (*pool)->CreateThin(512 * kMiB / 512,
                                   "volbase.unformatted:" + base_name.substr(sizeof("volbase:") - 1));
  ASSERT_TRUE(stale.ok()) << stale.error().message();

  // Another size: 1G would be a snapshot of the sized base the first create kept.
  VolumeRecord second = Volume("second", Filesystem::kExt4, 2 * kGiB);
  MustCreate(second);
  EXPECT_TRUE(Bases("volbase.unformatted").empty()) << "the half-made base is still there";
  auto rebuilt = Bases("volbase:ext4:");
  ASSERT_EQ(rebuilt.size(), 1u);
  EXPECT_EQ(rebuilt[0].name, base_name);
  EXPECT_NE(rebuilt[0].thin_id, *stale);
  std::string stage = MustActivate(second);
  EXPECT_EQ(CountEntries(stage), 0);
  EXPECT_GT(FsBytes(stage), 1900 * kMiB);
  MustDeactivate(second);
  std::string kept = MustActivate(first);
  EXPECT_EQ(CountEntries(kept), 0) << "the first volume outlives its base";
  MustDeactivate(first);
}

TEST_F(VolThinBackendTest, FailedCreateLeavesNoThinDevice) {
  for (uint64_t size : {kGiB, 64 * kMiB}) {  // from a base, and formatted at its size
    auto made = backend_->Create(
        Volume("bad", Filesystem::kExt4, size, {"--no-such-mkfs-option"}));
    ASSERT_FALSE(made.ok()) << FormatSize(size);
    EXPECT_THAT(made.error().message(), HasSubstr("mkfs.ext4"));
    EXPECT_TRUE(RecordsNamed("vol:").empty()) << "size " << size;
    EXPECT_TRUE(Bases("volbase").empty()) << "size " << size;
    EXPECT_FALSE(StageMounted("bad"));
  }
  auto list = sys::LinuxDeviceMapper().List();
  ASSERT_TRUE(list.ok());
  for (const sys::DmListEntry& e : *list) {
    EXPECT_THAT(e.name, ::testing::Not(StartsWith(pool_name_ + "-thin-"))) << "left active";
  }
}

TEST_F(VolThinBackendTest, DetailsNameThePoolAndTheActiveDevice) {
  VolumeRecord v = Volume("d", Filesystem::kExt4, kGiB);
  MustCreate(v);
  auto idle = backend_->Details(v);
  ASSERT_TRUE(idle.ok()) << idle.error().message();
  EXPECT_EQ(idle->location, "pool " + pool_name_ + " thin id " + v.ref);
  EXPECT_EQ(idle->device, "");
  std::string stage = MustActivate(v);
  RunCommand({"dd", "if=/dev/zero", "of=" + stage + "/blob", "bs=1M", "count=8", "conv=fsync"});
  auto active = backend_->Details(v);
  ASSERT_TRUE(active.ok()) << active.error().message();
  EXPECT_EQ(active->device, "/dev/mapper/" + pool_name_ + "-thin-" + v.ref);
  ASSERT_TRUE(active->used_bytes.has_value());
  EXPECT_GE(*active->used_bytes, 8 * kMiB);
  MustDeactivate(v);
}

}  // namespace
}  // namespace strata::volumes


namespace strata::volumes {
namespace {

// The first 1G volume is grown from the base and kept as the 1G base; the next 1G volume is a
// snapshot of it, as big and as empty. At most kMaxSizedBases sizes are kept, oldest dropped.
TEST_F(VolThinBackendTest, SizedBaseServesTheNextVolumeOfThatSize) {
  MustCreateVolume("a", kGiB);
  auto sized = Bases("volbase:ext4:", Sized::kYes);
  ASSERT_EQ(sized.size(), 1u);
  EXPECT_THAT(sized[0].name, ::testing::EndsWith("@" + std::to_string(kGiB)));
  EXPECT_EQ(sized[0].size_sectors * 512, kGiB);
  VolumeRecord b = MustCreateVolume("b", kGiB);
  EXPECT_EQ(Bases("volbase:ext4:", Sized::kYes).size(), 1u) << "a second 1G base";
  std::string stage = MustActivate(b);
  EXPECT_EQ(CountEntries(stage), 0) << "a new volume must be empty";
  EXPECT_GT(FsBytes(stage), 900 * kMiB);
  { std::ofstream(stage + "/only-in-b") << "b\n"; }
  MustDeactivate(b);
  for (uint64_t gib = 2; gib <= 5; ++gib) {
    MustCreateVolume("v" + std::to_string(gib), gib * kGiB);
  }
  sized = Bases("volbase:ext4:", Sized::kYes);
  ASSERT_EQ(sized.size(), kMaxSizedBases);
  for (const auto& r : sized) {
    EXPECT_THAT(r.name, ::testing::Not(::testing::EndsWith("@" + std::to_string(kGiB))));
  }
  VolumeRecord c = MustCreateVolume("c", kGiB);  // grown again from the base
  stage = MustActivate(c);
  EXPECT_EQ(CountEntries(stage), 0) << "b's file leaked into a later volume";
  EXPECT_GT(FsBytes(stage), 900 * kMiB);
  MustDeactivate(c);
}

}  // namespace
}  // namespace strata::volumes
