// `strata info` and `strata driver ls`.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "containers/lifecycle.h"
#include "core/config.h"
#include "drivers/registry.h"
#include "tools/commands.h"
#include "tools/output.h"
#include "tools/vol_commands.h"

namespace strata::cli {
namespace {

nlohmann::json DriverJson(const drivers::Selection& selection) {
  nlohmann::json status = nlohmann::json::object();
  for (const auto& [key, value] : selection.driver->Describe()) status[key] = value;
  nlohmann::json skipped = nlohmann::json::object();
  for (const auto& [name, reason] : selection.skipped) skipped[name] = reason;
  return {{"name", selection.driver->Name()},
          {"home", selection.driver->Home()},
          {"selected-because", selection.why},
          {"status", status},
          {"skipped", skipped}};
}

void PrintConfigText(const Config& config) {
  std::printf("Config file:  %s%s\n", config.config_path.c_str(),
              config.config_file_loaded ? "" : " (not found; built-in defaults)");
  auto line = [](const char* label, const Setting<std::string>& s, const char* empty) {
    std::printf("%-13s %s  (%s)\n", label, s.value.empty() ? empty : s.value.c_str(),
                std::string(SourceName(s.source)).c_str());
  };
  line("Root:", config.root, "-");
  line("Driver:", config.driver, "auto-detect");
  line("Log level:", config.log_level, "-");
  line("Log file:", config.log_file, "none");
  std::printf("%-13s %s  (%s)\n", "Driver opts:", config.driver_opts.value.dump().c_str(),
              std::string(SourceName(config.driver_opts.source)).c_str());
  std::printf("%-13s %s  (%s)\n", "Volumes:", config.volumes.value.dump().c_str(),
              std::string(SourceName(config.volumes.source)).c_str());
}

// The default volume backend and how many volumes there are; EINVAL for bad "volumes" options.
Result<nlohmann::json> VolumesSummary(Context& ctx) {
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<volumes::Manager> manager, OpenVolumes(ctx));
  STRATA_ASSIGN_OR_RETURN(std::vector<volumes::VolumeInfo> all, manager->List({}));
  return nlohmann::json{
      {"default-backend", std::string(volumes::BackendName(manager->DefaultBackend()))},
      {"count", all.size()}};
}

void PrintDriverText(const drivers::Selection& selection) {
  std::printf("\nDriver %s (%s)\n", selection.driver->Name().c_str(), selection.why.c_str());
  std::printf("  %-22s %s\n", "Home:", selection.driver->Home().c_str());
  for (const auto& [key, value] : selection.driver->Describe())
    std::printf("  %-22s %s\n", (key + ":").c_str(), value.c_str());
  for (const auto& [name, reason] : selection.skipped)
    std::printf("  skipped %s: %s\n", name.c_str(), reason.c_str());
}

int RunInfo(Context& ctx) {
  auto config = ctx.GetConfig();
  if (!config.ok()) return ReportError(config.error());
  auto selection = ctx.GetDriver();
  auto layers = selection.ok() ? ctx.GetLayers() : Result<drivers::LayerStore*>(selection.error());
  Result<std::vector<drivers::LayerRecord>> list =
      layers.ok() ? (*layers)->List() : Result<std::vector<drivers::LayerRecord>>(layers.error());
  auto vols = list.ok() ? VolumesSummary(ctx) : Result<nlohmann::json>(list.error());
  auto image_store = list.ok() ? ctx.GetImages() : Result<images::ImageStore*>(list.error());
  auto image_list = image_store.ok() ? (*image_store)->List()
                                     : Result<std::vector<images::ImageRecord>>(image_store.error());
  auto container_store = image_list.ok() ? ctx.GetContainers()
                                         : Result<containers::ContainerStore*>(image_list.error());
  auto container_list =
      container_store.ok() ? (*container_store)->List()
                           : Result<std::vector<containers::ContainerRecord>>(container_store.error());
  size_t running = 0;
  if (container_list.ok()) {
    for (const auto& c : *container_list) running += containers::IsRunning(c) ? 1 : 0;
  }
  if (ctx.json) {
    nlohmann::json out = {{"config", ConfigToJson(**config)},
                          {"store", (*config)->root.value + "/strata.db"}};
    if (selection.ok()) out["driver"] = DriverJson(**selection);
    if (list.ok()) out["layers"] = list->size();
    if (vols.ok()) out["volumes"] = *vols;
    if (image_list.ok()) out["images"] = image_list->size();
    if (container_list.ok()) {
      out["containers"] = {{"count", container_list->size()}, {"running", running}};
    }
    if (!list.ok()) out["error"] = list.error().message();
    if (list.ok() && !vols.ok()) out["error"] = vols.error().message();
    PrintJson(out);
  } else {
    PrintConfigText(**config);
    if (selection.ok()) PrintDriverText(**selection);
    if (list.ok()) std::printf("\nLayers:       %zu\n", list->size());
    if (image_list.ok()) std::printf("Images:       %zu\n", image_list->size());
    if (container_list.ok()) {
      std::printf("Containers:   %zu (%zu running)\n", container_list->size(), running);
    }
    if (vols.ok()) {
      std::printf("Volumes:      %zu (default backend %s)\n", (*vols)["count"].get<size_t>(),
                  (*vols)["default-backend"].get<std::string>().c_str());
    }
  }
  if (!list.ok()) return ReportError(list.error());
  if (!vols.ok()) return ReportError(vols.error());
  if (!image_list.ok()) return ReportError(image_list.error());
  if (!container_list.ok()) return ReportError(container_list.error());
  return kExitOk;
}

int RunDriverLs(Context& ctx) {
  auto config = ctx.GetConfig();
  if (!config.ok()) return ReportError(config.error());
  drivers::DriverEnv env = ctx.DriverEnvFor(**config);
  nlohmann::json out = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows = {{"NAME", "SUPPORTED", "SUMMARY"}};
  for (const drivers::DriverEntry& entry : drivers::DriverTable()) {
    Status probe = entry.probe(env);
    std::string supported = probe.ok() ? "yes" : "no: " + probe.error().message();
    rows.push_back({std::string(entry.name), supported, std::string(entry.summary)});
    out.push_back({{"name", entry.name},
                   {"summary", entry.summary},
                   {"supported", probe.ok()},
                   {"reason", probe.ok() ? "" : probe.error().message()}});
  }
  if (ctx.json) {
    PrintJson(out);
  } else {
    PrintTable(rows);
  }
  return kExitOk;
}

}  // namespace

void SetupInfo(CLI::App& app, Context& ctx, Action& action) {
  CLI::App* info = app.add_subcommand("info", std::string(SummaryOf("info")));
  info->add_flag("--json", ctx.json, "Print JSON");
  info->callback([&ctx, &action] { action = [&ctx] { return RunInfo(ctx); }; });
}

void SetupDriver(CLI::App& app, Context& ctx, Action& action) {
  CLI::App* driver = app.add_subcommand("driver", std::string(SummaryOf("driver")));
  driver->require_subcommand(1);
  CLI::App* ls = driver->add_subcommand("ls", "List drivers in auto-detect order with support");
  ls->add_flag("--json", ctx.json, "Print JSON");
  ls->callback([&ctx, &action] { action = [&ctx] { return RunDriverLs(ctx); }; });
}

}  // namespace strata::cli
