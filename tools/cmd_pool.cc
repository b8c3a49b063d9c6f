// `strata pool create|status|extend|check`: the thin pool behind the devicemapper driver, built
// from the config's driver-opts.devicemapper (thinpool/pool_config.h). On a kernel without
// device-mapper every command fails with ProbeDeviceMapper's reason, exit 1.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/sys/device_mapper.h"
#include "core/sys/loop.h"
#include "core/units.h"
#include "thinpool/journal.h"
#include "thinpool/pool.h"
#include "thinpool/pool_backing.h"
#include "thinpool/pool_config.h"
#include "tools/commands.h"
#include "tools/output.h"

namespace strata::cli {
namespace {

using thinpool::PoolConfig;
using thinpool::ThinPool;

struct PoolFlags {
  std::string data_size;  // "10G", or "+5G" for extend
  std::string metadata_size;
  bool repair = false;
  bool auto_extend = false;  // extend --auto
};

Result<PoolConfig> LoadPoolConfig(Context& ctx) {
  STRATA_ASSIGN_OR_RETURN(const Config* config, ctx.GetConfig());
  const nlohmann::json& opts = config->driver_opts.value;
  return thinpool::ParsePoolConfig(opts.contains("devicemapper") ? opts["devicemapper"]
                                                                 : nlohmann::json());
}

// The environment of the pool: the Linux seams, the store, the root. Probes dm first so every
// pool command fails the same clear way on a kernel without it.
Result<thinpool::PoolEnv> PoolEnvFor(Context& ctx) {
  STRATA_TRY(RequireDeviceMapper());
  STRATA_ASSIGN_OR_RETURN(const Config* config, ctx.GetConfig());
  STRATA_ASSIGN_OR_RETURN(Store * store, ctx.GetStore());
  return thinpool::PoolEnv{&sys::LinuxDeviceMapper(), &sys::LinuxLoop(), store, config->root.value};
}

// "+5G" (relative to `current`) or "20G"; nullopt for "".
Result<std::optional<uint64_t>> ParseNewSize(const std::string& text, uint64_t current) {
  if (text.empty()) return std::optional<uint64_t>();
  bool relative = text[0] == '+';
  STRATA_ASSIGN_OR_RETURN(uint64_t bytes, ParseSize(relative ? text.substr(1) : text));
  return std::optional<uint64_t>(relative ? current + bytes : bytes);
}

nlohmann::json ReportJson(const thinpool::PoolReport& r) {
  const thinpool::ThinPoolStatus& s = r.status;
  return {{"name", r.name},
          {"transaction_id", s.transaction_id},
          {"mode", std::string(thinpool::PoolModeName(s.mode))},
          {"needs_check", s.needs_check},
          {"block_size_bytes", uint64_t{r.block_size_sectors} * 512},
          {"low_water_mark_blocks", r.low_water_mark_blocks},
          {"data",
           {{"used_bytes", s.DataUsedBytes(r.block_size_sectors)},
            {"total_bytes", s.DataTotalBytes(r.block_size_sectors)},
            {"used_percent", s.DataUsedPercent()}}},
          {"metadata",
           {{"used_bytes", s.MetadataUsedBytes()},
            {"total_bytes", s.MetadataTotalBytes()},
            {"used_percent", s.MetadataUsedPercent()}}},
          {"backing",
           {{"kind", std::string(thinpool::PoolBackingName(r.backing.kind))},
            {"data", r.backing.data_path},
            {"data_dev", r.backing.data_dev.ToString()},
            {"metadata", r.backing.metadata_path},
            {"metadata_dev", r.backing.metadata_dev.ToString()}}}};
}

void PrintReport(const thinpool::PoolReport& r) {
  const thinpool::ThinPoolStatus& s = r.status;
  std::printf("Pool:            %s\n", r.name.c_str());
  std::printf("Transaction id:  %llu\n", static_cast<unsigned long long>(s.transaction_id));
  std::printf("Mode:            %s%s\n", std::string(thinpool::PoolModeName(s.mode)).c_str(),
              s.needs_check ? " (needs_check)" : "");
  std::printf("Data:            %s / %s (%.1f%%)\n",
              FormatSize(s.DataUsedBytes(r.block_size_sectors)).c_str(),
              FormatSize(s.DataTotalBytes(r.block_size_sectors)).c_str(), s.DataUsedPercent());
  std::printf("Metadata:        %s / %s (%.1f%%)\n", FormatSize(s.MetadataUsedBytes()).c_str(),
              FormatSize(s.MetadataTotalBytes()).c_str(), s.MetadataUsedPercent());
  std::printf("Block size:      %s\n", FormatSize(uint64_t{r.block_size_sectors} * 512).c_str());
  std::printf("Low water mark:  %llu blocks\n",
              static_cast<unsigned long long>(r.low_water_mark_blocks));
  std::printf("Backing:         %s\n",
              std::string(thinpool::PoolBackingName(r.backing.kind)).c_str());
  std::printf("  data:          %s (%s)\n", r.backing.data_path.c_str(),
              r.backing.data_dev.ToString().c_str());
  std::printf("  metadata:      %s (%s)\n", r.backing.metadata_path.c_str(),
              r.backing.metadata_dev.ToString().c_str());
}

int PrintPool(Context& ctx, ThinPool& pool) {
  auto report = pool.Report();
  if (!report.ok()) return ReportError(report.error());
  if (ctx.json) {
    PrintJson(ReportJson(*report));
  } else {
    PrintReport(*report);
  }
  return kExitOk;
}

int RunCreate(Context& ctx, const PoolFlags& flags) {
  auto env = PoolEnvFor(ctx);
  auto config = env.ok() ? LoadPoolConfig(ctx) : Result<PoolConfig>(env.error());
  if (!config.ok()) return ReportError(config.error().Wrap("pool create"));
  // A default metadata size was computed from the default data size: recompute it for the
  // data size given here (MetadataBytesFor does, for 0).
  if (!flags.data_size.empty() && config->metadata_size_bytes.source == ConfigSource::kDefault) {
    config->metadata_size_bytes.value = 0;
  }
  for (auto [text, setting] : {std::pair{&flags.data_size, &config->data_size_bytes},
                               std::pair{&flags.metadata_size, &config->metadata_size_bytes}}) {
    auto size = ParseNewSize(*text, 0);
    if (!size.ok()) return ReportError(size.error().Wrap("pool create"));
    if (*size) setting->value = **size;
  }
  auto pool = ThinPool::Create(*env, *config);
  if (!pool.ok()) return ReportError(pool.error().Wrap("pool create"));
  return PrintPool(ctx, **pool);
}

Result<std::unique_ptr<ThinPool>> OpenPool(Context& ctx) {
  STRATA_ASSIGN_OR_RETURN(thinpool::PoolEnv env, PoolEnvFor(ctx));
  STRATA_ASSIGN_OR_RETURN(PoolConfig config, LoadPoolConfig(ctx));
  return ThinPool::Open(env, config);
}

int RunStatus(Context& ctx) {
  auto pool = OpenPool(ctx);
  if (!pool.ok()) return ReportError(pool.error().Wrap("pool status"));
  return PrintPool(ctx, **pool);
}

nlohmann::json AutoExtendJson(const thinpool::AutoExtendOutcome& o) {
  nlohmann::json j = {
      {"verdict", std::string(thinpool::AutoExtendVerdictName(o.plan.verdict))},
      {"reason", o.plan.reason},
      {"extended", o.extended},
      {"growth_bytes", o.plan.growth_bytes},
      {"old",
       {{"data_bytes", o.old_sizes.data_bytes}, {"metadata_bytes", o.old_sizes.metadata_bytes}}}};
  if (o.plan.new_sizes) {
    j["new"] = {{"data_bytes", o.plan.new_sizes->data_bytes},
                {"metadata_bytes", o.plan.new_sizes->metadata_bytes}};
  }
  return j;
}

// `pool extend --auto`: what auto-extend does now. Opening the pool already runs it, so its
// outcome is the answer (it runs again only when that failed). A pool over the threshold that
// cannot grow exits 1 (ENOSPC), so a timer's failure shows up.
int RunExtendAuto(Context& ctx, ThinPool& pool) {
  Result<thinpool::AutoExtendOutcome> outcome =
      pool.open_auto_extend() ? Result<thinpool::AutoExtendOutcome>(*pool.open_auto_extend())
                              : pool.AutoExtend();
  if (!outcome.ok()) return ReportError(outcome.error().Wrap("pool extend --auto"));
  auto report = pool.Report();
  if (!report.ok()) return ReportError(report.error().Wrap("pool extend --auto"));
  if (ctx.json) {
    PrintJson({{"auto_extend", AutoExtendJson(*outcome)}, {"pool", ReportJson(*report)}});
  } else {
    std::printf("Auto-extend:     %s: %s\n",
                std::string(thinpool::AutoExtendVerdictName(outcome->plan.verdict)).c_str(),
                outcome->plan.reason.c_str());
    PrintReport(*report);
  }
  thinpool::AutoExtendVerdict v = outcome->plan.verdict;
  if (v == thinpool::AutoExtendVerdict::kNoHostRoom ||
      v == thinpool::AutoExtendVerdict::kCannotGrow) {
    return ReportError(
        Error(ENOSPC, "pool " + pool.name() + " cannot auto-extend: " + outcome->plan.reason)
            .Wrap("pool extend --auto"));
  }
  return kExitOk;
}

int RunExtend(Context& ctx, const PoolFlags& flags) {
  auto pool = OpenPool(ctx);
  if (!pool.ok()) return ReportError(pool.error().Wrap("pool extend"));
  if (flags.auto_extend) return RunExtendAuto(ctx, **pool);
  const thinpool::PoolBackingInfo& b = (*pool)->backing();
  auto data_now = thinpool::SizeOfPath(b.data_path);
  auto meta_now = thinpool::SizeOfPath(b.metadata_path);
  if (!data_now.ok() || !meta_now.ok()) {
    return ReportError((data_now.ok() ? meta_now.error() : data_now.error()).Wrap("pool extend"));
  }
  auto data = ParseNewSize(flags.data_size, *data_now);
  auto meta = ParseNewSize(flags.metadata_size, *meta_now);
  if (!data.ok() || !meta.ok()) {
    return ReportError((data.ok() ? meta.error() : data.error()).Wrap("pool extend"));
  }
  if (Status s = (*pool)->Extend(*data, *meta); !s.ok()) {
    return ReportError(s.error().Wrap("pool extend"));
  }
  return PrintPool(ctx, **pool);
}

// The pool's transaction id from a no-flush status, or nullopt when the device is not there.
Result<std::optional<uint64_t>> PoolTxid(sys::DeviceMapper& dm, const std::string& name) {
  STRATA_ASSIGN_OR_RETURN(bool exists, thinpool::DmDeviceExists(dm, name));
  if (!exists) return std::optional<uint64_t>();
  STRATA_ASSIGN_OR_RETURN(auto status, dm.TargetStatus(name, sys::DmFlush::kNoFlush));
  if (status.empty()) return Error(EINVAL, "pool " + name + " has no table");
  STRATA_ASSIGN_OR_RETURN(auto parsed, thinpool::ParseThinPoolStatus(status[0].params));
  return std::optional<uint64_t>(parsed.transaction_id);
}

// What `pool check` found. The census (thinpool/pool.h) needs the pool device running.
struct CheckReport {
  std::vector<std::string> journal;    // open journal entries, with what recovery does
  std::vector<std::string> not_ready;  // thin records left 'creating'/'deleting' (after --repair)
  std::optional<thinpool::PoolDrift> drift;      // nullopt: pool inactive, no census
  std::optional<thinpool::PoolDrift> remaining;  // after --repair: a fresh census
};

std::string Ids(const std::vector<uint32_t>& ids) {
  std::string out;
  for (uint32_t id : ids) out += (out.empty() ? "" : " ") + std::to_string(id);
  return out;
}

std::string Names(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : " ") + n;
  return out;
}

std::vector<std::string> DriftLines(const thinpool::PoolDrift& d) {
  std::vector<std::string> lines;
  if (!d.leaked_ids.empty())
    lines.push_back("leaked thin ids (in the pool, not in the store): " + Ids(d.leaked_ids));
  if (!d.lost_ids.empty())
    lines.push_back("lost thin ids (in the store, not in the pool): " + Ids(d.lost_ids));
  if (!d.unreferenced_devices.empty()) {
    lines.push_back("dm devices no store record references: " + Names(d.unreferenced_devices));
  }
  if (!d.suspended_devices.empty()) {
    lines.push_back("suspended dm devices: " + Names(d.suspended_devices));
  }
  return lines;
}

std::vector<std::string> FindingLines(const CheckReport& r) {
  std::vector<std::string> lines = r.journal;
  lines.insert(lines.end(), r.not_ready.begin(), r.not_ready.end());
  if (r.drift) {
    for (std::string& l : DriftLines(*r.drift)) lines.push_back(std::move(l));
  }
  return lines;
}

// Read-only: open journal entries (with what recovery would do) and, when the pool device runs,
// the census. --repair opens the pool (which reconciles the journal), takes the census, repairs
// the drift, and takes it again.
Result<CheckReport> CheckFindings(Context& ctx, bool repair) {
  STRATA_ASSIGN_OR_RETURN(thinpool::PoolEnv env, PoolEnvFor(ctx));
  STRATA_ASSIGN_OR_RETURN(PoolConfig config, LoadPoolConfig(ctx));
  const std::string& name = config.backing == thinpool::PoolBacking::kExistingPool
                                ? config.thin_pool_device.value
                                : config.pool_name.value;
  thinpool::Journal journal(*env.store, name);
  STRATA_ASSIGN_OR_RETURN(auto open, journal.OpenRecords());
  STRATA_ASSIGN_OR_RETURN(std::optional<uint64_t> txid, PoolTxid(*env.dm, name));
  CheckReport report;
  for (const thinpool::JournalRecord& r : open) {
    report.journal.push_back(txid ? thinpool::ReconcileDecision(r, *txid).reason
                                  : "journal entry " + std::to_string(r.id) +
                                        " open; pool inactive");
  }
  if (!repair) {
    if (!txid) return report;
    STRATA_ASSIGN_OR_RETURN(thinpool::PoolCensus census, thinpool::TakeCensus(env, name));
    report.drift = thinpool::DiffCensus(census);
    return report;
  }
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<ThinPool> pool, ThinPool::Open(env, config));
  // Census and repair as one step: no other strata process changes the pool in between.
  STRATA_ASSIGN_OR_RETURN(ThinPool::LockScope locked, pool->Lock());
  STRATA_ASSIGN_OR_RETURN(thinpool::PoolCensus census, thinpool::TakeCensus(env, pool->name()));
  report.drift = thinpool::DiffCensus(census);
  STRATA_TRY(thinpool::RepairDrift(*pool, env, *report.drift));
  STRATA_ASSIGN_OR_RETURN(thinpool::PoolCensus after, thinpool::TakeCensus(env, pool->name()));
  report.remaining = thinpool::DiffCensus(after);
  STRATA_ASSIGN_OR_RETURN(auto thins, pool->List());
  for (const thinpool::ThinRecord& t : thins) {
    if (t.state != "ready") {
      report.not_ready.push_back("thin device " + std::to_string(t.thin_id) + " is " + t.state);
    }
  }
  return report;
}

nlohmann::json DriftJson(const thinpool::PoolDrift& d) {
  return {{"leaked_ids", d.leaked_ids},
          {"lost_ids", d.lost_ids},
          {"unreferenced_devices", d.unreferenced_devices},
          {"suspended_devices", d.suspended_devices}};
}

// Exit 0 when clean, or when --repair left nothing behind; 1 otherwise.
int RunPoolCheck(Context& ctx, bool repair) {
  auto report = CheckFindings(ctx, repair);
  if (!report.ok()) return ReportError(report.error().Wrap("pool check"));
  std::vector<std::string> findings = FindingLines(*report);
  bool clean = findings.empty();
  bool repaired_all = repair && report->remaining && report->remaining->clean();
  if (ctx.json) {
    nlohmann::json out = {{"findings", findings},
                          {"journal", report->journal},
                          {"not_ready", report->not_ready},
                          {"census", report->drift ? DriftJson(*report->drift) : nlohmann::json()},
                          {"repaired", repair}};
    if (report->remaining) out["remaining"] = DriftJson(*report->remaining);
    PrintJson(out);
  } else {
    for (const std::string& f : findings) std::printf("%s\n", f.c_str());
    if (!report->drift) std::printf("note: pool device not running, census of thin ids skipped\n");
    if (repair && report->remaining) {
      for (const std::string& l : DriftLines(*report->remaining)) {
        std::printf("after repair, still: %s\n", l.c_str());
      }
      if (repaired_all && !clean) std::printf("repaired: journal reconciled, drift fixed\n");
    }
    if (clean) std::printf("pool check: no problems found\n");
  }
  return clean || repaired_all ? kExitOk : kExitError;
}

}  // namespace

void SetupPool(CLI::App& app, Context& ctx, Action& action) {
  CLI::App* pool = app.add_subcommand("pool", "Create, inspect, extend and check the thin pool");
  pool->require_subcommand(1);
  auto flags = std::make_shared<PoolFlags>();
  CLI::App* create = pool->add_subcommand("create", "Create the thin pool from the config");
  create->add_option("--data-size", flags->data_size, "Data size of a loop-file pool (10G)");
  create->add_option("--metadata-size", flags->metadata_size, "Metadata size (1G)");
  create->add_flag("--json", ctx.json, "Print JSON");
  create->callback(
      [&ctx, &action, flags] { action = [&ctx, flags] { return RunCreate(ctx, *flags); }; });
  CLI::App* status = pool->add_subcommand("status", "Show usage, mode and transaction id");
  status->add_flag("--json", ctx.json, "Print JSON");
  status->callback([&ctx, &action] { action = [&ctx] { return RunStatus(ctx); }; });
  CLI::App* extend = pool->add_subcommand("extend", "Grow a loop-file pool's data or metadata");
  extend->footer(
      "Auto-extend: when data or metadata use reaches auto-extend-threshold, a loop-file pool "
      "grows by auto-extend-percent if the host filesystem has room. strata checks this before "
      "every new thin device and when it opens the pool; there is no daemon, and the kernel's "
      "low-water-mark event is not waited on. Run `strata pool extend --auto` from a cron job or "
      "systemd timer to grow pools that fill up in between (exit 1: the pool needs to grow and "
      "cannot).");
  CLI::Option* data_opt =
      extend->add_option("--data-size", flags->data_size, "New data size (20G) or growth (+5G)");
  CLI::Option* meta_opt =
      extend->add_option("--metadata-size", flags->metadata_size, "New metadata size or growth");
  extend
      ->add_flag("--auto", flags->auto_extend,
                 "Grow as auto-extend would now (past the threshold, if the host has room)")
      ->excludes(data_opt)
      ->excludes(meta_opt);
  extend->add_flag("--json", ctx.json, "Print JSON");
  extend->callback(
      [&ctx, &action, flags] { action = [&ctx, flags] { return RunExtend(ctx, *flags); }; });
  CLI::App* check = pool->add_subcommand("check", "Report journal entries and store/pool drift");
  check->add_flag("--repair", flags->repair,
                  "Reconcile the journal, delete leaked ids, drop lost records, fix devices");
  check->add_flag("--json", ctx.json, "Print JSON");
  check->callback([&ctx, &action, flags] {
    action = [&ctx, flags] { return RunPoolCheck(ctx, flags->repair); };
  });
}

}  // namespace strata::cli
