// `strata vol snapshot|resize|attach|detach|rm|prune` (create, ls and inspect: cmd_vol.cc).
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/units.h"
#include "tools/commands.h"
#include "tools/output.h"
#include "tools/vol_commands.h"

namespace strata::cli {
namespace {

// Runs `body` on a freshly opened manager; errors are reported with `what`.
template <class Body>
int WithVolumes(Context& ctx, const std::string& what, Body body) {
  auto manager = OpenVolumes(ctx);
  if (!manager.ok()) return ReportError(manager.error().Wrap(what));
  return body(**manager);
}

void SetupSnapshot(CLI::App& vol, Context& ctx, Action& action) {
  struct Args {
    std::string origin, name;
    std::vector<std::string> labels;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = vol.add_subcommand(
      "snapshot", "Take a point-in-time snapshot of a volume (attach it --ro, or vol create --from)");
  cmd->add_option("volume", args->origin, "The volume")->required();
  cmd->add_option("name", args->name, "Name of the new snapshot")->required();
  cmd->add_option("--label", args->labels, "Label KEY=VALUE (repeatable)")
      ->allow_extra_args(false);
  cmd->callback([&ctx, &action, args] {
    action = [&ctx, args] {
      return WithVolumes(ctx, "vol snapshot", [&](volumes::Manager& m) {
        auto labels = ParseLabels(args->labels);
        if (!labels.ok()) return ReportError(labels.error().Wrap("vol snapshot"));
        auto made = m.Snapshot(args->origin, args->name, *labels);
        if (!made.ok()) return ReportError(made.error());
        std::printf("%s\n", made->name.c_str());
        return kExitOk;
      });
    };
  });
}

void SetupResize(CLI::App& vol, Context& ctx, Action& action) {
  struct Args {
    std::string name, size;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = vol.add_subcommand(
      "resize", "Grow a volume and its filesystem (online when attached); +SIZE adds");
  cmd->add_option("name", args->name, "The volume")->required();
  cmd->add_option("size", args->size, "New size (20G) or growth (+5G)")->required();
  cmd->callback([&ctx, &action, args] {
    action = [&ctx, args] {
      return WithVolumes(ctx, "vol resize", [&](volumes::Manager& m) {
        const std::string what = "vol resize \"" + args->name + "\"";
        const bool relative = !args->size.empty() && args->size[0] == '+';
        auto bytes = ParseSize(relative ? args->size.substr(1) : args->size);
        if (!bytes.ok()) return ReportError(bytes.error().Wrap(what));
        uint64_t target = *bytes;
        if (relative) {
          auto info = m.Inspect(args->name);
          if (!info.ok()) return ReportError(info.error());
          target += info->record.size_bytes;
        }
        auto grown = m.Resize(args->name, target);
        if (!grown.ok()) return ReportError(grown.error());
        std::printf("%s\n", FormatSize(grown->size_bytes).c_str());
        return kExitOk;
      });
    };
  });
}

void SetupAttach(CLI::App& vol, Context& ctx, Action& action) {
  struct Args {
    std::string name, path;
    bool read_only = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = vol.add_subcommand("attach", "Mount a volume at a path (created if missing)");
  cmd->add_option("name", args->name, "The volume")->required();
  cmd->add_option("path", args->path, "Where to mount it")->required();
  cmd->add_flag("--ro", args->read_only, "Read-only");
  cmd->callback([&ctx, &action, args] {
    action = [&ctx, args] {
      return WithVolumes(ctx, "vol attach", [&](volumes::Manager& m) {
        auto attached = m.Attach(args->name, args->path, args->read_only);
        if (!attached.ok()) return ReportError(attached.error());
        std::printf("%s\n", attached->target.c_str());
        return kExitOk;
      });
    };
  });
}

void SetupDetach(CLI::App& vol, Context& ctx, Action& action) {
  struct Args {
    std::string name, path;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = vol.add_subcommand(
      "detach", "Unmount a volume from PATH, or from everywhere (idempotent)");
  cmd->add_option("name", args->name, "The volume")->required();
  cmd->add_option("path", args->path, "One attachment (default: all)");
  cmd->callback([&ctx, &action, args] {
    action = [&ctx, args] {
      return WithVolumes(ctx, "vol detach", [&](volumes::Manager& m) {
        std::optional<std::string> target;
        if (!args->path.empty()) target = args->path;
        auto detached = m.Detach(args->name, target);
        if (!detached.ok()) return ReportError(detached.error());
        for (const volumes::Attachment& a : *detached) std::printf("%s\n", a.target.c_str());
        return kExitOk;
      });
    };
  });
}

void SetupRemove(CLI::App& vol, Context& ctx, Action& action) {
  struct Args {
    std::vector<std::string> names;
    bool force = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = vol.add_subcommand(
      "rm", "Remove volumes (absent ones are fine; attached ones need --force)");
  cmd->alias("remove");
  cmd->add_option("names", args->names, "Volume names")->required();
  cmd->add_flag("-f,--force", args->force, "Detach attached volumes first");
  cmd->callback([&ctx, &action, args] {
    action = [&ctx, args] {
      return WithVolumes(ctx, "vol rm", [&](volumes::Manager& m) {
        int status = kExitOk;
        for (const std::string& name : args->names) {
          auto removed = m.Remove(name, args->force);
          if (!removed.ok()) {
            status = ReportError(removed.error());
          } else if (*removed) {
            std::printf("%s\n", name.c_str());
          }
        }
        return status;
      });
    };
  });
}

// Asks on a terminal; elsewhere --force is required (a script must say it means it).
Status ConfirmPrune(bool force) {
  if (force) return Ok();
  if (!::isatty(STDIN_FILENO)) {
    return Error(EINVAL, "vol prune: removes every volume that is not attached; stdin is not a "
                         "terminal, so pass --force to confirm");
  }
  std::fprintf(stderr, "This removes every volume that is not attached (matching the filters). "
                       "Continue? [y/N] ");
  std::string answer;
  std::getline(std::cin, answer);
  if (answer == "y" || answer == "Y" || answer == "yes") return Ok();
  return Error(ECANCELED, "vol prune: cancelled");
}

void SetupPrune(CLI::App& vol, Context& ctx, Action& action) {
  struct Args {
    std::vector<std::string> filters;
    bool force = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = vol.add_subcommand("prune", "Remove every volume that is not attached");
  cmd->add_option("--filter", args->filters, "As in vol ls (repeatable)")
      ->allow_extra_args(false);
  cmd->add_flag("-f,--force", args->force, "Do not ask");
  cmd->callback([&ctx, &action, args] {
    action = [&ctx, args] {
      std::vector<volumes::VolumeFilter> filters;
      for (const std::string& text : args->filters) {
        auto f = volumes::ParseVolumeFilter(text);
        if (!f.ok()) return ReportError(f.error().Wrap("vol prune"));
        filters.push_back(std::move(*f));
      }
      Status confirmed = ConfirmPrune(args->force);
      if (!confirmed.ok()) return ReportError(confirmed.error());
      return WithVolumes(ctx, "vol prune", [&](volumes::Manager& m) {
        auto removed = m.Prune(filters);
        if (!removed.ok()) return ReportError(removed.error());
        for (const std::string& name : *removed) std::printf("%s\n", name.c_str());
        return kExitOk;
      });
    };
  });
}

}  // namespace

void SetupVolMaintenance(CLI::App& vol, Context& ctx, Action& action) {
  SetupSnapshot(vol, ctx, action);
  SetupResize(vol, ctx, action);
  SetupAttach(vol, ctx, action);
  SetupDetach(vol, ctx, action);
  SetupRemove(vol, ctx, action);
  SetupPrune(vol, ctx, action);
}

}  // namespace strata::cli
