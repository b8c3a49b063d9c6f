// The driver conformance suite: every graph driver must pass it, through the LayerStore, on the
// real kernel (root). Each test gets a fresh strata root, the driver built from the registry, a
// Store and a LayerStore. A driver whose probe says "not supported here" is skipped.
// Instantiated per tier: vfs and overlay in tests/host, devicemapper in tests/vm (the VM has
// device-mapper, this host does not).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/store.h"
#include "core/sys/mounts.h"
#include "drivers/layer_store.h"
#include "drivers/registry.h"
#include "core/sys/device_mapper.h"
#include "tests/conformance/conformance_support.h"
#include "tests/conformance/driver_conformance.h"

namespace strata::drivers::conformance {
namespace {

using ::testing::HasSubstr;
using testing::IsMountPoint;
using testing::PathExists;
using testing::ReadFileOr;
using testing::TarBuilder;

// Drivers whose non-base layers are real mounts (vfs layers are plain directories).
bool MountsForReal(const std::string& driver) { return driver != "vfs"; }

// Small pools: the VM keeps loop files in RAM.
nlohmann::json ConformanceOptions(const std::string& driver, const std::string& root) {
  if (driver != "devicemapper") return nlohmann::json::object();
  return {{"pool-name", PoolNameFor(root)}, {"data-size", "2G"}, {"base-size", "64M"}};
}

}  // namespace

std::string PoolNameFor(const std::string& root) {
  return "strata-conf-" + root.substr(root.rfind('-') + 1);
}

void RemovePoolDevices(const std::string& pool) {
  sys::DeviceMapper& dm = sys::LinuxDeviceMapper();
  auto list = dm.List();
  if (!list.ok()) return;
  for (const sys::DmListEntry& e : *list) {
    auto info = dm.Info(e.name);
    if (info.ok() && info->uuid.rfind("STRATA-thin-" + pool + "-", 0) == 0) {
      (void)dm.Remove(e.name, sys::DmRemove::kNow);  // best effort: test cleanup
    }
  }
  (void)dm.Remove(pool, sys::DmRemove::kNow);  // best effort: test cleanup
}

Result<Stack> OpenStack(const std::string& name, const std::string& root) {
  const DriverEntry* entry = FindDriver(name);
  if (entry == nullptr) return Error(ENOENT, "driver " + name + " is not registered");
  Stack stack;
  STRATA_ASSIGN_OR_RETURN(stack.store, Store::Open(root + "/strata.db"));
  DriverEnv env{root, &sys::LinuxMounts(), stack.store.get()};
  STRATA_ASSIGN_OR_RETURN(stack.driver, entry->create(env, ConformanceOptions(name, root)));
  STRATA_ASSIGN_OR_RETURN(stack.layers, LayerStore::Open(*stack.store, *stack.driver));
  return stack;
}

namespace {

// Runs `body` in a forked child that builds its own stack; returns the child's exit code.
// The child leaves with _exit so it never runs the parent's destructors (SQLite, mounts).
int RunInChild(const std::string& name, const std::string& root,
               const std::function<Status(LayerStore&)>& body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    Result<Stack> stack = OpenStack(name, root);
    Status status = stack.ok() ? body(*stack->layers) : Status(stack.error());
    if (!status.ok())
      std::fprintf(stderr, "child %d: %s\n", ::getpid(), status.error().message().c_str());
    std::fflush(stderr);
    ::_exit(status.ok() ? 0 : 1);
  }
  if (pid < 0) return -1;
  int wstatus = 0;
  if (::waitpid(pid, &wstatus, 0) != pid) return -1;
  return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
}



TEST_P(DriverConformanceTest, LayerChainShowsMergedResult) {
  ASSERT_FALSE(MakeBase().empty());
  ASSERT_FALSE(MustImport("mid", "base",
                          TarBuilder()
                              .Dir("etc")
                              .File("etc/mod", "mid\n")
                              .Whiteout("etc/gone")
                              .File("etc/added", "mid\n")
                              .Dir("m")
                              .File("m/file", "m\n"))
                   .empty());
  ASSERT_FALSE(MustImport("top", "mid",
                          TarBuilder()
                              .File("x", "top\n")
                              .Whiteout("m")
                              .Dir("etc")
                              .Whiteout("etc/added")
                              .File("etc/top", "top\n"))
                   .empty());
  std::string view = MustMount("top");
  EXPECT_EQ(ReadFileOr(view + "/etc/keep", "?"), "keep\n");
  EXPECT_EQ(ReadFileOr(view + "/etc/mod", "?"), "mid\n");
  EXPECT_EQ(ReadFileOr(view + "/etc/top", "?"), "top\n");
  EXPECT_EQ(ReadFileOr(view + "/x", "?"), "top\n");
  EXPECT_FALSE(PathExists(view + "/etc/gone"));
  EXPECT_FALSE(PathExists(view + "/etc/added"));
  EXPECT_FALSE(PathExists(view + "/m"));
  // Lower layers are unchanged by their children.
  std::string mid = MustMount("mid");
  EXPECT_EQ(ReadFileOr(mid + "/etc/added", "?"), "mid\n");
  EXPECT_EQ(ReadFileOr(mid + "/x", "?"), "x\n");
  auto chain = layers().Chain("top");
  ASSERT_TRUE(chain.ok());
  EXPECT_EQ(*chain, (std::vector<std::string>{"top", "mid", "base"}));
  EXPECT_TRUE(layers().Unmount("mid").ok());
  EXPECT_TRUE(layers().Unmount("top").ok());
}

TEST_P(DriverConformanceTest, MountsAreReferenceCounted) {
  ASSERT_FALSE(MakeBase().empty());
  ASSERT_FALSE(MustImport("lyr", "base", TarBuilder().File("f", "f\n")).empty());
  std::string first = MustMount("lyr");
  std::string second = MustMount("lyr");
  EXPECT_EQ(first, second);
  EXPECT_EQ(layers().Get("lyr")->mount_count, 2);
  if (MountsForReal(GetParam())) {
    EXPECT_TRUE(IsMountPoint(first)) << first;
  }
  ASSERT_TRUE(layers().Unmount("lyr").ok());
  EXPECT_EQ(layers().Get("lyr")->mount_count, 1);
  EXPECT_EQ(ReadFileOr(first + "/f", "?"), "f\n");  // still mounted
  if (MountsForReal(GetParam())) {
    EXPECT_TRUE(IsMountPoint(first));
  }
  ASSERT_TRUE(layers().Unmount("lyr").ok());
  EXPECT_EQ(layers().Get("lyr")->mount_count, 0);
  EXPECT_FALSE(IsMountPoint(first));
  EXPECT_TRUE(layers().Unmount("lyr").ok());
}

TEST_P(DriverConformanceTest, StaleMountCountIsReconciled) {
  if (!MountsForReal(GetParam())) GTEST_SKIP() << GetParam() << " layers are not mounts";
  ASSERT_FALSE(MakeBase().empty());
  ASSERT_FALSE(MustImport("lyr", "base", TarBuilder().File("f", "f\n")).empty());
  std::string path = MustMount("lyr");
  ASSERT_TRUE(sys::LinuxMounts().Unmount(path, 0).ok());  // a manual umount behind our back
  std::string again = MustMount("lyr");
  EXPECT_EQ(layers().Get("lyr")->mount_count, 1);
  EXPECT_TRUE(IsMountPoint(again));
  EXPECT_EQ(ReadFileOr(again + "/f", "?"), "f\n");
  EXPECT_TRUE(layers().Unmount("lyr").ok());
}

TEST_P(DriverConformanceTest, WhiteoutsAndOpaqueDirs) {
  ASSERT_FALSE(MakeBase().empty());
  ASSERT_FALSE(MustImport("wh", "base",
                          TarBuilder().Whiteout("x").Dir("d").Opaque("d").File("d/new", "new\n"))
                   .empty());
  std::string view = MustMount("wh");
  EXPECT_FALSE(PathExists(view + "/x"));
  EXPECT_FALSE(PathExists(view + "/d/old"));
  EXPECT_EQ(ReadFileOr(view + "/d/new", "?"), "new\n");
  EXPECT_FALSE(PathExists(view + "/d/.wh..wh..opq"));
  EXPECT_FALSE(PathExists(view + "/.wh.x"));
  EXPECT_EQ(ReadFileOr(view + "/etc/keep", "?"), "keep\n");
  auto listing = testing::SnapshotTree(view + "/d");
  ASSERT_TRUE(listing.ok());
  EXPECT_EQ(listing->size(), 2u);  // "" and "new"
  EXPECT_TRUE(layers().Unmount("wh").ok());
}

// A layer exercising everything a tar can carry, on top of base.
TarBuilder RichLayer() {
  return TarBuilder()
      .Dir("etc")
      .File("etc/mod", "modified\n")
      .Whiteout("etc/gone")
      .Dir("bin", 0711)
      .File("bin/tool", "#!/bin/sh\n", 0755, 1000, 1001)
      .File("bin/setuid", "s", 04755)
      .File("attrs", "a", 0640, 0, 0, {{"user.strata", "hello"}, {"user.empty", ""}})
      .Symlink("lib", "usr/lib")
      .Symlink("abs", "/etc/passwd")
      .Dir("data")
      .File("data/a", "shared content\n")
      .Hardlink("data/b", "data/a")
      .Dir("dev")
      .CharDevice("dev/null", 1, 3)
      .BlockDevice("dev/loop9", 7, 9)
      .Fifo("dev/fifo")
      .Dir("private", 0700, 5, 6)
      .File("with space.txt", "spaces\n")
      .Dir("opq")
      .Opaque("opq")
      .File("opq/new", "new\n");
}

TEST_P(DriverConformanceTest, DiffApplyRoundTrip) {
  ASSERT_FALSE(MakeBase().empty());
  ASSERT_FALSE(MustImport("orig", "base", RichLayer()).empty());
  char tmpl[] = "/tmp/strata-diff-XXXXXX";
  UniqueFd tar(::mkostemp(tmpl, O_CLOEXEC));
  ASSERT_TRUE(tar);
  ::unlink(tmpl);
  auto stats = layers().Export("orig", tar.Get(), archive::Compression::kNone);
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_EQ(stats->digest.rfind("sha256:", 0), 0u) << stats->digest;
  EXPECT_EQ(stats->digest.size(), 7u + 64u);
  EXPECT_GT(stats->size_bytes, 0u);
  ASSERT_EQ(::lseek(tar.Get(), 0, SEEK_SET), 0);
  auto copy = layers().Import("copy", "base", tar.Get());
  ASSERT_TRUE(copy.ok()) << copy.error().message();

  std::string orig = MustMount("orig");
  std::string replica = MustMount("copy");
  auto want = testing::SnapshotTree(orig);
  auto got = testing::SnapshotTree(replica);
  ASSERT_TRUE(want.ok() && got.ok());
  // The original must really carry what the tar said, or the comparison proves nothing.
  EXPECT_THAT(want->at("data/b"), HasSubstr("hardlink-group=data/a"));
  EXPECT_THAT(want->at("dev/null"), HasSubstr("chr 1:3"));
  EXPECT_THAT(want->at("dev/loop9"), HasSubstr("blk 7:9"));
  EXPECT_THAT(want->at("attrs"), HasSubstr("xattr:user.strata=hello"));
  EXPECT_THAT(want->at("bin/tool"), HasSubstr("mode=0755 uid=1000 gid=1001"));
  EXPECT_THAT(want->at("bin/setuid"), HasSubstr("mode=4755"));
  EXPECT_THAT(want->at("lib"), HasSubstr("symlink->usr/lib"));
  EXPECT_EQ(want->count("etc/gone"), 0u);
  EXPECT_EQ(want->count("opq/old"), 0u);
  EXPECT_EQ(want->count("opq/new"), 1u);
  EXPECT_EQ(testing::DiffSnapshots(*want, *got), "");
  EXPECT_TRUE(layers().Unmount("orig").ok());
  EXPECT_TRUE(layers().Unmount("copy").ok());
}

TEST_P(DriverConformanceTest, ChangesListAddsModifiesDeletes) {
  ASSERT_FALSE(MakeBase().empty());
  ASSERT_FALSE(MustImport("lyr", "base",
                          TarBuilder()
                              .File("new", "new\n")
                              .Dir("etc")
                              .File("etc/mod", "changed\n")
                              .Whiteout("etc/gone"))
                   .empty());
  auto changes = layers().Changes("lyr");
  ASSERT_TRUE(changes.ok()) << changes.error().message();
  std::map<std::string, char> kinds;
  for (const archive::Change& c : *changes) kinds[c.path] = archive::ChangeKindLetter(c.kind);
  EXPECT_EQ(kinds["new"], 'A');
  EXPECT_EQ(kinds["etc/mod"], 'C');
  EXPECT_EQ(kinds["etc/gone"], 'D');
  EXPECT_EQ(kinds.count("etc/keep"), 0u);
  EXPECT_EQ(kinds.count("x"), 0u);
  EXPECT_EQ(kinds.count("d/old"), 0u);
  auto size = layers().DiffSize("lyr");
  ASSERT_TRUE(size.ok()) << size.error().message();
  EXPECT_GE(*size, 12u);  // "new\n" + "changed\n"
}

TEST_P(DriverConformanceTest, MountReferencesSurviveTheProcess) {
  ASSERT_FALSE(MakeBase().empty());
  ASSERT_FALSE(MustImport("lyr", "base", TarBuilder().File("f", "f\n")).empty());
  int code = RunInChild(GetParam(), root_, [](LayerStore& l) -> Status {
    Result<std::string> path = l.Mount("lyr");
    return path.ok() ? Ok() : Status(std::move(path).error().Wrap("child mount"));
  });
  ASSERT_EQ(code, 0);
  auto record = layers().Get("lyr");
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->mount_count, 1);
  std::string path = driver().MountPath("lyr");
  if (MountsForReal(GetParam())) {
    EXPECT_TRUE(IsMountPoint(path)) << path;
  }
  EXPECT_EQ(ReadFileOr(path + "/f", "?"), "f\n");
  ASSERT_TRUE(layers().Unmount("lyr").ok());
  EXPECT_EQ(layers().Get("lyr")->mount_count, 0);
  EXPECT_FALSE(IsMountPoint(path));
}

// A process killed in the middle of an import leaves a 'creating' record and a half-written
// layer; the next LayerStore::Open must remove both.
TEST_P(DriverConformanceTest, CrashDuringImportIsRolledBack) {
  ASSERT_FALSE(MakeBase().empty());
  auto tar = TarBuilder().File("big", std::string(1 << 20, 'x')).Finish();
  ASSERT_TRUE(tar.ok());
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  pid_t pid = ::fork();
  if (pid == 0) {
    write_end.Reset();
    Result<Stack> stack = OpenStack(GetParam(), root_);
    if (stack.ok()) (void)stack->layers->Import("crashed", "base", read_end.Get());
    ::_exit(0);  // not reached while the pipe stays open
  }
  ASSERT_GT(pid, 0);
  read_end.Reset();
  char head[16384];  // the tar header and the start of the file: the apply is under way
  ASSERT_EQ(::read(tar->Get(), head, sizeof(head)), static_cast<ssize_t>(sizeof(head)));
  ASSERT_EQ(::write(write_end.Get(), head, sizeof(head)), static_cast<ssize_t>(sizeof(head)));
  bool creating = false;
  for (int i = 0; i < 500 && !creating; ++i) {
    auto state = stack_.store->Prepare("SELECT state FROM layers WHERE id = 'crashed'");
    creating = state.ok() && state->Step().ok() && state->ColumnText(0) == "creating" &&
               driver().Exists("crashed");
    if (!creating) ::usleep(10000);
  }
  ::kill(pid, SIGKILL);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(creating) << "the child never got to the apply step";
  auto reopened = LayerStore::Open(*stack_.store, *stack_.driver);
  ASSERT_TRUE(reopened.ok()) << reopened.error().message();
  EXPECT_EQ((*reopened)->recovery().rolled_back, std::vector<std::string>{"crashed"});
  EXPECT_FALSE(driver().Exists("crashed"));
  EXPECT_EQ(LayerIds(), std::vector<std::string>{"base"});
  EXPECT_TRUE(testing::FindNamed(root_, "crashed").empty());
}

TEST_P(DriverConformanceTest, RemoveWhileMountedIsBusy) {
  ASSERT_FALSE(MakeBase().empty());
  ASSERT_FALSE(MustImport("lyr", "base", TarBuilder().File("f", "f\n")).empty());
  std::string path = MustMount("lyr");
  Status st = layers().Remove("lyr");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), EBUSY);
  EXPECT_THAT(st.error().message(), HasSubstr("is mounted (1 reference) at " + path));
  Status parent = layers().Remove("base");
  ASSERT_FALSE(parent.ok());
  EXPECT_EQ(parent.error().code(), EBUSY);
  EXPECT_THAT(parent.error().message(), HasSubstr("is the parent of lyr"));
  EXPECT_EQ(ReadFileOr(path + "/f", "?"), "f\n");
  ASSERT_TRUE(layers().Unmount("lyr").ok());
  ASSERT_TRUE(layers().Remove("lyr").ok());
  EXPECT_FALSE(driver().Exists("lyr"));
  EXPECT_TRUE(layers().Remove("lyr").ok());
  ASSERT_TRUE(layers().Remove("base").ok());
  EXPECT_TRUE(LayerIds().empty());
}

TEST_P(DriverConformanceTest, ConcurrentCreatesFromTwoProcesses) {
  ASSERT_FALSE(MakeBase().empty());
  constexpr int kPerChild = 20;
  pid_t pids[2];
  for (int c = 0; c < 2; ++c) {
    pids[c] = ::fork();
    if (pids[c] == 0) {
      Result<Stack> stack = OpenStack(GetParam(), root_);
      int failures = stack.ok() ? 0 : 100;
      for (int i = 0; stack.ok() && i < kPerChild; ++i) {
        std::string id = "c" + std::to_string(c) + "-" + std::to_string(i);
        auto r = stack->layers->Create(id, "base", LayerKind::kReadOnly, {});
        if (!r.ok()) std::fprintf(stderr, "%s: %s\n", id.c_str(), r.error().message().c_str());
        failures += r.ok() ? 0 : 1;
      }
      ::_exit(failures);
    }
    ASSERT_GT(pids[c], 0);
  }
  for (pid_t pid : pids) {
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << "child failures: " << wstatus;
  }
  std::vector<std::string> ids = LayerIds();
  EXPECT_EQ(ids.size(), 1u + 2 * kPerChild);
  auto base = layers().Get("base");
  ASSERT_TRUE(base.ok());
  EXPECT_EQ(base->children.size(), 2u * kPerChild);
  for (const std::string& id : ids) EXPECT_TRUE(driver().Exists(id)) << id;
  auto check = stack_.store->Prepare("PRAGMA integrity_check");
  ASSERT_TRUE(check.ok() && *check->Step());
  EXPECT_EQ(check->ColumnText(0), "ok");
  auto fk = stack_.store->Prepare("PRAGMA foreign_key_check");
  ASSERT_TRUE(fk.ok());
  EXPECT_FALSE(*fk->Step());
  auto pending = stack_.store->Prepare("SELECT count(*) FROM layers WHERE state != 'ready'");
  ASSERT_TRUE(pending.ok() && *pending->Step());
  EXPECT_EQ(pending->ColumnInt(0), 0);
}

TEST_P(DriverConformanceTest, MaliciousTarsLeaveNothing) {
  ASSERT_FALSE(MakeBase().empty());
  const std::string tag = "strata-escape-" + std::to_string(::getpid());
  const std::string deep = "../../../../../../../../../../../../";
  struct Case {
    std::string name;
    TarBuilder tar;
  };
  std::vector<Case> cases = {
      {"dotdot", TarBuilder().File("../" + tag, "x")},
      {"deep-dotdot", TarBuilder().File(deep + tag, "x")},
      {"inner-dotdot", TarBuilder().Dir("a").File("a/../../" + tag, "x")},
      {"absolute", TarBuilder().File("/" + tag + "-abs", "x")},
      {"symlink-escape", TarBuilder().Symlink("esc", deep).File("esc/" + tag, "x")},
      {"abs-symlink-escape", TarBuilder().Symlink("esc", "/tmp").File("esc/" + tag, "x")},
      {"hardlink-escape", TarBuilder().Hardlink("hl", deep + "etc/passwd")},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto record = Import("evil-" + c.name, "base", c.tar);
    ASSERT_FALSE(record.ok()) << "malicious tar " << c.name << " was accepted";
    // The contract: rejected with EPERM or EXDEV, not some incidental failure.
    EXPECT_TRUE(record.error().code() == EPERM || record.error().code() == EXDEV)
        << record.error().message();
    EXPECT_FALSE(driver().Exists("evil-" + c.name));
  }
  EXPECT_EQ(LayerIds(), std::vector<std::string>{"base"});
  auto pending = stack_.store->Prepare("SELECT count(*) FROM layers");
  ASSERT_TRUE(pending.ok() && *pending->Step());
  EXPECT_EQ(pending->ColumnInt(0), 1);
  EXPECT_THAT(testing::FindNamed(root_, tag), ::testing::IsEmpty());
  for (const std::string& outside :
       {"/" + tag, "/" + tag + "-abs", "/tmp/" + tag, "/var/tmp/" + tag, "/var/" + tag}) {
    EXPECT_FALSE(PathExists(outside)) << outside;
    std::error_code ec;
    std::filesystem::remove(outside, ec);  // do not leave it behind if it did escape
  }
}

TEST_P(DriverConformanceTest, HundredLayerChainMounts) {
  constexpr int kDepth = 100;
  std::string parent;
  for (int i = 0; i < kDepth; ++i) {
    std::string id = "layer" + std::to_string(i);
    ASSERT_FALSE(
        MustImport(id, parent, TarBuilder().File("f" + std::to_string(i), std::to_string(i)))
            .empty());
    parent = id;
  }
  std::string view = MustMount(parent);
  EXPECT_EQ(ReadFileOr(view + "/f0", "?"), "0");
  EXPECT_EQ(ReadFileOr(view + "/f50", "?"), "50");
  EXPECT_EQ(ReadFileOr(view + "/f99", "?"), "99");
  EXPECT_TRUE(layers().Unmount(parent).ok());
}

// Any id the LayerStore accepts must work in every driver, including names a driver might use
// for its own bookkeeping (overlay2 keeps short links in <home>/l/).
TEST_P(DriverConformanceTest, AnyValidIdWorks) {
  ASSERT_FALSE(MakeBase().empty());
  for (const std::string id : {"l", "0", "A.b-c_d", "work", "diff", "merged"}) {
    SCOPED_TRACE(id);
    ASSERT_FALSE(MustImport(id, "base", TarBuilder().File("id", id)).empty());
    std::string view = MustMount(id);
    EXPECT_EQ(ReadFileOr(view + "/id", "?"), id);
    EXPECT_EQ(ReadFileOr(view + "/etc/keep", "?"), "keep\n");
    EXPECT_TRUE(layers().Unmount(id).ok());
  }
  for (const std::string id : {"l", "0", "A.b-c_d", "work", "diff", "merged"}) {
    Status removed = layers().Remove(id);
    EXPECT_TRUE(removed.ok()) << id << ": " << removed.error().message();
  }
  EXPECT_EQ(LayerIds(), std::vector<std::string>{"base"});
}

}  // namespace
}  // namespace strata::drivers::conformance
