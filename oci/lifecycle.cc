// create, run and start: config.json -> ContainerSpec -> cgroup + Spawn, with runc's exec.fifo
// start gate for the create/start split.
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string>
#include <vector>

#include "core/read_file.h"
#include "core/unique_fd.h"
#include "oci/cli.h"
#include "oci/hooks.h"
#include "oci/state.h"
#include "runtime/cgroup.h"
#include "runtime/oci_spec.h"
#include "runtime/process_info.h"
#include "runtime/spawn.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

namespace strata::oci {
namespace {

enum class Mode { kCreate, kRunForeground, kRunDetached };

Result<std::string> AbsoluteBundle(const std::string& bundle) {
  char buf[PATH_MAX];
  const std::string path = bundle.empty() ? "." : bundle;
  if (::realpath(path.c_str(), buf) == nullptr) return Error::FromErrno("bundle " + path);
  return std::string(buf);
}

Status MkdirAll(const std::string& path, mode_t mode) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i != path.size() && path[i] != '/') continue;
    std::string prefix = path.substr(0, i);
    if (::mkdir(prefix.c_str(), mode) < 0 && errno != EEXIST) {
      return Error::FromErrno("mkdir " + prefix);
    }
  }
  return Ok();
}

int NamespaceFlag(const std::string& type) {
  if (type == "network") return CLONE_NEWNET;
  if (type == "ipc") return CLONE_NEWIPC;
  if (type == "uts") return CLONE_NEWUTS;
  if (type == "pid") return CLONE_NEWPID;
  if (type == "cgroup") return CLONE_NEWCGROUP;
  if (type == "user") return CLONE_NEWUSER;
  return 0;
}

// setns into each namespace given by path, the user namespace last (joining it first would drop
// the privileges the others need). A pid namespace applies to the children: the container's init.
Status JoinNamespaces(const std::vector<runtime::NamespaceJoin>& joins) {
  for (int pass = 0; pass < 2; ++pass) {
    for (const runtime::NamespaceJoin& j : joins) {
      if ((j.type == "user") != (pass == 1)) continue;
      const std::string what = "linux.namespaces " + j.type + " path " + j.path;
      UniqueFd fd(::open(j.path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd) return Error::FromErrno(what);
      if (::setns(fd.Get(), NamespaceFlag(j.type)) < 0) return Error::FromErrno(what + ": setns");
    }
  }
  return Ok();
}

// Signals a foreground `run` forwards to the container (through a self-pipe).
int g_signal_pipe = -1;
void OnSignal(int sig) {
  const unsigned char byte = static_cast<unsigned char>(sig);
  (void)!::write(g_signal_pipe, &byte, 1);  // async-signal-safe; a full pipe drops the signal
}
constexpr int kForwarded[] = {SIGINT,  SIGTERM,  SIGHUP,  SIGQUIT, SIGUSR1,
                              SIGUSR2, SIGWINCH, SIGCONT, SIGALRM, SIGTSTP};

Result<int> WaitForwarding(runtime::Container& container, int signal_read_fd) {
  for (;;) {
    pollfd fds[2] = {{container.pidfd(), POLLIN, 0}, {signal_read_fd, POLLIN, 0}};
    int n = ::poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno("poll");
    if (fds[1].revents & POLLIN) {
      unsigned char sig = 0;
      if (::read(signal_read_fd, &sig, 1) == 1) (void)container.Kill(sig);  // gone: Wait says
    }
    if (fds[0].revents & (POLLIN | POLLHUP)) return container.Wait();
  }
}

// What a launch made, undone unless released: the state dir and the cgroup (the container
// process is owned by its runtime::Container).
struct Made {
  std::string dir;
  std::optional<runtime::Cgroup> cgroup;
  ~Made() {
    if (cgroup) (void)cgroup->Remove();           // best effort: rolling back a failed create
    if (!dir.empty()) (void)RemoveStateDir(dir);  // best effort, as above
  }
  void Release() {
    if (cgroup) (void)cgroup->Release();  // the cgroup now outlives us: `delete` removes it
    cgroup.reset();
    dir.clear();
  }
};

struct LaunchOptions {
  std::string id, bundle, pid_file;
  bool no_pivot = false;
  int preserve_fds = 0;
};

Result<LaunchOptions> ParseLaunch(const Args& a, const char* command) {
  LaunchOptions o;
  STRATA_ASSIGN_OR_RETURN(o.id, OneId(a, command));
  o.bundle = a.Value("bundle");
  o.pid_file = a.Value("pid-file");
  o.no_pivot = a.Has("no-pivot");
  if (!a.Value("console-socket").empty()) {
    return Error(EOPNOTSUPP, "--console-socket: terminals are not supported by strata-oci");
  }
  if (std::string n = a.Value("preserve-fds"); !n.empty()) {
    char* end = nullptr;
    long v = std::strtol(n.c_str(), &end, 10);
    if (end == n.c_str() || *end != '\0' || v < 0 || v > 1 << 20) {
      return Error(EINVAL, "--preserve-fds " + n + ": want a number >= 0");
    }
    o.preserve_fds = static_cast<int>(v);
  }
  return o;
}

Result<runtime::OciConfig> LoadConfig(const Globals& g, const LaunchOptions& o,
                                      const std::string& bundle) {
  STRATA_ASSIGN_OR_RETURN_CTX(std::string text, ReadFile(bundle + "/config.json"),
                              "bundle " + bundle);
  STRATA_ASSIGN_OR_RETURN_CTX(runtime::OciConfig config,
                              runtime::ParseOciConfig(text, bundle, o.id), bundle + "/config.json");
  for (const std::string& w : config.warnings) g.log->Warn(w);
  if (!config.hooks.create_container.empty() || !config.hooks.start_container.empty()) {
    g.log->Warn("hooks.createContainer, hooks.startContainer: ignored (not supported)");
  }
  if (!config.cgroups_path.empty()) {
    g.log->Warn("linux.cgroupsPath \"" + config.cgroups_path +
                "\": not honoured; the container's "
                "cgroup is <hierarchy>/strata/" +
                o.id);
  }
  if (config.terminal) {
    return Error(EOPNOTSUPP,
                 "process.terminal: terminals are not supported by strata-oci "
                 "(set it to false)");
  }
  struct stat st;
  if (::stat(config.spec.rootfs.c_str(), &st) < 0) {
    return Error::FromErrno("root.path " + config.spec.rootfs);
  }
  if (!S_ISDIR(st.st_mode))
    return Error(ENOTDIR, "root.path " + config.spec.rootfs + ": not a directory");
  return config;
}

// The exec.fifo gate: writable by any uid (the container's user opens it after setuid).
Result<UniqueFd> MakeGate(const std::string& dir) {
  const std::string fifo = dir + "/" + kExecFifo;
  if (::mkfifo(fifo.c_str(), 0622) < 0) return Error::FromErrno("mkfifo " + fifo);
  if (::chmod(fifo.c_str(), 0622) < 0) return Error::FromErrno("chmod " + fifo);  // past umask
  UniqueFd fd(::open(fifo.c_str(), O_PATH | O_CLOEXEC));
  if (!fd) return Error::FromErrno("open " + fifo);
  return fd;
}

Result<int> Launch(const Globals& g, const LaunchOptions& o, Mode mode) {
  STRATA_ASSIGN_OR_RETURN(std::string bundle, AbsoluteBundle(o.bundle));
  STRATA_ASSIGN_OR_RETURN(runtime::OciConfig config, LoadConfig(g, o, bundle));
  STRATA_TRY(MkdirAll(g.root, 0711));
  const std::string dir = StateDir(g.root, o.id);
  if (::mkdir(dir.c_str(), 0711) < 0) {
    if (errno == EEXIST) return Error(EEXIST, "container \"" + o.id + "\" already exists");
    return Error::FromErrno("mkdir " + dir);
  }
  Made made;
  made.dir = dir;
  STRATA_ASSIGN_OR_RETURN_CTX(runtime::CgroupLayout layout, runtime::DetectCgroups(), "cgroups");
  STRATA_ASSIGN_OR_RETURN(runtime::Cgroup cgroup,
                          runtime::Cgroup::Create(layout, o.id, config.spec.resources));
  made.cgroup.emplace(std::move(cgroup));
  UniqueFd gate;
  if (mode == Mode::kCreate) {
    STRATA_ASSIGN_OR_RETURN(gate, MakeGate(dir));
  }

  ContainerState state;
  state.id = o.id;
  state.oci_version = config.oci_version;
  state.bundle = bundle;
  state.rootfs = config.spec.rootfs;
  state.created = NowRfc3339();
  state.annotations = config.annotations;
  state.poststart = config.hooks.poststart;
  state.poststop = config.hooks.poststop;
  state.cgroup_paths = made.cgroup->paths();

  runtime::SpawnOptions options;
  options.cgroup_fd = made.cgroup->dir_fd();
  options.start_gate_fd = gate.Get();
  options.preserve_fds = o.preserve_fds;
  options.root_switch = o.no_pivot ? runtime::RootSwitch::kMoveChroot : runtime::RootSwitch::kPivot;
  options.after_clone = [&](pid_t pid) -> Status {
    STRATA_TRY(made.cgroup->AddProcess(pid));
    state.pid = pid;
    STRATA_ASSIGN_OR_RETURN(runtime::ProcStat st, runtime::ReadProcStat(pid));
    state.start_time = st.start_time;
    if (config.oom_score_adj) {
      STRATA_TRY(WriteFile("/proc/" + std::to_string(pid) + "/oom_score_adj",
                           std::to_string(*config.oom_score_adj)));
    }
    const std::string json = StateJson(state, ContainerStatus::kCreating);
    STRATA_TRY(RunHooks(config.hooks.prestart, json, "hooks.prestart"));
    return RunHooks(config.hooks.create_runtime, json, "hooks.createRuntime");
  };
  int pipe_fds[2] = {-1, -1};
  if (mode == Mode::kRunForeground) {
    if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) return Error::FromErrno("pipe");
  }
  UniqueFd signal_read(pipe_fds[0]), signal_write(pipe_fds[1]);
  if (mode == Mode::kRunForeground) {
    g_signal_pipe = signal_write.Get();
    struct sigaction action {};
    action.sa_handler = OnSignal;
    for (int sig : kForwarded) ::sigaction(sig, &action, nullptr);
  }
  STRATA_TRY(JoinNamespaces(config.joins));
  STRATA_ASSIGN_OR_RETURN(runtime::Container container, runtime::Spawn(config.spec, options));
  STRATA_TRY(SaveState(dir, state));
  if (!o.pid_file.empty()) {
    STRATA_TRY_CTX(WriteFileAtomic(o.pid_file, std::to_string(container.pid())), "--pid-file");
  }
  if (mode != Mode::kCreate) {
    Status post = RunHooks(config.hooks.poststart, StateJson(state, ContainerStatus::kRunning),
                           "hooks.poststart");
    if (!post.ok()) g.log->Warn(post.error().message());
  }
  if (mode != Mode::kRunForeground) {
    (void)container.Release();  // the init lives on; the caller (or its subreaper) reaps it
    made.Release();
    return 0;
  }
  auto code = WaitForwarding(container, signal_read.Get());
  for (int sig : kForwarded) ::signal(sig, SIG_DFL);
  // Like `delete`: the cgroup (and any process left in it), the poststop hooks, the state dir.
  Status removed = made.cgroup->Remove();
  if (!removed.ok()) g.log->Warn(removed.error().message());
  Status post =
      RunHooks(state.poststop, StateJson(state, ContainerStatus::kStopped), "hooks.poststop");
  if (!post.ok()) g.log->Warn(post.error().message());
  if (!code.ok()) return std::move(code).error().Wrap("wait");
  return *code;
}

}  // namespace

Result<int> CmdCreate(const Globals& g, const Args& a) {
  STRATA_ASSIGN_OR_RETURN(LaunchOptions o, ParseLaunch(a, "create"));
  return Launch(g, o, Mode::kCreate);
}

Result<int> CmdRun(const Globals& g, const Args& a) {
  STRATA_ASSIGN_OR_RETURN(LaunchOptions o, ParseLaunch(a, "run"));
  return Launch(g, o, a.Has("detach") ? Mode::kRunDetached : Mode::kRunForeground);
}

Result<int> CmdStart(const Globals& g, const Args& a) {
  STRATA_ASSIGN_OR_RETURN(std::string id, OneId(a, "start"));
  STRATA_ASSIGN_OR_RETURN(ContainerState state, LoadState(g.root, id));
  ContainerStatus status = StatusOf(g.root, state);
  if (status != ContainerStatus::kCreated) {
    return Error(EINVAL, "container \"" + id + "\" is " + StatusName(status) +
                             ", not created: cannot start it");
  }
  const std::string fifo = StateDir(g.root, id) + "/" + kExecFifo;
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, state.pid, 0)));
  if (!pidfd || !InitAlive(state))
    return Error(ESRCH, "container \"" + id + "\": its process exited");
  // Non-blocking: a reader never waits for a writer that died; the pidfd says when it did.
  UniqueFd fd(::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return Error::FromErrno("open " + fifo);
  for (;;) {
    pollfd fds[2] = {{fd.Get(), POLLIN, 0}, {pidfd.Get(), POLLIN, 0}};
    int n = ::poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno("poll " + fifo);
    if (fds[0].revents & POLLIN) {
      char byte;
      if (::read(fd.Get(), &byte, 1) == 1) break;
    }
    if (fds[1].revents & POLLIN) {
      return Error(ESRCH, "container \"" + id + "\": its process exited before it started");
    }
  }
  if (::unlink(fifo.c_str()) < 0 && errno != ENOENT) return Error::FromErrno("unlink " + fifo);
  Status post =
      RunHooks(state.poststart, StateJson(state, ContainerStatus::kRunning), "hooks.poststart");
  if (!post.ok()) g.log->Warn(post.error().message());  // poststart failures only warn
  return 0;
}

}  // namespace strata::oci
