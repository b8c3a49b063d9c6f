#include "drivers/layer_store.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "drivers/layer_lock.h"
#include "tests/fakes/fake_driver.h"

namespace strata::drivers {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Not;

class LayerStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "strata-layers-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    auto store = Store::Open(root_ + "/strata.db");
    ASSERT_TRUE(store.ok()) << store.error().message();
    store_ = std::move(store).value();
    Reopen();
  }
  void TearDown() override {
    layers_.reset();
    store_.reset();
    std::filesystem::remove_all(root_);
  }

  // A new LayerStore on the same store and driver: what the next strata process sees.
  void Reopen() {
    layers_.reset();
    auto layers = LayerStore::Open(*store_, driver_);
    ASSERT_TRUE(layers.ok()) << layers.error().message();
    layers_ = std::move(layers).value();
  }

  LayerRecord MustCreate(const std::string& id, const std::string& parent = "") {
    auto record = layers_->Create(id, parent, LayerKind::kReadOnly, {});
    EXPECT_TRUE(record.ok()) << record.error().message();
    return record.ok() ? *record : LayerRecord{};
  }

  int64_t RecordCount() {
    auto stmt = store_->Prepare("SELECT count(*) FROM layers");
    EXPECT_TRUE(stmt.ok());
    EXPECT_TRUE(stmt.ok() && *stmt->Step());
    return stmt->ColumnInt(0);
  }

  int MountCount(const std::string& id) {
    auto record = layers_->Get(id);
    EXPECT_TRUE(record.ok()) << record.error().message();
    return record.ok() ? record->mount_count : -1;
  }

  // A pipe already holding `content`, read end returned (write end closed).
  UniqueFd PipeWith(const std::string& content) {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    EXPECT_EQ(::write(fds[1], content.data(), content.size()),
              static_cast<ssize_t>(content.size()));
    ::close(fds[1]);
    return UniqueFd(fds[0]);
  }

  void InsertRaw(const std::string& id, const std::string& state) {
    ASSERT_TRUE(
        store_
            ->Exec("INSERT INTO layers (id, parent, kind, driver, created, state) VALUES ('" + id +
                   "', NULL, 'ro', 'fake', 0, '" + state + "')")
            .ok());
  }

  std::string root_;
  std::unique_ptr<Store> store_;
  FakeDriver driver_;
  std::unique_ptr<LayerStore> layers_;
};

TEST_F(LayerStoreTest, CreatesBaseAndChild) {
  LayerRecord base = MustCreate("base");
  EXPECT_EQ(base.id, "base");
  EXPECT_EQ(base.driver, "fake");
  EXPECT_GT(base.created_unix, 0);
  LayerRecord child = MustCreate("child", "bas");  // parent by unique prefix
  EXPECT_EQ(child.parent, "base");
  EXPECT_THAT(driver_.calls(), ElementsAre("create base", "create child"));
  EXPECT_EQ(driver_.layers()["child"].parent, "base");
  auto got = layers_->Get("base");
  ASSERT_TRUE(got.ok());
  EXPECT_THAT(got->children, ElementsAre("child"));
  auto chain = layers_->Chain("child");
  ASSERT_TRUE(chain.ok());
  EXPECT_THAT(*chain, ElementsAre("child", "base"));
}

TEST_F(LayerStoreTest, RandomIdsAre64Hex) {
  LayerRecord a = MustCreate("");
  LayerRecord b = MustCreate("");
  EXPECT_EQ(a.id.size(), 64u);
  EXPECT_EQ(a.id.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a.id, b.id);
}

TEST_F(LayerStoreTest, RejectsInvalidIds) {
  for (const std::string& bad :
       std::vector<std::string>{"-x", ".x", "a/b", "a b", "../x", std::string(129, 'a')}) {
    auto record = layers_->Create(bad, "", LayerKind::kReadOnly, {});
    ASSERT_FALSE(record.ok()) << bad;
    EXPECT_EQ(record.error().code(), EINVAL) << bad;
  }
  EXPECT_TRUE(layers_->Create(std::string(128, 'a'), "", LayerKind::kReadOnly, {}).ok());
  EXPECT_TRUE(layers_->Create("A1_.-z", "", LayerKind::kReadOnly, {}).ok());
  EXPECT_EQ(driver_.calls().size(), 2u);
}

TEST_F(LayerStoreTest, UnknownParentAndDuplicateId) {
  auto orphan = layers_->Create("x", "nope", LayerKind::kReadOnly, {});
  ASSERT_FALSE(orphan.ok());
  EXPECT_EQ(orphan.error().code(), ENOENT);
  MustCreate("x");
  auto dup = layers_->Create("x", "", LayerKind::kReadWrite, {});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code(), EEXIST) << dup.error().message();
  EXPECT_EQ(RecordCount(), 1);
  EXPECT_EQ(driver_.CallCount("create x"), 1);
}

TEST_F(LayerStoreTest, CreateFailureLeavesNoRecord) {
  driver_.FailNext("create", ENOSPC);
  auto record = layers_->Create("x", "", LayerKind::kReadWrite, {});
  ASSERT_FALSE(record.ok());
  EXPECT_EQ(record.error().code(), ENOSPC);
  EXPECT_EQ(RecordCount(), 0);
  // The id is free again.
  MustCreate("x");
}

TEST_F(LayerStoreTest, ImportAppliesTheStream) {
  MustCreate("base");
  UniqueFd in = PipeWith("0123456789");
  auto imported = layers_->Import("top", "base", in.Get());
  ASSERT_TRUE(imported.ok()) << imported.error().message();
  EXPECT_EQ(imported->stats.size_bytes, 10u);
  EXPECT_EQ(imported->layer.kind, LayerKind::kReadOnly);
  EXPECT_EQ(imported->layer.parent, "base");
  auto size = layers_->DiffSize("top");
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 10u);
}

TEST_F(LayerStoreTest, ImportFailureLeavesNoLayer) {
  MustCreate("base");
  driver_.FailNext("apply", EPERM);
  UniqueFd in = PipeWith("bad tar");
  auto imported = layers_->Import("top", "base", in.Get());
  ASSERT_FALSE(imported.ok());
  EXPECT_EQ(imported.error().code(), EPERM);
  EXPECT_THAT(driver_.calls(), Contains("remove top"));
  EXPECT_FALSE(driver_.Exists("top"));
  EXPECT_EQ(RecordCount(), 1);
  EXPECT_EQ(layers_->Get("top").error().code(), ENOENT);
  auto base = layers_->Get("base");
  ASSERT_TRUE(base.ok());
  EXPECT_THAT(base->children, IsEmpty());
}

TEST_F(LayerStoreTest, CrashRecoveryRollsBackUnfinishedRecords) {
  InsertRaw("half", "creating");
  InsertRaw("going", "removing");
  driver_.layers()["half"] = {};
  MustCreate("kept");
  Reopen();
  EXPECT_EQ(driver_.CallCount("remove half"), 1);
  EXPECT_EQ(driver_.CallCount("remove going"), 1);
  EXPECT_EQ(driver_.CallCount("remove kept"), 0);
  EXPECT_FALSE(driver_.Exists("half"));
  EXPECT_EQ(RecordCount(), 1);
  EXPECT_THAT(layers_->recovery().rolled_back, ElementsAre("going", "half"));
  EXPECT_THAT(layers_->recovery().failed, IsEmpty());
}

TEST_F(LayerStoreTest, RecoveryLeavesALiveCreatorAlone) {
  InsertRaw("busy", "creating");
  // Another "process" is still creating it: it holds the id lock.
  auto held = LayerLock::Acquire(root_ + "/locks", "busy", LayerLock::Wait::kTry, {});
  ASSERT_TRUE(held.ok()) << held.error().message();
  Reopen();
  EXPECT_EQ(driver_.CallCount("remove busy"), 0);
  EXPECT_EQ(RecordCount(), 1);
  EXPECT_THAT(layers_->recovery().rolled_back, IsEmpty());
}

TEST_F(LayerStoreTest, RecoveryFailureIsReportedAndRetried) {
  InsertRaw("half", "creating");
  driver_.FailNext("remove", EIO);
  Reopen();
  ASSERT_EQ(layers_->recovery().failed.size(), 1u);
  EXPECT_EQ(layers_->recovery().failed[0].first, "half");
  EXPECT_EQ(RecordCount(), 1);
  Reopen();
  EXPECT_THAT(layers_->recovery().rolled_back, ElementsAre("half"));
  EXPECT_EQ(RecordCount(), 0);
}

TEST_F(LayerStoreTest, MountReferencesAreCounted) {
  MustCreate("l");
  auto first = layers_->Mount("l");
  ASSERT_TRUE(first.ok()) << first.error().message();
  auto second = layers_->Mount("l");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*first, "/fake/l/merged");
  EXPECT_EQ(*second, *first);
  EXPECT_EQ(driver_.CallCount("mount l"), 1);
  EXPECT_EQ(MountCount("l"), 2);
  ASSERT_TRUE(layers_->Unmount("l").ok());
  EXPECT_EQ(driver_.CallCount("unmount l"), 0);
  EXPECT_EQ(MountCount("l"), 1);
  ASSERT_TRUE(layers_->Unmount("l").ok());
  EXPECT_EQ(driver_.CallCount("unmount l"), 1);
  EXPECT_EQ(MountCount("l"), 0);
  ASSERT_TRUE(layers_->Unmount("l").ok());  // already unmounted: success, no driver call
  EXPECT_EQ(driver_.CallCount("unmount l"), 1);
}

TEST_F(LayerStoreTest, MountCountsSurviveReopen) {
  MustCreate("l");
  ASSERT_TRUE(layers_->Mount("l").ok());
  Reopen();
  EXPECT_EQ(MountCount("l"), 1);
  ASSERT_TRUE(layers_->Mount("l").ok());
  EXPECT_EQ(driver_.CallCount("mount l"), 1);
  EXPECT_EQ(MountCount("l"), 2);
}

TEST_F(LayerStoreTest, StaleCountIsResetAndRemounted) {
  MustCreate("l");
  ASSERT_TRUE(layers_->Mount("l").ok());
  ASSERT_TRUE(layers_->Mount("l").ok());
  driver_.LoseMount("l");  // manual umount behind our back
  ASSERT_TRUE(layers_->Mount("l").ok());
  EXPECT_EQ(driver_.CallCount("mount l"), 2);
  EXPECT_EQ(MountCount("l"), 1);
}

TEST_F(LayerStoreTest, OpenReconcilesStaleCounts) {
  MustCreate("l");
  ASSERT_TRUE(layers_->Mount("l").ok());
  driver_.LoseMount("l");  // reboot, or a FUSE helper that died
  Reopen();
  EXPECT_THAT(layers_->recovery().mounts_reset, ElementsAre("l"));
  EXPECT_EQ(MountCount("l"), 0);
  // The reset ran the driver's (idempotent) Unmount once, to clear what the lost mount left.
  EXPECT_EQ(driver_.CallCount("unmount l"), 1);
  ASSERT_TRUE(layers_->Unmount("l").ok());
  EXPECT_EQ(driver_.CallCount("unmount l"), 1);  // nothing left to unmount
}

TEST_F(LayerStoreTest, MountFailureDropsTheReference) {
  MustCreate("l");
  driver_.FailNext("mount", EINVAL);
  auto path = layers_->Mount("l");
  ASSERT_FALSE(path.ok());
  EXPECT_EQ(path.error().code(), EINVAL);
  EXPECT_EQ(MountCount("l"), 0);
}

TEST_F(LayerStoreTest, UnmountFailureKeepsTheReference) {
  MustCreate("l");
  ASSERT_TRUE(layers_->Mount("l").ok());
  driver_.FailNext("unmount", EBUSY);
  Status st = layers_->Unmount("l");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), EBUSY);
  EXPECT_EQ(MountCount("l"), 1);
  EXPECT_TRUE(layers_->Unmount("l").ok());
  EXPECT_EQ(MountCount("l"), 0);
}

TEST_F(LayerStoreTest, RemoveWhileMountedIsEbusyNamingReferences) {
  MustCreate("abc");
  ASSERT_TRUE(layers_->Mount("abc").ok());
  ASSERT_TRUE(layers_->Mount("abc").ok());
  Status st = layers_->Remove("abc");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), EBUSY);
  EXPECT_EQ(st.error().message(),
            "layer abc is mounted (2 references) at /fake/abc/merged; unmount it first");
  EXPECT_EQ(driver_.CallCount("remove abc"), 0);
  EXPECT_EQ(MountCount("abc"), 2);
}

TEST_F(LayerStoreTest, RemoveOfAParentIsEbusyNamingChildren) {
  MustCreate("abc");
  MustCreate("def", "abc");
  MustCreate("123", "abc");
  Status st = layers_->Remove("abc");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), EBUSY);
  EXPECT_EQ(st.error().message(), "layer abc is the parent of 123, def");
  EXPECT_EQ(driver_.CallCount("remove abc"), 0);
  ASSERT_TRUE(layers_->Remove("def").ok());
  ASSERT_TRUE(layers_->Remove("123").ok());
  EXPECT_TRUE(layers_->Remove("abc").ok());
}

TEST_F(LayerStoreTest, RemoveIsIdempotent) {
  EXPECT_TRUE(layers_->Remove("never").ok());
  MustCreate("l");
  ASSERT_TRUE(layers_->Remove("l").ok());
  EXPECT_TRUE(layers_->Remove("l").ok());
  EXPECT_EQ(driver_.CallCount("remove l"), 1);
  EXPECT_EQ(RecordCount(), 0);
  EXPECT_FALSE(std::filesystem::exists(root_ + "/locks/l.lock"));
}

TEST_F(LayerStoreTest, RemoveDriverFailureIsRetried) {
  MustCreate("l");
  driver_.FailNext("remove", EBUSY);
  ASSERT_FALSE(layers_->Remove("l").ok());
  EXPECT_EQ(layers_->Get("l").error().code(), ENOENT);  // half removed: no longer usable
  EXPECT_EQ(RecordCount(), 1);
  ASSERT_TRUE(layers_->Remove("l").ok());
  EXPECT_EQ(RecordCount(), 0);
}

TEST_F(LayerStoreTest, GetByPrefix) {
  MustCreate("abc123");
  MustCreate("abd456");
  MustCreate("xyz");
  MustCreate("xyzw");
  EXPECT_EQ(layers_->Get("abc")->id, "abc123");
  EXPECT_EQ(layers_->Get("xyz")->id, "xyz");  // an exact id wins over a longer match
  auto ambiguous = layers_->Get("ab");
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_EQ(ambiguous.error().code(), EINVAL);
  EXPECT_EQ(ambiguous.error().message(), "layer \"ab\": ambiguous prefix, matches abc123, abd456");
  auto missing = layers_->Get("q");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ENOENT);
  EXPECT_EQ(missing.error().message(), "layer \"q\": no such layer");
  EXPECT_EQ(layers_->Get("a/b").error().code(), EINVAL);
}

TEST_F(LayerStoreTest, ListShowsReadyLayersOnly) {
  MustCreate("a");
  MustCreate("b", "a");
  auto held = LayerLock::Acquire(root_ + "/locks", "c", LayerLock::Wait::kTry, {});
  ASSERT_TRUE(held.ok());
  InsertRaw("c", "creating");
  auto list = layers_->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, "a");
  EXPECT_THAT((*list)[0].children, ElementsAre("b"));
  EXPECT_EQ(layers_->Get("c").error().code(), ENOENT);
}

TEST_F(LayerStoreTest, DiffOperationsDelegateAfterLookup) {
  MustCreate("l");
  driver_.SetChanges({{"etc/passwd", archive::Change::Kind::kModify}});
  auto changes = layers_->Changes("l");
  ASSERT_TRUE(changes.ok());
  ASSERT_EQ(changes->size(), 1u);
  EXPECT_EQ((*changes)[0].path, "etc/passwd");
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  auto stats = layers_->Export("l", write_end.Get(), archive::Compression::kNone);
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  auto cached = store_->Prepare("SELECT diff_digest FROM layers WHERE id = 'l'");
  ASSERT_TRUE(cached.ok() && *cached->Step());
  EXPECT_EQ(cached->ColumnText(0), stats->digest);
  EXPECT_EQ(layers_->Changes("nope").error().code(), ENOENT);
  EXPECT_EQ(driver_.CallCount("changes nope"), 0);
  driver_.FailNext("diff", EIO);
  EXPECT_EQ(layers_->Export("l", write_end.Get(), archive::Compression::kNone).error().code(), EIO);
}

TEST_F(LayerStoreTest, LockedIdTimesOutWithEbusy) {
  MustCreate("l");
  auto held = LayerLock::Acquire(root_ + "/locks", "l", LayerLock::Wait::kTry, {});
  ASSERT_TRUE(held.ok());
  layers_->set_lock_timeout(std::chrono::milliseconds(100));
  auto path = layers_->Mount("l");
  ASSERT_FALSE(path.ok());
  EXPECT_EQ(path.error().code(), EBUSY);
  EXPECT_THAT(path.error().message(), ::testing::HasSubstr("locked by another strata process"));
  EXPECT_THAT(driver_.calls(), Not(Contains("mount l")));
}

}  // namespace
}  // namespace strata::drivers
