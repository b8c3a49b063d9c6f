// strata: the command-line entry point. Global flags, the command table, exit codes.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "core/strings.h"
#include "tools/commands.h"
#include "tools/context.h"

namespace strata::cli {
namespace {

void AddGlobalFlags(CLI::App& app, Context& ctx) {
  auto optional = [&app](const std::string& name, std::optional<std::string>& target,
                         const std::string& help) {
    app.add_option_function<std::string>(
           name, [&target](const std::string& v) { target = v; }, help)
        ->type_name("VALUE");
  };
  optional("--config", ctx.flags.config_path, "Config file (default /etc/strata/config.json)");
  optional("--root", ctx.flags.root, "Root directory for all state (default /var/lib/strata)");
  optional("--driver", ctx.flags.driver, "Graph driver: devicemapper, overlay, aufs, vfs (default: auto-detect)");
  optional("--log-level", ctx.flags.log_level, "trace, debug, info, warn, error, off");
  optional("--log-file", ctx.flags.log_file, "Also write the log to this file");
}

// For an unknown command word, names the closest command at that level ("layer lsx" -> "ls").
std::string Explain(const CLI::ParseError& e, CLI::App& app) {
  CLI::App* level = &app;
  std::string path = "strata";
  while (!level->get_subcommands().empty()) {
    level = level->get_subcommands().front();
    path += " " + level->get_name();
  }
  std::vector<std::string_view> names;
  for (const CLI::App* sub : level->get_subcommands({})) names.push_back(sub->get_name());
  if (names.empty()) return e.what();
  for (const std::string& extra : app.remaining()) {
    if (!extra.empty() && extra[0] != '-') {
      return "unknown command \"" + extra + "\" for \"" + path + "\"" + DidYouMean(extra, names);
    }
  }
  return e.what();
}

int Run(int argc, char** argv) {
  CLI::App app{"strata: graph drivers, thin pools, volumes and a runtime for containers"};
  app.name("strata");
  app.set_version_flag("--version", "strata 0.1.0");
  app.require_subcommand(1);
  app.fallthrough();
  Context ctx;
  AddGlobalFlags(app, ctx);
  Action action;
  for (const CommandGroup& group : kCommandGroups) group.setup(app, ctx, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string message = Explain(e, app);
    std::fprintf(stderr, "strata: usage: %s\nRun 'strata --help' for the commands.\n",
                 message.c_str());
    return kExitUsage;
  }
  if (!action) {
    std::fputs(app.help().c_str(), stderr);
    return kExitUsage;
  }
  return action();
}

}  // namespace
}  // namespace strata::cli

int main(int argc, char** argv) {
  try {
    return strata::cli::Run(argc, argv);
  } catch (const std::exception& e) {  // third-party exceptions stop here
    std::fprintf(stderr, "strata: internal error: %s\n", e.what());
    return strata::cli::kExitError;
  }
}
