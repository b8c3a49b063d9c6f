// `strata image load|ls|inspect|tag|rm|save`: images (images/image_store.h) from OCI image
// layouts and docker-save archives, on the configured driver's layers.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "core/strings.h"
#include "core/units.h"
#include "images/image_store.h"
#include "tools/commands.h"
#include "tools/output.h"
#include "tools/progress.h"

namespace strata::cli {
namespace {

using images::ImageRecord;
using images::ImageStore;

std::string HexOf(const std::string& digest) {
  return digest.rfind("sha256:", 0) == 0 ? digest.substr(7) : digest;
}

nlohmann::json ConfigJson(const ImageRecord& image) {
  auto config = image.Config();
  if (!config.ok()) return {{"error", config.error().message()}};
  return {{"os", config->platform.os},
          {"architecture", config->platform.architecture},
          {"Env", config->env},
          {"Entrypoint", config->entrypoint},
          {"Cmd", config->cmd},
          {"WorkingDir", config->working_dir},
          {"User", config->user},
          {"Labels", config->labels}};
}

nlohmann::json ImageJson(const ImageRecord& image, bool full) {
  nlohmann::json out = {{"id", image.id},
                        {"names", image.names},
                        {"created", FormatTime(image.created_unix)},
                        {"size_bytes", image.size_bytes},
                        {"size", FormatSize(static_cast<uint64_t>(image.size_bytes))},
                        {"top_layer", image.top_layer()}};
  if (!full) {
    nlohmann::json ids = nlohmann::json::array();
    for (const images::ImageLayer& layer : image.layers) ids.push_back(layer.layer);
    out["layers"] = ids;
    return out;
  }
  nlohmann::json layers = nlohmann::json::array();
  nlohmann::json diff_ids = nlohmann::json::array();
  nlohmann::json chain_ids = nlohmann::json::array();
  for (const images::ImageLayer& layer : image.layers) {
    layers.push_back({{"id", layer.layer},
                      {"diff_id", layer.diff_id},
                      {"digest", layer.blob_digest},
                      {"media_type", layer.media_type},
                      {"size_bytes", layer.blob_size},
                      {"diff_size_bytes", layer.diff_size}});
    diff_ids.push_back(layer.diff_id);
    chain_ids.push_back(layer.chain_id);
  }
  out["source"] = image.source;
  out["manifest_digest"] = image.manifest_digest;
  out["manifest_media_type"] = image.manifest_media_type;
  out["layers"] = layers;
  out["diff_ids"] = diff_ids;
  out["chain_ids"] = chain_ids;
  out["config"] = ConfigJson(image);
  return out;
}

// --- load ---------------------------------------------------------------------------------------

struct LoadArgs {
  std::string path;
  std::string repository;
  std::string platform;
  bool quiet = false;
};

int RunLoad(Context& ctx, const LoadArgs& args) {
  auto store = ctx.GetImages();
  if (!store.ok()) return ReportError(store.error().Wrap("image load"));
  images::LoadProgress counters;
  images::LoadOptions options;
  options.repository = args.repository;
  if (!args.platform.empty()) {
    auto platform = images::ParsePlatform(args.platform);
    if (!platform.ok()) return ReportError(platform.error().Wrap("image load: --platform"));
    options.platform = *platform;
  }
  options.progress = &counters;
  Result<std::vector<images::LoadedImage>> loaded = Error(EIO, "not run");
  {
    Progress progress([&counters]() -> std::optional<std::string> {
      const uint64_t total = counters.bytes_total.load();
      std::string line = "loading: " + FormatSize(counters.bytes_done.load());
      if (total > 0) line += " / " + FormatSize(total);
      line += ", layer " + std::to_string(counters.layers_done.load()) + " of " +
              std::to_string(counters.layers_total.load()) + " done";
      return line;
    });
    loaded = (*store)->Load(args.path, options);
  }
  if (!loaded.ok()) return ReportError(loaded.error().Wrap("image load"));
  if (ctx.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const images::LoadedImage& one : *loaded) {
      out.push_back({{"id", one.image.id},
                     {"names", one.image.names},
                     {"layers", one.image.layers.size()},
                     {"applied", one.applied},
                     {"shared", one.shared},
                     {"bytes", one.applied_bytes},
                     {"untagged_refs", one.untagged}});
    }
    PrintJson(out);
    return kExitOk;
  }
  for (const images::LoadedImage& one : *loaded) {
    if (args.quiet) {
      std::printf("%s\n", one.image.id.c_str());
      continue;
    }
    std::string name = one.image.names.empty() ? "<untagged>" : Join(one.image.names, ", ");
    std::printf("Loaded image %s (%s): %zu layers, %d applied, %d shared, %s\n", name.c_str(),
                ShortId(HexOf(one.image.id)).c_str(), one.image.layers.size(), one.applied,
                one.shared, FormatSize(static_cast<uint64_t>(one.applied_bytes)).c_str());
    if (!one.untagged.empty()) {
      std::fprintf(stderr,
                   "strata: note: ref %s is a bare tag; pass --name REPOSITORY to name it, or "
                   "run `strata image tag %s NAME`\n",
                   Join(one.untagged, ", ").c_str(), ShortId(HexOf(one.image.id)).c_str());
    }
  }
  return kExitOk;
}

void SetupLoad(CLI::App& image, Context& ctx, Action& action) {
  auto args = std::make_shared<LoadArgs>();
  CLI::App* cmd = image.add_subcommand(
      "load", "Load images from an OCI image layout (directory or tar) or a docker-save archive");
  cmd->add_option("path", args->path, "Layout directory, or a .tar (plain, gzip, zstd, xz, bzip2); - reads the tar from stdin")
      ->required();
  cmd->add_option("--name", args->repository,
                  "Repository for refs that are bare tags (OCI ref.name \"latest\" -> NAME:latest)");
  cmd->add_option("--platform", args->platform,
                  "OS/ARCH[/VARIANT] to pick from a multi-platform index (default: this host's)");
  cmd->add_flag("-q,--quiet", args->quiet, "Print image ids only");
  cmd->add_flag("--json", ctx.json, "Print what was loaded as JSON");
  cmd->callback([&ctx, &action, args] { action = [&ctx, args] { return RunLoad(ctx, *args); }; });
}

// --- ls / inspect -------------------------------------------------------------------------------

int RunList(Context& ctx, bool quiet) {
  auto store = ctx.GetImages();
  if (!store.ok()) return ReportError(store.error().Wrap("image ls"));
  auto all = (*store)->List();
  if (!all.ok()) return ReportError(all.error().Wrap("image ls"));
  if (ctx.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const ImageRecord& image : *all) out.push_back(ImageJson(image, false));
    PrintJson(out);
    return kExitOk;
  }
  if (quiet) {
    for (const ImageRecord& image : *all) std::printf("%s\n", image.id.c_str());
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"REPOSITORY", "TAG", "IMAGE ID", "LAYERS", "SIZE", "LOADED"}};
  for (const ImageRecord& image : *all) {
    std::vector<std::string> names = image.names;
    if (names.empty()) names.push_back("<none>:<none>");
    for (const std::string& name : names) {
      const size_t colon = name.rfind(':');
      rows.push_back({name.substr(0, colon), name.substr(colon + 1), ShortId(HexOf(image.id)),
                      std::to_string(image.layers.size()),
                      FormatSize(static_cast<uint64_t>(image.size_bytes)),
                      FormatTime(image.created_unix)});
    }
  }
  PrintTable(rows);
  return kExitOk;
}

int RunInspect(Context& ctx, const std::vector<std::string>& refs) {
  auto store = ctx.GetImages();
  if (!store.ok()) return ReportError(store.error().Wrap("image inspect"));
  nlohmann::json out = nlohmann::json::array();
  int rc = kExitOk;
  for (const std::string& ref : refs) {
    auto image = (*store)->Get(ref);
    if (!image.ok()) {
      rc = ReportError(image.error().Wrap("image inspect"));
      continue;
    }
    out.push_back(ImageJson(*image, true));
  }
  PrintJson(out);
  return rc;
}

void SetupQueries(CLI::App& image, Context& ctx, Action& action) {
  auto quiet = std::make_shared<bool>(false);
  CLI::App* ls = image.add_subcommand("ls", "List images, one row per name");
  ls->add_flag("--json", ctx.json, "Print JSON");
  ls->add_flag("-q,--quiet", *quiet, "Print image ids only");
  ls->callback([&ctx, &action, quiet] { action = [&ctx, quiet] { return RunList(ctx, *quiet); }; });

  auto refs = std::make_shared<std::vector<std::string>>();
  CLI::App* inspect = image.add_subcommand(
      "inspect", "Show images as JSON: manifest, config, diff ids, chain ids, layers");
  inspect->add_option("refs", *refs, "Image names (busybox = busybox:latest), ids or id prefixes")
      ->required();
  inspect->callback(
      [&ctx, &action, refs] { action = [&ctx, refs] { return RunInspect(ctx, *refs); }; });
}

// --- tag / rm / save ----------------------------------------------------------------------------

void SetupTag(CLI::App& image, Context& ctx, Action& action) {
  auto args = std::make_shared<std::pair<std::string, std::string>>();
  CLI::App* tag = image.add_subcommand("tag", "Give an image another name");
  tag->add_option("image", args->first, "Image name, id or id prefix")->required();
  tag->add_option("name", args->second, "New name, REPOSITORY[:TAG] (default tag latest)")
      ->required();
  tag->callback([&ctx, &action, args] {
    action = [&ctx, args] {
      auto store = ctx.GetImages();
      if (!store.ok()) return ReportError(store.error().Wrap("image tag"));
      auto tagged = (*store)->Tag(args->first, args->second);
      if (!tagged.ok()) return ReportError(tagged.error().Wrap("image tag"));
      return kExitOk;
    };
  });
}

int RunRemove(Context& ctx, const std::vector<std::string>& refs, bool force) {
  auto store = ctx.GetImages();
  if (!store.ok()) return ReportError(store.error().Wrap("image rm"));
  int rc = kExitOk;
  for (const std::string& ref : refs) {
    auto removed = (*store)->Remove(ref, force);
    if (!removed.ok() && removed.error().code() == ENOENT) {
      std::fprintf(stderr, "strata: %s (nothing to remove)\n", removed.error().message().c_str());
      continue;
    }
    if (!removed.ok()) {
      rc = ReportError(removed.error().Wrap("image rm"));
      continue;
    }
    for (const std::string& name : removed->untagged) std::printf("Untagged: %s\n", name.c_str());
    if (!removed->deleted.empty()) {
      std::printf("Deleted: %s (%zu layers removed)\n", removed->deleted.c_str(),
                  removed->deleted_layers.size());
    }
  }
  return rc;
}

void SetupRemove(CLI::App& image, Context& ctx, Action& action) {
  auto refs = std::make_shared<std::vector<std::string>>();
  auto force = std::make_shared<bool>(false);
  CLI::App* rm = image.add_subcommand(
      "rm", "Remove names, and images with their last name (an unknown image is not an error)");
  rm->add_option("refs", *refs, "Image names, ids or id prefixes")->required();
  rm->add_flag("-f,--force", *force, "Remove an image given by id even when it has several names");
  rm->callback([&ctx, &action, refs, force] {
    action = [&ctx, refs, force] { return RunRemove(ctx, *refs, *force); };
  });
}

struct SaveArgs {
  std::vector<std::string> refs;
  std::string output;
  std::string format;
};

int RunSave(Context& ctx, const SaveArgs& args) {
  images::SaveFormat format;
  if (args.format.empty()) {
    const std::string& o = args.output;
    format = o.size() > 4 && o.compare(o.size() - 4, 4, ".tar") == 0 ? images::SaveFormat::kTar
                                                                     : images::SaveFormat::kDirectory;
  } else if (args.format == "dir" || args.format == "oci-dir") {
    format = images::SaveFormat::kDirectory;
  } else if (args.format == "tar" || args.format == "oci-archive") {
    format = images::SaveFormat::kTar;
  } else {
    return ReportError(Error(EINVAL, "image save: --format \"" + args.format +
                                         "\": want dir or tar" +
                                         DidYouMean(args.format, {"dir", "tar"})));
  }
  auto store = ctx.GetImages();
  if (!store.ok()) return ReportError(store.error().Wrap("image save"));
  Status saved = (*store)->Save(args.refs, args.output, format);
  if (!saved.ok()) return ReportError(saved.error());
  return kExitOk;
}

void SetupSave(CLI::App& image, Context& ctx, Action& action) {
  auto args = std::make_shared<SaveArgs>();
  CLI::App* save = image.add_subcommand("save", "Write images as an OCI image layout");
  save->add_option("refs", args->refs, "Image names, ids or id prefixes")->required();
  save->add_option("-o,--output", args->output,
                   "New path: a .tar file (OCI layout archive) or a directory")
      ->required();
  save->add_option("--format", args->format, "dir or tar (default: tar when PATH ends in .tar)");
  save->callback([&ctx, &action, args] { action = [&ctx, args] { return RunSave(ctx, *args); }; });
}

}  // namespace

void SetupImage(CLI::App& app, Context& ctx, Action& action) {
  CLI::App* image = app.add_subcommand("image", std::string(SummaryOf("image")));
  image->require_subcommand(1);
  SetupLoad(*image, ctx, action);
  SetupQueries(*image, ctx, action);
  SetupTag(*image, ctx, action);
  SetupRemove(*image, ctx, action);
  SetupSave(*image, ctx, action);
}

}  // namespace strata::cli
