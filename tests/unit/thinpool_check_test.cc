// The census of `strata pool check`: the pure diff, the thin_ls parser, and the repair over the
// fake kernel (the real thin_ls census runs in tests/vm/pool_check_test.cc).
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

using ::testing::ElementsAre;
using ::testing::IsEmpty;

ThinRecord Rec(uint32_t id, std::string state = "ready") { return {id, 2048, "", state}; }

TEST(DiffCensusTest, AgreeingViewsAreClean) {
  PoolCensus c;
  c.pool_ids = {1, 2};
  c.records = {Rec(1), Rec(2)};
  c.devices = {{"pool", std::nullopt, false}, {"pool-thin-2", 2, false}};
  PoolDrift d = DiffCensus(c);
  EXPECT_TRUE(d.clean());
  EXPECT_EQ(d, PoolDrift{});
}

TEST(DiffCensusTest, FindsEachKindOfDrift) {
  PoolCensus c;
  c.pool_ids = {1, 5, 9};
  c.records = {Rec(1), Rec(3), Rec(4, "deleting")};
  c.devices = {{"pool", std::nullopt, true},
               {"pool-thin-1", 1, true},
               {"pool-thin-7", 7, false},
               {"pool-thin-3", 3, false}};
  PoolDrift d = DiffCensus(c);
  EXPECT_FALSE(d.clean());
  EXPECT_THAT(d.leaked_ids, ElementsAre(5, 9));
  EXPECT_THAT(d.lost_ids, ElementsAre(3, 4));
  EXPECT_THAT(d.unreferenced_devices, ElementsAre("pool-thin-7"));
  EXPECT_THAT(d.suspended_devices, ElementsAre("pool", "pool-thin-1"));
}

TEST(DiffCensusTest, PendingJournalIdsAreNeitherLeakedNorLost) {
  PoolCensus c;
  c.pool_ids = {1, 2};  // 2: created, its entry not committed yet
  c.records = {Rec(1), Rec(2, "creating"), Rec(3, "creating")};  // 3: message not sent yet
  c.pending_ids = {2, 3};
  EXPECT_TRUE(DiffCensus(c).clean());
  c.pending_ids = {};
  EXPECT_THAT(DiffCensus(c).lost_ids, ElementsAre(3));
}

TEST(DiffCensusTest, EmptyPoolAndStoreAreClean) { EXPECT_TRUE(DiffCensus(PoolCensus{}).clean()); }

TEST(ParseThinLsIdsTest, OneIdPerLine) {
  auto ids = ParseThinLsIds("       1\n      12\n16777215\n");
  ASSERT_TRUE(ids.ok()) << ids.error().message();
  EXPECT_THAT(*ids, ElementsAre(1, 12, 16777215));
  EXPECT_THAT(*ParseThinLsIds(""), IsEmpty());
}

TEST(ParseThinLsIdsTest, RejectsJunkAndIdsPast24Bits) {
  EXPECT_EQ(ParseThinLsIds("1\nDEV\n").error().code(), EINVAL);
  EXPECT_EQ(ParseThinLsIds("16777216\n").error().code(), EINVAL);
  EXPECT_EQ(ParseThinLsIds("-1\n").error().code(), EINVAL);
}

// RepairDrift over the fake kernel: each kind of drift made by hand, repaired, and a census
// built from the fake's state afterwards is clean.
class RepairDriftTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "strata-check-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    auto store = Store::Open(root_ + "/strata.db");
    ASSERT_TRUE(store.ok()) << store.error().message();
    store_ = std::move(store).value();
    env_ = {&dm_, &loop_, store_.get(), root_};
    auto config = ParsePoolConfig(nlohmann::json{{"data-size", "1G"}, {"pool-name", "pool"}});
    ASSERT_TRUE(config.ok()) << config.error().message();
    auto pool = ThinPool::Create(env_, *config);
    ASSERT_TRUE(pool.ok()) << pool.error().message();
    pool_ = std::move(pool).value();
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // What TakeCensus would see, with the fake's thin ids standing in for thin_ls.
  PoolCensus FakeCensus() {
    PoolCensus c;
    for (const auto& [id, thin] : dm_.PoolOf("pool")->thins) c.pool_ids.insert(id);
    c.records = *pool_->List();
    for (const auto& [name, dev] : dm_.devices()) {
      std::string prefix = "STRATA-thin-pool-";
      if (name == "pool") c.devices.push_back({name, std::nullopt, dev.suspended});
      if (dev.uuid.starts_with(prefix)) {
        c.devices.push_back({name,
                             static_cast<uint32_t>(std::stoul(dev.uuid.substr(prefix.size()))),
                             dev.suspended});
      }
    }
    return c;
  }

  std::string root_;
  std::unique_ptr<Store> store_;
  FakeDeviceMapper dm_;
  FakeLoop loop_;
  PoolEnv env_;
  std::unique_ptr<ThinPool> pool_;
};

TEST_F(RepairDriftTest, RepairsLeakLostUnreferencedAndSuspended) {
  auto kept = pool_->CreateThin(2048);
  auto lost = pool_->CreateThin(2048);
  ASSERT_TRUE(kept.ok() && lost.ok());
  ASSERT_TRUE(pool_->Activate(*kept).ok());
  ASSERT_TRUE(dm_.Suspend(ThinDmName("pool", *kept), sys::DmFlush::kFlush, sys::DmLockFs::kLockFs).ok());
  ASSERT_TRUE(dm_.Message("pool", 0, "create_thin 40").ok());  // leaked: the store never heard
  ASSERT_TRUE(dm_.Message("pool", 0, "delete " + std::to_string(*lost)).ok());  // lost
  ASSERT_TRUE(dm_.Create("pool-thin-77", "STRATA-thin-pool-77").ok());        // unreferenced
  PoolDrift drift = DiffCensus(FakeCensus());
  EXPECT_THAT(drift.leaked_ids, ElementsAre(40));
  EXPECT_THAT(drift.lost_ids, ElementsAre(*lost));
  EXPECT_THAT(drift.unreferenced_devices, ElementsAre("pool-thin-77"));
  EXPECT_THAT(drift.suspended_devices, ElementsAre(ThinDmName("pool", *kept)));
  uint64_t txid = dm_.PoolOf("pool")->transaction_id;

  ASSERT_TRUE(RepairDrift(*pool_, env_, drift).ok());
  EXPECT_TRUE(DiffCensus(FakeCensus()).clean());
  EXPECT_FALSE(dm_.PoolOf("pool")->thins.contains(40));
  EXPECT_TRUE(dm_.PoolOf("pool")->thins.contains(*kept));
  EXPECT_FALSE(dm_.devices().at(ThinDmName("pool", *kept)).suspended);
  EXPECT_FALSE(dm_.Exists("pool-thin-77"));
  // The leak went through the journal: one committed delete moved the transaction id.
  EXPECT_EQ(dm_.PoolOf("pool")->transaction_id, txid + 1);
  EXPECT_THAT(*pool_->journal().OpenRecords(), IsEmpty());
  ASSERT_EQ(pool_->List()->size(), 1u);
  EXPECT_EQ(pool_->List()->at(0).thin_id, *kept);
}

TEST_F(RepairDriftTest, CleanDriftChangesNothing) {
  ASSERT_TRUE(pool_->CreateThin(2048).ok());
  dm_.ClearCalls();
  ASSERT_TRUE(RepairDrift(*pool_, env_, PoolDrift{}).ok());
  EXPECT_THAT(dm_.calls(), IsEmpty());
}

}  // namespace
}  // namespace strata::thinpool
