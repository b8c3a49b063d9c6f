// The volume manager over a fake backend and fake mounts: states, rollback, recovery of
// interrupted operations, attachments and their reconciliation, filters.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/file_lock.h"
#include "core/store.h"
#include "tests/fakes/fake_mounts.h"
#include "volumes/catalog.h"
#include "volumes/manager.h"

namespace strata::volumes {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Storage as a set of names; every call recorded as "<op> <name>".
struct FakeStorage {
  std::set<std::string> volumes;
  std::set<std::string> active;
  std::map<std::string, uint64_t> sizes;
  std::vector<std::string> calls;
  std::map<std::string, int> fail_next;  // op -> errno
  std::string dir;                       // activation directory root

  int Take(const std::string& op) {
    auto it = fail_next.find(op);
    if (it == fail_next.end()) return 0;
    int code = it->second;
    fail_next.erase(it);
    return code;
  }
};

class FakeBackend : public Backend {
 public:
  FakeBackend(BackendKind kind, FakeStorage* s) : kind_(kind), s_(s) {}
  BackendKind kind() const override { return kind_; }
  Status Probe() override { return Ok(); }
  Status CheckCreate(const VolumeRecord& v) override {
    if (v.size_bytes > 0 && v.size_bytes < MinFilesystemBytes(v.fs)) {
      return Error(EINVAL, "size below minimum");
    }
    return Ok();
  }
  Result<std::string> Create(const VolumeRecord& v) override {
    s_->calls.push_back("create " + v.name);
    if (int code = s_->Take("create")) return Error(code, "injected");
    s_->volumes.insert(v.name);
    s_->sizes[v.name] = v.size_bytes;
    return "ref-" + v.name;
  }
  Result<std::string> Snapshot(const VolumeRecord& origin, const VolumeRecord& v) override {
    s_->calls.push_back("snapshot " + origin.name + " " + v.name);
    s_->volumes.insert(v.name);
    return "ref-" + v.name;
  }
  Status Grow(const VolumeRecord& v, uint64_t size) override {
    s_->calls.push_back("grow " + v.name + " " + std::to_string(size));
    if (int code = s_->Take("grow")) return Error(code, "injected");
    s_->sizes[v.name] = size;
    return Ok();
  }
  Status Destroy(const VolumeRecord& v) override {
    s_->calls.push_back("destroy " + v.name);
    s_->volumes.erase(v.name);
    return Ok();
  }
  Result<std::string> Activate(const VolumeRecord& v) override {
    s_->calls.push_back("activate " + v.name);
    s_->active.insert(v.name);
    return s_->dir + "/stage/" + v.name;
  }
  Status Deactivate(const VolumeRecord& v) override {
    if (s_->active.erase(v.name)) s_->calls.push_back("deactivate " + v.name);
    return Ok();
  }
  Result<BackendDetails> Details(const VolumeRecord& v) override {
    return BackendDetails{"", "fake " + v.name, std::nullopt};
  }

 private:
  BackendKind kind_;
  FakeStorage* s_;
};

class VolManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/strata-vol-unit-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    storage_.dir = root_;
    auto store = Store::Open(root_ + "/strata.db");
    ASSERT_TRUE(store.ok()) << store.error().message();
    store_ = std::move(store).value();
  }
  void TearDown() override {
    manager_.reset();
    store_.reset();
    std::filesystem::remove_all(root_);
  }
  Manager& M() {
    if (!manager_) {
      ManagerEnv env;
      env.backend_env.root = root_;
      env.backend_env.store = store_.get();
      env.backend_env.mounts = &mounts_;
      env.defaults.backend = BackendKind::kLoop;
      env.defaults.size_bytes = 64ull << 20;
      env.make_backend = [this](BackendKind kind, const BackendEnv&) {
        return std::make_unique<FakeBackend>(kind, &storage_);
      };
      manager_ = std::make_unique<Manager>(std::move(env));
    }
    return *manager_;
  }
  // A fresh manager, as the next strata process would have.
  void Restart() { manager_.reset(); }
  CreateRequest Req(const std::string& name) {
    CreateRequest r;
    r.name = name;
    return r;
  }
  std::vector<std::string> Names() {
    auto all = M().List({});
    EXPECT_TRUE(all.ok());
    std::vector<std::string> out;
    if (all.ok()) {
      for (const VolumeInfo& i : *all) out.push_back(i.record.name);
    }
    return out;
  }
  std::string Target(const std::string& leaf) { return root_ + "/targets/" + leaf; }

  std::string root_;
  std::unique_ptr<Store> store_;
  FakeMounts mounts_;
  FakeStorage storage_;
  std::unique_ptr<Manager> manager_;
};

TEST_F(VolManagerTest, CreateRecordsReadyVolumeWithRef) {
  auto made = M().Create(Req("db"));
  ASSERT_TRUE(made.ok()) << made.error().message();
  EXPECT_EQ(made->ref, "ref-db");
  EXPECT_EQ(made->state, VolumeState::kReady);
  EXPECT_EQ(made->size_bytes, 64ull << 20);
  Restart();
  auto row = Catalog(*store_).Find("db");
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->ref, "ref-db");
  EXPECT_THAT(Names(), ElementsAre("db"));
}

TEST_F(VolManagerTest, BadRequestsChangeNothing) {
  ASSERT_TRUE(M().Create(Req("db")).ok());
  storage_.calls.clear();
  auto dup = M().Create(Req("db"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code(), EEXIST);
  EXPECT_THAT(dup.error().message(), HasSubstr("volume \"db\" already exists"));
  for (const char* bad : {"-x", "a/b", ""}) {
    auto r = M().Create(Req(bad));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), EINVAL);
  }
  CreateRequest small = Req("small");
  small.size_bytes = 1 << 20;
  EXPECT_EQ(M().Create(small).error().code(), EINVAL);
  CreateRequest from = Req("copy");
  from.from = "nope";
  EXPECT_EQ(M().Create(from).error().code(), ENOENT);
  EXPECT_TRUE(storage_.calls.empty());
  EXPECT_THAT(Names(), ElementsAre("db"));
}

TEST_F(VolManagerTest, FailedCreateLeavesNoRow) {
  storage_.fail_next["create"] = EIO;
  auto made = M().Create(Req("db"));
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(made.error().code(), EIO);
  EXPECT_THAT(made.error().message(), HasSubstr("vol create \"db\""));
  EXPECT_TRUE(Names().empty());
  auto row = Catalog(*store_).Find("db");
  ASSERT_TRUE(row.ok());
  EXPECT_FALSE(row->has_value());
  EXPECT_TRUE(M().Create(Req("db")).ok());
}

// Rows left by a killed process: creating -> rolled back, removing -> finished, resizing ->
// finished; all invisible or settled after the next call.
TEST_F(VolManagerTest, RecoverSettlesInterruptedOperations) {
  Catalog catalog(*store_);
  VolumeRecord half;
  half.name = "half";
  half.size_bytes = 64ull << 20;
  half.state = VolumeState::kCreating;
  ASSERT_TRUE(catalog.Insert(half).ok());
  storage_.volumes.insert("half");
  VolumeRecord going = half;
  going.name = "going";
  going.state = VolumeState::kRemoving;
  ASSERT_TRUE(catalog.Insert(going).ok());
  VolumeRecord growing = half;
  growing.name = "growing";
  growing.state = VolumeState::kResizing;
  growing.pending_size_bytes = 128ull << 20;
  ASSERT_TRUE(catalog.Insert(growing).ok());

  EXPECT_THAT(Names(), ElementsAre("growing"));
  EXPECT_THAT(storage_.calls, ::testing::IsSupersetOf({"destroy going", "destroy half",
                                                       "grow growing 134217728"}));
  EXPECT_EQ(storage_.volumes.count("half"), 0u);
  auto row = catalog.Find("growing");
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->state, VolumeState::kReady);
  EXPECT_EQ((*row)->size_bytes, 128ull << 20);
  EXPECT_FALSE(catalog.Find("half")->has_value());
  EXPECT_FALSE(catalog.Find("going")->has_value());
}

// A row whose lock is held belongs to a live process: recovery leaves it alone.
TEST_F(VolManagerTest, RecoverSkipsOperationsInFlight) {
  Catalog catalog(*store_);
  VolumeRecord busy;
  busy.name = "busy";
  busy.state = VolumeState::kCreating;
  ASSERT_TRUE(catalog.Insert(busy).ok());
  std::filesystem::create_directories(root_ + "/locks/volumes");
  auto lock = FileLock::Acquire(root_ + "/locks/volumes", "busy", "busy", FileLock::Wait::kTry,
                                std::chrono::milliseconds(0));
  ASSERT_TRUE(lock.ok());
  EXPECT_TRUE(Names().empty());
  EXPECT_TRUE(catalog.Find("busy")->has_value());
  EXPECT_TRUE(storage_.calls.empty());
}

TEST_F(VolManagerTest, AttachBindsAndDetachDeactivates) {
  ASSERT_TRUE(M().Create(Req("db")).ok());
  auto a = M().Attach("db", Target("a"), false);
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_TRUE(mounts_.IsMounted(Target("a")));
  auto again = M().Attach("db", Target("a"), false);
  EXPECT_TRUE(again.ok());  // same target, same mode: nothing to do
  auto ro = M().Attach("db", Target("b"), true);
  ASSERT_TRUE(ro.ok());
  EXPECT_TRUE(mounts_.mount_calls().back().flags & sys::kMsRdonly);
  Restart();  // attachments are rows: a new process sees them
  auto all = M().List({});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].attachments.size(), 2u);
  auto gone = M().Detach("db", Target("a"));
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->size(), 1u);
  EXPECT_EQ(storage_.active.count("db"), 1u);  // still attached at b
  EXPECT_TRUE(M().Detach("db", std::nullopt).ok());
  EXPECT_EQ(storage_.active.count("db"), 0u);
  auto twice = M().Detach("db", Target("a"));
  ASSERT_TRUE(twice.ok());
  EXPECT_TRUE(twice->empty());
}

TEST_F(VolManagerTest, OccupiedTargetAndSnapshotRulesRefused) {
  ASSERT_TRUE(M().Create(Req("a")).ok());
  ASSERT_TRUE(M().Create(Req("b")).ok());
  ASSERT_TRUE(M().Attach("a", Target("t"), false).ok());
  auto other = M().Attach("b", Target("t"), false);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code(), EBUSY);
  EXPECT_THAT(other.error().message(), HasSubstr("already has volume \"a\" attached"));
  ASSERT_TRUE(M().Snapshot("a", "snap").ok());
  auto rw = M().Attach("snap", Target("s"), false);
  ASSERT_FALSE(rw.ok());
  EXPECT_EQ(rw.error().code(), EINVAL);
  EXPECT_TRUE(M().Attach("snap", Target("s"), true).ok());
  CreateRequest from = Req("copy");
  from.from = "snap";
  auto copy = M().Create(from);
  ASSERT_TRUE(copy.ok()) << copy.error().message();
  EXPECT_EQ(copy->origin, "snap");
  EXPECT_FALSE(copy->snapshot);
}

TEST_F(VolManagerTest, RemoveAttachedNeedsForceAndReconciles) {
  ASSERT_TRUE(M().Create(Req("db")).ok());
  ASSERT_TRUE(M().Attach("db", Target("a"), false).ok());
  auto busy = M().Remove("db", false);
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().code(), EBUSY);
  EXPECT_THAT(busy.error().message(), HasSubstr(Target("a")));
  // Unmounted by hand: the attachment is stale and rm works without --force.
  ASSERT_TRUE(mounts_.Unmount(Target("a"), 0).ok());
  Restart();
  auto removed = M().Remove("db", false);
  ASSERT_TRUE(removed.ok()) << removed.error().message();
  EXPECT_TRUE(*removed);
  auto again = M().Remove("db", false);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);  // idempotent
}

TEST_F(VolManagerTest, ForceRemoveDetachesFirst) {
  ASSERT_TRUE(M().Create(Req("db")).ok());
  ASSERT_TRUE(M().Attach("db", Target("a"), false).ok());
  auto removed = M().Remove("db", true);
  ASSERT_TRUE(removed.ok()) << removed.error().message();
  EXPECT_FALSE(mounts_.IsMounted(Target("a")));
  EXPECT_EQ(storage_.volumes.count("db"), 0u);
  EXPECT_TRUE(Names().empty());
}

TEST_F(VolManagerTest, ResizeOnlyGrows) {
  ASSERT_TRUE(M().Create(Req("db")).ok());
  auto smaller = M().Resize("db", 32ull << 20);
  ASSERT_FALSE(smaller.ok());
  EXPECT_EQ(smaller.error().code(), EINVAL);
  storage_.calls.clear();
  EXPECT_TRUE(M().Resize("db", 64ull << 20).ok());
  EXPECT_TRUE(storage_.calls.empty());
  storage_.fail_next["grow"] = ENOSPC;
  auto failed = M().Resize("db", 1ull << 30);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code(), ENOSPC);
  EXPECT_EQ(M().Inspect("db")->record.size_bytes, 64ull << 20);
  auto grown = M().Resize("db", 1ull << 30);
  ASSERT_TRUE(grown.ok());
  EXPECT_EQ(M().Inspect("db")->record.size_bytes, 1ull << 30);
  EXPECT_EQ(M().Inspect("db")->record.state, VolumeState::kReady);
}

TEST_F(VolManagerTest, FiltersAndPrune) {
  CreateRequest a = Req("a");
  a.labels = {{"app", "web"}};
  CreateRequest b = Req("b");
  b.labels = {{"app", "db"}};
  ASSERT_TRUE(M().Create(a).ok());
  ASSERT_TRUE(M().Create(b).ok());
  ASSERT_TRUE(M().Create(Req("c")).ok());
  auto f = ParseVolumeFilter("label=app=web");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(M().List({*f})->size(), 1u);
  EXPECT_EQ(M().List({*ParseVolumeFilter("label=app")})->size(), 2u);
  EXPECT_EQ(M().List({*ParseVolumeFilter("name=c")})->size(), 1u);
  EXPECT_FALSE(ParseVolumeFilter("labl=x").ok());
  EXPECT_FALSE(ParseVolumeFilter("backend=thinn").ok());
  ASSERT_TRUE(M().Attach("a", Target("a"), false).ok());
  auto pruned = M().Prune({*ParseVolumeFilter("label=app")});
  ASSERT_TRUE(pruned.ok());
  EXPECT_THAT(*pruned, ElementsAre("b"));
  EXPECT_THAT(Names(), ElementsAre("a", "c"));
}

TEST(VolumeNamesTest, Rule) {
  EXPECT_TRUE(CheckVolumeName("db").ok());
  EXPECT_TRUE(CheckVolumeName("a_b.c-1").ok());
  EXPECT_TRUE(CheckVolumeName(std::string(128, 'x')).ok());
  EXPECT_FALSE(CheckVolumeName(std::string(129, 'x')).ok());
  EXPECT_FALSE(CheckVolumeName(".hidden").ok());
  EXPECT_FALSE(CheckVolumeName("a b").ok());
  EXPECT_THAT(ParseBackend("thinn").error().message(), HasSubstr("did you mean \"thin\""));
  EXPECT_FALSE(ParseFilesystem("btrfs").ok());
}

TEST(VolumeDefaultsTest, ParsesAndRejects) {
  auto d = ParseVolumeDefaults(nlohmann::json::parse(
      R"({"backend": "loop", "size": "1G", "fs": "xfs", "mount-options": ["noatime"]})"));
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(*d->backend, BackendKind::kLoop);
  EXPECT_EQ(d->size_bytes, 1ull << 30);
  EXPECT_EQ(d->fs, Filesystem::kXfs);
  EXPECT_THAT(ParseVolumeDefaults(nlohmann::json::parse(R"({"sise": "1G"})")).error().message(),
              HasSubstr("did you mean \"size\""));
  EXPECT_FALSE(ParseVolumeDefaults(nlohmann::json::parse(R"({"fs": "xfs", "size": "100M"})")).ok());
}

}  // namespace
}  // namespace strata::volumes
