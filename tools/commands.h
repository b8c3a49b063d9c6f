// The command table: one entry per command group, in the order `strata --help` lists them.
// Each Setup adds its subcommands to the app and, when one is chosen, stores what to run.
#pragma once

#include <array>
#include <functional>
#include <string_view>

#include "tools/context.h"

namespace CLI {
class App;
}

namespace strata::cli {

// The chosen command's body; returns the exit code.
using Action = std::function<int()>;

struct CommandGroup {
  std::string_view name;
  std::string_view summary;
  void (*setup)(CLI::App& app, Context& ctx, Action& action);
};

void SetupInfo(CLI::App& app, Context& ctx, Action& action);
void SetupDriver(CLI::App& app, Context& ctx, Action& action);
void SetupLayer(CLI::App& app, Context& ctx, Action& action);
void SetupDm(CLI::App& app, Context& ctx, Action& action);
void SetupPool(CLI::App& app, Context& ctx, Action& action);
void SetupVol(CLI::App& app, Context& ctx, Action& action);
void SetupImage(CLI::App& app, Context& ctx, Action& action);
void SetupRun(CLI::App& app, Context& ctx, Action& action);
void SetupOci(CLI::App& app, Context& ctx, Action& action);
void SetupPs(CLI::App& app, Context& ctx, Action& action);
void SetupStop(CLI::App& app, Context& ctx, Action& action);
void SetupKill(CLI::App& app, Context& ctx, Action& action);
void SetupRm(CLI::App& app, Context& ctx, Action& action);
void SetupLogs(CLI::App& app, Context& ctx, Action& action);

inline constexpr std::array kCommandGroups = {
    CommandGroup{"info", "Show the effective config, where each value came from, and the driver",
                 SetupInfo},
    CommandGroup{"driver", "List graph drivers and whether this kernel supports them",
                 SetupDriver},
    CommandGroup{"layer", "Create, mount, diff, import and export image and container layers",
                 SetupLayer},
    CommandGroup{"image",
                 "Images: load and save OCI layouts and docker-save archives, list, tag, remove",
                 SetupImage},
    CommandGroup{"run",
                 "Run a container from an image: its own layer, namespaces and cgroup, volumes",
                 SetupRun},
    CommandGroup{"ps", "List containers: running ones, or all with -a", SetupPs},
    CommandGroup{"stop", "Stop containers: SIGTERM, then SIGKILL after a timeout", SetupStop},
    CommandGroup{"kill", "Send a signal to containers", SetupKill},
    CommandGroup{"rm", "Remove containers: their layer, record and log", SetupRm},
    CommandGroup{"logs", "Print the output of a container run with -d", SetupLogs},
    CommandGroup{"oci",
                 "OCI runtime mode: create|start|state|kill|delete|run a bundle (runs strata-oci)",
                 SetupOci},
    CommandGroup{"vol", "Named volumes: create, attach, snapshot, resize, remove (thin, loop, local)",
                 SetupVol},
    CommandGroup{"pool", "Create, inspect, extend and check the device-mapper thin pool",
                 SetupPool},
    CommandGroup{"dm", "Show strata's device-mapper devices and their mapping tables", SetupDm},
};

// The summary of command group `name` ("" when there is none), for the group's own --help.
constexpr std::string_view SummaryOf(std::string_view name) {
  for (const CommandGroup& group : kCommandGroups) {
    if (group.name == name) return group.summary;
  }
  return "";
}

}  // namespace strata::cli
