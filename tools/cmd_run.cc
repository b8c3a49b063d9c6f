// `strata run IMAGE [CMD...]`: a container in the foreground, on a read-write layer over the
// image's top layer, with named volumes attached for its life, in its own cgroup.
//
// Exit codes, as docker's: the container's own (128+signal when killed); 125 when strata failed
// before the container ran; 126/127 are the container's (its shell's "cannot run"/"not found").
#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/strings.h"
#include "core/unique_fd.h"
#include "core/units.h"
#include "images/image_store.h"
#include "runtime/cgroup.h"
#include "runtime/process_config.h"
#include "runtime/spawn.h"
#include "tools/commands.h"
#include "tools/vol_commands.h"

namespace strata::cli {
namespace {

constexpr int kExitRunFailed = 125;

struct RunArgs {
  std::string image;
  std::vector<std::string> command;
  bool remove = false;
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

// Everything `run` made, undone in reverse order on every path.
class RunResources {
 public:
  RunResources(drivers::LayerStore& layers, volumes::Manager* vols) : layers_(layers), vols_(vols) {}
  ~RunResources() { (void)Release(); }
  std::string layer, mounted;
  std::vector<volumes::Attachment> attachments;
  std::optional<runtime::Cgroup> cgroup;
  bool remove_layer = false;

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
    if (!layer.empty() && remove_layer) keep(layers_.Remove(layer));
    layer.clear();
    return first;
  }

 private:
  drivers::LayerStore& layers_;
  volumes::Manager* vols_;
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

int RunContainer(Context& ctx, const RunArgs& args) {
  auto fail = [](const Error& e) {
    std::fprintf(stderr, "strata: error: %s\n", e.message().c_str());
    return kExitRunFailed;
  };
  auto resources = ParseResources(args);
  if (!resources.ok()) return fail(resources.error().Wrap("run"));
  if (args.network != "none" && args.network != "host") {
    return fail(Error(EINVAL, "run: --network " + args.network + ": want none or host" +
                                  DidYouMean(args.network, {"none", "host"})));
  }
  std::vector<VolumeArg> volume_args;
  for (const std::string& v : args.volumes) {
    auto parsed = ParseVolumeArg(v);
    if (!parsed.ok()) return fail(parsed.error().Wrap("run"));
    volume_args.push_back(*parsed);
  }
  auto images = ctx.GetImages();
  if (!images.ok()) return fail(images.error().Wrap("run"));
  auto image = (*images)->Get(args.image);
  if (!image.ok()) return fail(image.error().Wrap("run"));
  auto config = image->Config();
  if (!config.ok()) return fail(config.error().Wrap("run"));
  std::vector<std::string> argv = config->entrypoint;
  const std::vector<std::string>& cmd = args.command.empty() ? config->cmd : args.command;
  argv.insert(argv.end(), cmd.begin(), cmd.end());
  if (argv.empty()) {
    return fail(Error(EINVAL, "run " + args.image +
                                  ": the image has no Entrypoint or Cmd; give a command"));
  }
  std::unique_ptr<volumes::Manager> vols;
  bool named_volumes = false;
  for (const VolumeArg& v : volume_args) named_volumes = named_volumes || v.named;
  if (named_volumes) {
    auto opened = OpenVolumes(ctx);
    if (!opened.ok()) return fail(opened.error().Wrap("run"));
    vols = std::move(*opened);
  }
  auto layers = ctx.GetLayers();
  if (!layers.ok()) return fail(layers.error().Wrap("run"));
  auto store = ctx.GetStore();
  if (!store.ok()) return fail(store.error().Wrap("run"));

  RunResources made(**layers, vols.get());
  made.remove_layer = true;  // until the container has run: a failed start leaves nothing
  auto layer = (*layers)->Create("", image->top_layer(), drivers::LayerKind::kReadWrite, {});
  if (!layer.ok()) return fail(layer.error().Wrap("run: container layer"));
  made.layer = layer->id;
  const std::string id = layer->id;
  auto rootfs = (*layers)->Mount(id);
  if (!rootfs.ok()) return fail(rootfs.error().Wrap("run: mount the container layer"));
  made.mounted = id;

  auto user = runtime::ResolveUser(args.user.empty() ? config->user : args.user,
                                   ReadSmallFile(*rootfs + "/etc/passwd"),
                                   ReadSmallFile(*rootfs + "/etc/group"));
  if (!user.ok()) return fail(user.error().Wrap("run"));
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
  const std::string dir = (*store)->Dir() + "/containers/" + id;
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
      if (!attached.ok()) return fail(attached.error().Wrap("run: volume " + v.source));
      made.attachments.push_back(*attached);
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
  if (!layout.ok()) return fail(layout.error().Wrap("run: cgroups"));
  auto cgroup = runtime::Cgroup::Create(*layout, id, spec.resources);
  if (!cgroup.ok()) return fail(cgroup.error().Wrap("run: cgroup"));
  made.cgroup.emplace(std::move(*cgroup));

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) return fail(Error(errno, "run: pipe"));
  UniqueFd signal_read(pipe_fds[0]), signal_write(pipe_fds[1]);
  g_signal_pipe = signal_write.Get();
  struct sigaction action {};
  action.sa_handler = OnSignal;
  for (int sig : kForwarded) ::sigaction(sig, &action, nullptr);

  runtime::SpawnOptions options;
  options.cgroup_fd = made.cgroup->dir_fd();
  options.after_clone = [&made](pid_t pid) { return made.cgroup->AddProcess(pid); };
  auto container = runtime::Spawn(spec, options);
  if (!container.ok()) return fail(container.error().Wrap("run " + args.image));
  made.remove_layer = args.remove;
  auto code = WaitForwarding(*container, signal_read.Get());
  for (int sig : kForwarded) ::signal(sig, SIG_DFL);
  Status released = made.Release();
  if (!code.ok()) return fail(code.error().Wrap("run: wait"));
  if (!released.ok()) {
    std::fprintf(stderr, "strata: warning: cleanup after the container: %s\n",
                 released.error().message().c_str());
  }
  if (!args.remove) {
    std::fprintf(stderr, "strata: the container's layer %s is kept (remove it with `strata layer "
                         "rm %s`, or run with --rm)\n",
                 id.substr(0, 12).c_str(), id.substr(0, 12).c_str());
  }
  return *code;
}

}  // namespace

void SetupRun(CLI::App& app, Context& ctx, Action& action) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* run = app.add_subcommand("run", std::string(kCommandGroups[4].summary));
  run->add_option("image", args->image, "Image name, id or id prefix")->required();
  // Everything after IMAGE is the container's command, options included (`sh -c ...`):
  // CLI11's prefix mode stops parsing at the first positional it has no slot for.
  run->prefix_command();
  run->fallthrough(false);
  run->add_flag("--rm", args->remove, "Remove the container's layer when it exits");
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
