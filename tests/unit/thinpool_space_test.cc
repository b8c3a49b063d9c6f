// The auto-extend rule (pure), and ThinPool's use of it and of the pool_create/extend journal
// over the fake kernel: auto-extend before new devices and on Open, the refusal of a full pool
// that cannot grow, and recovery from a process killed (core/failpoint.h) mid-create and
// mid-extend.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "core/failpoint.h"
#include "tests/fakes/fake_device_mapper.h"
#include "tests/fakes/fake_loop.h"
#include "thinpool/pool.h"
#include "thinpool/pool_space.h"

namespace strata::thinpool {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr uint64_t kBlock = 64 * 1024;  // the default data block size
constexpr uint32_t kBlockSectors = 128;
constexpr uint64_t kLots = uint64_t{1} << 50;  // host free space that never limits

PoolConfig LoopConfig(uint32_t threshold = 80, uint32_t percent = 20) {
  PoolConfig c;
  c.auto_extend_threshold_percent.value = threshold;
  c.auto_extend_percent.value = percent;
  return c;
}

// A rw pool of `data_blocks` (64 KiB) with `used` in use, and 1000 metadata blocks, 100 in use.
ThinPoolStatus StatusOf(uint64_t used, uint64_t data_blocks) {
  ThinPoolStatus s;
  s.used_data_blocks = used;
  s.total_data_blocks = data_blocks;
  s.used_metadata_blocks = 100;
  s.total_metadata_blocks = 1000;
  return s;
}

const PoolFileSizes kSizes{kGiB, 4000 * 4096};

TEST(AutoExtendDecisionTest, BelowThresholdNothingToDo) {
  AutoExtendPlan p = AutoExtendDecision(StatusOf(13107, 16384), kBlockSectors, kSizes, LoopConfig(),
                                        kLots);  // 79.99%
  EXPECT_EQ(p.verdict, AutoExtendVerdict::kNotNeeded);
  EXPECT_FALSE(p.new_sizes);
  EXPECT_EQ(p.growth_bytes, 0u);
  EXPECT_THAT(p.reason, HasSubstr("data 79% used (threshold 80%)"));
  EXPECT_THAT(p.reason, HasSubstr("nothing to do"));
}

TEST(AutoExtendDecisionTest, DataAtThresholdGrowsByPercentRoundedToBlocks) {
  AutoExtendPlan p = AutoExtendDecision(StatusOf(13108, 16384), kBlockSectors, kSizes, LoopConfig(),
                                        kLots);  // 80.0%
  ASSERT_EQ(p.verdict, AutoExtendVerdict::kExtend) << p.reason;
  ASSERT_TRUE(p.new_sizes);
  // 1 GiB + 20% = 1288490188.8 bytes, rounded up to whole 64 KiB blocks: 19661 blocks.
  EXPECT_EQ(p.new_sizes->data_bytes, 19661 * kBlock);
  EXPECT_EQ(p.new_sizes->metadata_bytes, kSizes.metadata_bytes);  // metadata is at 10%
  EXPECT_EQ(p.growth_bytes, 19661 * kBlock - kGiB);
  EXPECT_THAT(p.reason, HasSubstr("grow data 1G -> 1.2G"));
}

TEST(AutoExtendDecisionTest, GrowsEnoughToClearTheThreshold) {
  // 99% used, growing by 5% would leave it at 94%: grow until use is under 80% instead.
  PoolFileSizes sizes{1000 * kBlock, kSizes.metadata_bytes};
  AutoExtendPlan p =
      AutoExtendDecision(StatusOf(990, 1000), kBlockSectors, sizes, LoopConfig(80, 5), kLots);
  ASSERT_EQ(p.verdict, AutoExtendVerdict::kExtend);
  EXPECT_EQ(p.new_sizes->data_bytes, 1238 * kBlock);  // 990 / 1238 = 79.97%
  EXPECT_LT(990 * 100, 1238 * 80);
  EXPECT_GE(990 * 100, 1237 * 80);  // and no more than that
}

TEST(AutoExtendDecisionTest, OutOfDataSpacePoolGrows) {
  ThinPoolStatus s = StatusOf(16384, 16384);
  s.mode = PoolMode::kOutOfDataSpace;
  AutoExtendPlan p = AutoExtendDecision(s, kBlockSectors, kSizes, LoopConfig(), kLots);
  ASSERT_EQ(p.verdict, AutoExtendVerdict::kExtend);
  EXPECT_GT(p.new_sizes->data_bytes * 80, uint64_t{16384} * kBlock * 100);  // under 80% after
}

TEST(AutoExtendDecisionTest, PartialBlockFileGrowsToWholeBlocks) {
  PoolFileSizes sizes{100 * kBlock + 1000, kSizes.metadata_bytes};
  AutoExtendPlan p =
      AutoExtendDecision(StatusOf(90, 100), kBlockSectors, sizes, LoopConfig(), kLots);
  ASSERT_EQ(p.verdict, AutoExtendVerdict::kExtend);
  EXPECT_EQ(p.new_sizes->data_bytes % kBlock, 0u);
  EXPECT_EQ(p.new_sizes->data_bytes, 121 * kBlock);  // 6554600 bytes + 20%, rounded up
}

TEST(AutoExtendDecisionTest, MetadataGrowsOnItsOwn) {
  ThinPoolStatus s = StatusOf(10, 16384);
  s.used_metadata_blocks = 900;  // 90%
  AutoExtendPlan p = AutoExtendDecision(s, kBlockSectors, kSizes, LoopConfig(), kLots);
  ASSERT_EQ(p.verdict, AutoExtendVerdict::kExtend) << p.reason;
  EXPECT_EQ(p.new_sizes->data_bytes, kSizes.data_bytes);
  EXPECT_EQ(p.new_sizes->metadata_bytes, 4800 * 4096u);  // +20%, a multiple of 4 KiB
  EXPECT_THAT(p.reason, HasSubstr("metadata 90% used"));
  EXPECT_THAT(p.reason, HasSubstr("grow metadata"));
}

TEST(AutoExtendDecisionTest, MetadataAtTheKernelMaximumCannotGrow) {
  ThinPoolStatus s = StatusOf(10, 16384);
  s.used_metadata_blocks = 950;
  PoolFileSizes sizes{kGiB, kMaxMetadataBytes / 4096 * 4096};
  AutoExtendPlan p = AutoExtendDecision(s, kBlockSectors, sizes, LoopConfig(), kLots);
  EXPECT_EQ(p.verdict, AutoExtendVerdict::kCannotGrow);
  EXPECT_THAT(p.reason, HasSubstr("kernel's maximum"));
  // Near the maximum it grows to the maximum and no further.
  sizes.metadata_bytes = kMaxMetadataBytes - 40960;
  p = AutoExtendDecision(s, kBlockSectors, sizes, LoopConfig(), kLots);
  ASSERT_EQ(p.verdict, AutoExtendVerdict::kExtend);
  EXPECT_EQ(p.new_sizes->metadata_bytes, kMaxMetadataBytes / 4096 * 4096);
  // With data over too, data still grows.
  s.used_data_blocks = 16000;
  sizes.metadata_bytes = kMaxMetadataBytes / 4096 * 4096;
  p = AutoExtendDecision(s, kBlockSectors, sizes, LoopConfig(), kLots);
  ASSERT_EQ(p.verdict, AutoExtendVerdict::kExtend);
  EXPECT_GT(p.new_sizes->data_bytes, sizes.data_bytes);
  EXPECT_EQ(p.new_sizes->metadata_bytes, sizes.metadata_bytes);
}

TEST(AutoExtendDecisionTest, HostFilesystemMustHoldGrowthPlusMargin) {
  ThinPoolStatus s = StatusOf(15000, 16384);
  AutoExtendPlan fits = AutoExtendDecision(s, kBlockSectors, kSizes, LoopConfig(), kLots);
  ASSERT_EQ(fits.verdict, AutoExtendVerdict::kExtend);
  uint64_t needed = fits.growth_bytes + kHostFreeMarginBytes;
  EXPECT_EQ(AutoExtendDecision(s, kBlockSectors, kSizes, LoopConfig(), needed).verdict,
            AutoExtendVerdict::kExtend);
  AutoExtendPlan p = AutoExtendDecision(s, kBlockSectors, kSizes, LoopConfig(), needed - 1);
  EXPECT_EQ(p.verdict, AutoExtendVerdict::kNoHostRoom);
  ASSERT_TRUE(p.new_sizes);  // what it would have grown to
  EXPECT_EQ(*p.new_sizes, *fits.new_sizes);
  EXPECT_THAT(p.reason, HasSubstr("the host filesystem has"));
  EXPECT_THAT(p.reason, HasSubstr("margin"));
}

TEST(AutoExtendDecisionTest, OnlyLoopFilePoolsInAResizableMode) {
  ThinPoolStatus s = StatusOf(16000, 16384);
  for (PoolBacking b : {PoolBacking::kDevices, PoolBacking::kExistingPool}) {
    PoolConfig c = LoopConfig();
    c.backing = b;
    EXPECT_EQ(AutoExtendDecision(s, kBlockSectors, kSizes, c, kLots).verdict,
              AutoExtendVerdict::kNotNeeded);
  }
  for (PoolMode m : {PoolMode::kReadOnly, PoolMode::kFail, PoolMode::kError}) {
    s.mode = m;
    AutoExtendPlan p = AutoExtendDecision(s, kBlockSectors, kSizes, LoopConfig(), kLots);
    EXPECT_EQ(p.verdict, AutoExtendVerdict::kNotNeeded) << PoolModeName(m);
    EXPECT_THAT(p.reason, HasSubstr("cannot resize"));
  }
  s.mode = PoolMode::kReadWrite;
  s.needs_check = true;
  EXPECT_EQ(AutoExtendDecision(s, kBlockSectors, kSizes, LoopConfig(), kLots).verdict,
            AutoExtendVerdict::kNotNeeded);
}

TEST(AutoExtendDecisionTest, HugeFilesDoNotOverflow) {
  PoolFileSizes sizes{uint64_t{1} << 60, kSizes.metadata_bytes};
  ThinPoolStatus s = StatusOf((uint64_t{1} << 44) - 1, uint64_t{1} << 44);
  AutoExtendPlan p = AutoExtendDecision(s, kBlockSectors, sizes, LoopConfig(80, 300), UINT64_MAX);
  ASSERT_EQ(p.verdict, AutoExtendVerdict::kExtend);
  EXPECT_EQ(p.new_sizes->data_bytes, uint64_t{4} << 60);
}

// --- ThinPool over the fakes ------------------------------------------------------------------

class PoolSpaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "strata-space-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    auto store = Store::Open(root_ + "/strata.db");
    ASSERT_TRUE(store.ok()) << store.error().message();
    store_ = std::move(store).value();
    env_ = {&dm_, &loop_, store_.get(), root_};
    config_ = Config("1G");
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  PoolConfig Config(const std::string& data_size) {
    auto c = ParsePoolConfig(nlohmann::json{{"data-size", data_size}, {"pool-name", "pool"}});
    EXPECT_TRUE(c.ok()) << c.error().message();
    return c.ok() ? *c : PoolConfig{};
  }
  std::unique_ptr<ThinPool> MustCreate() {
    auto pool = ThinPool::Create(env_, config_);
    EXPECT_TRUE(pool.ok()) << pool.error().message();
    return pool.ok() ? std::move(pool).value() : nullptr;
  }
  uint64_t DataFileBytes() { return std::filesystem::file_size(DataFilePath(root_)); }
  uint64_t DataBlocksInTable(ThinPool& pool) { return pool.Report()->status.total_data_blocks; }
  // Runs `body` in a child process with failpoint `name` armed; expects the child to be killed.
  // The child inherits the fakes' state (a copy); what it changes there is lost with it, as the
  // kernel state it models would not be (tests that need it say so). Files and the store stay.
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

  std::string root_;
  std::unique_ptr<Store> store_;
  FakeDeviceMapper dm_;
  FakeLoop loop_;
  PoolEnv env_;
  PoolConfig config_;
};

TEST_F(PoolSpaceTest, CreateThinAutoExtendsPastTheThreshold) {
  auto pool = MustCreate();
  ASSERT_NE(pool, nullptr);
  ASSERT_TRUE(pool->CreateThin(2048).ok());
  dm_.SetThinMappedBlocks("pool", 1, 16384 * 85 / 100);
  auto second = pool->CreateThin(2048);
  ASSERT_TRUE(second.ok()) << second.error().message();
  EXPECT_EQ(DataFileBytes(), 19661 * kBlock);  // +20%, whole blocks
  EXPECT_EQ(DataBlocksInTable(*pool), 19661u);
  EXPECT_THAT(*pool->journal().OpenRecords(), IsEmpty());
  // Below the threshold now: the next device does not grow it again.
  ASSERT_TRUE(pool->CreateThin(2048).ok());
  EXPECT_EQ(DataFileBytes(), 19661 * kBlock);
}

TEST_F(PoolSpaceTest, OpenAutoExtendsAndReportsIt) {
  auto pool = MustCreate();
  ASSERT_TRUE(pool->CreateThin(2048).ok());
  ASSERT_TRUE(pool->open_auto_extend() == std::nullopt);  // Create does not run it
  dm_.SetThinMappedBlocks("pool", 1, 16384 * 9 / 10);
  auto reopened = ThinPool::Open(env_, config_);
  ASSERT_TRUE(reopened.ok()) << reopened.error().message();
  ASSERT_TRUE((*reopened)->open_auto_extend());
  EXPECT_TRUE((*reopened)->open_auto_extend()->extended);
  EXPECT_EQ((*reopened)->open_auto_extend()->old_sizes.data_bytes, kGiB);
  EXPECT_GT(DataFileBytes(), kGiB);
  // Nothing more to do: AutoExtend says so and changes nothing.
  auto again = (*reopened)->AutoExtend();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->plan.verdict, AutoExtendVerdict::kNotNeeded);
  EXPECT_FALSE(again->extended);
}

TEST_F(PoolSpaceTest, FullPoolThatCannotGrowIsRefusedSayingWhy) {
  // A pool whose 20% growth is twice what the host filesystem has free.
  struct statvfs st {};
  ASSERT_EQ(::statvfs(root_.c_str(), &st), 0);
  uint64_t host_free = uint64_t{st.f_bavail} * st.f_frsize;
  uint64_t data_bytes = host_free * 10 / kGiB * kGiB + kGiB;
  config_ = Config(std::to_string(data_bytes / kGiB) + "G");
  auto pool = MustCreate();
  ASSERT_NE(pool, nullptr);
  ASSERT_TRUE(pool->CreateThin(2048).ok());
  uint64_t blocks = data_bytes / kBlock;
  dm_.SetThinMappedBlocks("pool", 1, blocks - blocks / 20);  // 95%: under 10% free
  auto refused = pool->CreateThin(2048);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ENOSPC);
  EXPECT_THAT(refused.error().message(), HasSubstr("pool pool is full"));
  EXPECT_THAT(refused.error().message(), HasSubstr("cannot auto-extend"));
  EXPECT_THAT(refused.error().message(), HasSubstr("the host filesystem has"));
  EXPECT_EQ(DataFileBytes(), data_bytes);
  // Over the threshold but above the minimum free space: still allowed, without growing.
  dm_.SetThinMappedBlocks("pool", 1, blocks * 85 / 100);
  EXPECT_TRUE(pool->CreateThin(2048).ok());
  EXPECT_EQ(DataFileBytes(), data_bytes);
}

TEST_F(PoolSpaceTest, ExtendIsJournaledAndAFailureDropsItsEntry) {
  auto pool = MustCreate();
  dm_.FailNext("load", EIO);
  EXPECT_EQ(pool->Extend(2 * kGiB, std::nullopt).error().code(), EIO);
  EXPECT_THAT(*pool->journal().OpenRecords(), IsEmpty());
  ASSERT_TRUE(pool->Extend(2 * kGiB, std::nullopt).ok());
  EXPECT_THAT(*pool->journal().OpenRecords(), IsEmpty());
  EXPECT_EQ(DataBlocksInTable(*pool), 2 * kGiB / kBlock);
}

TEST_F(PoolSpaceTest, CrashMidExtendIsRedoneOnOpen) {
  auto pool = MustCreate();
  ASSERT_NE(pool, nullptr);
  CrashChildAt("pool.extend.files", [&](const PoolEnv& env) {
    auto child = ThinPool::Open(env, config_);
    if (child.ok()) (void)(*child)->Extend(2 * kGiB, std::nullopt);
  });
  // The files grew, the (parent's) table did not, the entry is open.
  EXPECT_EQ(DataFileBytes(), 2 * kGiB);
  EXPECT_EQ(DataBlocksInTable(*pool), kGiB / kBlock);
  auto open = pool->journal().OpenRecords();
  ASSERT_EQ(open->size(), 1u);
  EXPECT_EQ(open->front().kind, JournalKind::kExtend);
  EXPECT_THAT(ReconcileDecision(open->front(), 0).reason, HasSubstr("redoes the grow"));
  auto reopened = ThinPool::Open(env_, config_);
  ASSERT_TRUE(reopened.ok()) << reopened.error().message();
  EXPECT_EQ(DataBlocksInTable(**reopened), 2 * kGiB / kBlock);
  EXPECT_THAT(*(*reopened)->journal().OpenRecords(), IsEmpty());
}

TEST_F(PoolSpaceTest, CrashAtEveryStepOfCreateIsCleanedUpByTheNextCreate) {
  for (const char* step : {"intent", "files", "loops", "device"}) {
    SCOPED_TRACE(step);
    CrashChildAt(std::string("pool.create.") + step,
                 [&](const PoolEnv& env) { (void)ThinPool::Create(env, config_); });
    Journal journal(*store_, "pool");
    auto open = journal.OpenRecords();
    ASSERT_EQ(open->size(), 1u);
    EXPECT_EQ(open->front().kind, JournalKind::kPoolCreate);
    EXPECT_THAT(open->front().args, HasSubstr(DataFilePath(root_)));
    // Without the record this would be "EEXIST: remove <root>/devicemapper".
    auto pool = ThinPool::Create(env_, config_);
    ASSERT_TRUE(pool.ok()) << pool.error().message();
    EXPECT_EQ(DataFileBytes(), kGiB);
    EXPECT_THAT(*journal.OpenRecords(), IsEmpty());
    ASSERT_TRUE((*pool)->Deactivate().ok());
    std::filesystem::remove_all(root_ + "/devicemapper");
    loop_ = FakeLoop();
  }
}

TEST_F(PoolSpaceTest, OpenAfterACrashedCreateRemovesTheLeftovers) {
  CrashChildAt("pool.create.loops",
               [&](const PoolEnv& env) { (void)ThinPool::Create(env, config_); });
  ASSERT_TRUE(std::filesystem::exists(DataFilePath(root_)));
  auto opened = ThinPool::Open(env_, config_);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code(), ENOENT);
  EXPECT_THAT(opened.error().message(), HasSubstr("creation was interrupted"));
  EXPECT_FALSE(std::filesystem::exists(DataFilePath(root_)));
  EXPECT_FALSE(std::filesystem::exists(MetadataFilePath(root_)));
  EXPECT_THAT(*Journal(*store_, "pool").OpenRecords(), IsEmpty());
}

TEST_F(PoolSpaceTest, OpenCompletesACreateWhosePoolDeviceIsLive) {
  auto pool = MustCreate();
  ASSERT_NE(pool, nullptr);
  // As if the process died after the device was up, before the commit.
  Journal journal(*store_, "pool");
  ASSERT_TRUE(
      journal.Begin(JournalKind::kPoolCreate, std::nullopt, "{\"device\":\"pool\"}", 0).ok());
  auto opened = ThinPool::Open(env_, config_);
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  EXPECT_THAT(*journal.OpenRecords(), IsEmpty());
  EXPECT_TRUE(std::filesystem::exists(DataFilePath(root_)));
  EXPECT_TRUE((*opened)->CreateThin(2048).ok());
}

TEST_F(PoolSpaceTest, CreateStillRefusesFilesOfAPoolMadeBefore) {
  auto pool = MustCreate();
  ASSERT_TRUE(pool->CreateThin(2048).ok());
  ASSERT_TRUE(pool->Deactivate().ok());
  auto again = ThinPool::Create(env_, config_);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), EEXIST);
  EXPECT_THAT(again.error().message(), HasSubstr("strata pool status"));
  auto reopened = ThinPool::Open(env_, config_);  // its thin device is still known
  ASSERT_TRUE(reopened.ok()) << reopened.error().message();
  EXPECT_EQ((*reopened)->List()->size(), 1u);
}

TEST_F(PoolSpaceTest, CreateWillNotRemoveSomeoneElsesDevice) {
  Journal journal(*store_, "pool");
  ASSERT_TRUE(
      journal.Begin(JournalKind::kPoolCreate, std::nullopt, "{\"device\":\"pool\"}", 0).ok());
  ASSERT_TRUE(dm_.Create("pool", "OTHER-uuid").ok());
  auto pool = ThinPool::Create(env_, config_);
  ASSERT_FALSE(pool.ok());
  EXPECT_EQ(pool.error().code(), EEXIST);
  EXPECT_TRUE(dm_.Exists("pool"));
}

}  // namespace
}  // namespace strata::thinpool
