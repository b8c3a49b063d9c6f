// The child side of Spawn: everything the cloned process does between clone3 and execve.
// Internal to runtime/spawn.cc.
//
// Contract: ChildPlan is built completely in the parent before cloning; RunChild only reads it
// and issues syscalls (no allocation, no glibc wrappers that need other threads), those that need
// a kernel header or a raw syscall through core/sys/child_syscalls.h, so it is safe after clone3
// of a multi-threaded parent. Any failure is written to `error_fd` as one ChildError and the child
// exits 127; a successful execve closes error_fd (O_CLOEXEC), which the parent reads as success.
// With a start gate (gate_path), success is instead a kGateReady record written once the child is
// set up and args[0] resolved; the child then closes error_fd and waits at the gate.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/sys/child_syscalls.h"
#include "runtime/rootfs.h"

namespace strata::runtime::internal {

// What failed in the child. kInRoot / kAfterPivot / kRlimit carry an index into the plan.
enum class ChildStep : int32_t {
  kSync = 1,
  kUnshareCgroup,
  kMakePrivate,
  kBindRoot,
  kChdirRoot,
  kInRoot,
  kHostname,
  kPivotRoot,
  kUmountOldRoot,
  kMoveRoot,
  kChroot,
  kAfterPivot,
  kRlimit,
  kSetgroups,
  kSetgid,
  kSetuid,
  kKeepCaps,
  kCapBound,
  kCapset,
  kNoNewPrivs,
  kChdirCwd,
  kStdio,
  kSignals,
  kInitFork,
  kExec,
  kGateReady,  // not an error: a gated child is set up and waits at the start gate
};

// One fixed-size record on the error pipe (well under PIPE_BUF: written atomically).
struct ChildError {
  int32_t step = 0;
  int32_t index = 0;
  int32_t err = 0;
};

using CloneArgs = sys::child::CloneArgs;  // struct clone_args, for clone3

enum class RootSwitchMode { kPivot, kMoveChroot };

struct ChildPlan {
  bool mount_ns = true;
  bool user_ns = false;  // in a new user namespace: become its root once the maps are written
  unsigned long root_propagation = 0;  // kMsRec | kMsPrivate or kMsRec | kMsSlave, for "/" first
  const char* rootfs = nullptr;
  RootSwitchMode root_switch = RootSwitchMode::kPivot;
  const std::vector<RootfsStep>* in_root = nullptr;
  const std::vector<RootfsStep>* after_pivot = nullptr;
  bool unshare_cgroup = false;
  const char* hostname = nullptr;  // nullptr: leave it

  struct Limit {
    int resource;
    uint64_t soft, hard;
  };
  std::vector<Limit> rlimits;  // empty when the parent sets them (user namespace)
  std::vector<uint32_t> groups;
  uint32_t uid = 0, gid = 0;
  uint64_t cap_mask = 0;
  int cap_last = 40;  // highest capability the kernel knows
  bool no_new_privs = true;
  const char* cwd = "/";

  std::vector<const char*> exec_candidates;  // args[0] or PATH dirs + "/" + args[0]
  const char* exec_name = nullptr;           // args[0], for errors
  std::vector<char*> argv, envp;             // nullptr-terminated
  int stdio[3] = {0, 1, 2};
  bool init = false;

  int sync_fd = -1;  // >= 0: read one byte before doing anything (the parent's after_clone)
  int error_fd = -1;
  const char* gate_path = nullptr;  // "/proc/self/fd/N" of the start gate FIFO; nullptr: none
  int preserve_fds = 0;             // fds 3 .. 3+N-1 stay open across exec
};

[[noreturn]] void RunChild(const ChildPlan& plan);

// The text of a ChildError for Spawn's error: `mount /proc`, `exec "foo"`, `setuid 1000`.
std::string DescribeChildStep(const ChildPlan& plan, const ChildError& error);

}  // namespace strata::runtime::internal
