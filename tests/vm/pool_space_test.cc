// A full pool against the real kernel (run inside the QEMU VM): writes fail at once instead of
// hanging (error_if_no_space), new devices are refused saying why, auto-extend grows the pool
// when the host filesystem has room, and a process killed mid-create or mid-extend
// (core/failpoint.h) leaves nothing that Create or Open does not clean up or finish.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "core/failpoint.h"
#include "core/store.h"
#include "core/sys/device_mapper.h"
#include "core/sys/loop.h"
#include "tests/support/run_command.h"
#include "thinpool/pool.h"

namespace strata::thinpool {
namespace {

using strata::testing::CommandResult;
using strata::testing::RunCommand;
using strata::testing::RunStrata;
using ::testing::AnyOf;
using ::testing::HasSubstr;

constexpr uint64_t kMiB = 1024 * 1024;
constexpr char kPoolName[] = "strata-vmspace-pool";

class PoolSpaceVmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/strata-space-vm-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_;
  }
  void TearDown() override {
    if (pool_) {
      for (uint32_t id = 1; id < 8; ++id) (void)pool_->Deactivate(id);
      (void)pool_->Deactivate();
    }
    pool_.reset();
    store_.reset();
    if (host_fs_) (void)RunCommand({"umount", "-l", root_});
    (void)std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  // The root on its own small tmpfs: the "host filesystem" auto-extend must fit in.
  void RootOnTmpfs(uint64_t size_bytes) {
    root_ = dir_ + "/host";
    ASSERT_EQ(Run({"mkdir", "-p", root_}), 0);
    ASSERT_EQ(
        Run({"mount", "-t", "tmpfs", "-o", "size=" + std::to_string(size_bytes), "tmpfs", root_}),
        0);
    host_fs_ = true;
  }
  void OpenStore() {
    auto store = Store::Open(root_ + "/strata.db");
    ASSERT_TRUE(store.ok()) << store.error().message();
    store_ = std::move(store).value();
    env_ = {&sys::LinuxDeviceMapper(), &sys::LinuxLoop(), store_.get(), root_};
  }
  PoolConfig Config(const std::string& data_size) {
    auto config = ParsePoolConfig({{"data-size", data_size}, {"pool-name", kPoolName}});
    EXPECT_TRUE(config.ok()) << config.error().message();
    return config.ok() ? *config : PoolConfig{};
  }
  void MustCreate(const PoolConfig& config) {
    auto created = ThinPool::Create(env_, config);
    ASSERT_TRUE(created.ok()) << created.error().message();
    pool_ = std::move(created).value();
  }
  PoolReport MustReport() {
    auto report = pool_->Report();
    EXPECT_TRUE(report.ok()) << report.error().message();
    return report.ok() ? *report : PoolReport{};
  }
  int Run(const std::vector<std::string>& argv) {
    CommandResult r = RunCommand(argv);
    EXPECT_EQ(r.exit_code, 0) << argv[0] << ": " << r.out << r.err;
    return r.exit_code;
  }
  // dd of `count` MiB of zeroes at `seek_mib` into thin device `id`, direct I/O, under a 90 s
  // timeout (exit 124 if it hangs).
  CommandResult WriteThin(uint32_t id, uint64_t seek_mib, uint64_t count_mib) {
    return RunCommand({"timeout", "90", "dd", "if=/dev/zero", "of=/dev/mapper/" + ThinDmName(kPoolName, id),
                       "bs=1M", "seek=" + std::to_string(seek_mib),
                       "count=" + std::to_string(count_mib), "oflag=direct", "conv=notrunc"});
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
  bool LoopsGone() {
    for (int i = 0; i < 50; ++i) {
      bool data = env_.loop->FindByBackingFile(DataFilePath(root_)).ok();
      bool meta = env_.loop->FindByBackingFile(MetadataFilePath(root_)).ok();
      if (!data && !meta) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }
  // Runs `body` in a forked child with failpoint `name` armed; expects it SIGKILLed there.
  void CrashChildAt(const std::string& name, const std::function<void(const PoolEnv&)>& body) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::setenv(kFailpointEnv, name.c_str(), 1);
      ReloadFailpointFromEnv();
      auto store = Store::Open(root_ + "/strata.db");  // never share a SQLite handle over fork
      if (!store.ok()) ::_exit(3);
      PoolEnv env = env_;
      env.store = store->get();
      body(env);
      ::_exit(2);  // the failpoint was not reached
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << name << ": exit " << WEXITSTATUS(status);
    EXPECT_EQ(WTERMSIG(status), SIGKILL) << name;
  }

  std::string dir_;
  std::string root_;
  bool host_fs_ = false;
  std::unique_ptr<Store> store_;
  PoolEnv env_;
  std::unique_ptr<ThinPool> pool_;
};

// error_if_no_space (the default): a write into a full pool fails at once, the pool reports
// out_of_data_space, new devices are refused naming the pool and why it cannot grow; once the
// host filesystem has room, `strata pool extend --auto` grows it and the resume brings it back.
TEST_F(PoolSpaceVmTest, FullPoolFailsWritesRefusesDevicesAndComesBackAfterAutoExtend) {
  RootOnTmpfs(100 * kMiB);
  OpenStore();
  MustCreate(Config("64M"));
  auto id = pool_->CreateThin(128 * kMiB / 512);  // over-provisioned: twice the pool
  ASSERT_TRUE(id.ok()) << id.error().message();
  ASSERT_TRUE(pool_->Activate(*id).ok());

  auto start = std::chrono::steady_clock::now();
  CommandResult dd = WriteThin(*id, 0, 128);
  auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_NE(dd.exit_code, 0) << dd.err;
  EXPECT_NE(dd.exit_code, 124) << "dd hung on the full pool";
  EXPECT_LT(seconds, 30);  // queue_if_no_space would wait no_space_timeout (60 s)
  EXPECT_THAT(dd.err, AnyOf(HasSubstr("No space left on device"), HasSubstr("Input/output error")));
  PoolReport full = MustReport();
  EXPECT_EQ(full.status.mode, PoolMode::kOutOfDataSpace);
  EXPECT_TRUE(full.status.error_if_no_space);
  EXPECT_EQ(full.status.used_data_blocks, full.status.total_data_blocks);

  // 64 MiB of the 100 MiB tmpfs hold the pool's data: no room for 13 MiB plus the margin.
  auto refused = pool_->CreateThin(16 * kMiB / 512);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ENOSPC);
  EXPECT_THAT(refused.error().message(), HasSubstr(std::string("pool ") + kPoolName));
  EXPECT_THAT(refused.error().message(), HasSubstr("is full (data 0B free of 64M"));
  EXPECT_THAT(refused.error().message(), HasSubstr("the host filesystem has"));
  EXPECT_EQ(MustReport().status.total_data_blocks, full.status.total_data_blocks);

  // The host filesystem grows; the timer's `strata pool extend --auto` grows the pool.
  ASSERT_EQ(Run({"mount", "-o", "remount,size=400M", root_}), 0);
  std::string config_path = dir_ + "/config.json";
  std::ofstream(config_path) << R"({"driver-opts": {"devicemapper": {"data-size": "64M", )"
                             << R"("pool-name": ")" << kPoolName << R"("}}})";
  CommandResult cli = RunStrata(root_, {"--config", config_path, "pool", "extend", "--auto"});
  EXPECT_EQ(cli.exit_code, 0) << cli.out << cli.err;
  EXPECT_THAT(cli.out, HasSubstr("Auto-extend:     extend: data 100% used (threshold 80%)"));
  PoolReport grown = MustReport();
  EXPECT_EQ(grown.status.mode, PoolMode::kReadWrite);  // the reload's resume left ODS mode
  EXPECT_GT(grown.status.total_data_blocks * 80, full.status.used_data_blocks * 100);

  CommandResult more = WriteThin(*id, 64, 4);
  EXPECT_EQ(more.exit_code, 0) << more.err;
  auto second = pool_->CreateThin(16 * kMiB / 512);
  EXPECT_TRUE(second.ok()) << second.error().message();
}

// Space comes back by deleting: a full pool still takes delete messages.
TEST_F(PoolSpaceVmTest, FullPoolStillDeletesDevices) {
  RootOnTmpfs(100 * kMiB);
  OpenStore();
  MustCreate(Config("64M"));
  auto id = pool_->CreateThin(128 * kMiB / 512);
  ASSERT_TRUE(id.ok()) << id.error().message();
  ASSERT_TRUE(pool_->Activate(*id).ok());
  EXPECT_NE(WriteThin(*id, 0, 128).exit_code, 0);
  ASSERT_EQ(MustReport().status.mode, PoolMode::kOutOfDataSpace);
  ASSERT_TRUE(pool_->Deactivate(*id).ok());
  Status deleted = pool_->Delete(*id);
  ASSERT_TRUE(deleted.ok()) << deleted.error().message();
  EXPECT_TRUE(pool_->List()->empty());
  EXPECT_EQ(MustReport().status.used_data_blocks, 0u);
}

TEST_F(PoolSpaceVmTest, NewDeviceAutoExtendsAPoolPastTheThreshold) {
  OpenStore();
  MustCreate(Config("64M"));
  auto id = pool_->CreateThin(64 * kMiB / 512);
  ASSERT_TRUE(id.ok()) << id.error().message();
  ASSERT_TRUE(pool_->Activate(*id).ok());
  ASSERT_EQ(WriteThin(*id, 0, 56).exit_code, 0);  // 87.5% of the pool
  PoolReport before = MustReport();
  EXPECT_GE(before.status.DataUsedPercent(), 80.0);
  auto second = pool_->CreateThin(16 * kMiB / 512);
  ASSERT_TRUE(second.ok()) << second.error().message();
  PoolReport after = MustReport();
  EXPECT_GT(after.status.total_data_blocks, before.status.total_data_blocks);
  EXPECT_LT(after.status.DataUsedPercent(), 80.0);
  EXPECT_EQ(after.status.mode, PoolMode::kReadWrite);
}

// A child killed at each step of Create; the next Create removes what it left and succeeds.
TEST_F(PoolSpaceVmTest, CrashAtEachStepOfCreateIsCleanedUpByCreate) {
  OpenStore();
  PoolConfig config = Config("64M");
  for (const char* step : {"intent", "files", "loops", "device"}) {
    SCOPED_TRACE(step);
    CrashChildAt(std::string("pool.create.") + step,
                 [&](const PoolEnv& env) { (void)ThinPool::Create(env, config); });
    auto open = Journal(*store_, kPoolName).OpenRecords();
    ASSERT_TRUE(open.ok());
    ASSERT_EQ(open->size(), 1u);
    EXPECT_EQ(open->front().kind, JournalKind::kPoolCreate);
    MustCreate(config);
    ASSERT_NE(pool_, nullptr);
    EXPECT_TRUE(pool_->CreateThin(8 * kMiB / 512).ok());
    ASSERT_TRUE(pool_->Deactivate().ok());
    pool_.reset();
    EXPECT_FALSE(AnyStrataDevice());
    EXPECT_TRUE(LoopsGone());
    ASSERT_EQ(Run({"rm", "-rf", root_ + "/devicemapper"}), 0);
  }
}

// Open after a crash: a live pool device is completed; anything less is removed (ENOENT).
TEST_F(PoolSpaceVmTest, OpenAfterACrashedCreateCompletesOrRemovesIt) {
  OpenStore();
  PoolConfig config = Config("64M");
  CrashChildAt("pool.create.loops",
               [&](const PoolEnv& env) { (void)ThinPool::Create(env, config); });
  auto opened = ThinPool::Open(env_, config);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code(), ENOENT);
  EXPECT_THAT(opened.error().message(), HasSubstr("creation was interrupted"));
  EXPECT_FALSE(Exists(DataFilePath(root_)));
  EXPECT_FALSE(Exists(MetadataFilePath(root_)));
  EXPECT_TRUE(LoopsGone());
  EXPECT_FALSE(AnyStrataDevice());

  CrashChildAt("pool.create.device",
               [&](const PoolEnv& env) { (void)ThinPool::Create(env, config); });
  EXPECT_TRUE(AnyStrataDevice());
  opened = ThinPool::Open(env_, config);
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  pool_ = std::move(opened).value();
  EXPECT_TRUE(Journal(*store_, kPoolName).OpenRecords()->empty());
  EXPECT_TRUE(pool_->CreateThin(8 * kMiB / 512).ok());
}

TEST_F(PoolSpaceVmTest, CrashMidExtendIsRedoneByOpen) {
  OpenStore();
  PoolConfig config = Config("64M");
  MustCreate(config);
  uint64_t blocks_before = MustReport().status.total_data_blocks;
  CrashChildAt("pool.extend.files", [&](const PoolEnv& env) {
    auto child = ThinPool::Open(env, config);
    if (child.ok()) (void)(*child)->Extend(128 * kMiB, std::nullopt);
  });
  EXPECT_EQ(MustReport().status.total_data_blocks, blocks_before);  // files grew, table did not
  auto reopened = ThinPool::Open(env_, config);
  ASSERT_TRUE(reopened.ok()) << reopened.error().message();
  pool_ = std::move(reopened).value();
  EXPECT_EQ(MustReport().status.total_data_blocks, blocks_before * 2);
  EXPECT_TRUE(pool_->journal().OpenRecords()->empty());
}

}  // namespace
}  // namespace strata::thinpool
