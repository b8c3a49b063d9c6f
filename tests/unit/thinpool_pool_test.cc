#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "tests/fakes/fake_device_mapper.h"
#include "tests/fakes/fake_loop.h"
#include "thinpool/pool.h"

namespace strata::thinpool {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Not;

// The fake kernel, plus "the process dies at mutating step N": from step `fail_at` on, every
// mutating call fails (kDie) or just that one does (kOnce).
class StepFailingDm : public FakeDeviceMapper {
 public:
  enum class Mode { kOnce, kDie };
  void FailAt(int step, Mode mode) {
    fail_at_ = step;
    mode_ = mode;
    steps_ = 0;
  }
  void Heal() { fail_at_ = -1; }
  int steps() const { return steps_; }

  Status Create(const std::string& n, const std::string& u) override {
    STRATA_TRY(Step("create"));
    return FakeDeviceMapper::Create(n, u);
  }
  Status Load(const std::string& n, const std::vector<sys::DmTarget>& t) override {
    STRATA_TRY(Step("load"));
    return FakeDeviceMapper::Load(n, t);
  }
  Status Suspend(const std::string& n, sys::DmFlush f, sys::DmLockFs l) override {
    STRATA_TRY(Step("suspend"));
    return FakeDeviceMapper::Suspend(n, f, l);
  }
  Status Resume(const std::string& n) override {
    STRATA_TRY(Step("resume"));
    return FakeDeviceMapper::Resume(n);
  }
  Status Remove(const std::string& n, sys::DmRemove m) override {
    STRATA_TRY(Step("remove"));
    return FakeDeviceMapper::Remove(n, m);
  }
  Result<std::string> Message(const std::string& n, uint64_t s, const std::string& m) override {
    STRATA_TRY(Step("message " + m));
    return FakeDeviceMapper::Message(n, s, m);
  }

 private:
  Status Step(const std::string& what) {
    ++steps_;
    bool fail = mode_ == Mode::kDie ? (fail_at_ > 0 && steps_ >= fail_at_) : steps_ == fail_at_;
    if (fail) return Error(EIO, "injected at step " + std::to_string(steps_) + ": " + what);
    return Ok();
  }
  int fail_at_ = -1;
  Mode mode_ = Mode::kOnce;
  int steps_ = 0;
};

class ThinPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "strata-pool-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    auto store = Store::Open(root_ + "/strata.db");
    ASSERT_TRUE(store.ok()) << store.error().message();
    store_ = std::move(store).value();
    env_ = {&dm_, &loop_, store_.get(), root_};
    auto config = ParsePoolConfig(nlohmann::json{{"data-size", "1G"}, {"pool-name", "pool"}});
    ASSERT_TRUE(config.ok()) << config.error().message();
    config_ = *config;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::unique_ptr<ThinPool> MustCreate() {
    auto pool = ThinPool::Create(env_, config_);
    EXPECT_TRUE(pool.ok()) << pool.error().message();
    dm_.ClearCalls();
    return pool.ok() ? std::move(pool).value() : nullptr;
  }
  std::unique_ptr<ThinPool> MustOpen() {
    auto pool = ThinPool::Open(env_, config_);
    EXPECT_TRUE(pool.ok()) << pool.error().message();
    return pool.ok() ? std::move(pool).value() : nullptr;
  }
  const FakeDeviceMapper::Pool& Kernel() { return *dm_.PoolOf("pool"); }
  size_t OpenRecords(ThinPool& pool) { return pool.journal().OpenRecords()->size(); }
  bool FileExists(const std::string& p) { return std::filesystem::exists(p); }

  std::string root_;
  std::unique_ptr<Store> store_;
  StepFailingDm dm_;
  FakeLoop loop_;
  PoolEnv env_;
  PoolConfig config_;
};

TEST_F(ThinPoolTest, CreateBuildsLoopBackedPool) {
  auto pool = MustCreate();
  ASSERT_NE(pool, nullptr);
  EXPECT_TRUE(FileExists(DataFilePath(root_)));
  EXPECT_TRUE(FileExists(MetadataFilePath(root_)));
  EXPECT_EQ(std::filesystem::file_size(DataFilePath(root_)), uint64_t{1} << 30);
  EXPECT_EQ(loop_.bound().size(), 2u);
  ASSERT_TRUE(dm_.Exists("pool"));
  EXPECT_EQ(dm_.devices().at("pool").uuid, "STRATA-pool-pool");
  auto report = pool->Report();
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(report->status.transaction_id, 0u);
  EXPECT_EQ(report->block_size_sectors, 128u);
  EXPECT_EQ(report->data_length_sectors, (uint64_t{1} << 30) / 512);
}

TEST_F(ThinPoolTest, CreateTwiceIsEexist) {
  ASSERT_NE(MustCreate(), nullptr);
  EXPECT_EQ(ThinPool::Create(env_, config_).error().code(), EEXIST);
}

TEST_F(ThinPoolTest, PoolCreateFailureAtEveryStepLeavesNothing) {
  for (int step = 1;; ++step) {
    dm_.FailAt(step, StepFailingDm::Mode::kOnce);
    auto pool = ThinPool::Create(env_, config_);
    if (pool.ok()) {
      EXPECT_GE(step, 4) << "create, load, resume at least";
      break;
    }
    EXPECT_THAT(dm_.devices(), IsEmpty()) << "step " << step;
    EXPECT_THAT(loop_.bound(), IsEmpty()) << "step " << step;
    EXPECT_FALSE(FileExists(DataFilePath(root_))) << "step " << step;
    EXPECT_FALSE(FileExists(MetadataFilePath(root_))) << "step " << step;
  }
}

TEST_F(ThinPoolTest, LoopFailuresLeaveNothing) {
  for (const char* op : {"get_free", "configure"}) {
    FakeLoop loop;
    env_.loop = &loop;
    loop.FailNext(op, EIO);
    auto pool = ThinPool::Create(env_, config_);
    ASSERT_FALSE(pool.ok());
    EXPECT_EQ(pool.error().code(), EIO);
    EXPECT_THAT(loop.bound(), IsEmpty()) << op;
    EXPECT_THAT(dm_.devices(), IsEmpty()) << op;
    EXPECT_FALSE(FileExists(DataFilePath(root_))) << op;
    EXPECT_FALSE(FileExists(MetadataFilePath(root_))) << op;
  }
}

TEST_F(ThinPoolTest, CreateThinJournalsAndCommits) {
  auto pool = MustCreate();
  auto id = pool->CreateThin(2048, "base");
  ASSERT_TRUE(id.ok()) << id.error().message();
  EXPECT_EQ(*id, 1u);
  EXPECT_THAT(dm_.calls(),
              ElementsAre("message pool create_thin 1", "message pool set_transaction_id 0 1"));
  EXPECT_EQ(Kernel().transaction_id, 1u);
  auto list = pool->List();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->front().state, "ready");
  EXPECT_EQ(list->front().size_sectors, 2048u);
  EXPECT_EQ(OpenRecords(*pool), 0u);
  EXPECT_EQ(*pool->CreateThin(2048), 2u);  // ids are never reused
}

TEST_F(ThinPoolTest, CreateThinFailureAtEveryStepLeavesNoDeviceOrRecord) {
  auto pool = MustCreate();
  for (int step = 1; step <= 2; ++step) {
    dm_.FailAt(step, StepFailingDm::Mode::kOnce);
    ASSERT_FALSE(pool->CreateThin(2048).ok()) << step;
    dm_.Heal();
    EXPECT_THAT(Kernel().thins, IsEmpty()) << step;
    EXPECT_THAT(*pool->List(), IsEmpty()) << step;
    EXPECT_EQ(OpenRecords(*pool), 0u) << step;
    EXPECT_EQ(Kernel().transaction_id, 0u) << step;
  }
}

// The process dies at each kernel step of a create; the next Open must leave the store and
// the pool in agreement, with no open journal entry.
TEST_F(ThinPoolTest, CrashAtEveryStepOfCreateThinIsReconciledOnOpen) {
  for (int step = 1; step <= 3; ++step) {
    auto pool = MustCreate();
    dm_.FailAt(step, StepFailingDm::Mode::kDie);
    (void)pool->CreateThin(2048);  // dies somewhere
    pool.reset();
    dm_.Heal();
    auto reopened = MustOpen();
    ASSERT_NE(reopened, nullptr);
    auto list = *reopened->List();
    EXPECT_EQ(list.size(), Kernel().thins.size()) << step;
    for (const ThinRecord& r : list) {
      EXPECT_EQ(r.state, "ready");
      EXPECT_TRUE(Kernel().thins.count(r.thin_id)) << step;
    }
    EXPECT_EQ(OpenRecords(*reopened), 0u) << step;
    ASSERT_TRUE(reopened->Deactivate().ok());
    std::filesystem::remove_all(root_ + "/devicemapper");
    loop_ = FakeLoop();
    dm_ = StepFailingDm();
  }
}

// Store and kernel agree after a reopen: every record is ready and in the pool, and the pool
// holds nothing else; no journal entry is left open.
void ExpectConsistent(ThinPool& pool, const FakeDeviceMapper::Pool& kernel, int step) {
  auto list = *pool.List();
  EXPECT_EQ(list.size(), kernel.thins.size()) << "step " << step;
  for (const ThinRecord& r : list) {
    EXPECT_EQ(r.state, "ready") << "step " << step;
    EXPECT_TRUE(kernel.thins.count(r.thin_id)) << "step " << step;
  }
  EXPECT_THAT(*pool.journal().OpenRecords(), IsEmpty()) << "step " << step;
}

// Dies at each kernel step of a snapshot of an active origin: suspend, create_snap, resume,
// set_transaction_id. The reopen must also resume an origin the dead process left suspended.
TEST_F(ThinPoolTest, CrashAtEveryStepOfSnapshotIsReconciledOnOpen) {
  auto pool = MustCreate();
  ASSERT_TRUE(pool->CreateThin(2048).ok());
  ASSERT_TRUE(pool->Activate(1).ok());
  for (int step = 1; step <= 5; ++step) {
    dm_.FailAt(step, StepFailingDm::Mode::kDie);
    (void)pool->Snapshot(1);
    pool.reset();
    dm_.Heal();
    pool = MustOpen();
    ASSERT_NE(pool, nullptr);
    EXPECT_FALSE(dm_.devices().at("pool-thin-1").suspended) << "step " << step;
    ExpectConsistent(*pool, Kernel(), step);
  }
}

TEST_F(ThinPoolTest, CrashAtEveryStepOfDeleteIsReconciledOnOpen) {
  for (int step = 1; step <= 3; ++step) {
    auto pool = MustCreate();
    ASSERT_TRUE(pool->CreateThin(2048).ok());
    ASSERT_TRUE(pool->Activate(1).ok());
    dm_.FailAt(step, StepFailingDm::Mode::kDie);
    (void)pool->Delete(1);
    pool.reset();
    dm_.Heal();
    pool = MustOpen();
    ASSERT_NE(pool, nullptr);
    ExpectConsistent(*pool, Kernel(), step);
    ASSERT_TRUE(pool->Delete(1).ok()) << "a retried delete finishes the job, step " << step;
    EXPECT_THAT(Kernel().thins, IsEmpty());
    ASSERT_TRUE(pool->Deactivate().ok());
    std::filesystem::remove_all(root_ + "/devicemapper");
    loop_ = FakeLoop();
    dm_ = StepFailingDm();
  }
}

TEST_F(ThinPoolTest, NeverMovesTheTransactionIdOfAnLvmPool) {
  ASSERT_NE(MustCreate(), nullptr);
  auto table = dm_.Table("pool");
  ASSERT_TRUE(table.ok());
  ASSERT_TRUE(dm_.Remove("pool", sys::DmRemove::kNow).ok());
  ASSERT_TRUE(dm_.Create("lvm-pool", "LVM-abc-tpool").ok());
  ASSERT_TRUE(dm_.Load("lvm-pool", *table).ok());
  ASSERT_TRUE(dm_.Resume("lvm-pool").ok());
  auto config = ParsePoolConfig(nlohmann::json{{"thin-pool-device", "/dev/mapper/lvm-pool"}});
  ASSERT_TRUE(config.ok()) << config.error().message();
  auto pool = ThinPool::Open(env_, *config);
  ASSERT_TRUE(pool.ok()) << pool.error().message();
  dm_.ClearCalls();
  EXPECT_EQ((*pool)->CreateThin(2048).error().code(), EOPNOTSUPP);
  EXPECT_THAT(dm_.calls(), IsEmpty());
  ASSERT_TRUE((*pool)->Deactivate().ok());
  EXPECT_TRUE(dm_.Exists("lvm-pool")) << "an adopted pool is never removed";
}

TEST_F(ThinPoolTest, SnapshotOfActiveOriginSuspendsAndResumes) {
  auto pool = MustCreate();
  ASSERT_TRUE(pool->CreateThin(2048).ok());
  ASSERT_TRUE(pool->Activate(1).ok());
  dm_.ClearCalls();
  auto snap = pool->Snapshot(1);
  ASSERT_TRUE(snap.ok()) << snap.error().message();
  EXPECT_THAT(dm_.calls(),
              ElementsAre("suspend pool-thin-1", "message pool create_snap 2 1",
                          "resume pool-thin-1", "message pool set_transaction_id 1 2"));
  EXPECT_FALSE(dm_.devices().at("pool-thin-1").suspended);
}

TEST_F(ThinPoolTest, SnapshotResumesOriginEvenWhenCreateSnapFails) {
  auto pool = MustCreate();
  ASSERT_TRUE(pool->CreateThin(2048).ok());
  ASSERT_TRUE(pool->Activate(1).ok());
  dm_.ClearCalls();
  dm_.FailNext("message", EIO);
  EXPECT_EQ(pool->Snapshot(1).error().code(), EIO);
  EXPECT_THAT(dm_.calls(), Contains("resume pool-thin-1"));
  EXPECT_FALSE(dm_.devices().at("pool-thin-1").suspended);
  EXPECT_EQ(Kernel().thins.size(), 1u);
  EXPECT_EQ(pool->List()->size(), 1u);
  EXPECT_EQ(OpenRecords(*pool), 0u);
}

TEST_F(ThinPoolTest, SnapshotOfInactiveOriginDoesNotSuspend) {
  auto pool = MustCreate();
  ASSERT_TRUE(pool->CreateThin(2048).ok());
  dm_.ClearCalls();
  ASSERT_TRUE(pool->Snapshot(1).ok());
  EXPECT_THAT(dm_.calls(), Not(Contains("suspend pool-thin-1")));
  EXPECT_EQ(pool->Snapshot(99).error().code(), ENOENT);
}

TEST_F(ThinPoolTest, ActivateDeactivateDelete) {
  auto pool = MustCreate();
  ASSERT_TRUE(pool->CreateThin(4096).ok());
  ASSERT_TRUE(pool->Activate(1).ok());
  EXPECT_EQ(dm_.devices().at("pool-thin-1").uuid, "STRATA-thin-pool-1");
  EXPECT_EQ(dm_.devices().at("pool-thin-1").active->front().length_sectors, 4096u);
  ASSERT_TRUE(pool->Grow(1, 8192).ok());
  EXPECT_EQ(dm_.devices().at("pool-thin-1").active->front().length_sectors, 8192u);
  EXPECT_EQ(pool->Grow(1, 1024).error().code(), EINVAL);
  ASSERT_TRUE(pool->Delete(1).ok());
  EXPECT_FALSE(dm_.Exists("pool-thin-1"));
  EXPECT_THAT(Kernel().thins, IsEmpty());
  EXPECT_THAT(*pool->List(), IsEmpty());
  EXPECT_EQ(Kernel().transaction_id, 2u);
  EXPECT_TRUE(pool->Delete(1).ok());   // already gone
  EXPECT_TRUE(pool->Delete(77).ok());  // never existed
  EXPECT_EQ(pool->Activate(77).error().code(), ENOENT);
}

TEST_F(ThinPoolTest, FailedDeleteKeepsTheDevice) {
  auto pool = MustCreate();
  ASSERT_TRUE(pool->CreateThin(4096).ok());
  dm_.FailNext("message", EBUSY);
  EXPECT_EQ(pool->Delete(1).error().code(), EBUSY);
  EXPECT_EQ(pool->List()->front().state, "ready");
  EXPECT_EQ(OpenRecords(*pool), 0u);
  EXPECT_TRUE(Kernel().thins.count(1));
}

TEST_F(ThinPoolTest, RefusesNewDevicesOnUnusablePool) {
  auto pool = MustCreate();
  dm_.SetPoolMode("pool", FakeDeviceMapper::PoolMode::kReadOnly);
  EXPECT_EQ(pool->CreateThin(2048).error().code(), EOPNOTSUPP);
  dm_.SetPoolMode("pool", FakeDeviceMapper::PoolMode::kOutOfDataSpace);
  EXPECT_EQ(pool->CreateThin(2048).error().code(), ENOSPC);
  EXPECT_THAT(dm_.calls(), IsEmpty());
}

TEST_F(ThinPoolTest, OpenAfterRebootReattachesLoopsAndKeepsThins) {
  auto pool = MustCreate();
  ASSERT_TRUE(pool->CreateThin(2048).ok());
  ASSERT_TRUE(pool->Deactivate().ok());
  EXPECT_FALSE(dm_.Exists("pool"));
  loop_ = FakeLoop();  // a reboot: no loops bound
  auto reopened = MustOpen();
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(loop_.bound().size(), 2u);
  EXPECT_TRUE(dm_.Exists("pool"));
  EXPECT_EQ(reopened->List()->size(), 1u);
}

TEST_F(ThinPoolTest, OpenWithoutPoolIsEnoent) {
  EXPECT_EQ(ThinPool::Open(env_, config_).error().code(), ENOENT);
}

TEST_F(ThinPoolTest, ExtendGrowsFileAndReloadsTable) {
  auto pool = MustCreate();
  ASSERT_TRUE(pool->Extend(uint64_t{2} << 30, std::nullopt).ok());
  EXPECT_EQ(std::filesystem::file_size(DataFilePath(root_)), uint64_t{2} << 30);
  EXPECT_THAT(loop_.calls(), Contains("set_capacity /dev/loop0"));
  EXPECT_EQ(pool->Report()->data_length_sectors, (uint64_t{2} << 30) / 512);
  EXPECT_EQ(pool->Extend(uint64_t{1} << 30, std::nullopt).error().code(), EINVAL);
}

}  // namespace
}  // namespace strata::thinpool
