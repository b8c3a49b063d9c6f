// Space management: the auto-extend rule (pure) and how ThinPool applies it before new devices,
// on Open and for `strata pool extend --auto`. See thinpool/pool_space.h.
#include "thinpool/pool_space.h"

#include <spdlog/spdlog.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "core/units.h"
#include "thinpool/pool.h"
#include "thinpool/pool_backing.h"

namespace strata::thinpool {
namespace {

// No file gets near this; it only bounds the arithmetic.
constexpr uint64_t kMaxDataFileBytes = uint64_t{1} << 62;

uint64_t RoundUp(uint64_t value, uint64_t unit) { return (value + unit - 1) / unit * unit; }

// `percent` % of `value`, rounded down, without overflowing for any file size.
uint64_t PercentOf(uint64_t value, uint32_t percent) {
  return value / 100 * percent + value % 100 * percent / 100;
}

bool AtOrOverThreshold(uint64_t used, uint64_t total, uint32_t threshold_percent) {
  return total != 0 && used * 100 >= total * threshold_percent;
}

uint64_t UsedPercent(uint64_t used, uint64_t total) { return total == 0 ? 0 : used * 100 / total; }

uint64_t SaturatingAdd(uint64_t a, uint64_t b) { return b > UINT64_MAX - a ? UINT64_MAX : a + b; }
uint64_t SaturatingMul(uint64_t a, uint64_t b) {
  return a != 0 && b > UINT64_MAX / a ? UINT64_MAX : a * b;
}

// The new size of one backing file whose use crossed the threshold: P% more, or enough that
// `used` units fall under the threshold, rounded up to `unit` bytes, at most `max_bytes` (which
// keeps every sum of sizes far from overflowing).
uint64_t GrownSize(uint64_t current_bytes, uint64_t used_units, uint64_t unit_bytes,
                   const PoolConfig& config, uint64_t max_bytes) {
  uint64_t by_percent = SaturatingAdd(
      current_bytes,
      std::max<uint64_t>(PercentOf(current_bytes, config.auto_extend_percent.value), 1));
  uint64_t clear_units = used_units * 100 / config.auto_extend_threshold_percent.value + 1;
  uint64_t wanted = std::max(by_percent, SaturatingMul(clear_units, unit_bytes));
  uint64_t max_rounded = max_bytes / unit_bytes * unit_bytes;
  return wanted >= max_rounded ? max_rounded : RoundUp(wanted, unit_bytes);
}

std::string UseText(std::string_view what, uint64_t used, uint64_t total,
                    const PoolConfig& config) {
  return std::string(what) + " " + std::to_string(UsedPercent(used, total)) + "% used (threshold " +
         std::to_string(config.auto_extend_threshold_percent.value) + "%)";
}

std::string GrowText(std::string_view what, uint64_t from, uint64_t to) {
  return "grow " + std::string(what) + " " + FormatSize(from) + " -> " + FormatSize(to);
}

}  // namespace

std::string_view AutoExtendVerdictName(AutoExtendVerdict verdict) {
  switch (verdict) {
    case AutoExtendVerdict::kNotNeeded:
      return "not needed";
    case AutoExtendVerdict::kExtend:
      return "extend";
    case AutoExtendVerdict::kNoHostRoom:
      return "no host room";
    case AutoExtendVerdict::kCannotGrow:
      return "cannot grow";
  }
  return "?";
}

AutoExtendPlan AutoExtendDecision(const ThinPoolStatus& status, uint32_t block_size_sectors,
                                  const PoolFileSizes& sizes, const PoolConfig& config,
                                  uint64_t host_free_bytes) {
  AutoExtendPlan plan;
  if (config.backing != PoolBacking::kLoopFiles) {
    plan.reason = "only loop-file pools are auto-extended";
    return plan;
  }
  if ((status.mode != PoolMode::kReadWrite && status.mode != PoolMode::kOutOfDataSpace) ||
      status.needs_check) {
    plan.reason = "pool mode is " + std::string(PoolModeName(status.mode)) +
                  (status.needs_check ? " (needs_check)" : "") + ": the kernel cannot resize it";
    return plan;
  }
  const uint32_t threshold = config.auto_extend_threshold_percent.value;
  const uint64_t block_bytes = uint64_t{block_size_sectors} * kSectorBytes;
  const bool data_over = block_bytes != 0 && AtOrOverThreshold(status.used_data_blocks,
                                                               status.total_data_blocks, threshold);
  const bool metadata_over =
      AtOrOverThreshold(status.used_metadata_blocks, status.total_metadata_blocks, threshold);
  std::string use =
      UseText("data", status.used_data_blocks, status.total_data_blocks, config) + ", " +
      UseText("metadata", status.used_metadata_blocks, status.total_metadata_blocks, config);
  if (!data_over && !metadata_over) {
    plan.reason = use + ": nothing to do";
    return plan;
  }
  PoolFileSizes grown = sizes;
  std::vector<std::string> steps;
  if (data_over) {
    grown.data_bytes = GrownSize(sizes.data_bytes, status.used_data_blocks, block_bytes, config,
                                 kMaxDataFileBytes);
    steps.push_back(GrowText("data", sizes.data_bytes, grown.data_bytes));
  }
  if (metadata_over) {
    grown.metadata_bytes = GrownSize(sizes.metadata_bytes, status.used_metadata_blocks,
                                     kMetadataBlockBytes, config, kMaxMetadataBytes);
    if (grown.metadata_bytes > sizes.metadata_bytes) {
      steps.push_back(GrowText("metadata", sizes.metadata_bytes, grown.metadata_bytes));
    } else {
      grown.metadata_bytes = sizes.metadata_bytes;
      steps.push_back("metadata is at the kernel's maximum (" + FormatSize(kMaxMetadataBytes) +
                      ") and cannot grow");
    }
  }
  plan.reason = use + ": ";
  for (size_t i = 0; i < steps.size(); ++i) plan.reason += (i ? ", " : "") + steps[i];
  plan.growth_bytes =
      (grown.data_bytes - sizes.data_bytes) + (grown.metadata_bytes - sizes.metadata_bytes);
  if (plan.growth_bytes == 0) {
    plan.verdict = AutoExtendVerdict::kCannotGrow;
    return plan;
  }
  plan.new_sizes = grown;
  uint64_t needed = plan.growth_bytes + kHostFreeMarginBytes;  // growth < 2^63: no overflow
  if (host_free_bytes < needed) {
    plan.verdict = AutoExtendVerdict::kNoHostRoom;
    plan.reason += "; the host filesystem has " + FormatSize(host_free_bytes) + " free, " +
                   FormatSize(needed) + " needed (the growth plus a " +
                   FormatSize(kHostFreeMarginBytes) + " margin)";
    return plan;
  }
  plan.verdict = AutoExtendVerdict::kExtend;
  return plan;
}

Result<uint64_t> HostFreeBytes(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return Error::FromErrno("statvfs " + path);
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

// --- ThinPool --------------------------------------------------------------------------------

Result<AutoExtendOutcome> ThinPool::AutoExtend() {
  STRATA_ASSIGN_OR_RETURN(LockScope locked, Lock());
  STRATA_ASSIGN_OR_RETURN(PoolReport report, Report());
  return AutoExtendFrom(report);
}

Result<AutoExtendOutcome> ThinPool::AutoExtendFrom(const PoolReport& report) {
  AutoExtendOutcome outcome;
  uint64_t host_free = 0;
  if (backing_.kind == PoolBacking::kLoopFiles) {
    STRATA_ASSIGN_OR_RETURN(outcome.old_sizes.data_bytes, SizeOfPath(backing_.data_path));
    STRATA_ASSIGN_OR_RETURN(outcome.old_sizes.metadata_bytes, SizeOfPath(backing_.metadata_path));
    STRATA_ASSIGN_OR_RETURN(host_free, HostFreeBytes(backing_.data_path));
  }
  PoolConfig config = config_;
  config.backing = backing_.kind;
  outcome.plan = AutoExtendDecision(report.status, report.block_size_sectors, outcome.old_sizes,
                                    config, host_free);
  const AutoExtendPlan& plan = outcome.plan;
  if (plan.verdict == AutoExtendVerdict::kNoHostRoom ||
      plan.verdict == AutoExtendVerdict::kCannotGrow) {
    spdlog::warn("pool {}: cannot auto-extend: {}", name_, plan.reason);
  }
  if (plan.verdict != AutoExtendVerdict::kExtend) return outcome;
  auto changed = [](uint64_t from, uint64_t to) {
    return to != from ? std::optional<uint64_t>(to) : std::nullopt;
  };
  STRATA_TRY_CTX(Extend(changed(outcome.old_sizes.data_bytes, plan.new_sizes->data_bytes),
                        changed(outcome.old_sizes.metadata_bytes, plan.new_sizes->metadata_bytes)),
                 "auto-extend");
  outcome.extended = true;
  spdlog::info("pool {}: auto-extended: {}", name_, plan.reason);
  return outcome;
}

// Before a new device. A pool that cannot grow and is below the minimum free space (or out of
// data space) is refused here, saying why it did not grow; otherwise UsableStatus's own checks
// decide on the (possibly grown) pool.
Status ThinPool::PrepareSpaceForNewDevice(PoolReport& report) {
  STRATA_ASSIGN_OR_RETURN(AutoExtendOutcome outcome, AutoExtendFrom(report));
  if (outcome.extended) {
    STRATA_ASSIGN_OR_RETURN(report, Report());
    return Ok();
  }
  if (outcome.plan.verdict != AutoExtendVerdict::kNoHostRoom &&
      outcome.plan.verdict != AutoExtendVerdict::kCannotGrow) {
    return Ok();
  }
  const ThinPoolStatus& s = report.status;
  Status min_free =
      MinFreeSpaceCheck(s, report.block_size_sectors, config_.min_free_space_percent.value);
  if (min_free.ok() && s.mode != PoolMode::kOutOfDataSpace) return Ok();
  const uint32_t block = report.block_size_sectors;
  return Error(ENOSPC, "pool " + name_ + " is full (data " +
                           FormatSize(s.DataTotalBytes(block) - s.DataUsedBytes(block)) +
                           " free of " + FormatSize(s.DataTotalBytes(block)) + ", metadata " +
                           FormatSize(s.MetadataTotalBytes() - s.MetadataUsedBytes()) +
                           " free of " + FormatSize(s.MetadataTotalBytes()) +
                           "; minimum free space " +
                           std::to_string(config_.min_free_space_percent.value) +
                           "%) and cannot auto-extend: " + outcome.plan.reason);
}

}  // namespace strata::thinpool
