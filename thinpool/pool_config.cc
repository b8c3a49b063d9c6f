#include "thinpool/pool_config.h"

#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>

#include "core/strings.h"
#include "core/units.h"

namespace strata::thinpool {
namespace {

using nlohmann::json;
constexpr ConfigSource kFile = ConfigSource::kConfigFile;
constexpr uint64_t kSizeAlignBytes = 4096;

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

Error Invalid(std::string_view key, const std::string& what) {
  return Error(EINVAL, "driver-opts.devicemapper." + std::string(key) + ": " + what);
}

template <class T>
bool Given(const Setting<T>& s) {
  return s.source == kFile;
}

Result<std::string> StringValue(std::string_view key, const json& v) {
  if (!v.is_string()) return Invalid(key, "expected a string");
  return v.get<std::string>();
}

Result<bool> BoolValue(std::string_view key, const json& v) {
  if (!v.is_boolean()) return Invalid(key, "expected true or false");
  return v.get<bool>();
}

// A size string ("10G"), a multiple of 4K.
Result<uint64_t> SizeValue(std::string_view key, const json& v) {
  if (!v.is_string()) return Invalid(key, "expected a size string like \"10G\"");
  const std::string text = v.get<std::string>();
  Result<uint64_t> bytes = ParseSize(text);
  if (!bytes.ok()) return Invalid(key, bytes.error().message());
  if (*bytes % kSizeAlignBytes != 0) {
    return Invalid(
        key, Quoted(text) + " (" + std::to_string(*bytes) + " bytes) is not a multiple of 4K");
  }
  return *bytes;
}

// "N%" with N an integer in [min, max].
Result<uint32_t> PercentValue(std::string_view key, const json& v, uint32_t min, uint32_t max) {
  const std::string range = std::to_string(min) + "% to " + std::to_string(max) + "%";
  if (!v.is_string()) return Invalid(key, "expected a percentage string like \"10%\"");
  const std::string text = v.get<std::string>();
  uint32_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr + 1 != end || *ptr != '%') {
    return Invalid(key, Quoted(text) + ": expected a percentage like \"10%\" (" + range + ")");
  }
  if (value < min || value > max) return Invalid(key, Quoted(text) + ": must be " + range);
  return value;
}

// One word per element, non-empty; `no_comma` for mount options (one option per element).
Result<std::vector<std::string>> StringArrayValue(std::string_view key, const json& v,
                                                  bool no_comma) {
  if (!v.is_array()) return Invalid(key, "expected an array of strings");
  std::vector<std::string> out;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string where = std::string(key) + "[" + std::to_string(i) + "]";
    if (!v[i].is_string()) return Invalid(where, "expected a string");
    std::string s = v[i].get<std::string>();
    if (s.empty()) return Invalid(where, "expected a non-empty string");
    if (no_comma && s.find(',') != std::string::npos) {
      return Invalid(where, Quoted(s) + ": one option per element, no ','");
    }
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::string> DevicePathValue(std::string_view key, const json& v) {
  STRATA_ASSIGN_OR_RETURN(std::string path, StringValue(key, v));
  if (path.empty() || path[0] != '/') {
    return Invalid(key, Quoted(path) + ": expected an absolute path to a block device");
  }
  return path;
}

// A dm name strata creates: conservative characters, room for suffixes within dm's 127.
Result<std::string> PoolNameValue(std::string_view key, const json& v) {
  STRATA_ASSIGN_OR_RETURN(std::string name, StringValue(key, v));
  const bool starts_ok = !name.empty() && std::isalnum(static_cast<unsigned char>(name[0]));
  bool chars_ok = true;
  for (char ch : name) {
    chars_ok = chars_ok && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' ||
                            ch == '_' || ch == '.' || ch == '+');
  }
  if (!starts_ok || !chars_ok || name.size() > 64) {
    return Invalid(key, Quoted(name) +
                            ": expected 1 to 64 characters of A-Z a-z 0-9 - _ . +, "
                            "starting with a letter or digit");
  }
  return name;
}

// An existing pool: a dm name, or an absolute path (/dev/mapper/<name>).
Result<std::string> PoolDeviceValue(std::string_view key, const json& v) {
  STRATA_ASSIGN_OR_RETURN(std::string dev, StringValue(key, v));
  if (dev.empty() || (dev.find('/') != std::string::npos && dev[0] != '/')) {
    return Invalid(key, Quoted(dev) +
                            ": expected a dm name or an absolute path "
                            "(/dev/mapper/<name>)");
  }
  return dev;
}

// A choice among fixed words, with a did-you-mean.
template <class T, size_t N>
Result<T> ChoiceValue(std::string_view key, const json& v,
                      const std::array<std::pair<std::string_view, T>, N>& choices) {
  STRATA_ASSIGN_OR_RETURN(std::string word, StringValue(key, v));
  std::vector<std::string_view> names;
  for (const auto& [name, value] : choices) {
    if (name == word) return value;
    names.push_back(name);
  }
  std::vector<std::string> list(names.begin(), names.end());
  return Invalid(key,
                 Quoted(word) + ": expected one of " + Join(list, ", ") + DidYouMean(word, names));
}

constexpr std::array<std::pair<std::string_view, DiscardMode>, 3> kDiscardModes = {{
    {"passdown", DiscardMode::kPassdown},
    {"no-passdown", DiscardMode::kNoPassdown},
    {"ignore", DiscardMode::kIgnore},
}};
constexpr std::array<std::pair<std::string_view, Filesystem>, 2> kFilesystems = {{
    {"ext4", Filesystem::kExt4},
    {"xfs", Filesystem::kXfs},
}};

// Stores a parsed value in `setting`, marked as from the config file.
template <class T, class U>
Status Set(Setting<T>& setting, Result<U> value) {
  if (!value.ok()) return std::move(value).error();
  setting = {T(std::move(value).value()), kFile};
  return Ok();
}

Result<uint32_t> BlockSizeValue(std::string_view key, const json& v) {
  STRATA_ASSIGN_OR_RETURN(uint64_t bytes, SizeValue(key, v));
  Result<uint32_t> sectors = BlockSizeSectorsFromBytes(bytes);
  if (!sectors.ok()) return Invalid(key, sectors.error().message());
  return sectors;
}

Result<uint64_t> BlocksValue(std::string_view key, const json& v) {
  // Parsed JSON holds non-negative integers as unsigned; a json built in code may hold them as
  // signed.
  const bool non_negative =
      v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
  if (!non_negative) return Invalid(key, "expected a number of data blocks (an integer >= 0)");
  return v.get<uint64_t>();
}

using K = std::string_view;
using C = PoolConfig;
Status PoolName(K k, const json& v, C& c) { return Set(c.pool_name, PoolNameValue(k, v)); }
Status DataSize(K k, const json& v, C& c) { return Set(c.data_size_bytes, SizeValue(k, v)); }
Status MetaSize(K k, const json& v, C& c) { return Set(c.metadata_size_bytes, SizeValue(k, v)); }
Status DataDev(K k, const json& v, C& c) { return Set(c.data_device, DevicePathValue(k, v)); }
Status MetaDev(K k, const json& v, C& c) { return Set(c.metadata_device, DevicePathValue(k, v)); }
Status PoolDev(K k, const json& v, C& c) { return Set(c.thin_pool_device, PoolDeviceValue(k, v)); }
Status BlockSize(K k, const json& v, C& c) {
  return Set(c.block_size_sectors, BlockSizeValue(k, v));
}
Status LowWater(K k, const json& v, C& c) {
  return Set(c.low_water_mark_blocks, BlocksValue(k, v));
}
Status Zero(K k, const json& v, C& c) { return Set(c.zero_blocks, BoolValue(k, v)); }
Status Discard(K k, const json& v, C& c) {
  return Set(c.discard, ChoiceValue(k, v, kDiscardModes));
}
Status ErrorNoSpace(K k, const json& v, C& c) { return Set(c.error_if_no_space, BoolValue(k, v)); }
Status MinFree(K k, const json& v, C& c) {
  return Set(c.min_free_space_percent, PercentValue(k, v, 0, 99));
}
Status ExtendAt(K k, const json& v, C& c) {
  return Set(c.auto_extend_threshold_percent, PercentValue(k, v, 1, 99));
}
Status ExtendBy(K k, const json& v, C& c) {
  return Set(c.auto_extend_percent, PercentValue(k, v, 1, 1000));
}
Status BaseSize(K k, const json& v, C& c) { return Set(c.base_size_bytes, SizeValue(k, v)); }
Status Fs(K k, const json& v, C& c) { return Set(c.fs, ChoiceValue(k, v, kFilesystems)); }
Status Mkfs(K k, const json& v, C& c) { return Set(c.mkfs_options, StringArrayValue(k, v, false)); }
Status Mount(K k, const json& v, C& c) {
  return Set(c.mount_options, StringArrayValue(k, v, true));
}

struct OptionSpec {
  std::string_view key;
  Status (*apply)(K key, const json& value, C& config);
};
// The options, in the order PoolConfigToJson prints them.
constexpr std::array<OptionSpec, 18> kOptions = {{
    {"pool-name", PoolName},
    {"data-size", DataSize},
    {"metadata-size", MetaSize},
    {"data-device", DataDev},
    {"metadata-device", MetaDev},
    {"thin-pool-device", PoolDev},
    {"block-size", BlockSize},
    {"low-water-mark", LowWater},
    {"zero-blocks", Zero},
    {"discard", Discard},
    {"error-if-no-space", ErrorNoSpace},
    {"min-free-space", MinFree},
    {"auto-extend-threshold", ExtendAt},
    {"auto-extend-percent", ExtendBy},
    {"base-size", BaseSize},
    {"fs", Fs},
    {"mkfs-options", Mkfs},
    {"mount-options", Mount},
}};

// Docker's dm.* storage options, so a copied daemon.json gets pointed at strata's key.
constexpr std::array<std::pair<std::string_view, std::string_view>, 13> kDockerNames = {{
    {"thinpooldev", "thin-pool-device"},
    {"basesize", "base-size"},
    {"loopdatasize", "data-size"},
    {"loopmetadatasize", "metadata-size"},
    {"datadev", "data-device"},
    {"metadatadev", "metadata-device"},
    {"blocksize", "block-size"},
    {"fs", "fs"},
    {"mkfsarg", "mkfs-options"},
    {"mountopt", "mount-options"},
    {"min_free_space", "min-free-space"},
    {"blkdiscard", "discard"},
    {"thinp_autoextend_threshold", "auto-extend-threshold"},
}};

Error UnknownOption(const std::string& key) {
  const std::string_view bare = std::string_view(key).substr(key.rfind("dm.", 0) == 0 ? 3 : 0);
  for (const auto& [docker, ours] : kDockerNames) {
    if (bare == docker) {
      return Invalid(key, "unknown option (did you mean \"" + std::string(ours) + "\"? \"dm." +
                              std::string(docker) + "\" is docker's name)");
    }
  }
  std::vector<std::string_view> names;
  std::vector<std::string> list;
  for (const OptionSpec& o : kOptions) {
    names.push_back(o.key);
    list.emplace_back(o.key);
  }
  std::string hint = DidYouMean(key, names);
  if (hint.empty()) hint = " (known: " + Join(list, ", ") + ")";
  return Invalid(key, "unknown option" + hint);
}

Status ApplyOptions(const json& options, PoolConfig& c) {
  for (const auto& [key, value] : options.items()) {
    const OptionSpec* spec = nullptr;
    for (const OptionSpec& o : kOptions) {
      if (o.key == key) spec = &o;
    }
    if (spec == nullptr) return UnknownOption(key);
    STRATA_TRY(spec->apply(spec->key, value, c));
  }
  return Ok();
}

// thin-pool-device excludes everything that describes a pool strata builds itself.
Status CheckExistingPool(const PoolConfig& c) {
  const std::array<std::pair<std::string_view, bool>, 5> conflicts = {{
      {"data-size", Given(c.data_size_bytes)},
      {"metadata-size", Given(c.metadata_size_bytes)},
      {"data-device", Given(c.data_device)},
      {"metadata-device", Given(c.metadata_device)},
      {"block-size", Given(c.block_size_sectors)},
  }};
  for (const auto& [key, given] : conflicts) {
    if (given) {
      return Invalid("thin-pool-device",
                     "cannot be combined with " + std::string(key) +
                         " (an existing pool brings its own devices, sizes and block size)");
    }
  }
  return Ok();
}

Status CheckDevices(const PoolConfig& c) {
  if (!Given(c.data_device)) return Invalid("metadata-device", "requires data-device");
  if (!Given(c.metadata_device)) return Invalid("data-device", "requires metadata-device");
  if (c.data_device.value == c.metadata_device.value) {
    return Invalid("metadata-device",
                   Quoted(c.metadata_device.value) + " is also the data-device; they must differ");
  }
  if (Given(c.data_size_bytes) || Given(c.metadata_size_bytes)) {
    return Invalid(Given(c.data_size_bytes) ? "data-size" : "metadata-size",
                   "only for loop-backed pools; with data-device and metadata-device the sizes "
                   "are the devices'");
  }
  return Ok();
}

// Picks the backing from the keys given and rejects combinations of two.
Status ResolveBacking(PoolConfig& c) {
  if (Given(c.thin_pool_device)) {
    STRATA_TRY(CheckExistingPool(c));
    c.backing = PoolBacking::kExistingPool;
  } else if (Given(c.data_device) || Given(c.metadata_device)) {
    STRATA_TRY(CheckDevices(c));
    c.backing = PoolBacking::kDevices;
  } else {
    c.backing = PoolBacking::kLoopFiles;
  }
  if (c.backing == PoolBacking::kLoopFiles) return Ok();
  const std::array<std::pair<std::string_view, bool>, 2> loop_only = {{
      {"auto-extend-threshold", Given(c.auto_extend_threshold_percent)},
      {"auto-extend-percent", Given(c.auto_extend_percent)},
  }};
  for (const auto& [key, given] : loop_only) {
    if (given) {
      return Invalid(key, "only for loop-backed pools (strata cannot grow " +
                              std::string(PoolBackingName(c.backing)) + ")");
    }
  }
  return Ok();
}

// Loop files: data size, metadata size (computed unless given), low-water mark against it.
Status CheckLoopSizes(PoolConfig& c) {
  const uint64_t block_bytes = uint64_t{c.block_size_sectors.value} * kSectorBytes;
  if (c.data_size_bytes.value < block_bytes) {
    return Invalid("data-size", FormatSize(c.data_size_bytes.value) +
                                    " is smaller than one data block (" + FormatSize(block_bytes) +
                                    ")");
  }
  if (!Given(c.metadata_size_bytes)) {
    STRATA_ASSIGN_OR_RETURN(
        c.metadata_size_bytes.value,
        RecommendedMetadataBytes(c.data_size_bytes.value, c.block_size_sectors.value));
  } else if (c.metadata_size_bytes.value < kMinMetadataBytes ||
             c.metadata_size_bytes.value > kMaxMetadataBytes) {
    return Invalid("metadata-size", FormatSize(c.metadata_size_bytes.value) + ": must be 2M to " +
                                        FormatSize(kMaxMetadataBytes) +
                                        " (the kernel ignores metadata past that)");
  }
  STRATA_TRY(EffectiveLowWaterMarkBlocks(c, c.data_size_bytes.value));
  return Ok();
}

Status CheckSpace(const PoolConfig& c) {
  const uint32_t max_threshold = 100 - c.min_free_space_percent.value;
  if (c.backing == PoolBacking::kLoopFiles &&
      c.auto_extend_threshold_percent.value > max_threshold) {
    return Invalid("auto-extend-threshold",
                   std::to_string(c.auto_extend_threshold_percent.value) + "% must be at most " +
                       std::to_string(max_threshold) + "% (100% - min-free-space " +
                       std::to_string(c.min_free_space_percent.value) +
                       "%), or new devices are refused before the pool grows");
  }
  const bool xfs = c.fs.value == Filesystem::kXfs;
  const uint64_t min_base = xfs ? kMinXfsBaseSizeBytes : kMinBaseSizeBytes;
  if (c.base_size_bytes.value < min_base) {
    return Invalid("base-size", FormatSize(c.base_size_bytes.value) + " is below the minimum " +
                                    FormatSize(min_base) + " for " +
                                    std::string(FilesystemName(c.fs.value)));
  }
  return Ok();
}

// A size as the config file spells it: the short form when it is exact, else bytes.
std::string SizeText(uint64_t bytes) {
  const std::string human = FormatSize(bytes);
  Result<uint64_t> back = ParseSize(human);
  return back.ok() && *back == bytes ? human : std::to_string(bytes);
}

std::string PercentText(uint32_t percent) { return std::to_string(percent) + "%"; }

template <class T>
json Entry(const Setting<T>& s, json value) {
  return {{"value", std::move(value)}, {"source", SourceName(s.source)}};
}

}  // namespace

std::string_view PoolBackingName(PoolBacking backing) {
  switch (backing) {
    case PoolBacking::kLoopFiles:
      return "loop files";
    case PoolBacking::kDevices:
      return "devices";
    case PoolBacking::kExistingPool:
      return "existing pool";
  }
  return "loop files";
}

std::string_view FilesystemName(Filesystem fs) { return fs == Filesystem::kXfs ? "xfs" : "ext4"; }

Result<PoolConfig> ParsePoolConfig(const json& options) {
  PoolConfig c;
  if (!options.is_null() && !options.is_object()) {
    return Error(EINVAL, "driver-opts.devicemapper: expected an object");
  }
  if (options.is_object()) STRATA_TRY(ApplyOptions(options, c));
  STRATA_TRY(ResolveBacking(c));
  if (c.backing == PoolBacking::kLoopFiles) STRATA_TRY(CheckLoopSizes(c));
  STRATA_TRY(CheckSpace(c));
  return c;
}

Result<uint64_t> EffectiveLowWaterMarkBlocks(const PoolConfig& c, uint64_t data_bytes) {
  const uint32_t block_size = c.block_size_sectors.value;
  if (!c.low_water_mark_blocks.value) return DefaultLowWaterMarkBlocks(data_bytes, block_size);
  const uint64_t mark = *c.low_water_mark_blocks.value;
  const uint64_t blocks = DataBlocks(data_bytes, block_size);
  if (mark > blocks) {
    return Invalid("low-water-mark", std::to_string(mark) + " blocks is more than the pool's " +
                                         std::to_string(blocks) + " data blocks of " +
                                         FormatSize(uint64_t{block_size} * kSectorBytes) +
                                         " (the mark is in data blocks, not sectors or bytes)");
  }
  return mark;
}

json PoolConfigToJson(const PoolConfig& c) {
  const auto& lwm = c.low_water_mark_blocks;
  return {
      {"backing", PoolBackingName(c.backing)},
      {"pool-name", Entry(c.pool_name, c.pool_name.value)},
      {"data-size", Entry(c.data_size_bytes, SizeText(c.data_size_bytes.value))},
      {"metadata-size", Entry(c.metadata_size_bytes, SizeText(c.metadata_size_bytes.value))},
      {"data-device", Entry(c.data_device, c.data_device.value)},
      {"metadata-device", Entry(c.metadata_device, c.metadata_device.value)},
      {"thin-pool-device", Entry(c.thin_pool_device, c.thin_pool_device.value)},
      {"block-size",
       Entry(c.block_size_sectors, SizeText(uint64_t{c.block_size_sectors.value} * kSectorBytes))},
      {"low-water-mark", Entry(lwm, lwm.value ? json(*lwm.value) : json(nullptr))},
      {"zero-blocks", Entry(c.zero_blocks, c.zero_blocks.value)},
      {"discard", Entry(c.discard, DiscardModeName(c.discard.value))},
      {"error-if-no-space", Entry(c.error_if_no_space, c.error_if_no_space.value)},
      {"min-free-space",
       Entry(c.min_free_space_percent, PercentText(c.min_free_space_percent.value))},
      {"auto-extend-threshold",
       Entry(c.auto_extend_threshold_percent, PercentText(c.auto_extend_threshold_percent.value))},
      {"auto-extend-percent",
       Entry(c.auto_extend_percent, PercentText(c.auto_extend_percent.value))},
      {"base-size", Entry(c.base_size_bytes, SizeText(c.base_size_bytes.value))},
      {"fs", Entry(c.fs, FilesystemName(c.fs.value))},
      {"mkfs-options", Entry(c.mkfs_options, c.mkfs_options.value)},
      {"mount-options", Entry(c.mount_options, c.mount_options.value)},
  };
}

}  // namespace strata::thinpool
