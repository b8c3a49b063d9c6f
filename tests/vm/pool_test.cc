// ThinPool against the real kernel (run inside the QEMU VM): the embedded loop-file pool under a
// temporary root, a thin device with an ext4 filesystem, a snapshot of it, extend, and a
// teardown that leaves no strata dm device and no loop device behind.
#include "thinpool/pool.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/store.h"
#include "core/sys/device_mapper.h"
#include "core/sys/loop.h"
#include "tests/support/run_command.h"

namespace strata::thinpool {
namespace {

using strata::testing::RunCommand;

constexpr uint64_t kMiB = 1024 * 1024;
constexpr char kPoolName[] = "strata-vmtest-pool";

class PoolVmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/strata-pool-vm-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    auto store = Store::Open(root_ + "/strata.db");
    ASSERT_TRUE(store.ok()) << store.error().message();
    store_ = std::move(store).value();
    env_ = {&sys::LinuxDeviceMapper(), &sys::LinuxLoop(), store_.get(), root_};
    auto config = ParsePoolConfig({{"data-size", "256M"}, {"pool-name", kPoolName}});
    ASSERT_TRUE(config.ok()) << config.error().message();
    config_ = *config;
  }
  // Best effort: whatever a failed test left, thin devices before the pool.
  void TearDown() override {
    (void)RunCommand({"umount", "-l", root_ + "/mnt"});
    if (pool_) {
      for (uint32_t id = 1; id < 8; ++id) (void)pool_->Deactivate(id);
      (void)pool_->Deactivate();
    }
    (void)std::system(("rm -rf '" + root_ + "'").c_str());
  }

  bool AnyStrataDevice() {
    auto list = env_.dm->List();
    EXPECT_TRUE(list.ok());
    for (const sys::DmListEntry& e : *list) {
      auto info = env_.dm->Info(e.name);
      if (info.ok() && info->uuid.rfind("STRATA-", 0) == 0) return true;
    }
    return false;
  }
  // Autoclear detaches the loops at the pool's last close; allow the kernel a moment.
  bool LoopsGone() {
    for (int i = 0; i < 50; ++i) {
      bool data = env_.loop->FindByBackingFile(DataFilePath(root_)).ok();
      bool meta = env_.loop->FindByBackingFile(MetadataFilePath(root_)).ok();
      if (!data && !meta) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  int Run(const std::vector<std::string>& argv) {
    auto r = RunCommand(argv);
    EXPECT_EQ(r.exit_code, 0) << argv[0] << ": " << r.out << r.err;
    return r.exit_code;
  }

  std::string root_;
  std::unique_ptr<Store> store_;
  PoolEnv env_;
  PoolConfig config_;
  std::unique_ptr<ThinPool> pool_;
};

TEST_F(PoolVmTest, LifecycleWithFilesystemSnapshotExtendAndTeardown) {
  auto created = ThinPool::Create(env_, config_);
  ASSERT_TRUE(created.ok()) << created.error().message();
  pool_ = std::move(created).value();
  auto report = pool_->Report();
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(report->status.transaction_id, 0u);
  EXPECT_EQ(report->status.mode, PoolMode::kReadWrite);
  EXPECT_EQ(report->status.DataTotalBytes(report->block_size_sectors), 256 * kMiB);
  EXPECT_EQ(report->status.used_data_blocks, 0u);
  EXPECT_GT(report->status.MetadataTotalBytes(), 0u);

  auto origin = pool_->CreateThin(64 * kMiB / 512);
  ASSERT_TRUE(origin.ok()) << origin.error().message();
  ASSERT_TRUE(pool_->Activate(*origin).ok());
  std::string origin_node = "/dev/mapper/" + ThinDmName(kPoolName, *origin);
  std::string mnt = root_ + "/mnt";
  ASSERT_EQ(Run({"mkdir", "-p", mnt}), 0);
  ASSERT_EQ(Run({"mkfs.ext4", "-q", "-F", origin_node}), 0);
  ASSERT_EQ(Run({"mount", origin_node, mnt}), 0);
  { std::ofstream(mnt + "/hello") << "from the origin\n"; }
  // Snapshot while mounted: the origin is suspended (fs frozen) and resumed around create_snap.
  auto snap = pool_->Snapshot(*origin);
  ASSERT_TRUE(snap.ok()) << snap.error().message();
  ASSERT_EQ(Run({"umount", mnt}), 0);
  ASSERT_TRUE(pool_->Activate(*snap).ok());
  ASSERT_EQ(Run({"mount", "/dev/mapper/" + ThinDmName(kPoolName, *snap), mnt}), 0);
  std::string line;
  std::getline(std::ifstream(mnt + "/hello"), line);
  EXPECT_EQ(line, "from the origin");
  ASSERT_EQ(Run({"umount", mnt}), 0);
  EXPECT_EQ(pool_->Report()->status.transaction_id, 2u);

  ASSERT_TRUE(pool_->Delete(*snap).ok());
  ASSERT_TRUE(pool_->Delete(*origin).ok());
  EXPECT_TRUE(pool_->List()->empty());
  EXPECT_EQ(pool_->Report()->status.transaction_id, 4u);

  ASSERT_TRUE(pool_->Extend(512 * kMiB, std::nullopt).ok());
  auto grown = pool_->Report();
  ASSERT_TRUE(grown.ok());
  EXPECT_EQ(grown->status.DataTotalBytes(grown->block_size_sectors), 512 * kMiB);

  ASSERT_TRUE(pool_->Deactivate().ok());
  EXPECT_FALSE(AnyStrataDevice());
  EXPECT_TRUE(LoopsGone());
}

TEST_F(PoolVmTest, ReopenAfterTeardownKeepsThinDevices) {
  auto created = ThinPool::Create(env_, config_);
  ASSERT_TRUE(created.ok()) << created.error().message();
  pool_ = std::move(created).value();
  auto id = pool_->CreateThin(16 * kMiB / 512);
  ASSERT_TRUE(id.ok()) << id.error().message();
  ASSERT_TRUE(pool_->Deactivate().ok());
  ASSERT_TRUE(LoopsGone());
  auto reopened = ThinPool::Open(env_, config_);  // as after a reboot: loops re-attached
  ASSERT_TRUE(reopened.ok()) << reopened.error().message();
  pool_ = std::move(reopened).value();
  EXPECT_EQ(pool_->Report()->status.transaction_id, 1u);
  ASSERT_TRUE(pool_->Activate(*id).ok());  // the kernel still knows the id
  ASSERT_TRUE(pool_->Delete(*id).ok());
  ASSERT_TRUE(pool_->Deactivate().ok());
  EXPECT_FALSE(AnyStrataDevice());
  EXPECT_TRUE(LoopsGone());
}

// Processes that open the pool and change it at the same time take turns on the pool's lock: each
// open's recovery sees no other process's operation in flight, and no operation gets EBUSY.
TEST_F(PoolVmTest, ConcurrentProcessesTakeTurns) {
  auto created = ThinPool::Create(env_, config_);
  ASSERT_TRUE(created.ok()) << created.error().message();
  pool_ = std::move(created).value();
  constexpr int kChildren = 3;
  constexpr int kRounds = 8;
  std::vector<pid_t> pids;
  for (int c = 0; c < kChildren; ++c) {
    pid_t pid = ::fork();
    if (pid == 0) {
      int failures = 0;
      for (int i = 0; i < kRounds; ++i) {
        // A fresh store connection and pool per round: opens interleave with the others' work.
        auto store = Store::Open(root_ + "/strata.db");
        if (!store.ok()) { ::_exit(100); }
        PoolEnv env{env_.dm, env_.loop, store->get(), root_};
        auto pool = ThinPool::Open(env, config_);
        if (!pool.ok()) {
          std::fprintf(stderr, "open: %s\n", pool.error().message().c_str());
          ++failures;
          continue;
        }
        auto id = (*pool)->CreateThin(8 * kMiB / 512);
        if (!id.ok()) std::fprintf(stderr, "create: %s\n", id.error().message().c_str());
        failures += id.ok() ? 0 : 1;
        if (id.ok() && i % 2 == 0) {
          Status deleted = (*pool)->Delete(*id);
          if (!deleted.ok()) std::fprintf(stderr, "delete: %s\n", deleted.error().message().c_str());
          failures += deleted.ok() ? 0 : 1;
        }
      }
      ::_exit(failures);
    }
    ASSERT_GT(pid, 0);
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << "child failures: " << wstatus;
  }
  // Every child kept half of its devices; nothing leaked, nothing pending.
  auto list = pool_->List();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), static_cast<size_t>(kChildren * kRounds / 2));
  auto census = TakeCensus(env_, kPoolName);
  ASSERT_TRUE(census.ok()) << census.error().message();
  EXPECT_TRUE(census->pending_ids.empty());
  EXPECT_TRUE(DiffCensus(*census).clean());
  EXPECT_EQ(census->pool_ids.size(), list->size());
  for (const ThinRecord& r : *list) ASSERT_TRUE(pool_->Delete(r.thin_id).ok());
  ASSERT_TRUE(pool_->Deactivate().ok());
}

}  // namespace
}  // namespace strata::thinpool
