// strata's configuration: built-in defaults, overridden by the config file (JSON), overridden by
// command-line flags. Each setting remembers where its value came from, for `strata info`.
//
// The file is one JSON object with these keys, all optional:
//   "root"        string, absolute path             (default /var/lib/strata)
//   "driver"      string; "" or absent = auto-detect (names are checked by the driver registry)
//   "log-level"   trace | debug | info | warn | error | off   (default warn)
//   "log-file"    string, absolute path; "" = stderr only    (default "")
//   "driver-opts" object of objects: {"overlay": {...}, "devicemapper": {...}}. Only the shape is
//                 checked here; each driver validates its own object.
//   "volumes"     object: defaults of `strata vol create` (volumes/volume.h ParseVolumeDefaults
//                 checks its keys).
// Unknown keys, wrong types and impossible values are rejected (EINVAL) with the file, the key's
// path and what was expected.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace strata {

inline constexpr char kDefaultConfigPath[] = "/etc/strata/config.json";
inline constexpr char kDefaultRoot[] = "/var/lib/strata";
inline constexpr char kDefaultLogLevelName[] = "warn";

enum class ConfigSource { kDefault, kConfigFile, kFlag };
// "default", "config file", "flag".
std::string_view SourceName(ConfigSource source);

template <class T>
struct Setting {
  T value;
  ConfigSource source = ConfigSource::kDefault;
};

// Command-line values; std::nullopt = flag not given.
struct ConfigFlags {
  std::optional<std::string> config_path, root, driver, log_level, log_file;
};

struct Config {
  std::string config_path;                  // the file consulted (loaded or not)
  bool config_file_loaded = false;          // false: no file at the default path, defaults used
  Setting<std::string> root{kDefaultRoot};  // absolute, no trailing slash
  Setting<std::string> driver;              // "" = auto-detect
  Setting<std::string> log_level{kDefaultLogLevelName};           // always a valid level name
  Setting<std::string> log_file;                                  // "" = none; else absolute
  Setting<nlohmann::json> driver_opts{nlohmann::json::object()};  // always an object of objects
  Setting<nlohmann::json> volumes{nlohmann::json::object()};      // checked by volumes/
};

// Reads the config file (flags.config_path, else kDefaultConfigPath) and applies flags over it.
// A missing file at the default path is fine (defaults, config_file_loaded = false); a missing
// file given with --config is ENOENT. A relative --root or --log-file is made absolute against
// the current directory (a flag is typed relative to where the user stands); in the file they
// must already be absolute. Errors: ENOENT/EACCES/EISDIR... reading the file; EINVAL for
// syntax errors, unknown keys, wrong types, bad values in the file or flags.
Result<Config> LoadConfig(const ConfigFlags& flags);

// Parses a config file's text. Keys present get source kConfigFile; the rest keep defaults.
// `path_for_messages` prefixes every error ("config <path>: ...") and becomes config_path.
// Errors: EINVAL, with line and column for JSON syntax errors.
Result<Config> ParseConfig(std::string_view json_text, const std::string& path_for_messages);

// For `strata info --json`:
//   {"config-path": "...", "config-file-loaded": true,
//    "root": {"value": "/var/lib/strata", "source": "default"}, "driver": {...},
//    "log-level": {...}, "log-file": {...}, "driver-opts": {"value": {...}, "source": "..."}}
nlohmann::json ConfigToJson(const Config& config);

}  // namespace strata
