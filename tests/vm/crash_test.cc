// Crash consistency for real: a child process is SIGKILLed (core/failpoint.h) at every step of
// create_thin, snapshot (of an inactive and of an active, mounted origin) and delete, and the
// next ThinPool::Open must leave the kernel pool and the store agreeing (census: no leaked and
// no lost thin id), no device suspended or unreferenced, the earlier devices and their data
// intact, and the pool usable. One pool per operation, reused across its failpoints.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/failpoint.h"
#include "core/store.h"
#include "core/sys/device_mapper.h"
#include "core/sys/loop.h"
#include "tests/support/run_command.h"
#include "thinpool/pool.h"

namespace strata::thinpool {
namespace {

using strata::testing::RunCommand;
using ::testing::IsEmpty;

constexpr uint64_t kThinSectors = 32 * 1024 * 1024 / 512;
constexpr char kPoolName[] = "strata-vmtest-crash";
constexpr char kPayload[] = "written before the crashes\n";

// Where the failpoint sits relative to the kernel's commit point (set_transaction_id): before
// it the next Open rolls the operation back, from it on forward.
enum class Outcome { kRolledBack, kRolledForward };

struct Step {
  const char* failpoint;
  Outcome outcome;
};

const std::vector<Step> kCreateSteps = {
    {"after-intent", Outcome::kRolledBack},         {"after-message", Outcome::kRolledBack},
    {"after-kernel-done", Outcome::kRolledForward}, {"after-txid", Outcome::kRolledForward},
    {"after-commit", Outcome::kRolledForward},
};
// With an active origin: also between suspend and create_snap, and before the resume.
const std::vector<Step> kActiveSnapshotExtraSteps = {
    {"origin-suspended", Outcome::kRolledBack},
    {"before-resume", Outcome::kRolledBack},
};
// A delete is never undone once its intent is recorded: every step rolls forward.
const std::vector<Step> kDeleteSteps = {
    {"after-intent", Outcome::kRolledForward},      {"after-message", Outcome::kRolledForward},
    {"after-kernel-done", Outcome::kRolledForward}, {"after-txid", Outcome::kRolledForward},
    {"after-commit", Outcome::kRolledForward},
};

class CrashVmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/strata-crash-vm-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    mnt_ = root_ + "/mnt";
    ASSERT_EQ(Run({"mkdir", "-p", mnt_}), 0);
    auto config = ParsePoolConfig({{"data-size", "256M"}, {"pool-name", kPoolName}});
    ASSERT_TRUE(config.ok()) << config.error().message();
    config_ = *config;
    ASSERT_NO_FATAL_FAILURE(OpenStore());
    auto pool = ThinPool::Create(env_, config_);
    ASSERT_TRUE(pool.ok()) << pool.error().message();
    pool_ = std::move(pool).value();
    // The device whose data must survive every crash: ext4 with one file.
    auto precious = pool_->CreateThin(kThinSectors, "precious");
    ASSERT_TRUE(precious.ok()) << precious.error().message();
    precious_ = *precious;
    ASSERT_TRUE(pool_->Activate(precious_).ok());
    ASSERT_EQ(Run({"mkfs.ext4", "-q", "-F", Node(precious_)}), 0);
    ASSERT_EQ(Run({"mount", Node(precious_), mnt_}), 0);
    { std::ofstream(mnt_ + "/file") << kPayload; }
    ASSERT_EQ(Run({"umount", mnt_}), 0);
  }
  // Best effort: whatever a failed test left, thin devices before the pool.
  void TearDown() override {
    (void)RunCommand({"umount", "-l", mnt_});
    if (!store_) OpenStore();
    if (pool_ == nullptr) {
      auto pool = ThinPool::Open(env_, config_);
      if (pool.ok()) pool_ = std::move(pool).value();
    }
    if (pool_) {
      auto thins = pool_->List();
      if (thins.ok()) {
        for (const ThinRecord& t : *thins) (void)pool_->Deactivate(t.thin_id);
      }
      (void)pool_->Deactivate();
    }
    (void)std::system(("rm -rf '" + root_ + "'").c_str());
  }

  void OpenStore() {
    auto store = Store::Open(root_ + "/strata.db");
    ASSERT_TRUE(store.ok()) << store.error().message();
    store_ = std::move(store).value();
    env_ = {&sys::LinuxDeviceMapper(), &sys::LinuxLoop(), store_.get(), root_};
  }
  // Drops this process's pool and store connection: SQLite connections must not cross a fork,
  // and the child must start as a new command would.
  void CloseAll() {
    pool_.reset();
    store_.reset();
  }

  static std::string Node(uint32_t id) { return "/dev/mapper/" + ThinDmName(kPoolName, id); }
  int Run(const std::vector<std::string>& argv) {
    auto r = RunCommand(argv);
    EXPECT_EQ(r.exit_code, 0) << argv[0] << ": " << r.out << r.err;
    return r.exit_code;
  }

  // Forks a child that opens the pool as a new strata command would, arms `failpoint` and runs
  // `op`; expects it to die of SIGKILL there. Then opens the pool again (reconciling).
  void CrashAt(const std::string& failpoint, const std::function<Status(ThinPool&)>& op) {
    CloseAll();
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::setenv(kFailpointEnv, failpoint.c_str(), 1);
      ReloadFailpointFromEnv();
      auto store = Store::Open(root_ + "/strata.db");
      if (!store.ok()) ::_exit(2);
      PoolEnv env{&sys::LinuxDeviceMapper(), &sys::LinuxLoop(), store->get(), root_};
      auto pool = ThinPool::Open(env, config_);
      if (!pool.ok()) ::_exit(3);
      Status done = op(**pool);
      ::_exit(done.ok() ? 0 : 4);  // not killed: the failpoint was never reached
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << failpoint << ": child was not killed there (exit " << WEXITSTATUS(status) << ")";
    ASSERT_NO_FATAL_FAILURE(OpenStore());
    auto pool = ThinPool::Open(env_, config_);
    ASSERT_TRUE(pool.ok()) << failpoint << ": reopen: " << pool.error().message();
    pool_ = std::move(pool).value();
  }

  // The invariants every crash must keep.
  void ExpectConsistent(const std::string& failpoint) {
    SCOPED_TRACE(failpoint);
    EXPECT_THAT(*pool_->journal().OpenRecords(), IsEmpty());
    auto census = TakeCensus(env_, kPoolName);
    ASSERT_TRUE(census.ok()) << census.error().message();
    PoolDrift drift = DiffCensus(*census);
    EXPECT_THAT(drift.leaked_ids, IsEmpty());
    EXPECT_THAT(drift.lost_ids, IsEmpty());
    EXPECT_THAT(drift.unreferenced_devices, IsEmpty());
    EXPECT_THAT(drift.suspended_devices, IsEmpty());
    for (const ThinRecord& r : census->records) EXPECT_EQ(r.state, "ready") << r.thin_id;
    EXPECT_TRUE(census->pool_ids.contains(precious_));
    // The pool still works: a further create and delete.
    auto extra = pool_->CreateThin(kThinSectors);
    ASSERT_TRUE(extra.ok()) << extra.error().message();
    EXPECT_TRUE(pool_->Delete(*extra).ok());
  }

  size_t RecordCount() { return pool_->List()->size(); }

  void ExpectPreciousData() {
    if (!env_.dm->Info(ThinDmName(kPoolName, precious_)).ok()) {
      ASSERT_TRUE(pool_->Activate(precious_).ok());
    }
    ASSERT_EQ(Run({"mount", "-o", "ro", Node(precious_), mnt_}), 0);
    std::string text((std::istreambuf_iterator<char>(std::ifstream(mnt_ + "/file").rdbuf())),
                     std::istreambuf_iterator<char>());
    EXPECT_EQ(text, kPayload);
    ASSERT_EQ(Run({"umount", mnt_}), 0);
  }

  // Every step of a create-like operation: the op adds exactly one record when it rolls forward.
  void CrashCreateEverywhere(const std::string& kind, const std::vector<Step>& steps,
                             const std::function<Status(ThinPool&)>& op) {
    for (const Step& step : steps) {
      std::string failpoint = "thin." + kind + "." + step.failpoint;
      size_t before = RecordCount();
      ASSERT_NO_FATAL_FAILURE(CrashAt(failpoint, op));
      EXPECT_EQ(RecordCount(), before + (step.outcome == Outcome::kRolledForward ? 1 : 0))
          << failpoint;
      ASSERT_NO_FATAL_FAILURE(ExpectConsistent(failpoint));
    }
  }

  std::string root_;
  std::string mnt_;
  std::unique_ptr<Store> store_;
  PoolEnv env_;
  PoolConfig config_;
  std::unique_ptr<ThinPool> pool_;
  uint32_t precious_ = 0;
};

TEST_F(CrashVmTest, CreateThinSurvivesSigkillAtEveryStep) {
  ASSERT_TRUE(pool_->Deactivate(precious_).ok());
  CrashCreateEverywhere("create_thin", kCreateSteps, [](ThinPool& p) -> Status {
    STRATA_TRY(p.CreateThin(kThinSectors));
    return Ok();
  });
  ExpectPreciousData();
}

TEST_F(CrashVmTest, SnapshotOfInactiveOriginSurvivesSigkillAtEveryStep) {
  ASSERT_TRUE(pool_->Deactivate(precious_).ok());
  uint32_t origin = precious_;
  CrashCreateEverywhere("create_snap", kCreateSteps, [origin](ThinPool& p) -> Status {
    STRATA_TRY(p.Snapshot(origin));
    return Ok();
  });
  ExpectPreciousData();
}

// The origin stays mounted and written to: a crash while it is suspended must not leave it
// suspended (every writer would hang), and its filesystem must stay intact.
TEST_F(CrashVmTest, SnapshotOfActiveOriginSurvivesSigkillAtEveryStep) {
  std::vector<Step> steps = kActiveSnapshotExtraSteps;
  steps.insert(steps.end(), kCreateSteps.begin(), kCreateSteps.end());
  ASSERT_EQ(Run({"mount", Node(precious_), mnt_}), 0);
  uint32_t origin = precious_;
  for (const Step& step : steps) {
    std::string failpoint = std::string("thin.create_snap.") + step.failpoint;
    size_t before = RecordCount();
    ASSERT_NO_FATAL_FAILURE(CrashAt(failpoint, [origin](ThinPool& p) -> Status {
      STRATA_TRY(p.Snapshot(origin));
      return Ok();
    }));
    EXPECT_EQ(RecordCount(), before + (step.outcome == Outcome::kRolledForward ? 1 : 0))
        << failpoint;
    ASSERT_NO_FATAL_FAILURE(ExpectConsistent(failpoint));
    auto info = env_.dm->Info(ThinDmName(kPoolName, origin));
    ASSERT_TRUE(info.ok() && !info->suspended) << failpoint << ": origin left suspended";
    // The mounted origin takes writes again (a suspended one would hang here).
    { std::ofstream(mnt_ + "/after-" + step.failpoint) << failpoint; }
    ASSERT_EQ(Run({"sync", "-f", mnt_ + "/file"}), 0);
  }
  ASSERT_EQ(Run({"umount", mnt_}), 0);
  ExpectPreciousData();
}

TEST_F(CrashVmTest, DeleteSurvivesSigkillAtEveryStep) {
  ASSERT_TRUE(pool_->Deactivate(precious_).ok());
  for (const Step& step : kDeleteSteps) {
    std::string failpoint = std::string("thin.delete.") + step.failpoint;
    auto victim = pool_->CreateThin(kThinSectors, "victim");
    ASSERT_TRUE(victim.ok()) << victim.error().message();
    ASSERT_TRUE(pool_->Activate(*victim).ok());  // Delete deactivates it first
    uint32_t id = *victim;
    ASSERT_NO_FATAL_FAILURE(CrashAt(failpoint, [id](ThinPool& p) { return p.Delete(id); }));
    auto gone = pool_->List();
    ASSERT_TRUE(gone.ok());
    for (const ThinRecord& r : *gone) EXPECT_NE(r.thin_id, id) << failpoint << ": not deleted";
    ASSERT_NO_FATAL_FAILURE(ExpectConsistent(failpoint));
    auto census = TakeCensus(env_, kPoolName);
    ASSERT_TRUE(census.ok());
    EXPECT_FALSE(census->pool_ids.contains(id)) << failpoint;
  }
  ExpectPreciousData();
}

}  // namespace
}  // namespace strata::thinpool
