#include "runtime/linux_child.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "core/sys/child_syscalls.h"

namespace strata::runtime::internal {
namespace {

namespace child = sys::child;
using Kind = RootfsStep::Kind;
using sys::kMsMove;
using sys::kMsRemount;

// Set once a gated child has reported success and closed error_fd (this is the child's own copy
// of the address space: clone3 without CLONE_VM).
bool g_error_fd_closed = false;

[[noreturn]] void Fail(const ChildPlan& plan, ChildStep step, int index, int err) {
  ChildError e;
  e.step = static_cast<int32_t>(step);
  e.index = index;
  e.err = err;
  if (!g_error_fd_closed) {
    (void)!::write(plan.error_fd, &e, sizeof e);  // nothing more to do if the parent is gone
  }
  ::_exit(127);
}

void Check(const ChildPlan& plan, long rc, ChildStep step, int index = 0) {
  if (rc < 0) Fail(plan, step, index, errno);
}

// "/dev/pts" -> "dev/pts" (relative to the rootfs, which is the cwd before the pivot).
const char* InRoot(const std::string& target) {
  const char* p = target.c_str();
  while (*p == '/') ++p;
  return *p ? p : ".";
}

// mkdir -p of `path`'s parent directories, and of `path` itself when `last` is set.
int MkdirAll(const char* path, bool last) {
  char buf[PATH_MAX];
  size_t n = std::strlen(path);
  if (n >= sizeof buf) return errno = ENAMETOOLONG, -1;
  std::memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; ++i) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    if (buf[i] == '\0' && !last) break;
    char saved = buf[i];
    buf[i] = '\0';
    if (::mkdir(buf, 0755) < 0 && errno != EEXIST) return -1;
    buf[i] = saved;
  }
  return 0;
}

// Creates a missing mount target: a directory, or an empty file when binding a non-directory.
int CreateTarget(const RootfsStep& step, const char* target) {
  bool dir = true;
  if (step.create == RootfsStep::Create::kLikeSource) {
    struct stat st;
    if (::stat(step.source.c_str(), &st) < 0) return -1;
    dir = S_ISDIR(st.st_mode);
  }
  if (MkdirAll(target, dir) < 0) return -1;
  if (dir) return 0;
  int fd = ::open(target, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
  if (fd < 0) return -1;
  ::close(fd);
  return 0;
}

const char* OrNull(const std::string& s) { return s.empty() ? nullptr : s.c_str(); }

// Mounts first and creates the target only on ENOENT: no extra syscalls when it exists.
int ApplyMount(const RootfsStep& step, const char* target) {
  auto mount_once = [&] {
    return child::Mount(OrNull(step.source), target, OrNull(step.fstype), step.flags,
                        OrNull(step.data));
  };
  if (mount_once() == 0) return 0;
  if (errno != ENOENT || step.create == RootfsStep::Create::kNone) return -1;
  if (CreateTarget(step, target) < 0) return -1;
  return mount_once();
}

unsigned long StatvfsToMountFlags(unsigned long f) {
  unsigned long flags = 0;
  if (f & ST_NOSUID) flags |= kMsNosuid;
  if (f & ST_NODEV) flags |= kMsNodev;
  if (f & ST_NOEXEC) flags |= kMsNoexec;
  if (f & ST_NOATIME) flags |= kMsNoatime;
  if (f & ST_NODIRATIME) flags |= kMsNodiratime;
  if (f & ST_RELATIME) flags |= kMsRelatime;
  return flags;
}

// mount_setattr sets only the requested bits (read-only, and for kSetFlags nosuid, nodev,
// noexec), so locked flags (user namespaces) never get in the way; kernels before 5.12 get a bind
// remount with the current statvfs flags (non-recursive).
int ApplyVfsFlags(const RootfsStep& step, const char* target, unsigned long vfs_flags) {
  if (step.bind_first && child::Mount(target, target, nullptr, kMsBind | kMsRec, nullptr) < 0) {
    return -1;
  }
  // kMsVfsFlags are kMountAttr* bits too (core/sys/mount_flags.h checks the values).
  unsigned at = (step.flags & kMsRec) ? sys::kAtRecursive : 0;
  if (child::MountSetattr(target, at, vfs_flags & kMsVfsFlags, 0, 0) == 0) return 0;
  if (errno != ENOSYS) return -1;
  struct statvfs sv;
  if (::statvfs(target, &sv) < 0) return -1;
  unsigned long flags = kMsBind | kMsRemount | (vfs_flags & kMsVfsFlags) |
                        StatvfsToMountFlags(sv.f_flag) | ((sv.f_flag & ST_RDONLY) ? kMsRdonly : 0);
  return child::Mount(nullptr, target, nullptr, flags, nullptr);
}

int ApplyDevice(const RootfsStep& step, const char* target) {
  if (child::MknodChar(target, step.mode, step.major, step.minor) == 0) return 0;
  if (errno == EEXIST) return 0;
  if (errno != EPERM) return -1;
  // No mknod (user namespace): bind the host's node onto an empty file.
  int fd = ::open(target, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0666);
  if (fd < 0) return -1;
  ::close(fd);
  return child::Mount(step.source.c_str(), target, nullptr, kMsBind, nullptr);
}

// Files get /dev/null; binding a file onto a directory fails with ENOTDIR, so directories then
// get an empty read-only tmpfs. One syscall for files, two for directories, no stat.
int ApplyMask(const char* target) {
  if (child::Mount("/dev/null", target, nullptr, kMsBind, nullptr) == 0) return 0;
  if (errno != ENOTDIR) return -1;
  return child::Mount("tmpfs", target, "tmpfs", kMsRdonly | kMsNosuid | kMsNodev | kMsNoexec,
                      nullptr);
}

int ApplyStep(const RootfsStep& step, const char* target) {
  switch (step.kind) {
    case Kind::kMount:
      return ApplyMount(step, target);
    case Kind::kReadonly:
      return ApplyVfsFlags(step, target, kMsRdonly);
    case Kind::kSetFlags:
      return ApplyVfsFlags(step, target, step.flags);
    case Kind::kDevice:
      return ApplyDevice(step, target);
    case Kind::kSymlink:
      if (::symlink(step.source.c_str(), target) == 0 || errno == EEXIST) return 0;
      return -1;
    case Kind::kMask:
      return ApplyMask(target);
  }
  return errno = EINVAL, -1;
}

// Before the pivot, a path inside the rootfs is resolved by the host's root: a symlink in the
// image (`data -> /etc`) would point a mount at the host. So every existing component of a
// target (relative to the rootfs, the cwd) must be a real directory, checked top down with
// lstat so no symlink is ever followed; the last component too unless the step creates it
// (a device node or a symlink). ELOOP refuses the start. Missing components are created later
// under real directories only. (After the pivot, symlinks resolve inside the container.)
int CheckNoSymlinks(const char* rel, bool check_last) {
  char buf[PATH_MAX];
  size_t n = std::strlen(rel);
  if (n >= sizeof buf) return errno = ENAMETOOLONG, -1;
  std::memcpy(buf, rel, n + 1);
  for (size_t i = 1; i <= n; ++i) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    if (buf[i] == '\0' && !check_last) break;
    char saved = buf[i];
    buf[i] = '\0';
    struct stat st;
    if (::lstat(buf, &st) < 0) return errno == ENOENT ? 0 : -1;  // created under checked dirs
    if (S_ISLNK(st.st_mode)) return errno = ELOOP, -1;
    buf[i] = saved;
  }
  return 0;
}

void ApplySteps(const ChildPlan& plan, const std::vector<RootfsStep>& steps, bool in_root,
                ChildStep what) {
  for (size_t i = 0; i < steps.size(); ++i) {
    const RootfsStep& step = steps[i];
    const char* target = in_root ? InRoot(step.target) : step.target.c_str();
    if (in_root && std::strcmp(target, ".") != 0) {
      bool makes_last = step.kind == RootfsStep::Kind::kDevice ||
                        step.kind == RootfsStep::Kind::kSymlink;
      if (CheckNoSymlinks(target, !makes_last) < 0) Fail(plan, what, static_cast<int>(i), errno);
    }
    if (ApplyStep(step, target) == 0) continue;
    if (errno == ENOENT && step.optional) continue;
    Fail(plan, what, static_cast<int>(i), errno);
  }
}

// Private propagation, rootfs bind, the plan, then pivot_root(".", ".") (§5.3).
void SetupRoot(const ChildPlan& plan) {
  Check(plan, child::Mount(nullptr, "/", nullptr, plan.root_propagation, nullptr),
        ChildStep::kMakePrivate);
  Check(plan, child::Mount(plan.rootfs, plan.rootfs, nullptr, kMsBind | kMsRec, nullptr),
        ChildStep::kBindRoot);
  // After the bind, so that relative paths resolve in the new mount, not the directory below.
  Check(plan, ::chdir(plan.rootfs), ChildStep::kChdirRoot);
  ApplySteps(plan, *plan.in_root, /*in_root=*/true, ChildStep::kInRoot);

  bool pivoted = false;
  if (plan.root_switch == RootSwitchMode::kPivot) {
    if (child::PivotRoot(".", ".") == 0) {
      pivoted = true;
      // The old root is stacked on ".": detach it without needing a directory for it.
      Check(plan, child::Umount2(".", sys::kMntDetach), ChildStep::kUmountOldRoot);
    } else if (errno != EINVAL) {
      Fail(plan, ChildStep::kPivotRoot, 0, errno);
    }
  }
  if (!pivoted) {
    // EINVAL: the current root is an initramfs (rootfs), which cannot be pivoted away from.
    Check(plan, child::Mount(".", "/", nullptr, kMsMove, nullptr), ChildStep::kMoveRoot);
    Check(plan, ::chroot("."), ChildStep::kChroot);
  }
  Check(plan, ::chdir("/"), ChildStep::kChdirRoot);
  ApplySteps(plan, *plan.after_pivot, /*in_root=*/false, ChildStep::kAfterPivot);
}

// Order (§5.6): rlimits, keep caps across setuid, bounding set, groups/gid/uid, capset, nnp.
void SetupCredentials(const ChildPlan& plan) {
  for (size_t i = 0; i < plan.rlimits.size(); ++i) {
    const ChildPlan::Limit& limit = plan.rlimits[i];
    Check(plan, child::SetRlimit(limit.resource, limit.soft, limit.hard), ChildStep::kRlimit,
          static_cast<int>(i));
  }
  if (plan.uid != 0) Check(plan, ::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), ChildStep::kKeepCaps);
  for (int cap = 0; cap <= plan.cap_last && cap < 64; ++cap) {
    if (plan.cap_mask & (uint64_t{1} << cap)) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
      if (errno == EINVAL) break;  // past the kernel's last capability
      Fail(plan, ChildStep::kCapBound, cap, errno);
    }
  }
  // Raw syscalls: glibc's wrappers would try to signal the parent's other threads.
  Check(plan, child::Setgroups(plan.groups.size(), plan.groups.data()), ChildStep::kSetgroups);
  Check(plan, child::Setresgid(plan.gid, plan.gid, plan.gid), ChildStep::kSetgid);
  Check(plan, child::Setresuid(plan.uid, plan.uid, plan.uid), ChildStep::kSetuid);
  if (plan.uid != 0) Check(plan, ::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0), ChildStep::kKeepCaps);
  Check(plan, child::Capset(plan.cap_mask, plan.cap_mask, /*inheritable=*/0), ChildStep::kCapset);
  if (plan.no_new_privs) {
    Check(plan, ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), ChildStep::kNoNewPrivs);
  }
}

void SetupStdio(const ChildPlan& plan) {
  int fds[3];
  for (int i = 0; i < 3; ++i) {
    fds[i] = plan.stdio[i];
    // A source among 0-2 could be overwritten by an earlier dup2: move it out of the way first.
    if (fds[i] != i && fds[i] < 3) {
      fds[i] = ::fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
      Check(plan, fds[i], ChildStep::kStdio, i);
    }
  }
  for (int i = 0; i < 3; ++i) {
    if (fds[i] != i) Check(plan, ::dup2(fds[i], i), ChildStep::kStdio, i);
  }
}

// Execs exec_candidates[only] when only >= 0 (resolved before the gate), else each in turn.
[[noreturn]] void Exec(const ChildPlan& plan, int only) {
  SetupStdio(plan);
  sigset_t none;
  sigemptyset(&none);
  Check(plan, ::sigprocmask(SIG_SETMASK, &none, nullptr), ChildStep::kSignals);
  // A signal the runtime ignored (a -d monitor ignores SIGHUP, SIGINT, SIGPIPE) would stay
  // ignored across execve: the payload starts with every disposition at its default.
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
  }
  // Nothing of the runtime's leaks into the payload, even an fd opened without O_CLOEXEC; only
  // the preserved fds (OCI --preserve-fds) stay open.
  (void)child::CloseRange(3u + static_cast<unsigned>(plan.preserve_fds), ~0u,
                          child::kCloseRangeCloexec);  // best effort: kernel >= 5.11
  ::umask(022);
  int err = ENOENT;
  for (size_t i = 0; i < plan.exec_candidates.size(); ++i) {
    if (only >= 0 && i != static_cast<size_t>(only)) continue;
    const char* candidate = plan.exec_candidates[i];
    ::execve(candidate, plan.argv.data(), plan.envp.data());
    if (errno == EACCES) {
      err = EACCES;  // keep looking, but report EACCES if nothing else is found (like execvp)
    } else if (errno != ENOENT && errno != ENOTDIR) {
      err = errno;
      break;
    }
  }
  Fail(plan, ChildStep::kExec, 0, err);
}

// PID 1 with --init: forwards signals to the payload, reaps every child, exits like the payload.
[[noreturn]] void RunInit(const ChildPlan& plan, int only) {
  sigset_t forwarded;
  sigfillset(&forwarded);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT}) {
    sigdelset(&forwarded, sig);
  }
  // Blocked signals are queued even for a namespace's init (the SIG_DFL drop applies only to
  // unblocked ones), so sigwaitinfo sees everything sent to PID 1.
  Check(plan, ::sigprocmask(SIG_BLOCK, &forwarded, nullptr), ChildStep::kSignals);
  for (int sig = 1; sig < NSIG; ++sig) {  // an inherited SIG_IGN for SIGCHLD would auto-reap
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
  }
  CloneArgs args;
  args.exit_signal = SIGCHLD;
  long payload = child::Clone3(args);
  Check(plan, payload, ChildStep::kInitFork);
  if (payload == 0) Exec(plan, only);
  ::close(plan.error_fd);  // the payload's copy alone now tells the parent about its exec
  // The init keeps nothing of the runtime's: its stdio on the payload's (so a pipe the runtime
  // was given sees EOF when the runtime exits, not when the container does), every other fd
  // closed.
  SetupStdio(plan);
  (void)child::CloseRange(3u, ~0u, 0u);  // best effort: kernel >= 5.9
  for (;;) {
    siginfo_t info;
    int sig = ::sigwaitinfo(&forwarded, &info);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      (void)::kill(static_cast<pid_t>(payload), sig);  // best effort: it may be exiting
      continue;
    }
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      if (pid != payload) continue;  // a re-parented orphan: reaped, nothing else to do
      ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
  }
}

// The candidate execve would run, found as execvp would: the first existing regular file with
// execute permission; else EACCES when a candidate was not executable, ENOENT when none exists.
// A gated start resolves it before waiting so that a bad args[0] fails at `create`.
int ResolveExec(const ChildPlan& plan) {
  int err = ENOENT;
  for (size_t i = 0; i < plan.exec_candidates.size(); ++i) {
    struct stat st;
    if (::stat(plan.exec_candidates[i], &st) == 0) {
      if (S_ISREG(st.st_mode) && ::access(plan.exec_candidates[i], X_OK) == 0) {
        return static_cast<int>(i);
      }
      err = EACCES;
    } else if (errno == EACCES) {
      err = EACCES;
    } else if (errno != ENOENT && errno != ENOTDIR) {
      err = errno;
      break;
    }
  }
  Fail(plan, ChildStep::kExec, 0, err);
}

// Reports success (a kGateReady record), then blocks opening the gate FIFO for writing until a
// reader (`strata-oci start`) opens it, writes one byte and returns. From here the parent is gone:
// a later failure only exits 127.
void WaitAtGate(const ChildPlan& plan) {
  ChildError ready;
  ready.step = static_cast<int32_t>(ChildStep::kGateReady);
  if (::write(plan.error_fd, &ready, sizeof ready) != static_cast<ssize_t>(sizeof ready)) {
    ::_exit(127);
  }
  ::close(plan.error_fd);
  g_error_fd_closed = true;
  int fd;
  do {
    fd = ::open(plan.gate_path, O_WRONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) ::_exit(127);
  const char go = 0;
  if (::write(fd, &go, 1) != 1) ::_exit(127);
  ::close(fd);
}

}  // namespace

void RunChild(const ChildPlan& plan) {
  if (plan.sync_fd >= 0) {
    char go = 0;
    ssize_t n;
    do {
      n = ::read(plan.sync_fd, &go, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) ::_exit(127);  // the parent gave up (after_clone failed): it reaps us
    ::close(plan.sync_fd);
  }
  if (plan.user_ns) {
    // The parent has written the maps. Until now this process has the host's ids, unmapped in
    // its namespace, so every file it made (a mount point, /dev/pts) would fail with EOVERFLOW:
    // become the namespace's root first, as runc does. The payload's ids come later.
    Check(plan, child::Setresgid(0, 0, 0), ChildStep::kSetgid);
    Check(plan, child::Setresuid(0, 0, 0), ChildStep::kSetuid);
  }
  // Now in its cgroup (CLONE_INTO_CGROUP or after_clone): that becomes the namespace's root,
  // before /sys/fs/cgroup is mounted.
  if (plan.unshare_cgroup) Check(plan, ::unshare(CLONE_NEWCGROUP), ChildStep::kUnshareCgroup);
  ::umask(0);  // device modes as planned
  if (plan.mount_ns) SetupRoot(plan);
  if (plan.hostname) {
    Check(plan, ::sethostname(plan.hostname, std::strlen(plan.hostname)), ChildStep::kHostname);
  }
  SetupCredentials(plan);
  Check(plan, ::chdir(plan.cwd), ChildStep::kChdirCwd);
  int only = -1;
  if (plan.gate_path != nullptr) {
    only = ResolveExec(plan);
    WaitAtGate(plan);
  }
  if (plan.init) RunInit(plan, only);
  Exec(plan, only);
}

std::string DescribeChildStep(const ChildPlan& plan, const ChildError& error) {
  auto rootfs = [&] { return std::string(plan.rootfs ? plan.rootfs : ""); };
  auto index = static_cast<size_t>(error.index);
  switch (static_cast<ChildStep>(error.step)) {
    case ChildStep::kSync: return "wait for the runtime";
    case ChildStep::kUnshareCgroup: return "unshare cgroup namespace";
    case ChildStep::kMakePrivate: return "make / rprivate";
    case ChildStep::kBindRoot: return "bind rootfs " + rootfs();
    case ChildStep::kChdirRoot: return "chdir rootfs " + rootfs();
    case ChildStep::kInRoot:
      if (index < plan.in_root->size()) return DescribeStep((*plan.in_root)[index]);
      break;
    case ChildStep::kHostname: return "sethostname \"" + std::string(plan.hostname) + "\"";
    case ChildStep::kPivotRoot: return "pivot_root " + rootfs();
    case ChildStep::kUmountOldRoot: return "detach old root";
    case ChildStep::kMoveRoot: return "move rootfs " + rootfs() + " onto /";
    case ChildStep::kChroot: return "chroot " + rootfs();
    case ChildStep::kAfterPivot:
      if (index < plan.after_pivot->size()) return DescribeStep((*plan.after_pivot)[index]);
      break;
    case ChildStep::kRlimit:
      if (index < plan.rlimits.size()) {
        return "setrlimit " + std::to_string(plan.rlimits[index].resource);
      }
      break;
    case ChildStep::kSetgroups: return "setgroups";
    case ChildStep::kSetgid: return "setgid " + std::to_string(plan.gid);
    case ChildStep::kSetuid: return "setuid " + std::to_string(plan.uid);
    case ChildStep::kKeepCaps: return "prctl PR_SET_KEEPCAPS";
    case ChildStep::kCapBound: return "drop capability " + std::to_string(error.index) + " from the bounding set";
    case ChildStep::kCapset: return "capset";
    case ChildStep::kNoNewPrivs: return "prctl PR_SET_NO_NEW_PRIVS";
    case ChildStep::kChdirCwd: return "chdir " + std::string(plan.cwd);
    case ChildStep::kStdio: return "stdio fd " + std::to_string(error.index);
    case ChildStep::kSignals: return "signal mask";
    case ChildStep::kInitFork: return "init: clone payload";
    case ChildStep::kExec: return "exec \"" + std::string(plan.exec_name ? plan.exec_name : "") + "\"";
    case ChildStep::kGateReady: return "container setup (ready)";
  }
  return "container setup step " + std::to_string(error.step);
}

}  // namespace strata::runtime::internal
