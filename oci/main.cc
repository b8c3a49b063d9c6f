// strata-oci: an OCI runtime (runtime-spec 1.x command line) on strata's runtime library, lean
// enough to be exec'd per container by containerd or podman: it links strata_runtime and
// strata_core only (no sqlite, libarchive, device-mapper, spdlog).
//
//   strata-oci [--root DIR] [--log FILE] [--log-format text|json] [--systemd-cgroup] COMMAND ...
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/strings.h"
#include "oci/cli.h"
#include "oci/state.h"

namespace strata::oci {
namespace {

struct Command {
  const char* name;
  const char* usage;
  const char* summary;
  std::vector<FlagSpec> flags;
  Result<int> (*run)(const Globals&, const Args&);
};

const std::vector<FlagSpec> kCreateFlags = {
    {"b,bundle", true, "the bundle directory (default: the current directory)"},
    {"pid-file", true, "write the container's init pid to this file"},
    {"console-socket", true, "AF_UNIX socket for the terminal's master fd (not supported)"},
    {"no-pivot", false, "MS_MOVE + chroot instead of pivot_root"},
    {"no-new-keyring", false, "accepted; strata never creates a session keyring"},
    {"preserve-fds", true, "pass N more fds (3 .. 3+N-1) to the container"},
};

std::vector<FlagSpec> RunFlags() {
  std::vector<FlagSpec> f = kCreateFlags;
  f.push_back({"d,detach", false, "return once the container runs; do not wait for it"});
  f.push_back({"keep", false, "accepted; the container is always deleted after a foreground run"});
  return f;
}

const std::vector<Command>& Commands() {
  static const std::vector<Command> commands = {
      {"create", "create [flags] ID", "set up a container; its process waits for `start`",
       kCreateFlags, CmdCreate},
      {"start", "start ID", "let a created container's process exec", {}, CmdStart},
      {"run", "run [flags] ID",
       "create and start; in the foreground it waits and exits like "
       "the container",
       RunFlags(), CmdRun},
      {"state", "state ID", "print the container's state JSON", {}, CmdState},
      {"kill",
       "kill [--all] ID [SIGNAL]",
       "signal the container's init (default SIGTERM)",
       {{"a,all", false, "signal every process in the container's cgroup"}},
       CmdKill},
      {"delete",
       "delete [--force] ID",
       "remove a stopped (or created) container",
       {{"f,force", false, "kill a running container first; no error when it does not exist"}},
       CmdDelete},
      {"list",
       "list [--format table|json] [-q]",
       "list containers",
       {{"f,format", true, "table or json"}, {"q,quiet", false, "only ids"}},
       CmdList},
      {"features", "features", "print the supported features as JSON", {}, CmdFeatures},
  };
  return commands;
}

void PrintCommandHelp(const Command& c) {
  std::printf("Usage: strata-oci %s\n\n%s\n", c.usage, c.summary);
  if (!c.flags.empty()) std::printf("\nFlags:\n");
  for (const FlagSpec& f : c.flags) {
    std::string names;
    std::string all = f.names;
    size_t start = 0;
    while (start <= all.size()) {
      size_t comma = all.find(',', start);
      std::string n =
          all.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      names += (names.empty() ? "" : ", ") + std::string(n.size() == 1 ? "-" : "--") + n;
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    std::printf("  %-28s %s\n", (names + (f.takes_value ? " VALUE" : "")).c_str(), f.help);
  }
  std::printf("  %-28s %s\n", "-h, --help", "show this help");
}

void PrintHelp() {
  std::printf(
      "strata-oci: an OCI runtime (runtime-spec %s) built on strata's container runtime\n\n"
      "Usage: strata-oci [global flags] COMMAND [flags] ID\n\nCommands:\n",
      kSpecVersion);
  for (const Command& c : Commands()) std::printf("  %-10s %s\n", c.name, c.summary);
  std::printf(
      "\nGlobal flags:\n"
      "  --root DIR                 state directory (default /run/strata)\n"
      "  --log FILE                 append log lines (errors, warnings) to FILE\n"
      "  --log-format text|json     the --log format (default text)\n"
      "  --systemd-cgroup           accepted; cgroups are always managed on cgroupfs\n"
      "  -v, --version              print the version\n"
      "  -h, --help                 show this help\n");
}

void PrintVersion() {
  std::printf(
      "strata-oci version %s\nspec: %s\n+CAP +CGROUPS +HOOKS -SECCOMP -SELINUX -APPARMOR "
      "-TERMINAL\n",
      kVersion, kSpecVersion);
}

const std::vector<FlagSpec> kGlobalFlags = {
    {"root", true, ""},       {"log", true, ""},
    {"log-format", true, ""}, {"systemd-cgroup", false, ""},
    {"debug", false, ""},     {"criu", true, ""},
    {"rootless", true, ""},   {"cgroup-manager", true, ""},
    {"v,version", false, ""},
};

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // Global flags run up to the command word.
  size_t cmd_index = 0;
  std::vector<std::string> global_args;
  while (cmd_index < args.size() && args[cmd_index].size() > 1 && args[cmd_index][0] == '-') {
    global_args.push_back(args[cmd_index]);
    const std::string& a = args[cmd_index++];
    bool has_value =
        a.find('=') == std::string::npos &&
        (a == "--root" || a == "-root" || a == "--log" || a == "-log" || a == "--log-format" ||
         a == "-log-format" || a == "--criu" || a == "--rootless" || a == "--cgroup-manager");
    if (has_value && cmd_index < args.size()) global_args.push_back(args[cmd_index++]);
  }
  Logger log;
  auto fail = [&log](const Error& e) {
    log.Error(e.message());
    return kExitError;
  };
  auto globals = ParseArgs(global_args, kGlobalFlags);
  if (!globals.ok()) return fail(globals.error());
  if (globals->help && cmd_index >= args.size()) return PrintHelp(), 0;
  if (globals->Has("version")) return PrintVersion(), 0;
  Globals g;
  g.root = globals->Value("root", g.root);
  g.log_path = globals->Value("log");
  g.log_format = globals->Value("log-format", "text");
  g.systemd_cgroup =
      globals->Has("systemd-cgroup") || globals->Value("cgroup-manager") == "systemd";
  if (g.log_format != "text" && g.log_format != "json") {
    return fail(Error(EINVAL, "--log-format " + g.log_format + ": want text or json"));
  }
  if (!g.log_path.empty()) {
    Status opened = log.Open(g.log_path, g.log_format);
    if (!opened.ok()) return fail(opened.error());
  }
  g.log = &log;
  if (g.systemd_cgroup) {
    log.Warn("--systemd-cgroup: ignored; strata manages cgroups on cgroupfs (<root>/strata/<id>)");
  }
  if (cmd_index >= args.size()) {
    PrintHelp();
    return kExitError;
  }
  const std::string& name = args[cmd_index];
  if (name == "help") return PrintHelp(), 0;
  std::vector<std::string_view> names;
  for (const Command& c : Commands()) {
    names.push_back(c.name);
    if (name != c.name) continue;
    std::vector<std::string> rest(args.begin() + static_cast<long>(cmd_index) + 1, args.end());
    auto parsed = ParseArgs(rest, c.flags);
    if (!parsed.ok()) return fail(parsed.error().Wrap(name));
    if (parsed->help) return PrintCommandHelp(c), 0;
    auto code = c.run(g, *parsed);
    if (!code.ok()) return fail(code.error().Wrap(name));
    return *code;
  }
  return fail(Error(EINVAL, "unknown command \"" + name + "\"" + DidYouMean(name, names) +
                                "; see strata-oci --help"));
}

}  // namespace
}  // namespace strata::oci

int main(int argc, char** argv) {
  try {
    return strata::oci::Main(argc, argv);
  } catch (const std::exception& e) {  // third-party exceptions (nlohmann::json) stop here
    std::fprintf(stderr, "strata-oci: internal error: %s\n", e.what());
    return strata::oci::kExitError;
  }
}
