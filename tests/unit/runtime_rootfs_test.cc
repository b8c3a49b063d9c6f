// The pure rootfs plan (runtime/rootfs.h) and capability names: no syscalls, no privileges.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "runtime/capabilities.h"
#include "runtime/rootfs.h"
#include "runtime/spec.h"

namespace strata::runtime {
namespace {

using ::testing::ElementsAre;
using Kind = RootfsStep::Kind;
using Create = RootfsStep::Create;

ContainerSpec Spec() { return DefaultSpec("c1", "/var/lib/strata/c1/rootfs", {"/bin/true"}); }

const RootfsStep* Find(const std::vector<RootfsStep>& steps, Kind kind, const std::string& target) {
  for (const RootfsStep& s : steps) {
    if (s.kind == kind && s.target == target) return &s;
  }
  return nullptr;
}

size_t IndexOf(const std::vector<RootfsStep>& steps, Kind kind, const std::string& target) {
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].kind == kind && steps[i].target == target) return i;
  }
  return steps.size();
}

std::vector<std::string> Targets(const std::vector<RootfsStep>& steps, Kind kind) {
  std::vector<std::string> out;
  for (const RootfsStep& s : steps) {
    if (s.kind == kind) out.push_back(s.target);
  }
  return out;
}

TEST(RuntimeRootfsPlan, DefaultMountsInOrderWithRuncOptions) {
  RootfsPlan plan = PlanRootfs(Spec());
  EXPECT_THAT(Targets(plan.in_root, Kind::kMount),
              ElementsAre("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys",
                          "/sys/fs/cgroup"));
  const RootfsStep* proc = Find(plan.in_root, Kind::kMount, "/proc");
  ASSERT_NE(proc, nullptr);
  EXPECT_EQ(proc->fstype, "proc");
  EXPECT_EQ(proc->flags, kMsNosuid | kMsNodev | kMsNoexec);
  EXPECT_EQ(proc->create, Create::kDir);

  const RootfsStep* dev = Find(plan.in_root, Kind::kMount, "/dev");
  ASSERT_NE(dev, nullptr);
  EXPECT_EQ(dev->fstype, "tmpfs");
  EXPECT_EQ(dev->flags, kMsNosuid | kMsStrictatime);
  EXPECT_EQ(dev->data, "mode=755,size=65536k");

  const RootfsStep* pts = Find(plan.in_root, Kind::kMount, "/dev/pts");
  ASSERT_NE(pts, nullptr);
  EXPECT_EQ(pts->fstype, "devpts");
  EXPECT_EQ(pts->flags, kMsNosuid | kMsNoexec);
  EXPECT_EQ(pts->data, "newinstance,ptmxmode=0666,mode=0620,gid=5");

  const RootfsStep* shm = Find(plan.in_root, Kind::kMount, "/dev/shm");
  ASSERT_NE(shm, nullptr);
  EXPECT_EQ(shm->fstype, "tmpfs");
  EXPECT_EQ(shm->flags, kMsNosuid | kMsNodev | kMsNoexec);
  EXPECT_EQ(shm->data, "mode=1777,size=65536k");

  EXPECT_EQ(Find(plan.in_root, Kind::kMount, "/dev/mqueue")->fstype, "mqueue");

  const RootfsStep* sys = Find(plan.in_root, Kind::kMount, "/sys");
  ASSERT_NE(sys, nullptr);
  EXPECT_EQ(sys->fstype, "sysfs");
  EXPECT_TRUE(sys->flags & kMsRdonly);

  const RootfsStep* cg = Find(plan.in_root, Kind::kMount, "/sys/fs/cgroup");
  ASSERT_NE(cg, nullptr);
  EXPECT_EQ(cg->fstype, "cgroup2");
  EXPECT_TRUE(cg->flags & kMsRdonly);
}

TEST(RuntimeRootfsPlan, HostNetworkBindsHostSysReadOnly) {
  ContainerSpec spec = Spec();
  spec.namespaces.net = false;
  spec.namespaces.cgroup = false;
  RootfsPlan plan = PlanRootfs(spec);
  const RootfsStep* sys = Find(plan.in_root, Kind::kMount, "/sys");
  ASSERT_NE(sys, nullptr);
  EXPECT_EQ(sys->source, "/sys");
  // Not recursive: the host's mounts under /sys (its cgroup2 among them) stay out.
  EXPECT_EQ(sys->flags, kMsBind);
  EXPECT_TRUE(sys->fstype.empty());
  size_t bind = IndexOf(plan.in_root, Kind::kMount, "/sys");
  size_t ro = IndexOf(plan.in_root, Kind::kReadonly, "/sys");
  ASSERT_LT(ro, plan.in_root.size());
  EXPECT_EQ(ro, bind + 1);
  EXPECT_EQ(plan.in_root[ro].flags, 0u);
  EXPECT_FALSE(plan.in_root[ro].bind_first);
  // No cgroup namespace: the host's /sys/fs/cgroup, read-only.
  const RootfsStep* cg = Find(plan.in_root, Kind::kMount, "/sys/fs/cgroup");
  ASSERT_NE(cg, nullptr);
  EXPECT_EQ(cg->source, "/sys/fs/cgroup");
  EXPECT_EQ(cg->flags, kMsBind | kMsRec);
  EXPECT_NE(Find(plan.in_root, Kind::kReadonly, "/sys/fs/cgroup"), nullptr);
}

TEST(RuntimeRootfsPlan, CgroupModeCanBeForced) {
  RootfsPlan bind = PlanRootfs(Spec(), CgroupMountMode::kBindHost);
  EXPECT_EQ(Find(bind.in_root, Kind::kMount, "/sys/fs/cgroup")->flags, kMsBind | kMsRec);
  RootfsPlan none = PlanRootfs(Spec(), CgroupMountMode::kNone);
  EXPECT_EQ(Find(none.in_root, Kind::kMount, "/sys/fs/cgroup"), nullptr);
}

TEST(RuntimeRootfsPlan, SpecMountsFollowDefaultsInOrder) {
  ContainerSpec spec = Spec();
  spec.mounts.push_back({Mount::Kind::kBind, "/srv/data", "/data", false, ""});
  spec.mounts.push_back({Mount::Kind::kBind, "/etc/resolv.conf", "/etc/resolv.conf", true, ""});
  spec.mounts.push_back({Mount::Kind::kTmpfs, "", "/run", false, "size=64m,mode=755"});
  spec.mounts.push_back({Mount::Kind::kTmpfs, "", "/ro", true, ""});
  RootfsPlan plan = PlanRootfs(spec);

  size_t cgroup = IndexOf(plan.in_root, Kind::kMount, "/sys/fs/cgroup");
  size_t data = IndexOf(plan.in_root, Kind::kMount, "/data");
  size_t resolv = IndexOf(plan.in_root, Kind::kMount, "/etc/resolv.conf");
  size_t run = IndexOf(plan.in_root, Kind::kMount, "/run");
  ASSERT_LT(run, plan.in_root.size());
  EXPECT_LT(cgroup, data);
  EXPECT_LT(data, resolv);
  EXPECT_LT(resolv, run);

  const RootfsStep& d = plan.in_root[data];
  EXPECT_EQ(d.source, "/srv/data");
  EXPECT_EQ(d.flags, kMsBind | kMsRec);
  EXPECT_EQ(d.create, Create::kLikeSource);
  EXPECT_EQ(Find(plan.in_root, Kind::kReadonly, "/data"), nullptr);  // rw: no remount

  // ro: the bind, then a recursive read-only step right after it.
  ASSERT_LT(resolv + 1, plan.in_root.size());
  EXPECT_EQ(plan.in_root[resolv + 1].kind, Kind::kReadonly);
  EXPECT_EQ(plan.in_root[resolv + 1].target, "/etc/resolv.conf");
  EXPECT_EQ(plan.in_root[resolv + 1].flags, kMsRec);

  const RootfsStep& r = plan.in_root[run];
  EXPECT_EQ(r.fstype, "tmpfs");
  EXPECT_EQ(r.data, "size=64m,mode=755");
  EXPECT_FALSE(r.flags & kMsRdonly);
  EXPECT_TRUE(Find(plan.in_root, Kind::kMount, "/ro")->flags & kMsRdonly);
}

TEST(RuntimeRootfsPlan, DevicesAndLinksAfterMounts) {
  RootfsPlan plan = PlanRootfs(Spec());
  EXPECT_THAT(Targets(plan.in_root, Kind::kDevice),
              ElementsAre("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
                          "/dev/tty"));
  const RootfsStep* null = Find(plan.in_root, Kind::kDevice, "/dev/null");
  EXPECT_EQ(null->major, 1u);
  EXPECT_EQ(null->minor, 3u);
  EXPECT_EQ(null->mode, 0666u);
  EXPECT_EQ(null->source, "/dev/null");  // the host node bound on EPERM
  const RootfsStep* tty = Find(plan.in_root, Kind::kDevice, "/dev/tty");
  EXPECT_EQ(tty->major, 5u);
  EXPECT_EQ(tty->minor, 0u);
  EXPECT_EQ(Find(plan.in_root, Kind::kDevice, "/dev/urandom")->minor, 9u);

  EXPECT_EQ(Find(plan.in_root, Kind::kSymlink, "/dev/ptmx")->source, "pts/ptmx");
  EXPECT_EQ(Find(plan.in_root, Kind::kSymlink, "/dev/fd")->source, "/proc/self/fd");
  EXPECT_EQ(Find(plan.in_root, Kind::kSymlink, "/dev/stdin")->source, "/proc/self/fd/0");
  EXPECT_EQ(Find(plan.in_root, Kind::kSymlink, "/dev/stdout")->source, "/proc/self/fd/1");
  EXPECT_EQ(Find(plan.in_root, Kind::kSymlink, "/dev/stderr")->source, "/proc/self/fd/2");
  // Nodes go into the /dev tmpfs, so they come after it.
  EXPECT_LT(IndexOf(plan.in_root, Kind::kMount, "/dev"),
            IndexOf(plan.in_root, Kind::kDevice, "/dev/null"));
}

TEST(RuntimeRootfsPlan, ReadonlyThenMaskedPathsAfterPivot) {
  RootfsPlan plan = PlanRootfs(Spec());
  std::vector<std::string> readonly = Targets(plan.after_pivot, Kind::kReadonly);
  EXPECT_EQ(readonly, DefaultReadonlyPaths());
  EXPECT_EQ(Targets(plan.after_pivot, Kind::kMask), DefaultMaskedPaths());
  for (const RootfsStep& s : plan.after_pivot) {
    EXPECT_TRUE(s.optional) << s.target;  // a path this kernel lacks is skipped
    if (s.kind == Kind::kReadonly) {
      EXPECT_TRUE(s.bind_first) << s.target;
      EXPECT_EQ(s.flags, kMsRec) << s.target;
    }
  }
  EXPECT_LT(IndexOf(plan.after_pivot, Kind::kReadonly, "/proc/sys"),
            IndexOf(plan.after_pivot, Kind::kMask, "/proc/kcore"));
  EXPECT_EQ(Find(plan.after_pivot, Kind::kReadonly, "/"), nullptr);
  // None of these may run before the pivot: they name paths of the new root.
  EXPECT_EQ(Find(plan.in_root, Kind::kMask, "/proc/kcore"), nullptr);
}

TEST(RuntimeRootfsPlan, ReadonlyRootfsRemountIsLast) {
  ContainerSpec spec = Spec();
  spec.readonly_rootfs = true;
  RootfsPlan plan = PlanRootfs(spec);
  ASSERT_FALSE(plan.after_pivot.empty());
  const RootfsStep& last = plan.after_pivot.back();
  EXPECT_EQ(last.kind, Kind::kReadonly);
  EXPECT_EQ(last.target, "/");
  EXPECT_EQ(last.flags, 0u);  // not recursive: /dev, /proc, volumes keep their own flags
  EXPECT_FALSE(last.bind_first);
  EXPECT_FALSE(last.optional);
}

TEST(RuntimeRootfsPlan, CustomMaskedAndReadonlyPaths) {
  ContainerSpec spec = Spec();
  spec.masked_paths = {"/secret"};
  spec.readonly_paths = {};
  RootfsPlan plan = PlanRootfs(spec);
  ASSERT_EQ(plan.after_pivot.size(), 1u);
  EXPECT_EQ(plan.after_pivot[0].kind, Kind::kMask);
  EXPECT_EQ(plan.after_pivot[0].target, "/secret");
}

TEST(RuntimeRootfsPlan, NoMountNamespaceMeansNoSteps) {
  ContainerSpec spec = Spec();
  spec.namespaces.mount = false;
  spec.readonly_rootfs = true;
  RootfsPlan plan = PlanRootfs(spec);
  EXPECT_TRUE(plan.in_root.empty());
  EXPECT_TRUE(plan.after_pivot.empty());
}

TEST(RuntimeRootfsPlan, DescribeNamesStepAndObject) {
  RootfsStep s;
  s.kind = Kind::kMount;
  s.target = "/proc";
  EXPECT_EQ(DescribeStep(s), "mount /proc");
  s.flags = kMsBind | kMsRec;
  s.source = "/srv/x";
  s.target = "/data";
  EXPECT_EQ(DescribeStep(s), "mount /data (bind /srv/x)");
  s.kind = Kind::kDevice;
  s.target = "/dev/null";
  EXPECT_EQ(DescribeStep(s), "mknod /dev/null");
  s.kind = Kind::kMask;
  s.target = "/proc/kcore";
  EXPECT_EQ(DescribeStep(s), "mask /proc/kcore");
  s.kind = Kind::kReadonly;
  s.target = "/proc/sys";
  EXPECT_EQ(DescribeStep(s), "readonly /proc/sys");
}

TEST(RuntimeCapabilities, DockerDefaultMask) {
  auto mask = CapabilityMask(DefaultCapabilities());
  ASSERT_TRUE(mask.ok()) << mask.error().message();
  EXPECT_EQ(*mask, 0xa80425fbull);  // docker's CapEff
}

TEST(RuntimeCapabilities, NamesAndErrors) {
  EXPECT_EQ(CapabilityNumber("CAP_CHOWN"), 0);
  EXPECT_EQ(CapabilityNumber("sys_admin"), 21);
  EXPECT_EQ(CapabilityNumber("cap_checkpoint_restore"), 40);
  EXPECT_EQ(CapabilityNumber("CAP_NOPE"), -1);
  EXPECT_EQ(CapabilityNumber("CAP_"), -1);
  auto bad = CapabilityMask({"CAP_KILL", "CAP_NOPE"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), EINVAL);
  EXPECT_EQ(bad.error().message(), "unknown capability \"CAP_NOPE\"");
  auto empty = CapabilityMask({});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, 0u);
}

}  // namespace
}  // namespace strata::runtime
