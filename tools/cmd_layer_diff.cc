// `strata layer import|export|changes`: layers as OCI layer tars.
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "core/unique_fd.h"
#include "tools/layer_commands.h"
#include "tools/output.h"
#include "tools/progress.h"

namespace strata::cli {
namespace {

namespace archive = drivers::archive;

struct ImportArgs {
  std::string file;
  std::string parent;
  std::string id;
};

Result<UniqueFd> OpenInput(const std::string& file) {
  if (file == "-") return UniqueFd(::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0));
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::FromErrno("open " + file);
  return fd;
}

int RunImport(Context& ctx, const ImportArgs& args) {
  auto layers = ctx.GetLayers();
  if (!layers.ok()) return ReportError(layers.error());
  auto parent = ResolveLayerId(**layers, args.parent);
  if (!parent.ok()) return ReportError(std::move(parent).error().Wrap("--parent"));
  auto in = OpenInput(args.file);
  if (!in.ok()) return ReportError(std::move(in).error().Wrap("layer import"));
  struct stat st {};
  uint64_t total = (::fstat(in->Get(), &st) == 0 && S_ISREG(st.st_mode)) ? st.st_size : 0;
  Result<drivers::ImportResult> result = [&] {
    FdProgress progress("import " + args.file, in->Get(), total);
    return (*layers)->Import(args.id, *parent, in->Get());
  }();
  if (!result.ok()) return ReportError(std::move(result).error().Wrap("layer import " + args.file));
  if (ctx.json) {
    nlohmann::json out = LayerJson(result->layer);
    out["entries"] = result->stats.entries;
    out["size"] = result->stats.size_bytes;
    PrintJson(out);
  } else {
    std::printf("%s\n", result->layer.id.c_str());
  }
  return kExitOk;
}

struct ExportArgs {
  std::string id;
  std::string output;
  std::string compress = "none";
};

Result<archive::Compression> ParseCompression(const std::string& name) {
  if (name == "none") return archive::Compression::kNone;
  if (name == "gzip" || name == "gz") return archive::Compression::kGzip;
  if (name == "zstd" || name == "zst") return archive::Compression::kZstd;
  return Error(EINVAL, "--compress \"" + name + "\": expected none, gzip or zstd");
}

// Writes OUTPUT in place, as tar -c does, and removes it if the export fails, so a failed export
// leaves no file behind. (A temp file renamed over an existing OUTPUT made ext4 flush the whole
// file at rename: auto_da_alloc.) Like tar -c it does not fsync.
Result<archive::ExportStats> ExportToFile(drivers::LayerStore& layers, const std::string& id,
                                          const std::string& output, archive::Compression c) {
  UniqueFd out(::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!out) return Error::FromErrno("create " + output);
  auto remove_partial = MakeGuard([&] { (void)::unlink(output.c_str()); });  // best effort
  Result<archive::ExportStats> exported = [&] {
    FdProgress progress("export " + output, out.Get(), 0);  // bytes written so far
    return layers.Export(id, out.Get(), c);
  }();
  STRATA_ASSIGN_OR_RETURN(archive::ExportStats stats, std::move(exported));
  if (::close(out.Release()) != 0) return Error::FromErrno("close " + output);
  remove_partial.Release();
  return stats;
}

int RunExport(Context& ctx, const ExportArgs& args) {
  auto compression = ParseCompression(args.compress);
  if (!compression.ok()) return ReportError(compression.error());
  bool to_stdout = args.output.empty() || args.output == "-";
  if (to_stdout && ::isatty(STDOUT_FILENO)) {
    return ReportError(Error(EINVAL, "layer export: refusing to write a tar to a terminal; "
                                     "use -o FILE or redirect stdout"));
  }
  auto layers = ctx.GetLayers();
  if (!layers.ok()) return ReportError(layers.error());
  auto id = ResolveLayerId(**layers, args.id);
  if (!id.ok()) return ReportError(std::move(id).error().Wrap("layer export"));
  auto stats = to_stdout ? (*layers)->Export(*id, STDOUT_FILENO, *compression)
                         : ExportToFile(**layers, *id, args.output, *compression);
  if (!stats.ok()) return ReportError(std::move(stats).error().Wrap("layer export " + args.id));
  // The digest goes to stdout only when the tar does not.
  std::FILE* where = to_stdout ? stderr : stdout;
  if (ctx.json) {
    std::fprintf(where, "%s\n",
                 nlohmann::json({{"digest", stats->digest},
                                 {"size", stats->size_bytes},
                                 {"entries", stats->entries}})
                     .dump()
                     .c_str());
  } else {
    std::fprintf(where, "%s\n", stats->digest.c_str());
  }
  return kExitOk;
}

int RunChanges(Context& ctx, const std::string& id_or_prefix) {
  auto layers = ctx.GetLayers();
  if (!layers.ok()) return ReportError(layers.error());
  auto id = ResolveLayerId(**layers, id_or_prefix);
  if (!id.ok()) return ReportError(std::move(id).error().Wrap("layer changes"));
  auto changes = (*layers)->Changes(*id);
  if (!changes.ok()) return ReportError(std::move(changes).error().Wrap("layer changes " + *id));
  if (ctx.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& c : *changes)
      out.push_back({{"path", "/" + c.path}, {"kind", std::string(1, archive::ChangeKindLetter(c.kind))}});
    PrintJson(out);
    return kExitOk;
  }
  for (const auto& c : *changes) std::printf("%c /%s\n", archive::ChangeKindLetter(c.kind), c.path.c_str());
  return kExitOk;
}

}  // namespace

void SetupLayerDiffCommands(CLI::App& layer, Context& ctx, Action& action) {
  auto imp = std::make_shared<ImportArgs>();
  CLI::App* import = layer.add_subcommand(
      "import", "Apply an OCI layer tar (plain, gzip, zstd) as a new layer; prints its id");
  import->add_option("file", imp->file, "Layer tar, or - for stdin")->required();
  import->add_option("-p,--parent", imp->parent, "Parent layer id or unique prefix");
  import->add_option("--id", imp->id, "Id for the new layer (default: random)");
  import->add_flag("--json", ctx.json, "Print the new layer as JSON");
  import->callback([&ctx, &action, imp] { action = [&ctx, imp] { return RunImport(ctx, *imp); }; });

  auto exp = std::make_shared<ExportArgs>();
  CLI::App* export_cmd = layer.add_subcommand(
      "export", "Write a layer's changes against its parent as an OCI layer tar; prints its digest");
  export_cmd->add_option("id", exp->id, "Layer id or unique prefix")->required();
  export_cmd->add_option("-o,--output", exp->output, "Output file (default: stdout)");
  export_cmd->add_option("--compress", exp->compress, "none, gzip or zstd (default none)");
  export_cmd->add_flag("--json", ctx.json, "Print digest, size and entries as JSON");
  export_cmd->callback([&ctx, &action, exp] { action = [&ctx, exp] { return RunExport(ctx, *exp); }; });

  auto id = std::make_shared<std::string>();
  CLI::App* changes = layer.add_subcommand("changes", "List what a layer adds (A), changes (C) and deletes (D)");
  changes->add_option("id", *id, "Layer id or unique prefix")->required();
  changes->add_flag("--json", ctx.json, "Print JSON");
  changes->callback([&ctx, &action, id] { action = [&ctx, id] { return RunChanges(ctx, *id); }; });
}

}  // namespace strata::cli
