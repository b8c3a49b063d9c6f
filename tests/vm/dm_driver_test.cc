// The devicemapper driver's own behaviour beyond the conformance suite, on the VM's kernel:
// xfs snapshots mounted side by side (nouuid), per-container sizes, committing a mounted
// container layer (origin suspended and flushed), a half-made base device after a crash, and
// layers surviving the pool going away (as after a reboot).
#include "drivers/devicemapper/dm_driver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/statvfs.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "core/store.h"
#include "core/sys/device_mapper.h"
#include "core/sys/loop.h"
#include "core/sys/mounts.h"
#include "drivers/layer_store.h"
#include "drivers/registry.h"
#include "tests/conformance/driver_conformance.h"
#include "tests/support/run_command.h"
#include "thinpool/pool.h"

namespace strata::drivers::devicemapper {
namespace {

using ::testing::HasSubstr;
using strata::testing::RunCommand;

std::string ReadLine(const std::string& path) {
  std::string line;
  std::getline(std::ifstream(path), line);
  return line;
}

class DmDriverVmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/strata-dm-driver-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    pool_name_ = "strata-dmdrv-" + root_.substr(root_.rfind('-') + 1);
  }
  void TearDown() override {
    layers_.reset();
    driver_.reset();
    store_.reset();
    strata::testing::DetachMountsUnder(root_);
    conformance::RemovePoolDevices(pool_name_);
    (void)std::system(("rm -rf '" + root_ + "'").c_str());
  }

  void Open(nlohmann::json options) {
    layers_.reset();
    driver_.reset();
    store_.reset();
    options["pool-name"] = pool_name_;
    if (!options.contains("data-size")) options["data-size"] = "2G";
    auto store = Store::Open(root_ + "/strata.db");
    ASSERT_TRUE(store.ok()) << store.error().message();
    store_ = std::move(store).value();
    auto driver = NewDevicemapperDriver(DriverEnv{root_, &sys::LinuxMounts(), store_.get()},
                                        options);
    ASSERT_TRUE(driver.ok()) << driver.error().message();
    driver_ = std::move(driver).value();
    auto layers = LayerStore::Open(*store_, *driver_);
    ASSERT_TRUE(layers.ok()) << layers.error().message();
    layers_ = std::move(layers).value();
  }

  std::string MustMount(const std::string& id) {
    auto path = layers_->Mount(id);
    EXPECT_TRUE(path.ok()) << id << ": " << path.error().message();
    return path.ok() ? *path : "/nonexistent";
  }
  void MustCreate(const std::string& id, const std::string& parent, LayerKind kind,
                  CreateOptions options = {}) {
    auto r = layers_->Create(id, parent, kind, options);
    ASSERT_TRUE(r.ok()) << id << ": " << r.error().message();
  }
  uint64_t FsBytes(const std::string& path) {
    struct statvfs st {};
    EXPECT_EQ(::statvfs(path.c_str(), &st), 0) << path;
    return uint64_t{st.f_blocks} * st.f_frsize;
  }
  std::string Source(const std::string& path) {
    auto r = RunCommand({"findmnt", "-n", "-o", "SOURCE", path});
    return r.out;
  }

  std::string root_;
  std::string pool_name_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Driver> driver_;
  std::unique_ptr<LayerStore> layers_;
};

TEST_F(DmDriverVmTest, XfsSnapshotsMountSideBySideAndGrow) {
  Open({{"fs", "xfs"}, {"base-size", "320M"}});
  MustCreate("img", "", LayerKind::kReadOnly);
  std::string img = MustMount("img");
  { std::ofstream(img + "/f") << "image\n"; }
  ASSERT_TRUE(layers_->Unmount("img").ok());
  MustCreate("a", "img", LayerKind::kReadWrite);
  MustCreate("b", "img", LayerKind::kReadWrite, {.size_bytes = uint64_t{600} << 20});
  // Both carry the base filesystem's uuid: without nouuid the second mount fails.
  std::string a = MustMount("a");
  std::string b = MustMount("b");
  EXPECT_EQ(ReadLine(a + "/f"), "image");
  EXPECT_EQ(ReadLine(b + "/f"), "image");
  EXPECT_THAT(RunCommand({"findmnt", "-n", "-o", "FSTYPE", a}).out, HasSubstr("xfs"));
  EXPECT_LT(FsBytes(a), uint64_t{330} << 20);
  EXPECT_GT(FsBytes(b), uint64_t{500} << 20) << "xfs_growfs did not grow b";
  ASSERT_TRUE(layers_->Unmount("a").ok());
  ASSERT_TRUE(layers_->Unmount("b").ok());
}

TEST_F(DmDriverVmTest, SizeBelowTheBaseIsRefusedAndLeavesNothing) {
  Open({{"base-size", "128M"}});
  MustCreate("img", "", LayerKind::kReadOnly);
  auto r = layers_->Create("ctr", "img", LayerKind::kReadWrite, {.size_bytes = uint64_t{64} << 20});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EINVAL);
  EXPECT_THAT(r.error().message(), HasSubstr("smaller than the parent"));
  EXPECT_FALSE(driver_->Exists("ctr"));
  auto ro = layers_->Create("ro", "img", LayerKind::kReadOnly, {.size_bytes = uint64_t{1} << 30});
  ASSERT_FALSE(ro.ok());
  EXPECT_THAT(ro.error().message(), HasSubstr("read-write layers only"));
  // Only the base device and img's snapshot are in the pool.
  thinpool::PoolEnv env{&sys::LinuxDeviceMapper(), &sys::LinuxLoop(), store_.get(), root_};
  auto config = thinpool::ParsePoolConfig({{"pool-name", pool_name_}, {"data-size", "2G"}});
  ASSERT_TRUE(config.ok());
  auto pool = thinpool::ThinPool::Open(env, *config);
  ASSERT_TRUE(pool.ok()) << pool.error().message();
  EXPECT_EQ((*pool)->List()->size(), 2u);
}

TEST_F(DmDriverVmTest, EveryLayerIsItsOwnBlockDevice) {
  Open({{"base-size", "64M"}});
  MustCreate("img", "", LayerKind::kReadOnly);
  MustCreate("c1", "img", LayerKind::kReadWrite);
  MustCreate("c2", "img", LayerKind::kReadWrite);
  std::string s1 = Source(MustMount("c1"));
  std::string s2 = Source(MustMount("c2"));
  EXPECT_THAT(s1, HasSubstr("/dev/mapper/" + pool_name_ + "-thin-"));
  EXPECT_THAT(s2, HasSubstr("/dev/mapper/" + pool_name_ + "-thin-"));
  EXPECT_NE(s1, s2);
  ASSERT_TRUE(layers_->Unmount("c1").ok());
  ASSERT_TRUE(layers_->Unmount("c2").ok());
}

// `commit`: a child of a container layer that is mounted and was just written. The origin is
// suspended with its filesystem frozen, so the write is in the snapshot without a sync.
TEST_F(DmDriverVmTest, SnapshotOfAMountedContainerLayerHasItsWrites) {
  Open({{"base-size", "64M"}});
  MustCreate("img", "", LayerKind::kReadOnly);
  MustCreate("ctr", "img", LayerKind::kReadWrite);
  std::string ctr = MustMount("ctr");
  { std::ofstream(ctr + "/written") << "before commit\n"; }
  MustCreate("committed", "ctr", LayerKind::kReadOnly);
  { std::ofstream(ctr + "/later") << "after\n"; }  // the origin still works after the resume
  std::string committed = MustMount("committed");
  EXPECT_EQ(ReadLine(committed + "/written"), "before commit");
  EXPECT_FALSE(strata::testing::PathExists(committed + "/later"));
  ASSERT_TRUE(layers_->Unmount("committed").ok());
  ASSERT_TRUE(layers_->Unmount("ctr").ok());
}

TEST_F(DmDriverVmTest, HalfMadeBaseDeviceIsReplaced) {
  Open({{"base-size", "64M"}});
  // As if a process died between creating the base device and formatting it.
  thinpool::PoolEnv env{&sys::LinuxDeviceMapper(), &sys::LinuxLoop(), store_.get(), root_};
  auto config = thinpool::ParsePoolConfig(
      {{"pool-name", pool_name_}, {"data-size", "2G"}, {"base-size", "64M"}});
  ASSERT_TRUE(config.ok());
  auto pool = thinpool::ThinPool::Create(env, *config);
  ASSERT_TRUE(pool.ok()) << pool.error().message();
  auto stale = (*pool)->CreateThin(uint64_t{64} << 11, "base.unformatted");
  ASSERT_TRUE(stale.ok()) << stale.error().message();
  pool->reset();
  Open({{"base-size", "64M"}});
  MustCreate("img", "", LayerKind::kReadOnly);
  std::string img = MustMount("img");
  EXPECT_TRUE(strata::testing::PathExists(img));
  ASSERT_TRUE(layers_->Unmount("img").ok());
  env.store = store_.get();  // Open() replaced the store
  auto reopened = thinpool::ThinPool::Open(env, *config);
  ASSERT_TRUE(reopened.ok());
  auto list = (*reopened)->List();
  ASSERT_TRUE(list.ok());
  for (const thinpool::ThinRecord& r : *list) {
    EXPECT_NE(r.thin_id, *stale) << "the half-made base device is still there";
    EXPECT_NE(r.name, "base.unformatted");
  }
}

TEST_F(DmDriverVmTest, LayersSurviveThePoolGoingAway) {
  Open({{"base-size", "64M"}});
  MustCreate("img", "", LayerKind::kReadOnly);
  std::string img = MustMount("img");
  { std::ofstream(img + "/kept") << "kept\n"; }
  ASSERT_TRUE(layers_->Unmount("img").ok());
  layers_.reset();
  driver_.reset();
  // As after a reboot: no pool device, no loops. The next open re-attaches the loop files.
  ASSERT_TRUE(sys::LinuxDeviceMapper().Remove(pool_name_, sys::DmRemove::kNow).ok());
  Open({{"base-size", "64M"}});
  img = MustMount("img");
  EXPECT_EQ(ReadLine(img + "/kept"), "kept");
  MustCreate("child", "img", LayerKind::kReadWrite);
  EXPECT_EQ(ReadLine(MustMount("child") + "/kept"), "kept");
  ASSERT_TRUE(layers_->Unmount("child").ok());
  ASSERT_TRUE(layers_->Unmount("img").ok());
}

}  // namespace
}  // namespace strata::drivers::devicemapper
