#include "runtime/spawn.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "core/write_file.h"
#include "runtime/capabilities.h"
#include "runtime/linux_child.h"
#include "runtime/rootfs.h"

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

namespace strata::runtime {
namespace {

constexpr uint64_t kClonePidfd = 0x1000;                     // CLONE_PIDFD
constexpr uint64_t kCloneIntoCgroup = 0x200000000ULL;        // CLONE_INTO_CGROUP
constexpr idtype_t kPidfdIdType = static_cast<idtype_t>(3);  // P_PIDFD
constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// The highest capability this kernel knows, read once per process.
int CapLast() {
  static const int last = [] {
    int value = 40;  // CAP_CHECKPOINT_RESTORE: the bounding loop also stops at EINVAL
    UniqueFd fd(::open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC));
    char buf[16] = {};
    if (fd.valid() && ::read(fd.Get(), buf, sizeof buf - 1) > 0) value = std::atoi(buf);
    return value > 0 && value < 64 ? value : 40;
  }();
  return last;
}

// args[0] itself when it has a slash, else each PATH directory (from spec.env) + "/" + args[0].
std::vector<std::string> ExecCandidates(const ContainerSpec& spec) {
  const std::string& name = spec.args[0];
  if (name.find('/') != std::string::npos) return {name};
  std::string path = kDefaultPath;
  for (const std::string& kv : spec.env) {
    if (kv.rfind("PATH=", 0) == 0) path = kv.substr(5);
  }
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    out.push_back((dir.empty() ? "." : dir) + "/" + name);
    start = end + 1;
  }
  return out;
}

uint64_t NamespaceFlags(const Namespaces& ns) {
  uint64_t flags = 0;
  if (ns.mount) flags |= CLONE_NEWNS;
  if (ns.pid) flags |= CLONE_NEWPID;
  if (ns.uts) flags |= CLONE_NEWUTS;
  if (ns.ipc) flags |= CLONE_NEWIPC;
  if (ns.net) flags |= CLONE_NEWNET;
  if (ns.user) flags |= CLONE_NEWUSER;
  return flags;  // the cgroup namespace is unshared by the child once it is in its cgroup
}

std::string IdMapText(const std::vector<IdMap>& map) {
  std::string text;
  for (const IdMap& m : map) {
    text += std::to_string(m.container_id) + " " + std::to_string(m.host_id) + " " +
            std::to_string(m.size) + "\n";
  }
  return text;
}

// The parent's part between clone and the child's go: after_clone, then user namespace maps and
// rlimits (which a process inside a new user namespace could not raise itself).
Status ParentSetup(const ContainerSpec& spec, const SpawnOptions& options, pid_t pid) {
  if (options.after_clone) {
    STRATA_TRY(options.after_clone(pid));
  }
  if (!spec.namespaces.user) return Ok();
  std::string proc = "/proc/" + std::to_string(pid);
  if (!spec.namespaces.uid_map.empty()) {
    STRATA_TRY(WriteFile(proc + "/uid_map", IdMapText(spec.namespaces.uid_map)));
  }
  if (!spec.namespaces.gid_map.empty()) {
    STRATA_TRY(WriteFile(proc + "/gid_map", IdMapText(spec.namespaces.gid_map)));
  }
  for (const Rlimit& r : spec.rlimits) {
    uint64_t limit[2] = {r.soft, r.hard};  // struct rlimit64
    if (::syscall(SYS_prlimit64, pid, r.resource, limit, nullptr) < 0) {
      return Error::FromErrno("setrlimit " + std::to_string(r.resource));
    }
  }
  return Ok();
}

Result<std::pair<UniqueFd, UniqueFd>> Pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) return Error::FromErrno("pipe2");
  return std::make_pair(UniqueFd(fds[0]), UniqueFd(fds[1]));
}

void FillChildPlan(const ContainerSpec& spec, const SpawnOptions& options, const RootfsPlan& rootfs,
                   const std::vector<std::string>& candidates, internal::ChildPlan& plan) {
  plan.mount_ns = spec.namespaces.mount;
  plan.user_ns = spec.namespaces.user;
  plan.root_propagation =
      (spec.rootfs_propagation & kMsSlave) ? (kMsRec | kMsSlave) : (kMsRec | kMsPrivate);
  plan.rootfs = spec.rootfs.c_str();
  plan.root_switch = options.root_switch == RootSwitch::kMoveChroot
                         ? internal::RootSwitchMode::kMoveChroot
                         : internal::RootSwitchMode::kPivot;
  plan.in_root = &rootfs.in_root;
  plan.after_pivot = &rootfs.after_pivot;
  plan.unshare_cgroup = spec.namespaces.cgroup;
  if (spec.namespaces.uts && !spec.hostname.empty()) plan.hostname = spec.hostname.c_str();
  if (!spec.namespaces.user) {
    for (const Rlimit& r : spec.rlimits) plan.rlimits.push_back({r.resource, r.soft, r.hard});
  }
  plan.groups = spec.additional_gids;
  plan.uid = spec.uid;
  plan.gid = spec.gid;
  plan.cap_last = CapLast();
  plan.no_new_privs = spec.no_new_privileges;
  plan.cwd = spec.cwd.empty() ? "/" : spec.cwd.c_str();
  for (const std::string& c : candidates) plan.exec_candidates.push_back(c.c_str());
  plan.exec_name = spec.args[0].c_str();
  // execve takes char* const[]; the strings are not modified.
  for (const std::string& a : spec.args) plan.argv.push_back(const_cast<char*>(a.c_str()));
  plan.argv.push_back(nullptr);
  for (const std::string& e : spec.env) plan.envp.push_back(const_cast<char*>(e.c_str()));
  plan.envp.push_back(nullptr);
  plan.stdio[0] = options.stdin_fd;
  plan.stdio[1] = options.stdout_fd;
  plan.stdio[2] = options.stderr_fd;
  plan.init = spec.init;
  plan.preserve_fds = options.preserve_fds > 0 ? options.preserve_fds : 0;
}

// Reads the child's verdict: EOF means its execve succeeded (error_fd is O_CLOEXEC); a
// kGateReady record that it waits at the start gate.
Status ReadChildVerdict(int fd, const internal::ChildPlan& plan) {
  internal::ChildError e;
  ssize_t n;
  do {
    n = ::read(fd, &e, sizeof e);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return Ok();
  if (n < 0) return Error::FromErrno("read container setup status");
  if (n != sizeof e) return Error(EIO, "read container setup status: short read");
  if (e.step == static_cast<int32_t>(internal::ChildStep::kGateReady)) {
    if (plan.gate_path != nullptr) return Ok();
    return Error(EIO, "read container setup status: unexpected gate record");
  }
  return Error::FromErrno(e.err, internal::DescribeChildStep(plan, e));
}

}  // namespace

Result<Container> Spawn(const ContainerSpec& spec, const SpawnOptions& options) {
  if (spec.args.empty() || spec.args[0].empty()) return Error(EINVAL, "spawn: empty command");
  if (spec.namespaces.mount && (spec.rootfs.empty() || spec.rootfs[0] != '/')) {
    return Error(EINVAL, "rootfs \"" + spec.rootfs + "\": not an absolute path");
  }
  STRATA_ASSIGN_OR_RETURN(uint64_t cap_mask, CapabilityMask(spec.capabilities));
  // Everything the child reads is built here: after clone3 it only makes syscalls.
  const RootfsPlan rootfs = PlanRootfs(spec);
  const std::vector<std::string> candidates = ExecCandidates(spec);
  internal::ChildPlan plan;
  FillChildPlan(spec, options, rootfs, candidates, plan);
  plan.cap_mask = cap_mask;
  const std::string gate_path =
      options.start_gate_fd >= 0 ? "/proc/self/fd/" + std::to_string(options.start_gate_fd) : "";
  if (options.start_gate_fd >= 0) plan.gate_path = gate_path.c_str();

  STRATA_ASSIGN_OR_RETURN(auto error_pipe, Pipe());
  std::pair<UniqueFd, UniqueFd> sync_pipe;
  const bool sync = options.after_clone || spec.namespaces.user;
  if (sync) {
    STRATA_ASSIGN_OR_RETURN(sync_pipe, Pipe());
    plan.sync_fd = sync_pipe.first.Get();
  }
  plan.error_fd = error_pipe.second.Get();

  int pidfd = -1;
  internal::CloneArgs args;
  args.flags = kClonePidfd | NamespaceFlags(spec.namespaces);
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  if (options.cgroup_fd >= 0) {
    args.flags |= kCloneIntoCgroup;
    args.cgroup = static_cast<uint64_t>(options.cgroup_fd);
  }
  long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) {
    // The parent's ends: a child holding the sync write end would never see the parent go away.
    ::close(error_pipe.first.Get());
    if (sync) ::close(sync_pipe.second.Get());
    internal::RunChild(plan);  // never returns
  }
  if (pid < 0) return Error::FromErrno("clone3");
  Container container(static_cast<pid_t>(pid), UniqueFd(pidfd));  // kills the child on error
  error_pipe.second.Reset();
  if (sync) {
    sync_pipe.first.Reset();
    STRATA_TRY(ParentSetup(spec, options, static_cast<pid_t>(pid)));
    char go = 1;
    if (::write(sync_pipe.second.Get(), &go, 1) != 1) {
      return Error::FromErrno("start container pid " + std::to_string(pid));
    }
    sync_pipe.second.Reset();
  }
  Status verdict = ReadChildVerdict(error_pipe.first.Get(), plan);
  if (!verdict.ok()) {
    (void)container.Wait();  // best effort: reap the failed child before reporting
    return std::move(verdict).error();
  }
  return container;
}

Container::Container(Container&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      pidfd_(std::move(other.pidfd_)),
      reaped_(std::exchange(other.reaped_, true)),
      exit_code_(other.exit_code_) {}

Container& Container::operator=(Container&& other) noexcept {
  if (this != &other) {
    KillAndReap();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::move(other.pidfd_);
    reaped_ = std::exchange(other.reaped_, true);
    exit_code_ = other.exit_code_;
  }
  return *this;
}

Container::~Container() { KillAndReap(); }

void Container::KillAndReap() {
  if (reaped_ || !pidfd_.valid()) return;
  (void)::syscall(SYS_pidfd_send_signal, pidfd_.Get(), SIGKILL, nullptr, 0);  // best effort
  (void)Wait();  // SIGKILL: bounded unless the process is stuck in the kernel
}

Result<int> Container::Wait() {
  if (reaped_) {
    if (exit_code_ < 0) return Error(ECHILD, "wait for container: no process");
    return exit_code_;
  }
  siginfo_t info = {};
  while (::waitid(kPidfdIdType, static_cast<id_t>(pidfd_.Get()), &info, WEXITED) < 0) {
    if (errno != EINTR) return Error::FromErrno("wait for container pid " + std::to_string(pid_));
  }
  reaped_ = true;
  exit_code_ = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
  return exit_code_;
}

pid_t Container::Release() {
  reaped_ = true;  // nothing left for the destructor to do
  exit_code_ = -1;
  pidfd_.Reset();
  return std::exchange(pid_, -1);
}

Status Container::Kill(int sig) {
  if (reaped_)
    return Error(ESRCH, "kill container pid " + std::to_string(pid_) + ": already reaped");
  if (::syscall(SYS_pidfd_send_signal, pidfd_.Get(), sig, nullptr, 0) < 0) {
    return Error::FromErrno("kill container pid " + std::to_string(pid_));
  }
  return Ok();
}

}  // namespace strata::runtime
