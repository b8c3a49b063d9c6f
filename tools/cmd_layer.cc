// `strata layer create|ls|inspect|mount|umount|rm` (diff commands in cmd_layer_diff.cc).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "core/strings.h"
#include "core/units.h"
#include "tools/layer_commands.h"
#include "tools/output.h"

namespace strata::cli {

const char* KindName(drivers::LayerKind kind) {
  return kind == drivers::LayerKind::kReadWrite ? "rw" : "ro";
}

nlohmann::json LayerJson(const drivers::LayerRecord& layer) {
  return {{"id", layer.id},
          {"parent", layer.parent},
          {"kind", KindName(layer.kind)},
          {"driver", layer.driver},
          {"created", FormatTime(layer.created_unix)},
          {"mounts", layer.mount_count},
          {"children", layer.children}};
}

Result<std::string> ResolveLayerId(drivers::LayerStore& layers, const std::string& id_or_prefix) {
  if (id_or_prefix.empty()) return std::string();
  STRATA_ASSIGN_OR_RETURN(drivers::LayerRecord record, layers.Get(id_or_prefix));
  return record.id;
}

namespace {

struct CreateArgs {
  std::string id;
  std::string parent;
  bool rw = false;
  std::string size;
};

int RunCreate(Context& ctx, const CreateArgs& args) {
  auto layers = ctx.GetLayers();
  if (!layers.ok()) return ReportError(layers.error());
  drivers::CreateOptions options;
  if (!args.size.empty()) {
    auto size = ParseSize(args.size);
    if (!size.ok()) return ReportError(std::move(size).error().Wrap("--size"));
    options.size_bytes = *size;
  }
  auto parent = ResolveLayerId(**layers, args.parent);
  if (!parent.ok()) return ReportError(std::move(parent).error().Wrap("--parent"));
  auto kind = args.rw ? drivers::LayerKind::kReadWrite : drivers::LayerKind::kReadOnly;
  auto layer = (*layers)->Create(args.id, *parent, kind, options);
  if (!layer.ok()) return ReportError(std::move(layer).error().Wrap("layer create"));
  std::printf("%s\n", layer->id.c_str());
  return kExitOk;
}

int RunList(Context& ctx, bool quiet) {
  auto layers = ctx.GetLayers();
  if (!layers.ok()) return ReportError(layers.error());
  auto list = (*layers)->List();
  if (!list.ok()) return ReportError(std::move(list).error().Wrap("layer ls"));
  auto images = ctx.GetImages();
  if (!images.ok()) return ReportError(std::move(images).error().Wrap("layer ls"));
  auto users = (*images)->LayerUsers();
  if (!users.ok()) return ReportError(std::move(users).error().Wrap("layer ls"));
  auto used_by = [&](const std::string& id) {
    auto it = users->find(id);
    return it == users->end() ? std::vector<std::string>() : it->second;
  };
  if (ctx.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& layer : *list) {
      nlohmann::json item = LayerJson(layer);
      item["images"] = used_by(layer.id);
      out.push_back(item);
    }
    PrintJson(out);
    return kExitOk;
  }
  if (quiet) {
    for (const auto& layer : *list) std::printf("%s\n", layer.id.c_str());
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"ID", "PARENT", "KIND", "MOUNTS", "CREATED", "IMAGES"}};
  for (const auto& layer : *list) {
    std::vector<std::string> names = used_by(layer.id);
    rows.push_back({ShortId(layer.id), layer.parent.empty() ? "-" : ShortId(layer.parent),
                    KindName(layer.kind), std::to_string(layer.mount_count),
                    FormatTime(layer.created_unix), names.empty() ? "-" : Join(names, ",")});
  }
  PrintTable(rows);
  return kExitOk;
}

int RunInspect(Context& ctx, const std::vector<std::string>& ids) {
  auto layers = ctx.GetLayers();
  if (!layers.ok()) return ReportError(layers.error());
  nlohmann::json out = nlohmann::json::array();
  int rc = kExitOk;
  for (const std::string& id : ids) {
    auto layer = (*layers)->Get(id);
    if (!layer.ok()) {
      rc = ReportError(std::move(layer).error().Wrap("layer inspect"));
      continue;
    }
    nlohmann::json item = LayerJson(*layer);
    auto chain = (*layers)->Chain(layer->id);
    if (chain.ok()) item["chain-depth"] = chain->size();
    item["mount-path"] = (*layers)->driver().MountPath(layer->id);
    out.push_back(item);
  }
  PrintJson(out);
  return rc;
}

// Runs `op` on each id; reports each failure once and keeps going.
template <class Op>
int ForEachLayer(Context& ctx, const std::vector<std::string>& ids, const char* verb, Op op) {
  auto layers = ctx.GetLayers();
  if (!layers.ok()) return ReportError(layers.error());
  int rc = kExitOk;
  for (const std::string& id : ids) {
    Status status = op(**layers, id);
    if (!status.ok()) rc = ReportError(std::move(status).error().Wrap(std::string(verb) + " " + id));
  }
  return rc;
}

void SetupCreate(CLI::App& layer, Context& ctx, Action& action) {
  auto args = std::make_shared<CreateArgs>();
  CLI::App* cmd = layer.add_subcommand("create", "Create an empty layer on a parent; prints its id");
  cmd->add_option("id", args->id, "Layer id (default: a random 64-hex id)");
  cmd->add_option("-p,--parent", args->parent, "Parent layer id or unique prefix");
  cmd->add_flag("--rw", args->rw, "A read-write (container) layer instead of a read-only one");
  cmd->add_option("--size", args->size, "Size limit of a read-write layer (10G, 512M)");
  cmd->callback([&ctx, &action, args] { action = [&ctx, args] { return RunCreate(ctx, *args); }; });
}

void SetupQueries(CLI::App& layer, Context& ctx, Action& action) {
  auto quiet = std::make_shared<bool>(false);
  CLI::App* ls = layer.add_subcommand("ls", "List layers");
  ls->add_flag("--json", ctx.json, "Print JSON");
  ls->add_flag("-q,--quiet", *quiet, "Print full ids only");
  ls->callback([&ctx, &action, quiet] { action = [&ctx, quiet] { return RunList(ctx, *quiet); }; });

  auto ids = std::make_shared<std::vector<std::string>>();
  CLI::App* inspect = layer.add_subcommand("inspect", "Show layers as JSON");
  inspect->add_option("ids", *ids, "Layer ids or unique prefixes")->required();
  inspect->callback([&ctx, &action, ids] { action = [&ctx, ids] { return RunInspect(ctx, *ids); }; });
}

void SetupMounts(CLI::App& layer, Context& ctx, Action& action) {
  auto id = std::make_shared<std::string>();
  CLI::App* mount = layer.add_subcommand("mount", "Mount a layer (one reference); prints its path");
  mount->add_option("id", *id, "Layer id or unique prefix")->required();
  mount->callback([&ctx, &action, id] {
    action = [&ctx, id] {
      return ForEachLayer(ctx, {*id}, "layer mount", [](drivers::LayerStore& l, const std::string& i) -> Status {
        STRATA_ASSIGN_OR_RETURN(std::string full_id, ResolveLayerId(l, i));
        STRATA_ASSIGN_OR_RETURN(std::string path, l.Mount(full_id));
        std::printf("%s\n", path.c_str());
        return Ok();
      });
    };
  });
  auto ids = std::make_shared<std::vector<std::string>>();
  CLI::App* umount = layer.add_subcommand("umount", "Drop one mount reference; the last unmounts");
  umount->add_option("ids", *ids, "Layer ids or unique prefixes")->required();
  umount->callback([&ctx, &action, ids] {
    action = [&ctx, ids] {
      return ForEachLayer(ctx, *ids, "layer umount",
                          [](drivers::LayerStore& l, const std::string& i) -> Status {
                            STRATA_ASSIGN_OR_RETURN(std::string full_id, ResolveLayerId(l, i));
                            return l.Unmount(full_id);
                          });
    };
  });
}

void SetupRemove(CLI::App& layer, Context& ctx, Action& action) {
  auto ids = std::make_shared<std::vector<std::string>>();
  CLI::App* rm = layer.add_subcommand("rm", "Remove layers (an unknown id is not an error)");
  rm->add_option("ids", *ids, "Layer ids")->required();
  rm->callback([&ctx, &action, ids] {
    action = [&ctx, ids] {
      return ForEachLayer(ctx, *ids, "layer rm",
                          [](drivers::LayerStore& l, const std::string& i) -> Status {
                            auto found = l.Get(i);
                            // Deletes are idempotent: a layer that is already gone is success.
                            if (!found.ok() && found.error().code() == ENOENT) return Ok();
                            if (!found.ok()) return std::move(found).error();
                            return l.Remove(found->id);
                          });
    };
  });
}

}  // namespace

void SetupLayer(CLI::App& app, Context& ctx, Action& action) {
  CLI::App* layer = app.add_subcommand("layer", std::string(SummaryOf("layer")));
  layer->require_subcommand(1);
  SetupCreate(*layer, ctx, action);
  SetupQueries(*layer, ctx, action);
  SetupMounts(*layer, ctx, action);
  SetupRemove(*layer, ctx, action);
  SetupLayerDiffCommands(*layer, ctx, action);
}

}  // namespace strata::cli
