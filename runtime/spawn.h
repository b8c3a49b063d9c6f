// Spawn: starts a container's process from a ContainerSpec (FIELD-GUIDE §5.1-5.11).
//
// One clone3 with the spec's namespaces and CLONE_PIDFD (and CLONE_INTO_CGROUP when given a cgroup
// fd); the child sets up the root (rprivate, rootfs rbind, the rootfs plan of runtime/rootfs.h,
// pivot_root(".", ".") or MS_MOVE + chroot on an initramfs root), hostname, rlimits,
// groups/gid/uid, capabilities, no_new_privs, cwd, and execs args[0] found on the spec's PATH
// inside the new root. No self re-exec, no mountinfo parsing.
#pragma once

#include <sys/types.h>

#include <functional>

#include "core/result.h"
#include "core/unique_fd.h"
#include "runtime/spec.h"

namespace strata::runtime {

// How the child leaves the host root.
enum class RootSwitch {
  kPivot,       // pivot_root(".", "."), falling back to kMoveChroot when the root is an initramfs
  kMoveChroot,  // always MS_MOVE the rootfs onto / and chroot (the --no-pivot path)
};

struct SpawnOptions {
  int cgroup_fd = -1;  // >= 0: clone3 with CLONE_INTO_CGROUP into this cgroup2 directory
  // Parent side, after the clone and before the child continues: place the pid in v1 cgroups,
  // write uid/gid maps, etc. An error aborts the start (child killed). With user namespaces the
  // spec's uid/gid maps are written after this returns.
  std::function<Status(pid_t pid)> after_clone;
  int stdin_fd = 0, stdout_fd = 1, stderr_fd = 2;  // given to the payload (not taken over)
  RootSwitch root_switch = RootSwitch::kPivot;
  // >= 0: the OCI create/start split (runc's exec.fifo). An fd of a FIFO (O_PATH is enough; not
  // taken over). Once set up, with args[0] resolved (so a bad one fails here), the child blocks
  // opening the FIFO for writing through /proc/self/fd/N (no path inside the container needed;
  // the FIFO must be writable by the container's uid); whoever then opens it for reading and
  // reads one byte lets it exec. Spawn returns when the child waits at the gate.
  int start_gate_fd = -1;
  // fds 3 .. 3+N-1 of this process stay open in the payload (OCI --preserve-fds); every other
  // fd is closed at exec.
  int preserve_fds = 0;
};

// A started container process. RAII: the destructor SIGKILLs and reaps it if still running.
// Not thread-safe; move-only.
class Container {
 public:
  Container(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
  Container(Container&& other) noexcept;
  Container& operator=(Container&& other) noexcept;
  Container(const Container&) = delete;
  Container& operator=(const Container&) = delete;
  ~Container();

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.Get(); }

  // Blocks until the process exits and reaps it. The exit code: its status, or 128 + signal.
  // Later calls return the same code.
  Result<int> Wait();
  // Signals the process through its pidfd (no pid reuse race). ESRCH once it has been reaped.
  Status Kill(int sig);
  // Gives the process up without killing or reaping it: it stays this process's child until this
  // process exits, then belongs to the nearest subreaper (`strata-oci create`). Returns its pid.
  pid_t Release();

 private:
  void KillAndReap();

  pid_t pid_ = -1;
  UniqueFd pidfd_;
  bool reaped_ = false;
  int exit_code_ = -1;
};

// Starts `spec`. Returns once the payload's execve succeeded (with a start gate: once the child
// is set up and waits at the gate). A failure in the child before exec
// comes back as an error naming the step and the errno: `mount /proc: Operation not permitted`,
// `exec "foo": No such file or directory`; the child is reaped and, its mounts living only in
// its own mount namespace, nothing is left on the host.
// Errors also: EINVAL for an unusable spec (no args, relative rootfs, unknown capability).
Result<Container> Spawn(const ContainerSpec& spec, const SpawnOptions& options);

}  // namespace strata::runtime
