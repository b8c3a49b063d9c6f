// The FakeDeviceMapper itself: the thin pool's tests trust it to behave like the kernel
// (tests/vm/libdm_device_mapper_test.cc checks the same behaviour on a real kernel).
#include "tests/fakes/fake_device_mapper.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>

#include "thinpool/status.h"

namespace strata {
namespace {

using sys::DmFlush;
using sys::DmLockFs;
using sys::DmRemove;
using sys::DmTarget;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint64_t kPoolSectors = 2097152;  // 1 GiB of data: 16384 blocks of 64 KiB

std::vector<DmTarget> PoolTable(const std::string& meta = "7:0", const std::string& extra = "") {
  return {{0, kPoolSectors, "thin-pool", meta + " 7:1 128 32768" + extra}};
}

std::vector<DmTarget> ThinTable(uint32_t id, const std::string& pool = "/dev/mapper/pool") {
  return {{0, 204800, "thin", pool + " " + std::to_string(id)}};
}

int Code(const Status& s) { return s.ok() ? 0 : s.error().code(); }
template <class T>
int Code(const Result<T>& r) {
  return r.ok() ? 0 : r.error().code();
}

void Activate(FakeDeviceMapper& dm, const std::string& name, const std::vector<DmTarget>& table) {
  ASSERT_TRUE(dm.Create(name, "STRATA-" + name).ok());
  ASSERT_TRUE(dm.Load(name, table).ok());
  ASSERT_TRUE(dm.Resume(name).ok());
}

// A running pool with thin id 1 created and activated as "thin1".
void PoolWithThin(FakeDeviceMapper& dm) {
  Activate(dm, "pool", PoolTable());
  ASSERT_TRUE(dm.Message("pool", 0, "create_thin 1").ok());
  Activate(dm, "thin1", ThinTable(1));
}

TEST(FakeDeviceMapperTest, CreateLoadResumeSwapsTables) {
  FakeDeviceMapper dm;
  ASSERT_TRUE(dm.Create("a", "STRATA-a").ok());
  auto info = dm.Info("a");
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info->live_table);
  EXPECT_EQ(info->uuid, "STRATA-a");
  EXPECT_EQ(info->major, FakeDeviceMapper::kFakeMajor);
  ASSERT_TRUE(dm.Load("a", {{0, 8, "zero", ""}}).ok());
  EXPECT_TRUE(dm.Info("a")->inactive_table);
  EXPECT_TRUE(dm.Table("a")->empty()) << "a loaded table is not live before resume";
  ASSERT_TRUE(dm.Resume("a").ok());
  EXPECT_TRUE(dm.Info("a")->live_table);
  EXPECT_FALSE(dm.Info("a")->inactive_table);
  EXPECT_THAT(*dm.Table("a"), ElementsAre(DmTarget{0, 8, "zero", ""}));
  EXPECT_THAT(dm.calls(), ElementsAre("create a", "load a zero", "resume a"));
}

TEST(FakeDeviceMapperTest, MinorsAreLowestFreeAndNamesAndUuidsUnique) {
  FakeDeviceMapper dm;
  ASSERT_TRUE(dm.Create("a", "U1").ok());
  ASSERT_TRUE(dm.Create("b", "").ok());
  EXPECT_EQ(dm.Info("b")->minor, 1u);
  EXPECT_EQ(Code(dm.Create("a", "U2")), EEXIST);
  EXPECT_EQ(Code(dm.Create("c", "U1")), EEXIST);
  EXPECT_EQ(Code(dm.Create("x/y", "")), EINVAL);
  ASSERT_TRUE(dm.Remove("a", DmRemove::kNow).ok());
  ASSERT_TRUE(dm.Create("c", "U1").ok());
  EXPECT_EQ(dm.Info("c")->minor, 0u);
}

TEST(FakeDeviceMapperTest, MissingDeviceIsEnxio) {
  FakeDeviceMapper dm;
  EXPECT_EQ(Code(dm.Info("nope")), ENXIO);
  EXPECT_EQ(Code(dm.Load("nope", {{0, 8, "zero", ""}})), ENXIO);
  EXPECT_EQ(Code(dm.Resume("nope")), ENXIO);
  EXPECT_EQ(Code(dm.Remove("nope", DmRemove::kNow)), ENXIO);
  EXPECT_EQ(Code(dm.Message("nope", 0, "create_thin 1")), ENXIO);
}

TEST(FakeDeviceMapperTest, RejectsTablesTheKernelWould) {
  FakeDeviceMapper dm;
  ASSERT_TRUE(dm.Create("a", "").ok());
  EXPECT_EQ(Code(dm.Load("a", {{0, 8, "bogus", ""}})), EINVAL);
  EXPECT_EQ(Code(dm.Load("a", {{0, 8, "zero", ""}, {16, 8, "zero", ""}})), EINVAL) << "gap";
  EXPECT_EQ(Code(dm.Load("a", {})), EINVAL);
  EXPECT_EQ(Code(dm.Load("a", {{0, 8, "thin-pool", "7:0 7:1 100 10"}})), EINVAL) << "block size";
  EXPECT_EQ(Code(dm.Load("a", ThinTable(1))), EINVAL) << "no such pool";
  EXPECT_FALSE(dm.Info("a")->inactive_table);
}

TEST(FakeDeviceMapperTest, SuspendFlagsAreRecorded) {
  FakeDeviceMapper dm;
  Activate(dm, "a", {{0, 8, "zero", ""}});
  dm.ClearCalls();
  ASSERT_TRUE(dm.Suspend("a", DmFlush::kNoFlush, DmLockFs::kSkipLockFs).ok());
  EXPECT_TRUE(dm.Info("a")->suspended);
  ASSERT_TRUE(dm.Suspend("a", DmFlush::kFlush, DmLockFs::kLockFs).ok()) << "already suspended";
  ASSERT_TRUE(dm.Resume("a").ok());
  EXPECT_FALSE(dm.Info("a")->suspended);
  EXPECT_THAT(dm.calls(), ElementsAre("suspend a noflush skiplockfs", "suspend a", "resume a"));
}

TEST(FakeDeviceMapperTest, RemoveWhileOpenIsBusyAndDeferredRemoveWaitsForLastClose) {
  FakeDeviceMapper dm;
  Activate(dm, "a", {{0, 8, "zero", ""}});
  dm.SetOpenCount("a", 1);
  EXPECT_EQ(Code(dm.Remove("a", DmRemove::kNow)), EBUSY);
  ASSERT_TRUE(dm.Remove("a", DmRemove::kDeferred).ok());
  EXPECT_TRUE(dm.Info("a")->deferred_remove);
  dm.SetOpenCount("a", 0);
  EXPECT_FALSE(dm.Exists("a"));
  EXPECT_EQ(Code(dm.Remove("a", DmRemove::kNow)), ENXIO);
}

TEST(FakeDeviceMapperTest, PoolUsedByThinTableCannotBeRemoved) {
  FakeDeviceMapper dm;
  PoolWithThin(dm);
  EXPECT_EQ(dm.Info("pool")->open_count, 1);
  EXPECT_EQ(Code(dm.Remove("pool", DmRemove::kNow)), EBUSY);
  ASSERT_TRUE(dm.Remove("thin1", DmRemove::kNow).ok());
  EXPECT_TRUE(dm.Remove("pool", DmRemove::kNow).ok());
}

TEST(FakeDeviceMapperTest, PoolMessagesAndTheirErrnos) {
  FakeDeviceMapper dm;
  PoolWithThin(dm);
  EXPECT_EQ(Code(dm.Message("pool", 0, "create_thin 1")), EEXIST);
  EXPECT_EQ(Code(dm.Message("pool", 0, "create_thin 16777216")), EINVAL) << "24-bit ids";
  EXPECT_EQ(Code(dm.Message("pool", 0, "create_snap 2 9")), ENODATA);
  EXPECT_TRUE(dm.Message("pool", 0, "create_snap 2 1").ok());
  EXPECT_EQ(Code(dm.Message("pool", 0, "create_snap 2 1")), EEXIST);
  EXPECT_EQ(Code(dm.Message("pool", 0, "delete 9")), ENODATA);
  EXPECT_EQ(Code(dm.Message("pool", 0, "delete 1")), EBUSY) << "thin1 is active";
  EXPECT_TRUE(dm.Message("pool", 0, "delete 2").ok());
  EXPECT_EQ(Code(dm.Message("pool", 0, "set_transaction_id 5 6")), EINVAL);
  EXPECT_TRUE(dm.Message("pool", 0, "set_transaction_id 0 6").ok());
  EXPECT_EQ(dm.PoolOf("pool")->transaction_id, 6u);
  EXPECT_EQ(Code(dm.Message("pool", 0, "frobnicate")), EINVAL);
  EXPECT_EQ(Code(dm.Message("pool", 0, "create_thin x")), EINVAL);
  EXPECT_EQ(Code(dm.Message("thin1", 0, "create_thin 3")), EINVAL) << "thin takes no messages";
  EXPECT_TRUE(dm.Message("pool", 0, "reserve_metadata_snap").ok());
  EXPECT_EQ(Code(dm.Message("pool", 0, "reserve_metadata_snap")), EBUSY);
  EXPECT_THAT(dm.calls(), ::testing::Contains("message pool create_snap 2 1"));
}

TEST(FakeDeviceMapperTest, DeleteIsBusyWhileOnlyAnInactiveTableUsesTheThin) {
  FakeDeviceMapper dm;
  Activate(dm, "pool", PoolTable());
  ASSERT_TRUE(dm.Message("pool", 0, "create_thin 4").ok());
  ASSERT_TRUE(dm.Create("t4", "").ok());
  ASSERT_TRUE(dm.Load("t4", ThinTable(4, "253:0")).ok());  // by major:minor
  EXPECT_EQ(Code(dm.Message("pool", 0, "delete 4")), EBUSY);
  ASSERT_TRUE(dm.Remove("t4", DmRemove::kNow).ok());
  EXPECT_TRUE(dm.Message("pool", 0, "delete 4").ok());
}

TEST(FakeDeviceMapperTest, ThinTableForUnknownIdFails) {
  FakeDeviceMapper dm;
  Activate(dm, "pool", PoolTable());
  ASSERT_TRUE(dm.Create("t", "").ok());
  EXPECT_EQ(Code(dm.Load("t", ThinTable(3))), ENODATA);
}

TEST(FakeDeviceMapperTest, PoolStatusLineInKernelFormat) {
  FakeDeviceMapper dm;
  PoolWithThin(dm);
  ASSERT_TRUE(dm.Message("pool", 0, "set_transaction_id 0 3").ok());
  dm.SetThinMappedBlocks("pool", 1, 40);
  auto status = dm.TargetStatus("pool", DmFlush::kNoFlush);
  ASSERT_TRUE(status.ok());
  ASSERT_EQ(status->size(), 1u);
  EXPECT_EQ((*status)[0].type, "thin-pool");
  EXPECT_EQ((*status)[0].params,
            "3 11/4096 40/16384 - rw discard_passdown queue_if_no_space - 1024 ");
  auto thin = dm.TargetStatus("thin1", DmFlush::kFlush);
  ASSERT_TRUE(thin.ok());
  EXPECT_EQ((*thin)[0].params, "5120 5119");
}

// The pool's code reads status through thinpool/status.h: the fake's lines must parse there.
TEST(FakeDeviceMapperTest, StatusLinesParseWithThePoolsParsers) {
  FakeDeviceMapper dm;
  PoolWithThin(dm);
  dm.SetThinMappedBlocks("pool", 1, 3);
  ASSERT_TRUE(dm.Message("pool", 0, "reserve_metadata_snap").ok());
  auto pool =
      thinpool::ParseThinPoolStatus((*dm.TargetStatus("pool", DmFlush::kNoFlush))[0].params);
  ASSERT_TRUE(pool.ok()) << pool.error().message();
  EXPECT_EQ(pool->used_data_blocks, 3u);
  EXPECT_EQ(pool->total_data_blocks, 16384u);
  EXPECT_TRUE(pool->held_metadata_root.has_value());
  EXPECT_EQ(pool->metadata_low_watermark_blocks, 1024u);
  auto thin = thinpool::ParseThinStatus((*dm.TargetStatus("thin1", DmFlush::kNoFlush))[0].params);
  ASSERT_TRUE(thin.ok()) << thin.error().message();
  EXPECT_EQ(thin->mapped_sectors, 384u);
  EXPECT_EQ(thin->highest_mapped_sector, 383u);
  dm.SetPoolMode("pool", FakeDeviceMapper::PoolMode::kFail);
  auto failed =
      thinpool::ParseThinPoolStatus((*dm.TargetStatus("pool", DmFlush::kFlush))[0].params);
  ASSERT_TRUE(failed.ok()) << failed.error().message();
  EXPECT_EQ(failed->mode, thinpool::PoolMode::kFail);
  EXPECT_TRUE(
      thinpool::ParseThinStatus((*dm.TargetStatus("thin1", DmFlush::kFlush))[0].params)->failed);
}

TEST(FakeDeviceMapperTest, PoolStatusReflectsFeaturesAndModes) {
  FakeDeviceMapper dm;
  Activate(dm, "pool",
           PoolTable("7:0", " 3 skip_block_zeroing no_discard_passdown error_if_no_space"));
  EXPECT_EQ((*dm.TargetStatus("pool", DmFlush::kFlush))[0].params,
            "0 10/4096 0/16384 - rw no_discard_passdown error_if_no_space - 1024 ");
  dm.SetPoolMode("pool", FakeDeviceMapper::PoolMode::kReadOnly);
  EXPECT_THAT((*dm.TargetStatus("pool", DmFlush::kFlush))[0].params, HasSubstr(" ro "));
  EXPECT_EQ(Code(dm.Message("pool", 0, "create_thin 1")), EOPNOTSUPP);
  dm.SetPoolMode("pool", FakeDeviceMapper::PoolMode::kFail);
  EXPECT_EQ((*dm.TargetStatus("pool", DmFlush::kFlush))[0].params, "Fail");
}

TEST(FakeDeviceMapperTest, PoolStateLivesInTheMetadataDevice) {
  FakeDeviceMapper dm;
  Activate(dm, "pool", PoolTable());
  ASSERT_TRUE(dm.Message("pool", 0, "create_thin 8").ok());
  ASSERT_TRUE(dm.Remove("pool", DmRemove::kNow).ok());
  Activate(dm, "pool", PoolTable());
  EXPECT_EQ(Code(dm.Message("pool", 0, "create_thin 8")), EEXIST);
  Activate(dm, "other", PoolTable("7:2"));
  EXPECT_TRUE(dm.Message("other", 0, "create_thin 8").ok()) << "another metadata device";
}

TEST(FakeDeviceMapperTest, EveryOpCanFailOnceWithoutActing) {
  FakeDeviceMapper dm;
  Activate(dm, "pool", PoolTable());
  for (const char* op : {"create", "load", "suspend", "resume", "remove", "info", "table", "status",
                         "message", "list", "target_version"}) {
    dm.FailNext(op, EIO);
  }
  EXPECT_EQ(Code(dm.Create("b", "")), EIO);
  EXPECT_FALSE(dm.Exists("b"));
  EXPECT_EQ(Code(dm.Load("pool", PoolTable())), EIO);
  EXPECT_FALSE(dm.Info("pool").ok());  // the queued "info" failure
  EXPECT_FALSE(dm.Info("pool")->inactive_table);
  EXPECT_EQ(Code(dm.Suspend("pool", DmFlush::kFlush, DmLockFs::kLockFs)), EIO);
  EXPECT_FALSE(dm.Info("pool")->suspended);
  EXPECT_EQ(Code(dm.Resume("pool")), EIO);
  EXPECT_EQ(Code(dm.Remove("pool", DmRemove::kNow)), EIO);
  EXPECT_TRUE(dm.Exists("pool"));
  EXPECT_EQ(Code(dm.Table("pool")), EIO);
  EXPECT_EQ(Code(dm.TargetStatus("pool", DmFlush::kFlush)), EIO);
  EXPECT_EQ(Code(dm.Message("pool", 0, "create_thin 1")), EIO);
  EXPECT_TRUE(dm.PoolOf("pool")->thins.empty());
  EXPECT_EQ(Code(dm.List()), EIO);
  EXPECT_EQ(Code(dm.TargetVersion("thin")), EIO);
  EXPECT_TRUE(dm.Message("pool", 0, "create_thin 1").ok()) << "each failure is used once";
}

TEST(FakeDeviceMapperTest, FailuresQueuePerOp) {
  FakeDeviceMapper dm;
  dm.FailNext("resume", EBUSY);
  dm.FailNext("resume", EINVAL);
  ASSERT_TRUE(dm.Create("a", "").ok());
  EXPECT_EQ(Code(dm.Resume("a")), EBUSY);
  EXPECT_EQ(Code(dm.Resume("a")), EINVAL);
  EXPECT_TRUE(dm.Resume("a").ok());
  auto r = FakeDeviceMapper().Info("x");
  EXPECT_THAT(r.error().message(), HasSubstr("x"));
}

TEST(FakeDeviceMapperTest, ListAndTargetVersions) {
  FakeDeviceMapper dm;
  ASSERT_TRUE(dm.Create("a", "").ok());
  ASSERT_TRUE(dm.Create("b", "").ok());
  auto list = dm.List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].name, "b");
  EXPECT_EQ((*list)[1].minor, 1u);
  EXPECT_THAT(*dm.TargetVersion("thin-pool"), ElementsAre(1u, 22u, 0u));
  dm.RemoveTargetType("zero");
  EXPECT_EQ(Code(dm.TargetVersion("zero")), ENOENT);
  EXPECT_EQ(Code(dm.Load("a", {{0, 8, "zero", ""}})), EINVAL);
}

}  // namespace
}  // namespace strata
