// `strata pool check` against the real kernel: each kind of drift made by hand (an id created
// behind strata's back, a store row deleted, an id deleted behind its back, a stray thin dm
// device, a suspended device), reported by `check`, fixed by `check --repair`, clean afterwards.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/store.h"
#include "core/sys/device_mapper.h"
#include "core/sys/loop.h"
#include "tests/support/run_command.h"
#include "thinpool/pool.h"

namespace strata::thinpool {
namespace {

using strata::testing::CommandResult;
using strata::testing::RunCommand;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr uint64_t kThinSectors = 16 * 1024 * 1024 / 512;
constexpr char kPoolName[] = "strata-vmtest-check";
// A thin device of ours by uuid that no store record names.
const std::string kStrayName = std::string(kPoolName) + "-thin-200";

class PoolCheckVmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/strata-check-vm-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    config_path_ = root_ + "/config.json";
    nlohmann::json config = {
        {"root", root_},
        {"driver-opts", {{"devicemapper", {{"pool-name", kPoolName}, {"data-size", "256M"}}}}}};
    std::ofstream(config_path_) << config.dump();
    ASSERT_NO_FATAL_FAILURE(OpenStore());
    auto parsed = ParsePoolConfig(config["driver-opts"]["devicemapper"]);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    config_ = *parsed;
    auto pool = ThinPool::Create(env_, config_);
    ASSERT_TRUE(pool.ok()) << pool.error().message();
    pool_ = std::move(pool).value();
  }
  void TearDown() override {
    if (!pool_) {
      if (!store_) OpenStore();
      auto pool = ThinPool::Open(env_, config_);
      if (pool.ok()) pool_ = std::move(pool).value();
    }
    (void)RunCommand({"dmsetup", "--noudevsync", "remove", kStrayName});
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
  uint32_t MustCreate() {
    auto id = pool_->CreateThin(kThinSectors);
    EXPECT_TRUE(id.ok()) << id.error().message();
    return id.ok() ? *id : 0;
  }
  void Dm(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"dmsetup", "--noudevsync"};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandResult r = RunCommand(argv);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  CommandResult Check(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {STRATA_BINARY, "--config", config_path_, "pool", "check"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }
  static std::vector<uint32_t> Ids(const nlohmann::json& j) {
    return j.get<std::vector<uint32_t>>();
  }
  static std::vector<std::string> Names(const nlohmann::json& j) {
    return j.get<std::vector<std::string>>();
  }

  std::string root_;
  std::string config_path_;
  std::unique_ptr<Store> store_;
  PoolEnv env_;
  PoolConfig config_;
  std::unique_ptr<ThinPool> pool_;
};

TEST_F(PoolCheckVmTest, ReportsEachDriftAndRepairFixesIt) {
  uint32_t kept = MustCreate();
  uint32_t lost = MustCreate();
  uint32_t unrecorded = MustCreate();
  ASSERT_TRUE(pool_->Activate(kept).ok());
  // Drift, made by hand.
  ASSERT_NO_FATAL_FAILURE(Dm({"message", kPoolName, "0", "create_thin 100"}));  // leaked
  ASSERT_NO_FATAL_FAILURE(Dm({"message", kPoolName, "0", "delete " + std::to_string(lost)}));
  {  // the store forgets an id the pool has: leaked too
    auto del = store_->Prepare("DELETE FROM thin_devices WHERE pool = ? AND thin_id = ?");
    ASSERT_TRUE(del.ok());
    ASSERT_TRUE(del->Bind(1, std::string(kPoolName)).ok());
    ASSERT_TRUE(del->Bind(2, int64_t{unrecorded}).ok());
    ASSERT_TRUE(del->Run().ok());
  }
  ASSERT_NO_FATAL_FAILURE(
      Dm({"create", kStrayName, "--uuid", std::string(kThinUuidPrefix) + kPoolName + "-200",
          "--table", "0 2048 zero"}));
  ASSERT_NO_FATAL_FAILURE(Dm({"suspend", ThinDmName(kPoolName, kept)}));
  pool_.reset();  // the CLI is the next command
  store_.reset();

  CommandResult check = Check({"--json"});
  EXPECT_EQ(check.exit_code, 1) << check.out << check.err;
  auto found = nlohmann::json::parse(check.out, nullptr, false);
  ASSERT_FALSE(found.is_discarded()) << check.out << check.err;
  EXPECT_THAT(Ids(found["census"]["leaked_ids"]), ElementsAre(unrecorded, 100));
  EXPECT_THAT(Ids(found["census"]["lost_ids"]), ElementsAre(lost));
  EXPECT_THAT(Names(found["census"]["unreferenced_devices"]), ElementsAre(kStrayName));
  EXPECT_THAT(Names(found["census"]["suspended_devices"]), ElementsAre(ThinDmName(kPoolName, kept)));
  EXPECT_EQ(found["findings"].size(), 4u);

  // Without --repair nothing changed: the same report again, and the metadata snapshot is gone.
  CommandResult again = Check({"--json"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(nlohmann::json::parse(again.out, nullptr, false)["census"], found["census"]);
  {
    ASSERT_NO_FATAL_FAILURE(OpenStore());
    auto pool = ThinPool::Open(env_, config_);
    ASSERT_TRUE(pool.ok()) << pool.error().message();
    EXPECT_FALSE((*pool)->Report()->status.held_metadata_root.has_value());
  }
  store_.reset();

  CommandResult repair = Check({"--repair", "--json"});
  EXPECT_EQ(repair.exit_code, 0) << repair.out << repair.err;
  auto repaired = nlohmann::json::parse(repair.out, nullptr, false);
  ASSERT_FALSE(repaired.is_discarded()) << repair.out << repair.err;
  EXPECT_EQ(repaired["census"], found["census"]);
  for (const char* kind : {"leaked_ids", "lost_ids", "unreferenced_devices", "suspended_devices"}) {
    EXPECT_THAT(repaired["remaining"][kind], IsEmpty()) << kind;
  }

  CommandResult clean = Check({});
  EXPECT_EQ(clean.exit_code, 0) << clean.out << clean.err;
  EXPECT_THAT(clean.out, HasSubstr("no problems found"));

  // And the kernel agrees: only `kept` is left in pool and store, running again.
  ASSERT_NO_FATAL_FAILURE(OpenStore());
  auto reopened = ThinPool::Open(env_, config_);
  ASSERT_TRUE(reopened.ok()) << reopened.error().message();
  pool_ = std::move(reopened).value();
  auto ids = PoolThinIds(*env_.dm, kPoolName);
  ASSERT_TRUE(ids.ok()) << ids.error().message();
  EXPECT_THAT(*ids, ElementsAre(kept));
  ASSERT_EQ(pool_->List()->size(), 1u);
  EXPECT_EQ(pool_->List()->at(0).thin_id, kept);
  EXPECT_FALSE(env_.dm->Info(ThinDmName(kPoolName, kept))->suspended);
  EXPECT_EQ(env_.dm->Info(kStrayName).error().code(), ENXIO);
}

}  // namespace
}  // namespace strata::thinpool
