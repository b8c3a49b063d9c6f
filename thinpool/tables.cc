#include "thinpool/tables.h"

#include <cerrno>
#include <charconv>
#include <limits>

#include "thinpool/sizing.h"
#include "thinpool/thin_ids.h"

namespace strata::thinpool {
namespace {

constexpr std::string_view kSkipBlockZeroing = "skip_block_zeroing";
constexpr std::string_view kIgnoreDiscard = "ignore_discard";
constexpr std::string_view kNoDiscardPassdown = "no_discard_passdown";
constexpr std::string_view kReadOnly = "read_only";
constexpr std::string_view kErrorIfNoSpace = "error_if_no_space";

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

// `role` names the device in messages: "metadata device", "pool device", ...
Status ValidateDevRef(DevRef dev, std::string_view role) {
  const std::string what = std::string(role) + " " + dev.ToString();
  if (dev.major == 0 && dev.minor == 0) return Error(EINVAL, what + ": not a device");
  if (dev.major > kMaxDevMajor) return Error(EINVAL, what + ": major above 4095");
  if (dev.minor > kMaxDevMinor) return Error(EINVAL, what + ": minor above 1048575");
  return Ok();
}

Status ValidateLength(uint64_t length_sectors, std::string_view target) {
  if (length_sectors == 0) return Error(EINVAL, std::string(target) + " length 0: must be > 0");
  return Ok();
}

MappingTable OneTarget(uint64_t length_sectors, std::string type, std::string params) {
  return {sys::DmTarget{0, length_sectors, std::move(type), std::move(params)}};
}

Status ValidateLowWaterMark(const ThinPoolParams& p) {
  const uint64_t blocks = p.data_length_sectors / p.block_size_sectors;
  if (p.low_water_mark_blocks > blocks) {
    return Error(EINVAL, "low water mark " + std::to_string(p.low_water_mark_blocks) +
                             " blocks is more than the pool's " + std::to_string(blocks) +
                             " data blocks (the mark is in data blocks of " +
                             std::to_string(p.block_size_sectors) + " sectors, not in sectors)");
  }
  return Ok();
}

Status ValidateThinPoolParams(const ThinPoolParams& p) {
  STRATA_TRY(ValidateDevRef(p.metadata, "metadata device"));
  STRATA_TRY(ValidateDevRef(p.data, "data device"));
  if (p.metadata == p.data) {
    return Error(EINVAL, "metadata and data device are both " + p.data.ToString());
  }
  STRATA_TRY(ValidateBlockSizeSectors(p.block_size_sectors));
  if (p.data_length_sectors < p.block_size_sectors) {
    return Error(EINVAL, "thin-pool length " + std::to_string(p.data_length_sectors) +
                             " sectors is shorter than one data block (" +
                             std::to_string(p.block_size_sectors) + " sectors)");
  }
  return ValidateLowWaterMark(p);
}

// The feature args in the order the kernel emits them (emit_flags in dm-thin.c).
std::vector<std::string_view> FeatureArgs(const ThinPoolParams& p) {
  std::vector<std::string_view> features;
  if (!p.zero_blocks) features.push_back(kSkipBlockZeroing);
  if (p.discard == DiscardMode::kIgnore) features.push_back(kIgnoreDiscard);
  if (p.discard == DiscardMode::kNoPassdown) features.push_back(kNoDiscardPassdown);
  if (p.read_only) features.push_back(kReadOnly);
  if (p.error_if_no_space) features.push_back(kErrorIfNoSpace);
  return features;
}

// Applies one feature arg. ignore_discard wins over no_discard_passdown, as in the kernel.
Status ApplyFeature(std::string_view feature, ThinPoolParams& p) {
  if (feature == kSkipBlockZeroing) {
    p.zero_blocks = false;
  } else if (feature == kIgnoreDiscard) {
    p.discard = DiscardMode::kIgnore;
  } else if (feature == kNoDiscardPassdown) {
    if (p.discard != DiscardMode::kIgnore) p.discard = DiscardMode::kNoPassdown;
  } else if (feature == kReadOnly) {
    p.read_only = true;
  } else if (feature == kErrorIfNoSpace) {
    p.error_if_no_space = true;
  } else {
    return Error(EINVAL, "unknown feature " + Quoted(feature));
  }
  return Ok();
}

// fields[4] onward: [<#features> <feature>*].
Status ParseFeatures(const std::vector<std::string_view>& fields, ThinPoolParams& p) {
  if (fields.size() <= 4) return Ok();  // no feature section at all
  STRATA_ASSIGN_OR_RETURN(uint64_t count, ParseDecimal(fields[4], "feature count"));
  const size_t given = fields.size() - 5;
  if (count != given) {
    return Error(EINVAL, "feature count " + std::to_string(count) + " does not match the " +
                             std::to_string(given) + " feature args that follow");
  }
  for (size_t i = 5; i < fields.size(); ++i) STRATA_TRY(ApplyFeature(fields[i], p));
  return Ok();
}

Result<DevRef> ParseDevField(std::string_view text, std::string_view role) {
  STRATA_ASSIGN_OR_RETURN_CTX(DevRef dev, ParseDevRef(text), role);
  STRATA_TRY(ValidateDevRef(dev, role));
  return dev;
}

Result<ThinPoolParams> ParseThinPoolFields(const std::vector<std::string_view>& fields) {
  if (fields.size() < 4) {
    return Error(EINVAL, "expected <metadata dev> <data dev> <block size> <low water mark>");
  }
  ThinPoolParams p;
  STRATA_ASSIGN_OR_RETURN(p.metadata, ParseDevField(fields[0], "metadata device"));
  STRATA_ASSIGN_OR_RETURN(p.data, ParseDevField(fields[1], "data device"));
  STRATA_ASSIGN_OR_RETURN(uint64_t block_size, ParseDecimal(fields[2], "block size"));
  if (block_size > std::numeric_limits<uint32_t>::max()) {
    return Error(EINVAL, "block size " + std::to_string(block_size) + " sectors is too large");
  }
  p.block_size_sectors = static_cast<uint32_t>(block_size);
  STRATA_TRY(ValidateBlockSizeSectors(p.block_size_sectors));
  STRATA_ASSIGN_OR_RETURN(p.low_water_mark_blocks, ParseDecimal(fields[3], "low water mark"));
  STRATA_TRY(ParseFeatures(fields, p));
  return p;
}

Result<ThinParams> ParseThinFields(const std::vector<std::string_view>& fields) {
  if (fields.size() < 2 || fields.size() > 3) {
    return Error(EINVAL, "expected <pool dev> <dev id> [<external origin dev>]");
  }
  ThinParams t;
  STRATA_ASSIGN_OR_RETURN(t.pool, ParseDevField(fields[0], "pool device"));
  STRATA_ASSIGN_OR_RETURN(uint64_t id, ParseDecimal(fields[1], "thin device id"));
  if (id > kMaxThinId) {
    return Error(EINVAL, "thin device id " + std::to_string(id) + " is above 16777215 (24 bits)");
  }
  t.thin_id = static_cast<uint32_t>(id);
  if (fields.size() == 3) {
    STRATA_ASSIGN_OR_RETURN(t.external_origin, ParseDevField(fields[2], "external origin"));
  }
  return t;
}

// The single target of a pool or thin table, checked to be of `type`.
Result<sys::DmTarget> SingleTarget(const MappingTable& table, std::string_view type) {
  if (table.size() != 1) {
    return Error(EINVAL, "expected one " + std::string(type) + " target, got " +
                             std::to_string(table.size()) + " targets");
  }
  const sys::DmTarget& t = table[0];
  if (t.type != type) {
    return Error(EINVAL, "expected a " + std::string(type) + " target, got " + Quoted(t.type));
  }
  if (t.start_sectors != 0) {
    return Error(EINVAL, "the " + std::string(type) + " target starts at sector " +
                             std::to_string(t.start_sectors) + ", not 0");
  }
  return t;
}

}  // namespace

std::string DevRef::ToString() const { return std::to_string(major) + ":" + std::to_string(minor); }

Result<DevRef> ParseDevRef(std::string_view text) {
  const size_t colon = text.find(':');
  const auto bad = [&] {
    return Error(EINVAL, "device " + Quoted(text) + ": expected <major>:<minor>");
  };
  if (colon == std::string_view::npos) return bad();
  auto major = ParseDecimal(text.substr(0, colon), "major");
  auto minor = ParseDecimal(text.substr(colon + 1), "minor");
  if (!major.ok() || !minor.ok()) return bad();
  if (*major > kMaxDevMajor || *minor > kMaxDevMinor) {
    return Error(EINVAL, "device " + Quoted(text) +
                             ": out of range (major <= 4095, minor <= "
                             "1048575)");
  }
  return DevRef{static_cast<uint32_t>(*major), static_cast<uint32_t>(*minor)};
}

std::string_view DiscardModeName(DiscardMode mode) {
  switch (mode) {
    case DiscardMode::kPassdown:
      return "passdown";
    case DiscardMode::kNoPassdown:
      return "no-passdown";
    case DiscardMode::kIgnore:
      return "ignore";
  }
  return "passdown";
}

Result<MappingTable> LinearTable(DevRef dev, uint64_t offset_sectors, uint64_t length_sectors) {
  STRATA_TRY(ValidateDevRef(dev, "linear device"));
  STRATA_TRY(ValidateLength(length_sectors, "linear"));
  if (offset_sectors > std::numeric_limits<uint64_t>::max() - length_sectors) {
    return Error(EINVAL, "linear offset " + std::to_string(offset_sectors) + " + length " +
                             std::to_string(length_sectors) + " sectors overflows");
  }
  return OneTarget(length_sectors, "linear", dev.ToString() + " " + std::to_string(offset_sectors));
}

Result<MappingTable> ZeroTable(uint64_t length_sectors) {
  STRATA_TRY(ValidateLength(length_sectors, "zero"));
  return OneTarget(length_sectors, "zero", "");
}

Result<MappingTable> ErrorTable(uint64_t length_sectors) {
  STRATA_TRY(ValidateLength(length_sectors, "error"));
  return OneTarget(length_sectors, "error", "");
}

Result<MappingTable> ThinPoolTable(const ThinPoolParams& p) {
  STRATA_TRY_CTX(ValidateThinPoolParams(p), "thin-pool table");
  const std::vector<std::string_view> features = FeatureArgs(p);
  std::string params =
      p.metadata.ToString() + " " + p.data.ToString() + " " + std::to_string(p.block_size_sectors) +
      " " + std::to_string(p.low_water_mark_blocks) + " " + std::to_string(features.size());
  for (std::string_view f : features) params += " " + std::string(f);
  return OneTarget(p.data_length_sectors, "thin-pool", std::move(params));
}

Result<MappingTable> ThinTable(DevRef pool, uint32_t thin_id, uint64_t length_sectors,
                               std::optional<DevRef> external_origin) {
  STRATA_TRY_CTX(ValidateDevRef(pool, "pool device"), "thin table");
  STRATA_TRY_CTX(ValidateThinId(thin_id), "thin table");
  STRATA_TRY_CTX(ValidateLength(length_sectors, "thin"), "thin table");
  std::string params = pool.ToString() + " " + std::to_string(thin_id);
  if (external_origin) {
    STRATA_TRY_CTX(ValidateDevRef(*external_origin, "external origin"), "thin table");
    if (*external_origin == pool) {
      return Error(EINVAL, "thin table: external origin " + pool.ToString() + " is the pool");
    }
    params += " " + external_origin->ToString();
  }
  return OneTarget(length_sectors, "thin", std::move(params));
}

Result<ThinPoolParams> ParseThinPoolParams(std::string_view params) {
  return ParseThinPoolFields(SplitFields(params)).Wrap("thin-pool params " + Quoted(params));
}

Result<ThinParams> ParseThinParams(std::string_view params) {
  return ParseThinFields(SplitFields(params)).Wrap("thin params " + Quoted(params));
}

Result<ThinPoolParams> ParseThinPoolTable(const MappingTable& table) {
  STRATA_ASSIGN_OR_RETURN(sys::DmTarget target, SingleTarget(table, "thin-pool"));
  STRATA_ASSIGN_OR_RETURN(ThinPoolParams p, ParseThinPoolParams(target.params));
  p.data_length_sectors = target.length_sectors;
  return p;
}

Result<ThinParams> ParseThinTable(const MappingTable& table) {
  STRATA_ASSIGN_OR_RETURN(sys::DmTarget target, SingleTarget(table, "thin"));
  STRATA_ASSIGN_OR_RETURN(ThinParams t, ParseThinParams(target.params));
  t.length_sectors = target.length_sectors;
  return t;
}

std::vector<std::string_view> SplitFields(std::string_view line) {
  constexpr std::string_view kSpace = " \t\n\r\v\f";
  std::vector<std::string_view> fields;
  size_t pos = line.find_first_not_of(kSpace);
  while (pos != std::string_view::npos) {
    const size_t end = line.find_first_of(kSpace, pos);
    fields.push_back(line.substr(pos, end == std::string_view::npos ? end : end - pos));
    pos = end == std::string_view::npos ? end : line.find_first_not_of(kSpace, end);
  }
  return fields;
}

Result<uint64_t> ParseDecimal(std::string_view text, std::string_view field) {
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec == std::errc::result_out_of_range) {
    return Error(ERANGE, std::string(field) + " " + Quoted(text) + ": above 2^64 - 1");
  }
  if (text.empty() || ec != std::errc() || ptr != end) {
    return Error(EINVAL, std::string(field) + " " + Quoted(text) + ": expected a number");
  }
  return value;
}

std::string FormatTableLine(const sys::DmTarget& target) {
  std::string line = std::to_string(target.start_sectors) + " " +
                     std::to_string(target.length_sectors) + " " + target.type;
  if (!target.params.empty()) line += " " + target.params;
  return line;
}

std::string FormatTable(const MappingTable& table) {
  std::string out;
  for (const sys::DmTarget& target : table) out += FormatTableLine(target) + "\n";
  return out;
}

Result<sys::DmTarget> ParseTableLine(std::string_view line) {
  const std::vector<std::string_view> fields = SplitFields(line);
  const std::string context = "table line " + Quoted(line);
  if (fields.size() < 3) return Error(EINVAL, context + ": expected <start> <length> <type>");
  sys::DmTarget target;
  STRATA_ASSIGN_OR_RETURN_CTX(target.start_sectors, ParseDecimal(fields[0], "start"), context);
  STRATA_ASSIGN_OR_RETURN_CTX(target.length_sectors, ParseDecimal(fields[1], "length"), context);
  target.type = std::string(fields[2]);
  if (fields.size() > 3) {
    // The params run from the fourth field to the last, internal spacing kept.
    const size_t begin = static_cast<size_t>(fields[3].data() - line.data());
    const size_t end =
        static_cast<size_t>(fields.back().data() + fields.back().size() - line.data());
    target.params = std::string(line.substr(begin, end - begin));
  }
  return target;
}

}  // namespace strata::thinpool
