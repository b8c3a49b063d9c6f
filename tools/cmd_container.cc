// `strata ps`, `stop`, `kill`, `rm` and `logs`: the containers `strata run` made.
//
// The process that waits for a container (its monitor: the foreground `run`, or the process -d
// forked) records its end and releases what it held. These commands signal the container by
// pidfd and wait for the monitor; when the monitor died, `stop` and `rm` finish its work.
#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "containers/container_store.h"
#include "containers/lifecycle.h"
#include "core/unique_fd.h"
#include "runtime/process_info.h"
#include "tools/commands.h"
#include "tools/output.h"
#include "tools/vol_commands.h"

namespace strata::cli {
namespace {

using containers::ContainerRecord;
using containers::State;

constexpr std::chrono::seconds kMonitorWait{30};
constexpr std::chrono::seconds kKillWait{10};

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

std::string Duration(int64_t seconds) {
  if (seconds < 0) seconds = 0;
  auto unit = [](int64_t n, const char* name) {
    return std::to_string(n) + " " + name + (n == 1 ? "" : "s");
  };
  if (seconds < 60) return seconds <= 1 ? "1 second" : unit(seconds, "second");
  if (seconds < 3600) return unit(seconds / 60, "minute");
  if (seconds < 86400) return unit(seconds / 3600, "hour");
  return unit(seconds / 86400, "day");
}

// What `ps` shows in STATUS, from the record and the processes' liveness.
std::string StatusText(const ContainerRecord& c) {
  switch (c.state) {
    case State::kCreated:
      return containers::MonitorAlive(c) ? "Starting" : "Created";
    case State::kRunning:
      if (containers::IsRunning(c)) return "Up " + Duration(Now() - c.started);
      if (containers::MonitorAlive(c)) return "Exiting";
      return "Dead (its monitor died; `strata rm` cleans up)";
    case State::kExited:
      return "Exited (" + (c.exit_code ? std::to_string(*c.exit_code) : std::string("?")) + ") " +
             Duration(Now() - c.finished) + " ago";
    case State::kRemoving:
      return "Removing";
  }
  return "?";
}

// Shown in `ps` and matched by `ps` without -a: a container with a live process (or starting).
bool IsActive(const ContainerRecord& c) {
  if (c.state == State::kRunning) return containers::IsRunning(c) || containers::MonitorAlive(c);
  return c.state == State::kCreated && containers::MonitorAlive(c);
}

std::string CommandText(const std::vector<std::string>& argv) {
  std::string text;
  for (const std::string& arg : argv) text += (text.empty() ? "" : " ") + arg;
  if (text.size() > 30) text = text.substr(0, 27) + "...";
  return "\"" + text + "\"";
}

nlohmann::json ContainerJson(const ContainerRecord& c) {
  nlohmann::json volumes = nlohmann::json::array();
  for (const auto& v : c.volumes) volumes.push_back({{"volume", v.volume}, {"target", v.target}});
  nlohmann::json out = {
      {"id", c.id},
      {"name", c.name},
      {"image", c.image_ref},
      {"image_id", c.image},
      {"command", c.command},
      {"state", containers::StateName(c.state)},
      {"status", StatusText(c)},
      {"running", containers::IsRunning(c)},
      {"detached", c.detached},
      {"auto_remove", c.auto_remove},
      {"pid", containers::IsRunning(c) ? c.pid : 0},
      {"monitor_pid", containers::MonitorAlive(c) ? c.monitor_pid : 0},
      {"exit_code", c.exit_code ? nlohmann::json(*c.exit_code) : nlohmann::json(nullptr)},
      {"created", FormatTime(c.created)},
      {"started", c.started ? nlohmann::json(FormatTime(c.started)) : nlohmann::json(nullptr)},
      {"finished", c.finished ? nlohmann::json(FormatTime(c.finished)) : nlohmann::json(nullptr)},
      {"volumes", volumes},
      {"cgroups", c.cgroup_dirs},
  };
  return out;
}

// The objects the container commands share, opened once per command.
struct Opened {
  containers::ContainerStore* records = nullptr;
  drivers::LayerStore* layers = nullptr;
  std::string root;
  std::unique_ptr<volumes::Manager> vols;
};

Result<Opened> Open(Context& ctx) {
  Opened o;
  STRATA_ASSIGN_OR_RETURN(o.records, ctx.GetContainers());
  STRATA_ASSIGN_OR_RETURN(Store * store, ctx.GetStore());
  o.root = store->Dir();
  return o;
}

Result<drivers::LayerStore*> Layers(Context& ctx, Opened& o) {
  if (o.layers == nullptr) {
    STRATA_ASSIGN_OR_RETURN(o.layers, ctx.GetLayers());
  }
  return o.layers;
}

Result<volumes::Manager*> Volumes(Context& ctx, Opened& o, const ContainerRecord& c) {
  if (c.volumes.empty()) return static_cast<volumes::Manager*>(nullptr);
  if (!o.vols) {
    STRATA_ASSIGN_OR_RETURN(o.vols, OpenVolumes(ctx));
  }
  return o.vols.get();
}

// Once the container's processes are gone: waits for its monitor to record the end; when the
// monitor died, does its work (release, record exited with no code, or remove with --rm).
// Returns the record as it is now (nullopt when --rm removed it).
Result<std::optional<ContainerRecord>> Settle(Context& ctx, Opened& o, ContainerRecord c) {
  if (containers::MonitorAlive(c)) {
    if (!containers::WaitGone(c.monitor_pid, c.monitor_start, kMonitorWait)) {
      return Error(ETIMEDOUT, "container " + c.DisplayName() + ": its monitor (pid " +
                                  std::to_string(c.monitor_pid) + ") did not finish in " +
                                  std::to_string(kMonitorWait.count()) + "s");
    }
  }
  Result<ContainerRecord> now = o.records->Get(c.id);
  if (!now.ok()) {
    if (now.error().code() == ENOENT) return std::optional<ContainerRecord>();
    return now.error();
  }
  c = *now;
  if (c.state != State::kRunning || containers::IsRunning(c)) return std::optional(c);
  // The monitor died before recording the end: finish its work.
  STRATA_ASSIGN_OR_RETURN(drivers::LayerStore * layers, Layers(ctx, o));
  STRATA_ASSIGN_OR_RETURN(volumes::Manager * vols, Volumes(ctx, o, c));
  if (c.auto_remove) {
    STRATA_TRY(containers::RemoveContainer(*o.records, c, o.root, *layers, vols));
    return std::optional<ContainerRecord>();
  }
  STRATA_TRY(containers::ReleaseRuntime(c, *layers, vols));
  c.state = State::kExited;
  c.exit_code.reset();
  c.finished = Now();
  STRATA_TRY(o.records->Update(c));
  return std::optional(c);
}

// SIGTERM (or `sig`), `timeout` to exit, then SIGKILL; then Settle.
Result<std::optional<ContainerRecord>> StopOne(Context& ctx, Opened& o, const ContainerRecord& c,
                                               int sig, std::chrono::seconds timeout) {
  if (containers::IsRunning(c)) {
    Status sent = containers::SignalContainer(c, sig);
    if (!sent.ok() && sent.error().code() != ESRCH) return sent.error();
    if (!containers::WaitGone(c.pid, c.pid_start, timeout)) {
      Status killed = containers::SignalContainer(c, SIGKILL);
      if (!killed.ok() && killed.error().code() != ESRCH) return killed.error();
      if (!containers::WaitGone(c.pid, c.pid_start, kKillWait)) {
        return Error(ETIMEDOUT, "container " + c.DisplayName() + " (pid " + std::to_string(c.pid) +
                                    ") is still alive " + std::to_string(kKillWait.count()) +
                                    "s after SIGKILL");
      }
    }
  }
  return Settle(ctx, o, c);
}

// Runs `each` on every ref; prints errors as they come; exit 1 when any failed.
template <typename F>
int ForEach(const std::vector<std::string>& refs, F each) {
  int rc = kExitOk;
  for (const std::string& ref : refs) {
    Status s = each(ref);
    if (!s.ok()) rc = ReportError(s.error());
  }
  return rc;
}

// --- ps ----------------------------------------------------------------------------------------

int Ps(Context& ctx, bool all, bool quiet) {
  auto o = Open(ctx);
  if (!o.ok()) return ReportError(o.error());
  auto list = o->records->List();
  if (!list.ok()) return ReportError(list.error());
  std::vector<ContainerRecord> shown;
  for (const ContainerRecord& c : *list) {
    if (all || IsActive(c)) shown.push_back(c);
  }
  if (ctx.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const ContainerRecord& c : shown) out.push_back(ContainerJson(c));
    PrintJson(out);
    return kExitOk;
  }
  if (quiet) {
    for (const ContainerRecord& c : shown) std::printf("%s\n", c.ShortId().c_str());
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"CONTAINER ID", "NAME", "IMAGE", "COMMAND", "CREATED", "STATUS", "PID"}};
  for (const ContainerRecord& c : shown) {
    bool running = containers::IsRunning(c);
    rows.push_back({c.ShortId(), c.name.empty() ? "-" : c.name, c.image_ref,
                    CommandText(c.command), Duration(Now() - c.created) + " ago", StatusText(c),
                    running ? std::to_string(c.pid) : "-"});
  }
  PrintTable(rows);
  return kExitOk;
}

// --- stop, kill ----------------------------------------------------------------------------------

int Stop(Context& ctx, const std::vector<std::string>& refs, int timeout_seconds,
         const std::string& signal_name) {
  auto o = Open(ctx);
  if (!o.ok()) return ReportError(o.error());
  auto sig = runtime::ParseSignal(signal_name);
  if (!sig.ok()) return ReportError(sig.error().Wrap("stop --signal"));
  return ForEach(refs, [&](const std::string& ref) -> Status {
    STRATA_ASSIGN_OR_RETURN(ContainerRecord c, o->records->Get(ref));
    STRATA_TRY_CTX(StopOne(ctx, *o, c, *sig, std::chrono::seconds(timeout_seconds)),
                   "stop " + c.DisplayName());
    std::printf("%s\n", ref.c_str());
    return Ok();
  });
}

int Kill(Context& ctx, const std::vector<std::string>& refs, const std::string& signal_name) {
  auto o = Open(ctx);
  if (!o.ok()) return ReportError(o.error());
  auto sig = runtime::ParseSignal(signal_name);
  if (!sig.ok()) return ReportError(sig.error().Wrap("kill --signal"));
  return ForEach(refs, [&](const std::string& ref) -> Status {
    STRATA_ASSIGN_OR_RETURN(ContainerRecord c, o->records->Get(ref));
    STRATA_TRY_CTX(containers::SignalContainer(c, *sig), "kill");
    std::printf("%s\n", ref.c_str());
    return Ok();
  });
}

// --- rm ------------------------------------------------------------------------------------------

int Rm(Context& ctx, const std::vector<std::string>& refs, bool force) {
  auto o = Open(ctx);
  if (!o.ok()) return ReportError(o.error());
  return ForEach(refs, [&](const std::string& ref) -> Status {
    Result<ContainerRecord> found = o->records->Get(ref);
    if (!found.ok() && found.error().code() == ENOENT) {  // idempotent, as `image rm`
      std::fprintf(stderr, "strata: %s: already gone\n", ref.c_str());
      return Ok();
    }
    if (!found.ok()) return found.error();
    ContainerRecord c = *found;
    const std::string what = "container " + c.DisplayName();
    if (c.state == State::kCreated && containers::MonitorAlive(c)) {
      return Error(EBUSY, "rm " + what + ": it is starting (pid " +
                              std::to_string(c.monitor_pid) + "); try again");
    }
    if (containers::IsRunning(c)) {
      if (!force) {
        return Error(EBUSY, "rm " + what + ": it is running; stop it first (`strata stop " +
                                c.DisplayName() + "`) or use rm --force");
      }
      STRATA_ASSIGN_OR_RETURN(auto settled, StopOne(ctx, *o, c, SIGKILL, kKillWait));
      if (!settled) {  // --rm: its monitor removed it
        std::printf("%s\n", ref.c_str());
        return Ok();
      }
      c = *settled;
    } else if (c.state == State::kRunning) {
      STRATA_ASSIGN_OR_RETURN(auto settled, Settle(ctx, *o, c));
      if (!settled) {
        std::printf("%s\n", ref.c_str());
        return Ok();
      }
      c = *settled;
    }
    STRATA_ASSIGN_OR_RETURN(drivers::LayerStore * layers, Layers(ctx, *o));
    STRATA_ASSIGN_OR_RETURN(volumes::Manager * vols, Volumes(ctx, *o, c));
    STRATA_TRY(containers::RemoveContainer(*o->records, c, o->root, *layers, vols));
    std::printf("%s\n", ref.c_str());
    return Ok();
  });
}

// --- logs ----------------------------------------------------------------------------------------

// Copies what `fd` has from its offset to stdout.
Status CopyAvailable(int fd) {
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno("read the log");
    if (n == 0) return Ok();
    if (std::fwrite(buf, 1, static_cast<size_t>(n), stdout) != static_cast<size_t>(n)) {
      return Error(EPIPE, "write the log to stdout");
    }
  }
}

int Logs(Context& ctx, const std::string& ref, bool follow) {
  auto o = Open(ctx);
  if (!o.ok()) return ReportError(o.error());
  auto c = o->records->Get(ref);
  if (!c.ok()) return ReportError(c.error().Wrap("logs"));
  if (!c->detached) {
    return ReportError(Error(EINVAL, "logs: container " + c->DisplayName() +
                                         " ran in the foreground: its output went to the "
                                         "terminal; only containers run with -d have a log"));
  }
  const std::string path = containers::LogPath(o->root, c->id);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ReportError(Error::FromErrno("logs: open " + path));
  while (true) {
    // Liveness first, then the copy: what was written before the end is always read.
    bool live = follow && (containers::IsRunning(*c) || containers::MonitorAlive(*c) ||
                           c->state == State::kCreated);
    Status copied = CopyAvailable(fd.Get());
    std::fflush(stdout);
    if (!copied.ok()) return ReportError(copied.error().Wrap("logs"));
    if (!live) return kExitOk;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (c->state == State::kCreated) {
      auto again = o->records->Get(c->id);
      if (!again.ok()) return kExitOk;
      *c = *again;
      if (c->state == State::kCreated && !containers::MonitorAlive(*c)) return kExitOk;
    }
  }
}

}  // namespace

void SetupPs(CLI::App& app, Context& ctx, Action& action) {
  CLI::App* cmd = app.add_subcommand("ps", std::string(SummaryOf("ps")));
  auto all = std::make_shared<bool>(false);
  auto quiet = std::make_shared<bool>(false);
  cmd->add_flag("-a,--all", *all, "Show every container, not only running ones");
  cmd->add_flag("-q,--quiet", *quiet, "Print short ids only");
  cmd->add_flag("--json", ctx.json, "Print JSON (state, status, pid, exit code, volumes...)");
  cmd->callback([&ctx, &action, all, quiet] {
    action = [&ctx, all, quiet] { return Ps(ctx, *all, *quiet); };
  });
}

void SetupStop(CLI::App& app, Context& ctx, Action& action) {
  CLI::App* cmd = app.add_subcommand("stop", std::string(SummaryOf("stop")));
  auto refs = std::make_shared<std::vector<std::string>>();
  auto timeout = std::make_shared<int>(10);
  auto sig = std::make_shared<std::string>("TERM");
  cmd->add_option("container", *refs, "Container names or ids")->required();
  cmd->add_option("-t,--time", *timeout, "Seconds to wait before SIGKILL (default 10)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("-s,--signal", *sig, "Signal to send first (default TERM)");
  cmd->callback([&ctx, &action, refs, timeout, sig] {
    action = [&ctx, refs, timeout, sig] { return Stop(ctx, *refs, *timeout, *sig); };
  });
}

void SetupKill(CLI::App& app, Context& ctx, Action& action) {
  CLI::App* cmd = app.add_subcommand("kill", std::string(SummaryOf("kill")));
  auto refs = std::make_shared<std::vector<std::string>>();
  auto sig = std::make_shared<std::string>("KILL");
  cmd->add_option("container", *refs, "Container names or ids")->required();
  cmd->add_option("-s,--signal", *sig, "Signal: a name (TERM, SIGHUP) or a number (default KILL)");
  cmd->callback([&ctx, &action, refs, sig] {
    action = [&ctx, refs, sig] { return Kill(ctx, *refs, *sig); };
  });
}

void SetupRm(CLI::App& app, Context& ctx, Action& action) {
  CLI::App* cmd = app.add_subcommand("rm", std::string(SummaryOf("rm")));
  auto refs = std::make_shared<std::vector<std::string>>();
  auto force = std::make_shared<bool>(false);
  cmd->add_option("container", *refs, "Container names or ids")->required();
  cmd->add_flag("-f,--force", *force, "Kill a running container first");
  cmd->callback([&ctx, &action, refs, force] {
    action = [&ctx, refs, force] { return Rm(ctx, *refs, *force); };
  });
}

void SetupLogs(CLI::App& app, Context& ctx, Action& action) {
  CLI::App* cmd = app.add_subcommand("logs", std::string(SummaryOf("logs")));
  auto ref = std::make_shared<std::string>();
  auto follow = std::make_shared<bool>(false);
  cmd->add_option("container", *ref, "Container name or id")->required();
  cmd->add_flag("-f,--follow", *follow, "Keep printing until the container exits");
  cmd->callback([&ctx, &action, ref, follow] {
    action = [&ctx, ref, follow] { return Logs(ctx, *ref, *follow); };
  });
}

}  // namespace strata::cli
