// `strata vol create|ls|inspect|snapshot|resize|attach|detach|rm|prune`: named volumes
// (volumes/manager.h) on the thin, loop and local backends.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/sys/device_mapper.h"
#include "core/sys/loop.h"
#include "core/sys/mounts.h"
#include "core/sys/quota.h"
#include "core/strings.h"
#include "core/units.h"
#include "thinpool/pool_config.h"
#include "tools/commands.h"
#include "tools/output.h"
#include "tools/vol_commands.h"

namespace strata::cli {

using volumes::Manager;

Result<std::unique_ptr<Manager>> OpenVolumes(Context& ctx) {
  STRATA_ASSIGN_OR_RETURN(const Config* config, ctx.GetConfig());
  STRATA_ASSIGN_OR_RETURN(Store * store, ctx.GetStore());
  volumes::ManagerEnv env;
  STRATA_ASSIGN_OR_RETURN_CTX(env.defaults, volumes::ParseVolumeDefaults(config->volumes.value),
                              "config " + config->config_path);
  const nlohmann::json& opts = config->driver_opts.value;
  STRATA_ASSIGN_OR_RETURN(env.backend_env.pool_config,
                          thinpool::ParsePoolConfig(opts.contains("devicemapper")
                                                        ? opts["devicemapper"]
                                                        : nlohmann::json()));
  env.backend_env.root = config->root.value;
  env.backend_env.store = store;
  env.backend_env.mounts = &sys::LinuxMounts();
  env.backend_env.loop = &sys::LinuxLoop();
  env.backend_env.dm = &sys::LinuxDeviceMapper();
  env.backend_env.quota = &sys::LinuxQuota();
  return std::make_unique<Manager>(std::move(env));
}

nlohmann::json VolumeJson(const volumes::VolumeInfo& info) {
  const volumes::VolumeRecord& v = info.record;
  nlohmann::json attachments = nlohmann::json::array();
  for (const volumes::Attachment& a : info.attachments) {
    attachments.push_back({{"target", a.target},
                           {"read_only", a.read_only},
                           {"attached", FormatTime(a.created_unix)}});
  }
  nlohmann::json out = {{"name", v.name},
                        {"backend", std::string(volumes::BackendName(v.backend))},
                        {"size_bytes", v.size_bytes},
                        {"size", v.size_bytes ? FormatSize(v.size_bytes) : ""},
                        {"labels", v.labels},
                        {"mount_options", v.mount_options},
                        {"origin", v.origin},
                        {"snapshot", v.snapshot},
                        {"state", std::string(volumes::StateName(v.state))},
                        {"created", FormatTime(v.created_unix)},
                        {"attachments", attachments}};
  if (v.backend != volumes::BackendKind::kLocal) {
    out["fs"] = std::string(thinpool::FilesystemName(v.fs));
    out["mkfs_options"] = v.mkfs_options;
  } else {
    out["path"] = v.path;
  }
  if (info.details) {
    out["device"] = info.details->device;
    out["location"] = info.details->location;
    out["used_bytes"] = info.details->used_bytes ? nlohmann::json(*info.details->used_bytes)
                                                 : nlohmann::json();
  }
  return out;
}

Result<std::map<std::string, std::string>> ParseLabels(const std::vector<std::string>& items) {
  std::map<std::string, std::string> labels;
  for (const std::string& item : items) {
    const size_t eq = item.find('=');
    std::string key = item.substr(0, eq);
    if (key.empty()) return Error(EINVAL, "--label " + item + ": expected KEY=VALUE");
    labels[key] = eq == std::string::npos ? "" : item.substr(eq + 1);
  }
  return labels;
}

namespace {

struct CreateArgs {
  std::string name, backend, size, fs, path, from;
  std::vector<std::string> mkfs_options, mount_options, labels;
  bool mkfs_given = false, mount_given = false;
};

Result<volumes::CreateRequest> BuildRequest(const CreateArgs& args) {
  volumes::CreateRequest req;
  req.name = args.name;
  if (!args.backend.empty()) {
    STRATA_ASSIGN_OR_RETURN_CTX(req.backend, volumes::ParseBackend(args.backend), "--backend");
  }
  if (!args.size.empty()) {
    STRATA_ASSIGN_OR_RETURN_CTX(req.size_bytes, ParseSize(args.size), "--size");
  }
  if (!args.fs.empty()) {
    STRATA_ASSIGN_OR_RETURN_CTX(req.fs, volumes::ParseFilesystem(args.fs), "--fs");
  }
  if (args.mkfs_given) req.mkfs_options = args.mkfs_options;
  if (args.mount_given) req.mount_options = args.mount_options;
  STRATA_ASSIGN_OR_RETURN(req.labels, ParseLabels(args.labels));
  req.path = args.path;
  req.from = args.from;
  return req;
}

int RunCreate(Context& ctx, const CreateArgs& args) {
  auto req = BuildRequest(args);
  if (!req.ok()) return ReportError(req.error().Wrap("vol create \"" + args.name + "\""));
  auto manager = OpenVolumes(ctx);
  if (!manager.ok()) return ReportError(manager.error().Wrap("vol create \"" + args.name + "\""));
  auto made = (*manager)->Create(*req);
  if (!made.ok()) return ReportError(made.error());
  if (ctx.json) {
    PrintJson(VolumeJson(volumes::VolumeInfo{*made, {}, std::nullopt}));
  } else {
    std::printf("%s\n", made->name.c_str());
  }
  return kExitOk;
}

void SetupCreate(CLI::App& vol, Context& ctx, Action& action) {
  auto args = std::make_shared<CreateArgs>();
  CLI::App* cmd = vol.add_subcommand("create", "Create a named volume");
  cmd->add_option("name", args->name, "Volume name: [a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}")
      ->required();
  cmd->add_option("--size", args->size, "Size (10G, 512M); default from the config, else 10G");
  cmd->add_option("--backend", args->backend,
                  "thin | loop | local (default: config, else thin where device-mapper works, "
                  "else loop)");
  cmd->add_option("--fs", args->fs, "ext4 | xfs (thin and loop; default ext4)");
  cmd->add_option("--mkfs-opt", args->mkfs_options, "Extra mkfs argument (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--mount-opt", args->mount_options, "Mount option (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--label", args->labels, "Label KEY=VALUE (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--path", args->path, "local: use this existing directory");
  cmd->add_option("--from", args->from, "Make the volume from this snapshot (or volume)");
  cmd->add_flag("--json", ctx.json, "Print the volume as JSON");
  cmd->callback([&ctx, &action, args, cmd] {
    args->mkfs_given = cmd->count("--mkfs-opt") > 0;
    args->mount_given = cmd->count("--mount-opt") > 0;
    action = [&ctx, args] { return RunCreate(ctx, *args); };
  });
}

int RunList(Context& ctx, const std::vector<std::string>& filter_texts, bool quiet) {
  std::vector<volumes::VolumeFilter> filters;
  for (const std::string& text : filter_texts) {
    auto f = volumes::ParseVolumeFilter(text);
    if (!f.ok()) return ReportError(f.error().Wrap("vol ls"));
    filters.push_back(std::move(*f));
  }
  auto manager = OpenVolumes(ctx);
  if (!manager.ok()) return ReportError(manager.error().Wrap("vol ls"));
  auto all = (*manager)->List(filters);
  if (!all.ok()) return ReportError(all.error().Wrap("vol ls"));
  if (ctx.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const volumes::VolumeInfo& info : *all) out.push_back(VolumeJson(info));
    PrintJson(out);
    return kExitOk;
  }
  if (quiet) {
    for (const volumes::VolumeInfo& info : *all) std::printf("%s\n", info.record.name.c_str());
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "BACKEND", "FS", "SIZE", "ATTACHED", "CREATED"}};
  for (const volumes::VolumeInfo& info : *all) {
    const volumes::VolumeRecord& v = info.record;
    std::vector<std::string> targets;
    for (const volumes::Attachment& a : info.attachments) {
      targets.push_back(a.target + (a.read_only ? " (ro)" : ""));
    }
    rows.push_back({v.name + (v.snapshot ? " (snapshot)" : ""),
                    std::string(volumes::BackendName(v.backend)),
                    v.backend == volumes::BackendKind::kLocal
                        ? "-"
                        : std::string(thinpool::FilesystemName(v.fs)),
                    v.size_bytes ? FormatSize(v.size_bytes) : "-",
                    targets.empty() ? "-" : Join(targets, ","), FormatTime(v.created_unix)});
  }
  PrintTable(rows);
  return kExitOk;
}

void SetupList(CLI::App& vol, Context& ctx, Action& action) {
  auto filters = std::make_shared<std::vector<std::string>>();
  auto quiet = std::make_shared<bool>(false);
  CLI::App* ls = vol.add_subcommand("ls", "List volumes");
  ls->alias("list");
  ls->add_option("-f,--filter", *filters,
                 "label=KEY, label=KEY=VALUE, backend=NAME, name=TEXT (repeatable; all must "
                 "match)")
      ->allow_extra_args(false);
  ls->add_flag("-q,--quiet", *quiet, "Print names only");
  ls->add_flag("--json", ctx.json, "Print JSON");
  ls->callback([&ctx, &action, filters, quiet] {
    action = [&ctx, filters, quiet] { return RunList(ctx, *filters, *quiet); };
  });
}

int RunInspect(Context& ctx, const std::vector<std::string>& names) {
  auto manager = OpenVolumes(ctx);
  if (!manager.ok()) return ReportError(manager.error().Wrap("vol inspect"));
  nlohmann::json out = nlohmann::json::array();
  int status = kExitOk;
  for (const std::string& name : names) {
    auto info = (*manager)->Inspect(name);
    if (!info.ok()) {
      status = ReportError(info.error());
      continue;
    }
    out.push_back(VolumeJson(*info));
  }
  PrintJson(out);
  return status;
}

void SetupInspect(CLI::App& vol, Context& ctx, Action& action) {
  auto names = std::make_shared<std::vector<std::string>>();
  CLI::App* cmd = vol.add_subcommand("inspect", "Show volumes as JSON, with their storage");
  cmd->add_option("names", *names, "Volume names")->required();
  cmd->callback([&ctx, &action, names] {
    action = [&ctx, names] { return RunInspect(ctx, *names); };
  });
}

}  // namespace

void SetupVol(CLI::App& app, Context& ctx, Action& action) {
  CLI::App* vol = app.add_subcommand("vol", "Create, attach, snapshot, resize and remove volumes");
  vol->alias("volume");
  SetupCreate(*vol, ctx, action);
  SetupList(*vol, ctx, action);
  SetupInspect(*vol, ctx, action);
  SetupVolMaintenance(*vol, ctx, action);
  vol->require_subcommand(1);
}

}  // namespace strata::cli
