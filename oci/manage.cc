// state, kill, delete, list, features: read the state dir, never re-exec, never spawn.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/unique_fd.h"
#include "oci/cli.h"
#include "oci/hooks.h"
#include "oci/state.h"
#include "runtime/cgroup.h"
#include "runtime/process_info.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

namespace strata::oci {
namespace {

// Signals the state's init through a pidfd taken while its start time still matched: no
// pid-reuse race. ESRCH when it is gone.
Status SignalInit(const ContainerState& state, int sig) {
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, state.pid, 0)));
  if (!pidfd || !InitAlive(state)) {
    return Error(ESRCH, "container \"" + state.id + "\" is not running");
  }
  if (::syscall(SYS_pidfd_send_signal, pidfd.Get(), sig, nullptr, 0) < 0) {
    return Error::FromErrno("kill container \"" + state.id + "\" pid " + std::to_string(state.pid));
  }
  return Ok();
}

// The container's cgroup, adopted for this call only: `release` leaves it in place.
Result<runtime::Cgroup> AdoptCgroup(const std::string& id) {
  STRATA_ASSIGN_OR_RETURN_CTX(runtime::CgroupLayout layout, runtime::DetectCgroups(), "cgroups");
  return runtime::Cgroup::Adopt(layout, id);
}

}  // namespace

Result<int> CmdState(const Globals& g, const Args& a) {
  STRATA_ASSIGN_OR_RETURN(std::string id, OneId(a, "state"));
  STRATA_ASSIGN_OR_RETURN(ContainerState state, LoadState(g.root, id));
  std::printf("%s\n", StateJson(state, StatusOf(g.root, state)).c_str());
  return 0;
}

Result<int> CmdKill(const Globals& g, const Args& a) {
  STRATA_ASSIGN_OR_RETURN(std::string id, OneId(a, "kill", 2));
  int sig = SIGTERM;
  if (a.positional.size() > 1) {
    STRATA_ASSIGN_OR_RETURN(sig, runtime::ParseSignal(a.positional[1]));
  }
  STRATA_ASSIGN_OR_RETURN(ContainerState state, LoadState(g.root, id));
  if (!a.Has("all")) {
    STRATA_TRY(SignalInit(state, sig));
    return 0;
  }
  STRATA_ASSIGN_OR_RETURN(runtime::Cgroup cgroup, AdoptCgroup(id));
  auto pids = cgroup.Pids();
  (void)cgroup.Release();  // only borrowed: `delete` removes it
  if (!pids.ok()) return std::move(pids).error();
  for (pid_t pid : *pids) (void)::kill(pid, sig);  // ESRCH: exited since the read
  return 0;
}

Result<int> CmdDelete(const Globals& g, const Args& a) {
  STRATA_ASSIGN_OR_RETURN(std::string id, OneId(a, "delete"));
  const bool force = a.Has("force");
  const std::string dir = StateDir(g.root, id);
  auto loaded = LoadState(g.root, id);
  if (!loaded.ok()) {
    // As runc: a dir without state.json is an aborted create; remove it, then report.
    if (loaded.error().code() == ENOENT) {
      (void)RemoveStateDir(dir);  // best effort: usually not there at all
      if (force) return 0;
    }
    return std::move(loaded).error();
  }
  const ContainerState& state = *loaded;
  ContainerStatus status = StatusOf(g.root, state);
  if (status == ContainerStatus::kRunning && !force) {
    return Error(EBUSY, "container \"" + id + "\" is running: stop it first, or delete --force");
  }
  if (status != ContainerStatus::kStopped) (void)SignalInit(state, SIGKILL);  // ESRCH: just exited
  auto cgroup = AdoptCgroup(id);
  if (cgroup.ok()) {
    STRATA_TRY(cgroup->Remove());  // kills what is left, waits, removes every leaf
  } else if (cgroup.error().code() != ENOENT) {
    return std::move(cgroup).error();
  }
  Status post =
      RunHooks(state.poststop, StateJson(state, ContainerStatus::kStopped), "hooks.poststop");
  if (!post.ok()) g.log->Warn(post.error().message());  // poststop failures only warn
  STRATA_TRY(RemoveStateDir(dir));
  return 0;
}

Result<int> CmdList(const Globals& g, const Args& a) {
  const std::string format = a.Value("format", "table");
  if (format != "table" && format != "json") {
    return Error(EINVAL, "--format " + format + ": want table or json");
  }
  std::vector<ContainerState> states;
  if (DIR* d = ::opendir(g.root.c_str()); d != nullptr) {
    while (struct dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      auto s = LoadState(g.root, e->d_name);
      if (s.ok()) states.push_back(std::move(*s));
    }
    ::closedir(d);
  }
  if (a.Has("quiet")) {
    for (const ContainerState& s : states) std::printf("%s\n", s.id.c_str());
    return 0;
  }
  if (format == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const ContainerState& s : states) {
      out.push_back(nlohmann::json::parse(StateJson(s, StatusOf(g.root, s))));
    }
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  std::printf("%-20s %-8s %-10s %-40s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED");
  for (const ContainerState& s : states) {
    ContainerStatus status = StatusOf(g.root, s);
    std::printf("%-20s %-8d %-10s %-40s %s\n", s.id.c_str(),
                status == ContainerStatus::kStopped ? 0 : s.pid, StatusName(status),
                s.bundle.c_str(), s.created.c_str());
  }
  return 0;
}

Result<int> CmdFeatures(const Globals&, const Args&) {
  nlohmann::json f = {
      {"ociVersionMin", "1.0.0"},
      {"ociVersionMax", kSpecVersion},
      {"hooks", {"prestart", "createRuntime", "poststart", "poststop"}},
      {"mountOptions",
       {"ro",          "rw",          "nosuid",        "suid",     "nodev",      "dev",
        "noexec",      "exec",        "sync",          "async",    "dirsync",    "mand",
        "nomand",      "atime",       "noatime",       "diratime", "nodiratime", "relatime",
        "norelatime",  "strictatime", "nostrictatime", "bind",     "rbind",      "private",
        "rprivate",    "shared",      "rshared",       "slave",    "rslave",     "unbindable",
        "runbindable", "rro",         "rrw",           "rnosuid",  "rnodev",     "rnoexec"}},
      {"linux",
       {{"namespaces", {"cgroup", "ipc", "mount", "network", "pid", "user", "uts"}},
        {"cgroup", {{"v1", true}, {"v2", true}, {"systemd", false}, {"systemdUser", false}}},
        {"seccomp", {{"enabled", false}}},
        {"apparmor", {{"enabled", false}}},
        {"selinux", {{"enabled", false}}}}},
      {"annotations", nlohmann::json::object()},
  };
  std::printf("%s\n", f.dump(2).c_str());
  return 0;
}

}  // namespace strata::oci
