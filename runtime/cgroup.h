// The cgroup manager for one container, on cgroupfs directly (no systemd: FIELD-GUIDE §5.9 lists
// its hangs). Decisions live in runtime/cgroup_plan.h (pure, unit-tested); this file is the apply
// loop over the real cgroup filesystems, tested for real in tests/host/runtime_cgroup_test.cc.
//
// Lifecycle: DetectCgroups once per process, Cgroup::Create per container, spawn the init with
// clone3(CLONE_INTO_CGROUP, dir_fd()) when dir_fd() >= 0, then AddProcess(pid) for the
// hierarchies clone3 could not reach (all of v1; none on v2), Stats while it runs, Remove (or the
// destructor) at the end.
//
// Joining cost (FIELD-GUIDE §5.13): each cgroup.procs write takes cgroup_threadgroup_rwsem for
// write, which waits for an RCU grace period (about 9 ms on v1, 15 ms on v2 per isolated start);
// clone3(CLONE_INTO_CGROUP) does not. Hence dir_fd() on v2, and AddProcess skipping hierarchies
// the process already sits in.
//
// Thread-safety: a Cgroup is not thread-safe; distinct Cgroups are independent. Two processes
// creating the same id race on mkdir: one gets EEXIST.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/unique_fd.h"
#include "runtime/cgroup_plan.h"
#include "runtime/spec.h"

namespace strata::runtime {

// Reads the mount table and this process's cgroups and decides the layout (DecideCgroupLayout).
// Errors: the read error naming the file; EOPNOTSUPP when no cgroup hierarchy is usable.
Result<CgroupLayout> DetectCgroups(const std::string& mountinfo_path = "/proc/self/mountinfo",
                                   const std::string& proc_cgroup_path = "/proc/self/cgroup");

struct CgroupStats {
  std::optional<uint64_t> memory_current_bytes;  // v2 memory.current; v1 memory.usage_in_bytes
  std::optional<uint64_t> memory_peak_bytes;     // v2 memory.peak (5.19+); v1 max_usage_in_bytes
  std::optional<uint64_t> pids_current;          // pids.current
  // Processes the OOM killer killed in this cgroup: v2 memory.events "oom_kill"; v1
  // memory.oom_control "oom_kill" (4.13+). 0 when the file or key is missing.
  uint64_t oom_kills = 0;
  // Times the memory limit was hit: v2 memory.events "max"; v1 memory.failcnt.
  uint64_t memory_limit_hits = 0;
};

// How long KillAll waits for the cgroup to empty before giving up with ETIMEDOUT. A process in
// uninterruptible sleep (D state, e.g. stuck NFS) can outlast any bound.
inline constexpr std::chrono::milliseconds kCgroupKillTimeout{5000};

// Owns the container's cgroup dirs (one per hierarchy: the v2 leaf, or one per v1 hierarchy plus
// hybrid's unified leaf). Move-only. The destructor is Remove() with the error ignored: it kills
// what is left, waits at most kCgroupKillTimeout, and removes the dirs; release ownership of a
// cgroup that must outlive this object with Release().
class Cgroup {
 public:
  // Creates the dirs PlanCgroupDirs names and applies PlanResources:
  //  1. mkdir each shared "strata" parent (kept when it exists; never removed: other containers
  //     use it). On v2, enables the needed controllers ("+memory +pids ...") in the
  //     cgroup.subtree_control of every dir of the enable chain, writing only the missing ones
  //     (once per parent, not per container). Neither the parent nor the leaf ever gets
  //     processes from strata, so the no-internal-process rule holds: the leaf only gets
  //     processes and never children.
  //  2. mkdir each leaf. EEXIST when one exists (a stale container: the caller decides; the
  //     existing dirs are not touched).
  //  3. The writes, in plan order, to the leaf of the controller's hierarchy.
  // On any error the leaves created so far are removed, so nothing of this container is left.
  // Errors name the dir or file and the reason: EEXIST, EOPNOTSUPP (controller unavailable, from
  // the plan or from a parent's cgroup.controllers), EINVAL/ERANGE from the kernel for a value
  // it refuses (cpu quota < 1 ms, period > 1 s), EBUSY (no-internal-process rule, kOwnCgroup).
  static Result<Cgroup> Create(const CgroupLayout& layout, const std::string& id,
                               const Resources& resources,
                               CgroupParent parent = CgroupParent::kHierarchyRoot);

  // Takes ownership of container `id`'s existing cgroup, made by Create in another process (the
  // OCI runtime's `create` makes it, `delete` removes it): the dirs PlanCgroupDirs names whose
  // leaf exists, with dir_fd() when the v2 leaf exists. Nothing is created or written.
  // Errors: ENOENT naming the id when no leaf exists; EINVAL as PlanCgroupDirs.
  static Result<Cgroup> Adopt(const CgroupLayout& layout, const std::string& id,
                              CgroupParent parent = CgroupParent::kHierarchyRoot);

  Cgroup(Cgroup&& other) noexcept = default;
  Cgroup& operator=(Cgroup&& other) noexcept;
  Cgroup(const Cgroup&) = delete;
  Cgroup& operator=(const Cgroup&) = delete;
  ~Cgroup();

  // An O_DIRECTORY fd of the v2 leaf (kV2, and kHybrid's unified leaf when it was created) for
  // clone3(CLONE_INTO_CGROUP); owned by this object, valid until Remove. -1 on kV1 or when
  // hybrid's unified dir was skipped: the caller uses AddProcess. On kHybrid, clone3 reaches only
  // the unified leaf: AddProcess is still needed for the v1 hierarchies.
  int dir_fd() const { return dir_fd_.Get(); }

  // Moves `pid` (the whole thread group) into every hierarchy's leaf it is not already in,
  // judged by /proc/<pid>/cgroup, so a process spawned with clone3(CLONE_INTO_CGROUP) pays no
  // extra cgroup.procs write on v2. Errors: ESRCH when the process is gone; the cgroup.procs
  // write's errno naming the leaf (EBUSY: no-internal-process rule).
  Status AddProcess(pid_t pid);

  // The pids in the cgroup (union over hierarchies, sorted, unique). Removed leaves read empty.
  Result<std::vector<pid_t>> Pids() const;

  // Kills every process in the cgroup and waits (at most kCgroupKillTimeout) until every leaf is
  // empty. Writes cgroup.kill (5.14+) where a v2 leaf exists (kV2, kHybrid's unified leaf), then
  // loops: read every leaf's cgroup.procs, SIGKILL each pid, sleep briefly. The loop is the whole
  // mechanism on v1: no freezer is needed because killed processes cannot fork, so each round
  // only meets processes forked before the previous round's kills. Never signals this process.
  // Errors: ETIMEDOUT naming the leaf and the pids left.
  Status KillAll();

  // KillAll, then rmdir every leaf. Idempotent: a leaf already gone counts as removed; after
  // success the object owns nothing. On error the leaves not yet removed stay owned, so a retry
  // (or the destructor) tries again.
  Status Remove();

  Result<CgroupStats> Stats() const;

  // The leaf dirs (absolute), v2 leaf first: for tests, state files and error messages.
  std::vector<std::string> paths() const;

  // Gives up ownership: the destructor will leave the cgroup alone. Returns paths().
  std::vector<std::string> Release();

 private:
  Cgroup(CgroupMode mode, std::vector<CgroupDir> dirs, UniqueFd dir_fd)
      : mode_(mode), dirs_(std::move(dirs)), dir_fd_(std::move(dir_fd)) {}

  const CgroupDir* DirFor(const std::string& controller) const;  // "" = the v2 leaf

  CgroupMode mode_ = CgroupMode::kV2;
  std::vector<CgroupDir> dirs_;  // the leaves this object owns
  UniqueFd dir_fd_;
};

}  // namespace strata::runtime
