// Pure cgroup decisions (runtime/cgroup_plan.h): layout detection from mountinfo samples, the
// resource writes per mode, the dirs per placement, and the small parsers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>

#include "core/sys/mountinfo.h"
#include "runtime/cgroup.h"
#include "runtime/cgroup_plan.h"

namespace strata::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// The dev host: v1 controllers, a cgroup2 "unified" mount without controllers, and this
// process's memory cgroup nested.
constexpr char kHybridMountinfo[] =
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
constexpr char kHybridSelf[] =
    "9:name=systemd:/\n8:pids:/\n7:blkio:/\n6:freezer:/\n5:devices:/\n"
    "4:memory:/process_api/abc\n3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/\n";

// The test VM (Debian, systemd): pure v2.
constexpr char kV2Mountinfo[] =
    "21 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
    "26 21 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";
constexpr char kV2Self[] = "0::/user.slice/user-0.slice/session-1.scope\n";

// An older systemd host: pure v1 with cpu,cpuacct and net_cls,net_prio co-mounted.
constexpr char kV1Mountinfo[] =
    "25 18 0:21 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n"
    "26 25 0:22 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
    "29 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
    "30 25 0:26 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio\n"
    "31 25 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    "32 25 0:28 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n"
    "33 25 0:29 / /sys/fs/cgroup/blkio rw - cgroup cgroup rw,blkio\n";
constexpr char kV1Self[] =
    "7:blkio:/system.slice/sshd.service\n6:pids:/system.slice/sshd.service\n"
    "5:memory:/system.slice/sshd.service\n4:net_cls,net_prio:/\n"
    "3:cpu,cpuacct:/system.slice/sshd.service\n1:name=systemd:/system.slice/sshd.service\n";

CgroupLayout Decide(const char* mountinfo, const char* self) {
  auto mounts = sys::ParseMountInfo(mountinfo);
  EXPECT_TRUE(mounts.ok()) << mounts.error().message();
  auto layout = DecideCgroupLayout(*mounts, self);
  EXPECT_TRUE(layout.ok()) << layout.error().message();
  return layout.ok() ? *layout : CgroupLayout{};
}

std::vector<std::string> Files(const ResourcePlan& plan) {
  std::vector<std::string> out;
  for (const CgroupWrite& w : plan.writes) {
    out.push_back(w.controller + ":" + w.file + "=" + w.value +
                  (w.alt_file.empty() ? "" : "|" + w.alt_file + "=" + w.alt_value));
  }
  return out;
}

Resources AllLimits() {
  Resources r;
  r.memory_bytes = 16 << 20;
  r.cpu_quota_us = 50000;
  r.pids_max = 8;
  r.io_weight = 100;
  return r;
}

TEST(DecideCgroupLayoutTest, HybridAsOnTheDevHost) {
  CgroupLayout layout = Decide(kHybridMountinfo, kHybridSelf);
  EXPECT_EQ(layout.mode, CgroupMode::kHybrid);
  ASSERT_TRUE(layout.v2.has_value());
  EXPECT_EQ(layout.v2->mount_point, "/sys/fs/cgroup/unified");
  EXPECT_EQ(layout.v2->self, "/");
  EXPECT_EQ(layout.v1.at("memory").mount_point, "/sys/fs/cgroup/memory");
  EXPECT_EQ(layout.v1.at("memory").self, "/process_api/abc");
  EXPECT_EQ(layout.v1.at("cpu").mount_point, "/sys/fs/cgroup/cpu");
  EXPECT_EQ(layout.v1.at("pids").self, "/");
  EXPECT_EQ(layout.v1.count("name=systemd"), 0u);
  EXPECT_EQ(layout.v1.size(), 8u);  // cpu cpuacct cpuset memory devices freezer blkio pids
}

TEST(DecideCgroupLayoutTest, PureV2AsInTheVm) {
  CgroupLayout layout = Decide(kV2Mountinfo, kV2Self);
  EXPECT_EQ(layout.mode, CgroupMode::kV2);
  ASSERT_TRUE(layout.v2.has_value());
  EXPECT_EQ(layout.v2->mount_point, "/sys/fs/cgroup");
  EXPECT_EQ(layout.v2->root, "/");
  EXPECT_EQ(layout.v2->self, "/user.slice/user-0.slice/session-1.scope");
  EXPECT_THAT(layout.v1, IsEmpty());
}

TEST(DecideCgroupLayoutTest, PureV1WithCoMountedControllers) {
  CgroupLayout layout = Decide(kV1Mountinfo, kV1Self);
  EXPECT_EQ(layout.mode, CgroupMode::kV1);
  EXPECT_FALSE(layout.v2.has_value());
  EXPECT_EQ(layout.v1.at("cpu").mount_point, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(layout.v1.at("cpuacct").mount_point, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(layout.v1.at("net_prio").mount_point, "/sys/fs/cgroup/net_cls,net_prio");
  EXPECT_EQ(layout.v1.at("cpu").self, "/system.slice/sshd.service");
  EXPECT_EQ(layout.v1.count("xattr"), 0u);
}

TEST(DecideCgroupLayoutTest, NamedV1HierarchyAloneDoesNotMakeHybrid) {
  std::string mountinfo = std::string(kV2Mountinfo) +
                          "40 26 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup "
                          "rw,name=systemd\n";
  EXPECT_EQ(Decide(mountinfo.c_str(), "1:name=systemd:/\n0::/\n").mode, CgroupMode::kV2);
}

TEST(DecideCgroupLayoutTest, PrefersTheMountShowingTheWholeHierarchy) {
  constexpr char kMounts[] =
      "50 1 0:32 /docker/abc /mnt/mem rw - cgroup cgroup rw,memory\n"
      "51 1 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
      "52 1 0:32 / /sys/fs/cgroup/memory2 rw - cgroup cgroup rw,memory\n";
  CgroupLayout layout = Decide(kMounts, "4:memory:/docker/abc\n");
  EXPECT_EQ(layout.v1.at("memory").mount_point, "/sys/fs/cgroup/memory");
  EXPECT_EQ(layout.v1.at("memory").root, "/");
}

TEST(DecideCgroupLayoutTest, NoCgroupsIsNotSupported) {
  auto mounts = sys::ParseMountInfo("22 1 8:1 / / rw - ext4 /dev/vda rw\n");
  ASSERT_TRUE(mounts.ok());
  auto layout = DecideCgroupLayout(*mounts, "");
  ASSERT_FALSE(layout.ok());
  EXPECT_EQ(layout.error().code(), EOPNOTSUPP);
  EXPECT_THAT(layout.error().message(), HasSubstr("no cgroup2 mount and no cgroup v1"));
}

TEST(DecideCgroupLayoutTest, MalformedProcCgroupIsAnError) {
  auto mounts = sys::ParseMountInfo(kV2Mountinfo);
  ASSERT_TRUE(mounts.ok());
  auto layout = DecideCgroupLayout(*mounts, "0::/\ngarbage\n");
  ASSERT_FALSE(layout.ok());
  EXPECT_EQ(layout.error().code(), EINVAL);
  EXPECT_THAT(layout.error().message(), HasSubstr("line 2"));
}

TEST(ParseProcCgroupTest, SplitsOnTheFirstTwoColonsOnly) {
  auto r = ParseProcCgroup("3:cpu,cpuacct:/a:b\n0::/\n1:name=systemd:/x\n");
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_THAT((*r)[0].controllers, ElementsAre("cpu", "cpuacct"));
  EXPECT_EQ((*r)[0].path, "/a:b");
  EXPECT_THAT((*r)[1].controllers, IsEmpty());
  EXPECT_EQ((*r)[1].path, "/");
  EXPECT_THAT((*r)[2].controllers, ElementsAre("name=systemd"));
}

TEST(DetectCgroupsTest, ReadsTheGivenFiles) {
  char dir_template[] = "/tmp/strata-cgroup-unit-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  std::string dir = dir_template;
  std::ofstream(dir + "/mountinfo") << kHybridMountinfo;
  std::ofstream(dir + "/cgroup") << kHybridSelf;
  auto layout = DetectCgroups(dir + "/mountinfo", dir + "/cgroup");
  ASSERT_TRUE(layout.ok()) << layout.error().message();
  EXPECT_EQ(layout->mode, CgroupMode::kHybrid);
  auto missing = DetectCgroups(dir + "/nope", dir + "/cgroup");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ENOENT);
  EXPECT_THAT(missing.error().message(), HasSubstr(dir + "/nope"));
  ::unlink((dir + "/mountinfo").c_str());
  ::unlink((dir + "/cgroup").c_str());
  ::rmdir(dir.c_str());
}

TEST(PlanResourcesTest, V2WritesEveryLimitAndRequiresItsControllers) {
  auto plan = PlanResources(Decide(kV2Mountinfo, kV2Self), AllLimits());
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  EXPECT_THAT(Files(*plan), ElementsAre(":memory.max=16777216", ":cpu.max=50000 100000",
                                        ":pids.max=8", ":io.weight=default 100|io.bfq.weight=11"));
  EXPECT_THAT(plan->v2_required, ElementsAre("memory", "cpu", "pids", "io"));
}

TEST(PlanResourcesTest, V2NoLimitsNoWrites) {
  auto plan = PlanResources(Decide(kV2Mountinfo, kV2Self), Resources{});
  ASSERT_TRUE(plan.ok());
  EXPECT_THAT(plan->writes, IsEmpty());
  EXPECT_THAT(plan->v2_required, IsEmpty());
}

TEST(PlanResourcesTest, V2CpuQuotaUsesThePeriod) {
  Resources r;
  r.cpu_quota_us = 25000;
  r.cpu_period_us = 50000;
  auto plan = PlanResources(Decide(kV2Mountinfo, kV2Self), r);
  ASSERT_TRUE(plan.ok());
  EXPECT_THAT(Files(*plan), ElementsAre(":cpu.max=25000 50000"));
}

TEST(PlanResourcesTest, V1WritesPeriodBeforeQuotaAndScalesBlkioWeight) {
  auto plan = PlanResources(Decide(kV1Mountinfo, kV1Self), AllLimits());
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  EXPECT_THAT(Files(*plan),
              ElementsAre("memory:memory.limit_in_bytes=16777216", "cpu:cpu.cfs_period_us=100000",
                          "cpu:cpu.cfs_quota_us=50000", "pids:pids.max=8",
                          "blkio:blkio.weight=20|blkio.bfq.weight=20"));
  EXPECT_THAT(plan->v2_required, IsEmpty());
}

TEST(PlanResourcesTest, HybridPutsLimitsInV1) {
  auto plan = PlanResources(Decide(kHybridMountinfo, kHybridSelf), AllLimits());
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  EXPECT_THAT(Files(*plan),
              ElementsAre("memory:memory.limit_in_bytes=16777216", "cpu:cpu.cfs_period_us=100000",
                          "cpu:cpu.cfs_quota_us=50000", "pids:pids.max=8",
                          "blkio:blkio.weight=20|blkio.bfq.weight=20"));
}

TEST(PlanResourcesTest, V1MissingControllerOnlyMattersWhenALimitNeedsIt) {
  constexpr char kMemoryOnly[] =
      "31 25 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
  Resources r;
  r.memory_bytes = 1 << 20;
  EXPECT_TRUE(PlanResources(Decide(kMemoryOnly, ""), r).ok());
  r.pids_max = 10;
  auto plan = PlanResources(Decide(kMemoryOnly, ""), r);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().code(), EOPNOTSUPP);
  EXPECT_THAT(plan.error().message(), HasSubstr("pids limit needs the cgroup v1 pids controller"));
}

TEST(PlanResourcesTest, RejectsNonPositiveValuesNamingTheField) {
  CgroupLayout layout = Decide(kV2Mountinfo, kV2Self);
  struct Case {
    Resources r;
    const char* field;
  };
  std::vector<Case> cases(6);
  cases[0].r.memory_bytes = 0, cases[0].field = "memory_bytes";
  cases[1].r.memory_bytes = -1, cases[1].field = "memory_bytes";
  cases[2].r.cpu_quota_us = 0, cases[2].field = "cpu_quota_us";
  cases[3].r.cpu_quota_us = 1000, cases[3].r.cpu_period_us = 0, cases[3].field = "cpu_period_us";
  cases[4].r.pids_max = 0, cases[4].field = "pids_max";
  cases[5].r.io_weight = 0, cases[5].field = "io_weight";
  for (const Case& c : cases) {
    auto plan = PlanResources(layout, c.r);
    ASSERT_FALSE(plan.ok()) << c.field;
    EXPECT_EQ(plan.error().code(), EINVAL);
    EXPECT_THAT(plan.error().message(), HasSubstr(c.field));
  }
  Resources heavy;
  heavy.io_weight = 10001;
  EXPECT_FALSE(PlanResources(layout, heavy).ok());
  Resources period_alone;  // the period matters only with a quota
  period_alone.cpu_period_us = 0;
  EXPECT_TRUE(PlanResources(layout, period_alone).ok());
}

TEST(IoWeightScalingTest, EndsMapToEndsAndTheScaleIsMonotonic) {
  EXPECT_EQ(IoWeightToBlkioWeight(1), 10);
  EXPECT_EQ(IoWeightToBlkioWeight(100), 20);
  EXPECT_EQ(IoWeightToBlkioWeight(5000), 505);
  EXPECT_EQ(IoWeightToBlkioWeight(10000), 1000);
  EXPECT_EQ(IoWeightToBfqWeight(1), 1);
  EXPECT_EQ(IoWeightToBfqWeight(100), 11);
  EXPECT_EQ(IoWeightToBfqWeight(10000), 1000);
  for (uint16_t w = 2; w <= 10000; ++w) {
    ASSERT_GE(IoWeightToBlkioWeight(w), IoWeightToBlkioWeight(w - 1)) << w;
    ASSERT_GE(IoWeightToBfqWeight(w), IoWeightToBfqWeight(w - 1)) << w;
  }
}

TEST(PlanCgroupDirsTest, V2UnderTheRootEnablesControllersOnTheWayDown) {
  auto dirs = PlanCgroupDirs(Decide(kV2Mountinfo, kV2Self), "c1", CgroupParent::kHierarchyRoot);
  ASSERT_TRUE(dirs.ok()) << dirs.error().message();
  ASSERT_EQ(dirs->size(), 1u);
  const CgroupDir& d = (*dirs)[0];
  EXPECT_THAT(d.controllers, IsEmpty());
  EXPECT_EQ(d.parent, "/sys/fs/cgroup/strata");
  EXPECT_EQ(d.leaf, "/sys/fs/cgroup/strata/c1");
  EXPECT_EQ(d.proc_path, "/strata/c1");
  EXPECT_THAT(d.enable_chain, ElementsAre("/sys/fs/cgroup", "/sys/fs/cgroup/strata"));
  EXPECT_FALSE(d.optional);
}

TEST(PlanCgroupDirsTest, V2UnderOwnCgroupChainsThroughEveryAncestor) {
  auto dirs = PlanCgroupDirs(Decide(kV2Mountinfo, kV2Self), "c1", CgroupParent::kOwnCgroup);
  ASSERT_TRUE(dirs.ok()) << dirs.error().message();
  ASSERT_EQ(dirs->size(), 1u);
  const CgroupDir& d = (*dirs)[0];
  EXPECT_EQ(d.leaf, "/sys/fs/cgroup/user.slice/user-0.slice/session-1.scope/strata/c1");
  EXPECT_EQ(d.proc_path, "/user.slice/user-0.slice/session-1.scope/strata/c1");
  EXPECT_THAT(d.enable_chain,
              ElementsAre("/sys/fs/cgroup", "/sys/fs/cgroup/user.slice",
                          "/sys/fs/cgroup/user.slice/user-0.slice",
                          "/sys/fs/cgroup/user.slice/user-0.slice/session-1.scope",
                          "/sys/fs/cgroup/user.slice/user-0.slice/session-1.scope/strata"));
}

TEST(PlanCgroupDirsTest, HybridHasAnOptionalUnifiedDirAndOneDirPerV1Hierarchy) {
  auto dirs =
      PlanCgroupDirs(Decide(kHybridMountinfo, kHybridSelf), "c1", CgroupParent::kHierarchyRoot);
  ASSERT_TRUE(dirs.ok()) << dirs.error().message();
  std::vector<std::string> leaves;
  for (const CgroupDir& d : *dirs) leaves.push_back(d.leaf);
  EXPECT_THAT(leaves,
              ElementsAre("/sys/fs/cgroup/unified/strata/c1", "/sys/fs/cgroup/memory/strata/c1",
                          "/sys/fs/cgroup/cpu/strata/c1", "/sys/fs/cgroup/pids/strata/c1",
                          "/sys/fs/cgroup/blkio/strata/c1"));
  EXPECT_TRUE((*dirs)[0].optional);
  EXPECT_THAT((*dirs)[0].enable_chain, IsEmpty());  // no controllers in hybrid's unified tree
  EXPECT_THAT((*dirs)[1].controllers, ElementsAre("memory"));
  EXPECT_FALSE((*dirs)[1].optional);
}

TEST(PlanCgroupDirsTest, HybridUnderOwnCgroupFollowsEachHierarchy) {
  auto dirs = PlanCgroupDirs(Decide(kHybridMountinfo, kHybridSelf), "c1", CgroupParent::kOwnCgroup);
  ASSERT_TRUE(dirs.ok()) << dirs.error().message();
  EXPECT_EQ((*dirs)[1].leaf, "/sys/fs/cgroup/memory/process_api/abc/strata/c1");
  EXPECT_EQ((*dirs)[1].proc_path, "/process_api/abc/strata/c1");
  EXPECT_EQ((*dirs)[2].leaf, "/sys/fs/cgroup/cpu/strata/c1");
}

TEST(PlanCgroupDirsTest, V1CoMountedControllersShareOneDir) {
  constexpr char kMounts[] =
      "29 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
      "31 25 0:27 / /sys/fs/cgroup/mb rw - cgroup cgroup rw,memory,blkio\n";
  auto dirs = PlanCgroupDirs(Decide(kMounts, ""), "c1", CgroupParent::kHierarchyRoot);
  ASSERT_TRUE(dirs.ok()) << dirs.error().message();
  ASSERT_EQ(dirs->size(), 2u);
  EXPECT_THAT((*dirs)[0].controllers, ElementsAre("memory", "blkio"));
  EXPECT_EQ((*dirs)[0].leaf, "/sys/fs/cgroup/mb/strata/c1");
  EXPECT_THAT((*dirs)[1].controllers, ElementsAre("cpu"));
  EXPECT_EQ((*dirs)[1].leaf, "/sys/fs/cgroup/cpu,cpuacct/strata/c1");
}

TEST(PlanCgroupDirsTest, SubtreeMountMapsProcPathsThroughItsRoot) {
  constexpr char kMounts[] =
      "50 1 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
  CgroupLayout layout = Decide(kMounts, "4:memory:/docker/abc/sub\n");
  auto own = PlanCgroupDirs(layout, "c1", CgroupParent::kOwnCgroup);
  ASSERT_TRUE(own.ok()) << own.error().message();
  EXPECT_EQ((*own)[0].leaf, "/sys/fs/cgroup/memory/sub/strata/c1");
  EXPECT_EQ((*own)[0].proc_path, "/docker/abc/sub/strata/c1");
  auto root = PlanCgroupDirs(layout, "c1", CgroupParent::kHierarchyRoot);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ((*root)[0].leaf, "/sys/fs/cgroup/memory/strata/c1");
  EXPECT_EQ((*root)[0].proc_path, "/docker/abc/strata/c1");

  CgroupLayout outside = Decide(kMounts, "4:memory:/elsewhere\n");
  auto bad = PlanCgroupDirs(outside, "c1", CgroupParent::kOwnCgroup);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ENOENT);
  EXPECT_THAT(bad.error().message(), HasSubstr("/sys/fs/cgroup/memory"));
}

TEST(PlanCgroupDirsTest, ValidatesTheId) {
  CgroupLayout layout = Decide(kV2Mountinfo, kV2Self);
  for (const std::string& bad :
       std::vector<std::string>{"", "-x", ".", "..", "a/b", "a b", std::string(129, 'a')}) {
    auto dirs = PlanCgroupDirs(layout, bad, CgroupParent::kHierarchyRoot);
    ASSERT_FALSE(dirs.ok()) << bad;
    EXPECT_EQ(dirs.error().code(), EINVAL);
    EXPECT_THAT(dirs.error().message(), HasSubstr("invalid container id"));
  }
  for (const std::string& good : std::vector<std::string>{"a", "A.b_c-1", std::string(128, 'z')}) {
    EXPECT_TRUE(PlanCgroupDirs(layout, good, CgroupParent::kHierarchyRoot).ok()) << good;
  }
}

TEST(FlatKeyedValueTest, FindsExactKeysOnly) {
  constexpr char kEvents[] = "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\noom_group_kill 0\n";
  EXPECT_EQ(FlatKeyedValue(kEvents, "oom_kill"), 2u);
  EXPECT_EQ(FlatKeyedValue(kEvents, "oom"), 1u);
  EXPECT_EQ(FlatKeyedValue(kEvents, "max"), 3u);
  EXPECT_EQ(FlatKeyedValue(kEvents, "kill"), std::nullopt);
  EXPECT_EQ(FlatKeyedValue("oom_kill_disable 0\nunder_oom 0\noom_kill 7", "oom_kill"), 7u);
  EXPECT_EQ(FlatKeyedValue("oom_kill x\n", "oom_kill"), std::nullopt);
}

}  // namespace
}  // namespace strata::runtime
