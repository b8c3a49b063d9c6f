// `strata run IMAGE [CMD...]`: a container on a read-write layer over the image's top layer, with
// named volumes attached for its life, in its own cgroup, recorded in the container store.
//
// Foreground: this process is the container's monitor: it forwards signals, waits, releases what
// the container held and records the exit. With -d a forked monitor does that (its stdio on
// /dev/null, the container's output in <root>/containers/<id>/log) and this process returns once
// the container's process has started, printing the id.
//
// Exit codes, as docker's: the container's own (128+signal when killed); 125 when strata failed
// before the container ran; 126/127 are the container's (its shell's "cannot run"/"not found").
#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "containers/container_store.h"
#include "containers/lifecycle.h"
#include "core/random_id.h"
#include "core/strings.h"
#include "core/unique_fd.h"
#include "core/units.h"
#include "images/image_store.h"
#include "runtime/cgroup.h"
#include "runtime/process_config.h"
#include "runtime/process_info.h"
#include "runtime/spawn.h"
#include "tools/commands.h"
#include "tools/vol_commands.h"

namespace strata::cli {
namespace {

constexpr int kExitRunFailed = 125;

struct RunArgs {
  std::string image;
  std::vector<std::string> command;
  std::string name;
  bool remove = false, detach = false;
  std::vector<std::string> volumes, tmpfs, env;
  std::string workdir, user, hostname, memory, cpus, network = "none";
  int64_t pids_limit = 0;
  bool read_only = false, init = false;
};

// A volume argument: "VOL:/path[:ro]" (a named volume) or "/host/path:/path[:ro]" (a bind).
struct VolumeArg {
  std::string source;
  std::string destination;
  bool read_only = false;
  bool named = true;
};

Result<VolumeArg> ParseVolumeArg(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ':');) parts.push_back(part);
  VolumeArg arg;
  bool ok = parts.size() == 2 || (parts.size() == 3 && (parts[2] == "ro" || parts[2] == "rw"));
  if (ok) {
    arg.source = parts[0];
    arg.destination = parts[1];
    arg.read_only = parts.size() == 3 && parts[2] == "ro";
    arg.named = !arg.source.empty() && arg.source[0] != '/';
  }
  if (!ok || arg.source.empty() || arg.destination.empty() || arg.destination[0] != '/') {
    return Error(EINVAL, "-v " + text + ": want VOLUME:/path[:ro] or /host/path:/path[:ro]");
  }
  return arg;
}

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Signals strata forwards to the container while it runs (through a self-pipe: handlers are
// reset at the payload's exec, a blocked mask would not be).
int g_signal_pipe = -1;
void OnSignal(int sig) {
  const unsigned char byte = static_cast<unsigned char>(sig);
  (void)!::write(g_signal_pipe, &byte, 1);  // async-signal-safe; a full pipe drops the signal
}
constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

// Waits for the container, forwarding signals to it.
Result<int> WaitForwarding(runtime::Container& container, int signal_read_fd) {
  while (true) {
    pollfd fds[2] = {{container.pidfd(), POLLIN, 0}, {signal_read_fd, POLLIN, 0}};
    int n = ::poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error(errno, "poll");
    if (fds[1].revents & POLLIN) {
      unsigned char sig = 0;
      if (::read(signal_read_fd, &sig, 1) == 1) (void)container.Kill(sig);  // gone: Wait says
    }
    if (fds[0].revents & (POLLIN | POLLHUP)) return container.Wait();
  }
}

// Everything `run` made, undone in reverse order on every path: while `remove_container` holds
// (until the container has run), the layer and the record go too, so a failed start leaves
// nothing.
class RunResources {
 public:
  RunResources(drivers::LayerStore& layers, volumes::Manager* vols,
               containers::ContainerStore& records)
      : layers_(layers), vols_(vols), records_(records) {}
  ~RunResources() { (void)Release(); }
  std::string root;                   // the strata root
  std::string record, layer, mounted;  // the container's id, once each exists
  std::vector<volumes::Attachment> attachments;
  std::optional<runtime::Cgroup> cgroup;
  bool remove_container = false;

  // Returns the first error; goes on past it.
  Status Release() {
    Status first = Ok();
    auto keep = [&](Status s) {
      if (!s.ok() && first.ok()) first = std::move(s);
    };
    if (cgroup) keep(cgroup->Remove());
    cgroup.reset();
    for (auto it = attachments.rbegin(); it != attachments.rend(); ++it) {
      if (vols_ == nullptr) continue;
      auto detached = vols_->Detach(it->volume, it->target);
      if (!detached.ok()) keep(detached.error());
    }
    attachments.clear();
    if (!mounted.empty()) keep(layers_.Unmount(mounted));
    mounted.clear();
    if (remove_container && !record.empty()) {
      // Marked removing first, so the container guard lets its layer go.
      auto current = records_.Get(record);
      if (current.ok()) {
        keep(containers::RemoveContainer(records_, *current, root, layers_, vols_));
      } else if (current.error().code() != ENOENT) {
        keep(current.error());
      }
    }
    layer.clear();
    record.clear();
    return first;
  }

  // Hands everything over to another owner (the -d monitor): nothing is undone here.
  void Disown() {
    if (cgroup) cgroup->Release();
    cgroup.reset();
    attachments.clear();
    record.clear();
    layer.clear();
    mounted.clear();
  }

 private:
  drivers::LayerStore& layers_;
  volumes::Manager* vols_;
  containers::ContainerStore& records_;
};

Result<runtime::Resources> ParseResources(const RunArgs& args) {
  runtime::Resources r;
  if (!args.memory.empty()) {
    STRATA_ASSIGN_OR_RETURN_CTX(uint64_t bytes, ParseSize(args.memory), "--memory");
    r.memory_bytes = static_cast<int64_t>(bytes);
  }
  if (!args.cpus.empty()) {
    char* end = nullptr;
    double cpus = std::strtod(args.cpus.c_str(), &end);
    if (end == args.cpus.c_str() || *end != '\0' || !(cpus > 0) || cpus > 1024) {
      return Error(EINVAL, "--cpus " + args.cpus + ": want a number of CPUs such as 0.5 or 2");
    }
    r.cpu_quota_us = static_cast<int64_t>(std::llround(cpus * static_cast<double>(r.cpu_period_us)));
  }
  if (args.pids_limit > 0) r.pids_max = args.pids_limit;
  return r;
}

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

uint64_t StartOf(pid_t pid) {
  auto start = runtime::ProcessStartTime(pid);
  return start.ok() ? *start : 0;
}

int Fail(const Error& e) {
  std::fprintf(stderr, "strata: error: %s\n", e.message().c_str());
  return kExitRunFailed;
}

// Writes all of `text` to a socket; the peer reads it as one message per line.
void SendLine(int fd, const std::string& text) {
  std::string line = text + "\n";
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::send(fd, line.data() + done, line.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// One line from a socket ("" at EOF or on error).
std::string ReadLine(int fd) {
  std::string line;
  char c = 0;
  while (true) {
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n') return line;
    line += c;
  }
}

// Releases what the container held and records its end (or, with --rm, removes it); also
// undoes a start that failed. On a fresh Context: the caller closed its own before forking.
Status FinishContainer(const ConfigFlags& flags, const std::string& id, std::optional<int> code,
                       bool failed_start) {
  Context ctx;
  ctx.flags = flags;
  STRATA_ASSIGN_OR_RETURN(containers::ContainerStore * records, ctx.GetContainers());
  STRATA_ASSIGN_OR_RETURN(containers::ContainerRecord record, records->Get(id));
  STRATA_ASSIGN_OR_RETURN(drivers::LayerStore * layers, ctx.GetLayers());
  std::unique_ptr<volumes::Manager> vols;
  if (!record.volumes.empty()) {
    STRATA_ASSIGN_OR_RETURN(vols, OpenVolumes(ctx));
  }
  STRATA_ASSIGN_OR_RETURN(Store * store, ctx.GetStore());
  if (record.auto_remove || failed_start) {
    return containers::RemoveContainer(*records, record, store->Dir(), *layers, vols.get());
  }
  Status released = containers::ReleaseRuntime(record, *layers, vols.get());
  record.state = containers::State::kExited;
  record.exit_code = code;
  record.finished = Now();
  STRATA_TRY(records->Update(record));
  return released;
}

// The -d monitor, in the forked child: starts the container with its output in the log, tells
// the parent ("ok PID START" or "err MESSAGE"), waits for "go" (the parent recorded the start),
// then waits for the container and finishes it. Its own late errors go to the log. Never
// returns.
[[noreturn]] void RunMonitor(const ConfigFlags& flags, const runtime::ContainerSpec& spec,
                             runtime::Cgroup& cgroup, int channel, int log_fd, int null_fd) {
  ::setsid();
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGPIPE, SIG_IGN);
  runtime::SpawnOptions options;
  options.cgroup_fd = cgroup.dir_fd();
  options.after_clone = [&cgroup](pid_t pid) { return cgroup.AddProcess(pid); };
  options.stdin_fd = null_fd;
  options.stdout_fd = log_fd;
  options.stderr_fd = log_fd;
  auto container = runtime::Spawn(spec, options);
  if (!container.ok()) {
    SendLine(channel, "err " + container.error().message());
    cgroup.Release();  // the parent removes it
    ::_exit(1);
  }
  SendLine(channel, "ok " + std::to_string(container->pid()) + " " +
                        std::to_string(StartOf(container->pid())));
  if (ReadLine(channel) != "go") {  // the parent failed or died: it undoes the rest
    (void)container->Kill(SIGKILL);
    (void)container->Wait();
    cgroup.Release();
    ::_exit(1);
  }
  ::close(channel);
  ::dup2(null_fd, 0);
  ::dup2(null_fd, 1);
  ::dup2(null_fd, 2);
  auto code = container->Wait();
  Status finished = cgroup.Remove();
  Status recorded = FinishContainer(
      flags, spec.id, code.ok() ? std::optional<int>(*code) : std::nullopt, false);
  if (finished.ok()) finished = recorded;
  if (!code.ok() || !finished.ok()) {
    std::string line = "strata: monitor: " +
                       (code.ok() ? finished.error().message() : code.error().message()) + "\n";
    (void)!::write(log_fd, line.data(), line.size());
  }
  ::_exit(finished.ok() ? 0 : 1);
}

// -d: forks the monitor and waits for it to start the container. Everything `made` holds is
// recorded first and handed over: to the monitor once the container runs, otherwise undone here
// from the record. `ctx` is closed before the fork (see Context::Close).
int StartDetached(Context& ctx, const runtime::ContainerSpec& spec, RunResources& made,
                  std::unique_ptr<volumes::Manager>& vols, containers::ContainerStore& records,
                  containers::ContainerRecord& record, const std::string& log_path) {
  UniqueFd log_fd(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!log_fd.valid()) return Fail(Error::FromErrno("run: open the log " + log_path));
  UniqueFd null_fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null_fd.valid()) return Fail(Error::FromErrno("run: open /dev/null"));
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return Fail(Error::FromErrno("run: socketpair"));
  }
  UniqueFd ours(sv[0]), theirs(sv[1]);
  Status recorded = records.Update(record);  // volumes and cgroups: what a cleanup needs
  if (!recorded.ok()) return Fail(recorded.error().Wrap("run: record the container"));
  runtime::Cgroup cgroup = std::move(*made.cgroup);
  made.Disown();
  vols.reset();
  ctx.Close();
  auto undo = [&](const Error& why) {
    (void)cgroup.Remove();
    Status undone = FinishContainer(ctx.flags, record.id, std::nullopt, true);
    if (!undone.ok()) {
      std::fprintf(stderr, "strata: warning: undo the failed start of container %s: %s\n",
                   record.DisplayName().c_str(), undone.error().message().c_str());
    }
    return Fail(why);
  };
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t monitor = ::fork();
  if (monitor < 0) return undo(Error::FromErrno("run: fork the monitor"));
  if (monitor == 0) {
    ours.Reset();
    RunMonitor(ctx.flags, spec, cgroup, theirs.Get(), log_fd.Get(), null_fd.Get());
  }
  theirs.Reset();
  std::string reply = ReadLine(ours.Get());
  unsigned long long pid = 0, start = 0;
  if (std::sscanf(reply.c_str(), "ok %llu %llu", &pid, &start) != 2) {
    ::waitpid(monitor, nullptr, 0);
    std::string why = reply.rfind("err ", 0) == 0 ? reply.substr(4) : "the monitor died";
    return undo(Error(EIO, why).Wrap("run " + record.image_ref));
  }
  record.state = containers::State::kRunning;
  record.pid = static_cast<pid_t>(pid);
  record.pid_start = start;
  record.monitor_pid = monitor;
  record.monitor_start = StartOf(monitor);
  record.started = Now();
  auto fresh = ctx.GetContainers();
  recorded = fresh.ok() ? (*fresh)->Update(record) : Status(fresh.error());
  if (!recorded.ok()) {
    ours.Reset();  // EOF: the monitor kills the container and exits
    ::waitpid(monitor, nullptr, 0);
    ctx.Close();
    return undo(recorded.error().Wrap("run: record the container"));
  }
  cgroup.Release();  // the monitor's now
  SendLine(ours.Get(), "go");
  std::printf("%s\n", record.id.c_str());
  return kExitOk;
}

int RunContainer(Context& ctx, const RunArgs& args) {
  auto resources = ParseResources(args);
  if (!resources.ok()) return Fail(resources.error().Wrap("run"));
  if (args.network != "none" && args.network != "host") {
    return Fail(Error(EINVAL, "run: --network " + args.network + ": want none or host" +
                                  DidYouMean(args.network, {"none", "host"})));
  }
  if (!args.name.empty()) {
    Status valid = containers::ValidateName(args.name);
    if (!valid.ok()) return Fail(valid.error().Wrap("run"));
  }
  std::vector<VolumeArg> volume_args;
  for (const std::string& v : args.volumes) {
    auto parsed = ParseVolumeArg(v);
    if (!parsed.ok()) return Fail(parsed.error().Wrap("run"));
    volume_args.push_back(*parsed);
  }
  auto images = ctx.GetImages();
  if (!images.ok()) return Fail(images.error().Wrap("run"));
  auto image = (*images)->Get(args.image);
  if (!image.ok()) return Fail(image.error().Wrap("run"));
  auto config = image->Config();
  if (!config.ok()) return Fail(config.error().Wrap("run"));
  std::vector<std::string> argv = config->entrypoint;
  const std::vector<std::string>& cmd = args.command.empty() ? config->cmd : args.command;
  argv.insert(argv.end(), cmd.begin(), cmd.end());
  if (argv.empty()) {
    return Fail(Error(EINVAL, "run " + args.image +
                                  ": the image has no Entrypoint or Cmd; give a command"));
  }
  std::unique_ptr<volumes::Manager> vols;
  bool named_volumes = false;
  for (const VolumeArg& v : volume_args) named_volumes = named_volumes || v.named;
  if (named_volumes) {
    auto opened = OpenVolumes(ctx);
    if (!opened.ok()) return Fail(opened.error().Wrap("run"));
    vols = std::move(*opened);
  }
  auto layers = ctx.GetLayers();
  if (!layers.ok()) return Fail(layers.error().Wrap("run"));
  auto store = ctx.GetStore();
  if (!store.ok()) return Fail(store.error().Wrap("run"));
  auto records = ctx.GetContainers();
  if (!records.ok()) return Fail(records.error().Wrap("run"));
  auto new_id = RandomHexId();
  if (!new_id.ok()) return Fail(new_id.error().Wrap("run"));
  const std::string id = *new_id;

  // The record first (it reserves the name), then the layer: a crash leaves a record that
  // `strata rm` finishes, never a layer nobody owns.
  containers::ContainerRecord record;
  record.id = id;
  record.name = args.name;
  record.image = image->id;
  record.image_ref = args.image;
  record.command = argv;
  record.detached = args.detach;
  record.auto_remove = args.remove;
  record.monitor_pid = ::getpid();
  record.monitor_start = StartOf(::getpid());
  record.created = Now();
  Status inserted = (*records)->Insert(record);
  if (!inserted.ok()) return Fail(inserted.error().Wrap("run"));
  RunResources made(**layers, vols.get(), **records);
  made.remove_container = true;  // until the container has run: a failed start leaves nothing
  made.record = id;
  const std::string dir = containers::ContainerDir((*store)->Dir(), id);
  auto layer = (*layers)->Create(id, image->top_layer(), drivers::LayerKind::kReadWrite, {});
  if (!layer.ok()) return Fail(layer.error().Wrap("run: container layer"));
  made.layer = id;
  made.root = (*store)->Dir();
  auto rootfs = (*layers)->Mount(id);
  if (!rootfs.ok()) return Fail(rootfs.error().Wrap("run: mount the container layer"));
  made.mounted = id;
  std::error_code ec;
  if (!std::filesystem::create_directories(dir, ec) && ec) {
    return Fail(Error(ec.value(), "run: create " + dir + ": " + ec.message()));
  }
  ::chmod(dir.c_str(), 0700);

  auto user = runtime::ResolveUser(args.user.empty() ? config->user : args.user,
                                   ReadSmallFile(*rootfs + "/etc/passwd"),
                                   ReadSmallFile(*rootfs + "/etc/group"));
  if (!user.ok()) return Fail(user.error().Wrap("run"));
  runtime::ContainerSpec spec = runtime::DefaultSpec(id, *rootfs, argv);
  spec.env = runtime::MergeEnv(config->env, args.env, user->home);
  spec.cwd = !args.workdir.empty() ? args.workdir
             : !config->working_dir.empty() ? config->working_dir
                                            : "/";
  spec.uid = user->uid;
  spec.gid = user->gid;
  spec.additional_gids = user->additional_gids;
  if (!args.hostname.empty()) spec.hostname = args.hostname;
  spec.readonly_rootfs = args.read_only;
  spec.namespaces.net = args.network == "none";
  spec.init = args.init;
  spec.resources = *resources;
  for (size_t i = 0; i < volume_args.size(); ++i) {
    const VolumeArg& v = volume_args[i];
    runtime::Mount mount;
    mount.kind = runtime::Mount::Kind::kBind;
    mount.destination = v.destination;
    mount.read_only = v.read_only;
    mount.source = v.source;
    if (v.named) {
      // Attached on the host for the container's life, then bound into it.
      auto attached = vols->Attach(v.source, dir + "/volumes/" + std::to_string(i), v.read_only);
      if (!attached.ok()) return Fail(attached.error().Wrap("run: volume " + v.source));
      made.attachments.push_back(*attached);
      record.volumes.push_back({attached->volume, attached->target});
      mount.source = attached->target;
    }
    spec.mounts.push_back(mount);
  }
  for (const std::string& path : args.tmpfs) {
    runtime::Mount mount;
    mount.kind = runtime::Mount::Kind::kTmpfs;
    mount.destination = path;
    spec.mounts.push_back(mount);
  }

  auto layout = runtime::DetectCgroups();
  if (!layout.ok()) return Fail(layout.error().Wrap("run: cgroups"));
  auto cgroup = runtime::Cgroup::Create(*layout, id, spec.resources);
  if (!cgroup.ok()) return Fail(cgroup.error().Wrap("run: cgroup"));
  made.cgroup.emplace(std::move(*cgroup));
  record.cgroup_dirs = made.cgroup->paths();

  if (args.detach) {
    return StartDetached(ctx, spec, made, vols, **records, record,
                         containers::LogPath((*store)->Dir(), id));
  }

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) return Fail(Error(errno, "run: pipe"));
  UniqueFd signal_read(pipe_fds[0]), signal_write(pipe_fds[1]);
  g_signal_pipe = signal_write.Get();
  struct sigaction action {};
  action.sa_handler = OnSignal;
  for (int sig : kForwarded) ::sigaction(sig, &action, nullptr);

  runtime::SpawnOptions options;
  options.cgroup_fd = made.cgroup->dir_fd();
  options.after_clone = [&made](pid_t pid) { return made.cgroup->AddProcess(pid); };
  auto container = runtime::Spawn(spec, options);
  if (!container.ok()) return Fail(container.error().Wrap("run " + args.image));
  record.state = containers::State::kRunning;
  record.pid = container->pid();
  record.pid_start = StartOf(container->pid());
  record.started = Now();
  Status recorded = (*records)->Update(record);
  if (!recorded.ok()) return Fail(recorded.error().Wrap("run: record the container"));
  made.remove_container = false;  // it ran: from here on `strata rm` (or --rm below) removes it
  auto code = WaitForwarding(*container, signal_read.Get());
  for (int sig : kForwarded) ::signal(sig, SIG_DFL);
  Status released = made.Release();
  record.state = containers::State::kExited;
  if (code.ok()) record.exit_code = *code;
  record.finished = Now();
  if (released.ok() && args.remove) {
    auto fresh = (*records)->Get(id);  // stop/kill may have changed nothing, but rm wants it whole
    released = containers::RemoveContainer(**records, fresh.ok() ? *fresh : record,
                                           (*store)->Dir(), **layers, vols.get());
  } else {
    Status updated = (*records)->Update(record);
    if (released.ok()) released = updated;
  }
  if (!code.ok()) return Fail(code.error().Wrap("run: wait"));
  if (!released.ok()) {
    std::fprintf(stderr, "strata: warning: cleanup after container %s: %s\n",
                 record.DisplayName().c_str(), released.error().message().c_str());
  }
  return *code;
}

}  // namespace

void SetupRun(CLI::App& app, Context& ctx, Action& action) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* run = app.add_subcommand("run", std::string(SummaryOf("run")));
  run->add_option("image", args->image, "Image name, id or id prefix")->required();
  // Everything after IMAGE is the container's command, options included (`sh -c ...`):
  // CLI11's prefix mode stops parsing at the first positional it has no slot for.
  run->prefix_command();
  run->fallthrough(false);
  run->add_option("--name", args->name, "Name the container (ps, stop, logs, rm take it)");
  run->add_flag("--rm", args->remove, "Remove the container (its layer, its record) when it exits");
  run->add_flag("-d,--detach", args->detach,
                "Run in the background: print the id; output goes to `strata logs`");
  run->add_option("-v,--volume", args->volumes,
                  "VOLUME:/path[:ro] (a named volume) or /host/path:/path[:ro] (repeatable)")
      ->allow_extra_args(false);
  run->add_option("--tmpfs", args->tmpfs, "Mount a tmpfs at this path (repeatable)")
      ->allow_extra_args(false);
  run->add_option("-e,--env", args->env, "KEY=VALUE, or KEY to unset (repeatable)")
      ->allow_extra_args(false);
  run->add_option("-w,--workdir", args->workdir, "Working directory (default: the image's)");
  run->add_option("-u,--user", args->user, "USER[:GROUP], names or ids (default: the image's)");
  run->add_option("--hostname", args->hostname, "Hostname (default: the id's first 12 digits)");
  run->add_flag("--read-only", args->read_only, "Mount the container's root read-only");
  run->add_option("--memory", args->memory, "Memory limit (64m, 1G)");
  run->add_option("--cpus", args->cpus, "CPU limit, in CPUs (0.5)");
  run->add_option("--pids-limit", args->pids_limit, "Most processes at once");
  run->add_option("--network", args->network, "none (default: its own empty namespace) or host");
  run->add_flag("--init", args->init, "Run an init as PID 1 that reaps zombies and forwards signals");
  run->footer("  IMAGE [COMMAND [ARG...]]: everything after IMAGE is the container's command.");
  run->callback([&ctx, &action, args, run] {
    args->command = run->remaining();
    action = [&ctx, args] { return RunContainer(ctx, *args); };
  });
}

}  // namespace strata::cli
