// The pure aufs mount planner (branch list, br_file content, page split into mount + append
// remounts, helper search) and the kernel-aufs apply loop over FakeMounts: no privileges.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "drivers/aufs/aufs_driver.h"
#include "drivers/aufs/mount_plan.h"
#include "tests/fakes/fake_mounts.h"

namespace strata::drivers::aufs {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kDiff = "/var/lib/strata/aufs/diff/";

std::vector<std::string> Parents(size_t n) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) out.push_back(kDiff + "p" + std::to_string(i));
  return out;
}

TEST(AufsBranchesTest, TopFirstThenParentsNearestFirst) {
  EXPECT_THAT(AufsBranches(kDiff + "c", BranchAccess::kReadWrite, {kDiff + "b", kDiff + "a"}),
              ElementsAre(kDiff + "c=rw", kDiff + "b=ro+wh", kDiff + "a=ro+wh"));
}

TEST(AufsBranchesTest, ReadOnlyTopIsRo) {
  EXPECT_THAT(AufsBranches(kDiff + "c", BranchAccess::kReadOnly, {kDiff + "a"}),
              ElementsAre(kDiff + "c=ro", kDiff + "a=ro+wh"));
}

TEST(AufsBranchesTest, BranchSpecIsTheBrFileContent) {
  EXPECT_EQ(BranchSpec(AufsBranches("/d/c", BranchAccess::kReadWrite, {"/d/b", "/d/a"})),
            "/d/c=rw:/d/b=ro+wh:/d/a=ro+wh");
  EXPECT_EQ(BranchSpec({"/d/c=ro"}), "/d/c=ro");
}

TEST(KernelAufsPlanTest, ShortChainIsOneMount) {
  auto plan = PlanKernelAufsMount({"/d/c=rw", "/d/b=ro+wh"}, 4096);
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  EXPECT_EQ(plan->data, "br:/d/c=rw:/d/b=ro+wh,xino=/dev/shm/aufs.xino,dirperm1");
  EXPECT_TRUE(plan->remounts.empty());
}

TEST(KernelAufsPlanTest, LongChainSplitsIntoMountAndAppends) {
  auto branches = AufsBranches(kDiff + "top", BranchAccess::kReadWrite, Parents(120));
  ASSERT_GT(BranchSpec(branches).size(), 4096u);
  auto plan = PlanKernelAufsMount(branches, 4096);
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  EXPECT_LE(plan->data.size(), 4095u);
  EXPECT_THAT(plan->data, StartsWith("br:" + kDiff + "top=rw:" + kDiff + "p0=ro+wh:"));
  EXPECT_THAT(plan->data, ::testing::EndsWith(",xino=/dev/shm/aufs.xino,dirperm1"));
  ASSERT_FALSE(plan->remounts.empty());
  // Every branch appears exactly once, in order: the first mount's, then one append each.
  const std::string br = plan->data.substr(3, plan->data.find(',') - 3);
  std::vector<std::string> seen;
  size_t start = 0;
  while (start <= br.size()) {
    size_t end = br.find(':', start);
    if (end == std::string::npos) end = br.size();
    seen.push_back(br.substr(start, end - start));
    start = end + 1;
  }
  for (const std::string& append : plan->remounts) {
    ASSERT_THAT(append, StartsWith("append:"));
    seen.push_back(append.substr(7));
  }
  EXPECT_EQ(seen, branches);
  // The first mount is packed: the next branch would not have fit.
  const size_t first_appended = branches.size() - plan->remounts.size();
  EXPECT_GT(plan->data.size() + 1 + branches[first_appended].size(), 4095u);
}

TEST(KernelAufsPlanTest, ExactlyPageSizeMinusOneFitsButPageSizeDoesNot) {
  const std::string options = kKernelOptions;
  // "br:" + branch + options == 4095 bytes: fits (the kernel NUL-terminates at byte 4096).
  std::string fits(4095 - 3 - options.size(), 'x');
  auto plan = PlanKernelAufsMount({fits}, 4096);
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  EXPECT_EQ(plan->data.size(), 4095u);
  auto too_long = PlanKernelAufsMount({fits + "x"}, 4096);
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.error().code(), E2BIG);
  // A second branch that would make the data 4096 bytes goes to an append.
  std::string first(4095 - 3 - options.size() - 2, 'y');
  auto split = PlanKernelAufsMount({first, "zz"}, 4096);
  ASSERT_TRUE(split.ok());
  EXPECT_THAT(split->remounts, ElementsAre("append:zz"));
}

TEST(KernelAufsPlanTest, NoBranchesIsEinval) {
  auto plan = PlanKernelAufsMount({}, 4096);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().code(), EINVAL);
}

std::set<std::string>* g_existing = nullptr;
bool FakeExists(const std::string& path) { return g_existing->count(path) > 0; }

TEST(FindHelperTest, ConfiguredThenBesideSelfThenPath) {
  std::set<std::string> existing = {"/opt/h", "/usr/bin/strata-aufs", "/b/strata-aufs"};
  g_existing = &existing;
  EXPECT_EQ(FindHelper({"/opt/h"}, "/b/strata", "/usr/bin", &FakeExists), "/opt/h");
  EXPECT_EQ(FindHelper({""}, "/b/strata", "/usr/bin", &FakeExists), "/b/strata-aufs");
  EXPECT_EQ(FindHelper({""}, "/c/strata", "/x::/usr/bin", &FakeExists), "/usr/bin/strata-aufs");
  EXPECT_EQ(FindHelper({""}, "/c/strata", "/x", &FakeExists), "");
  // A configured helper that is missing is not silently replaced by another one.
  EXPECT_EQ(FindHelper({"/missing"}, "/b/strata", "/usr/bin", &FakeExists), "");
  g_existing = nullptr;
}

// The kernel path's apply loop over the fake seam (kernel aufs is not available here).
class KernelAufsApplyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/strata-aufs-plan-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    home_ = tmpl;
    for (const char* dir : {"/diff", "/layers", "/mnt"}) {
      std::filesystem::create_directory(home_ + dir);
    }
  }
  void TearDown() override { std::filesystem::remove_all(home_); }

  std::unique_ptr<Driver> Make(size_t page_size) {
    AufsMounter mounter;
    mounter.kind = AufsMounter::Kind::kKernel;
    mounter.page_size_bytes = page_size;
    return MakeAufsDriver(home_, mounts_, mounter);
  }

  std::string home_;
  FakeMounts mounts_;
};

TEST_F(KernelAufsApplyTest, MountsThenAppendsEachRemainingBranch) {
  auto driver = Make(256);  // a small "page" forces appends with short paths
  ASSERT_TRUE(driver->Create("base", "", LayerKind::kReadOnly, {}).ok());
  std::string parent = "base";
  for (int i = 0; i < 6; ++i) {
    const std::string id = "layer" + std::to_string(i);
    ASSERT_TRUE(driver->Create(id, parent, LayerKind::kReadOnly, {}).ok());
    parent = id;
  }
  ASSERT_TRUE(driver->Create("top", parent, LayerKind::kReadWrite, {}).ok());
  auto path = driver->Mount("top");
  ASSERT_TRUE(path.ok()) << path.error().message();
  EXPECT_EQ(*path, home_ + "/mnt/top");
  const auto& calls = mounts_.mount_calls();
  ASSERT_GE(calls.size(), 2u);
  EXPECT_EQ(calls[0].fs_type, "aufs");
  EXPECT_EQ(calls[0].flags, 0u);
  EXPECT_THAT(calls[0].data,
              StartsWith("br:" + home_ + "/diff/top=rw:" + home_ + "/diff/layer5=ro+wh"));
  EXPECT_LE(calls[0].data.size(), 255u);
  for (size_t i = 1; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i].flags, sys::kMsRemount);
    EXPECT_THAT(calls[i].data, StartsWith("append:"));
  }
  EXPECT_EQ(calls.back().data, "append:" + home_ + "/diff/base=ro+wh");
  auto mounted = driver->IsMounted("top");
  ASSERT_TRUE(mounted.ok());
  EXPECT_TRUE(*mounted);
}

TEST_F(KernelAufsApplyTest, FailedAppendUnmountsAndRemovesMountPoint) {
  auto driver = Make(150);
  ASSERT_TRUE(driver->Create("base", "", LayerKind::kReadOnly, {}).ok());
  ASSERT_TRUE(driver->Create("mid", "base", LayerKind::kReadOnly, {}).ok());
  ASSERT_TRUE(driver->Create("top", "mid", LayerKind::kReadWrite, {}).ok());
  mounts_.FailNext("mount", 0);       // the first mount(2) succeeds
  mounts_.FailNext("mount", ENOMEM);  // the first append fails
  auto path = driver->Mount("top");
  ASSERT_FALSE(path.ok());
  EXPECT_EQ(path.error().code(), ENOMEM);
  EXPECT_THAT(path.error().message(), HasSubstr("remount append:"));
  ASSERT_GE(mounts_.calls().size(), 3u);
  EXPECT_EQ(mounts_.calls().back(), "umount " + home_ + "/mnt/top");
  EXPECT_FALSE(mounts_.IsMounted(home_ + "/mnt/top"));
  EXPECT_FALSE(std::filesystem::exists(home_ + "/mnt/top"));
}

TEST_F(KernelAufsApplyTest, ParentIsMountedReadOnly) {
  auto driver = Make(4096);
  ASSERT_TRUE(driver->Create("base", "", LayerKind::kReadOnly, {}).ok());
  ASSERT_TRUE(driver->Create("mid", "base", LayerKind::kReadOnly, {}).ok());
  ASSERT_TRUE(driver->Create("top", "mid", LayerKind::kReadWrite, {}).ok());
  auto path = driver->Mount("mid");
  ASSERT_TRUE(path.ok()) << path.error().message();
  ASSERT_EQ(mounts_.mount_calls().size(), 1u);
  EXPECT_EQ(mounts_.mount_calls()[0].flags, sys::kMsRdonly);
  EXPECT_EQ(mounts_.mount_calls()[0].data,
            "br:" + home_ + "/diff/mid=ro:" + home_ + "/diff/base=ro+wh" + kKernelOptions);
}

TEST_F(KernelAufsApplyTest, BaseLayerIsNotMounted) {
  auto driver = Make(4096);
  ASSERT_TRUE(driver->Create("base", "", LayerKind::kReadOnly, {}).ok());
  auto path = driver->Mount("base");
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(*path, home_ + "/diff/base");
  EXPECT_TRUE(mounts_.calls().empty());
}

}  // namespace
}  // namespace strata::drivers::aufs
