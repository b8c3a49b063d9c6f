#include "core/config.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <set>
#include <vector>

#include "core/log.h"
#include "core/strings.h"
#include "core/unique_fd.h"

namespace strata {
namespace {

using nlohmann::json;

enum class Key { kRoot, kDriver, kLogLevel, kLogFile, kDriverOpts, kVolumes };
struct KeySpec {
  std::string_view name;
  Key key;
};
constexpr std::array<KeySpec, 6> kKeys = {{{"root", Key::kRoot},
                                           {"driver", Key::kDriver},
                                           {"log-level", Key::kLogLevel},
                                           {"log-file", Key::kLogFile},
                                           {"driver-opts", Key::kDriverOpts},
                                           {"volumes", Key::kVolumes}}};

// "config <path>: <what>", EINVAL.
Error ConfigError(const std::string& path, std::string_view what) {
  return Error(EINVAL, "config " + path + ": " + std::string(what));
}

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string TypeName(const json& j) {
  switch (j.type()) {
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::null:
      return "null";
    default:
      return "a number";
  }
}

std::string Expected(std::string_view key_path, std::string_view what, const json& got) {
  return Quoted(key_path) + ": expected " + std::string(what) + ", got " + TypeName(got);
}

Result<json> ParseJson(std::string_view text, const std::string& path) {
  std::set<std::string> seen;
  std::vector<std::string> duplicates;
  // Depth 1 keys are the top-level object's; a later duplicate would silently win otherwise.
  json::parser_callback_t on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1 && parsed.is_string()) {
      if (!seen.insert(parsed.get<std::string>()).second) {
        duplicates.push_back(parsed.get<std::string>());
      }
    }
    return true;
  };
  json doc;
  try {
    doc = json::parse(text.begin(), text.end(), on_event);
  } catch (const json::exception& e) {  // third-party exception: stops at this boundary
    std::string what = e.what();        // "[json.exception.parse_error.101] parse error at ..."
    size_t bracket = what.find("] ");
    return ConfigError(path, bracket == std::string::npos ? what : what.substr(bracket + 2));
  }
  if (!duplicates.empty()) return ConfigError(path, Quoted(duplicates[0]) + ": duplicate key");
  if (!doc.is_object()) return ConfigError(path, "expected a JSON object, got " + TypeName(doc));
  return doc;
}

// No trailing slash (except "/" itself), "." and ".." resolved lexically.
std::string NormalizePath(const std::string& p) {
  std::string out = std::filesystem::path(p).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

Result<std::string> AbsolutePathValue(const json& v, std::string_view key, bool allow_empty) {
  if (!v.is_string()) return Error(EINVAL, Expected(key, "a string (an absolute path)", v));
  std::string s = v.get<std::string>();
  if (s.empty() && allow_empty) return s;
  if (s.empty() || s[0] != '/') {
    return Error(EINVAL, Quoted(key) + ": expected an absolute path, got " + Quoted(s));
  }
  return NormalizePath(s);
}

Result<std::string> LogLevelValue(const json& v) {
  if (!v.is_string()) return Error(EINVAL, Expected("log-level", "a string", v));
  std::string s = v.get<std::string>();
  if (s.empty()) return std::string(kDefaultLogLevelName);
  STRATA_TRY_CTX(ParseLogLevel(s), Quoted("log-level"));
  return s;
}

Status CheckDriverOpts(const json& v) {
  if (!v.is_object()) return Error(EINVAL, Expected("driver-opts", "an object", v));
  for (const auto& [name, opts] : v.items()) {
    if (!opts.is_object()) return Error(EINVAL, Expected("driver-opts." + name, "an object", opts));
  }
  return Ok();
}

Error UnknownKey(const std::string& key) {
  std::vector<std::string_view> names;
  std::vector<std::string> list;
  for (const KeySpec& k : kKeys) {
    names.push_back(k.name);
    list.emplace_back(k.name);
  }
  std::string hint = DidYouMean(key, names);
  if (hint.empty()) hint = " (expected one of " + Join(list, ", ") + ")";
  return Error(EINVAL, Quoted(key) + ": unknown key" + hint);
}

Status ApplyKey(Key key, const json& v, Config& c) {
  constexpr ConfigSource kFile = ConfigSource::kConfigFile;
  switch (key) {
    case Key::kRoot: {
      STRATA_ASSIGN_OR_RETURN(std::string root, AbsolutePathValue(v, "root", false));
      c.root = {std::move(root), kFile};
      return Ok();
    }
    case Key::kDriver:
      if (!v.is_string()) return Error(EINVAL, Expected("driver", "a string", v));
      c.driver = {v.get<std::string>(), kFile};
      return Ok();
    case Key::kLogLevel: {
      STRATA_ASSIGN_OR_RETURN(std::string level, LogLevelValue(v));
      c.log_level = {std::move(level), kFile};
      return Ok();
    }
    case Key::kLogFile: {
      STRATA_ASSIGN_OR_RETURN(std::string file, AbsolutePathValue(v, "log-file", true));
      c.log_file = {std::move(file), kFile};
      return Ok();
    }
    case Key::kDriverOpts:
      STRATA_TRY(CheckDriverOpts(v));
      c.driver_opts = {v, kFile};
      return Ok();
    case Key::kVolumes:
      if (!v.is_object()) return Error(EINVAL, Expected("volumes", "an object", v));
      c.volumes = {v, kFile};
      return Ok();
  }
  return Ok();
}

Status ApplyObject(const json& doc, Config& config) {
  for (const auto& [name, value] : doc.items()) {
    const KeySpec* spec = nullptr;
    for (const KeySpec& k : kKeys) {
      if (k.name == name) spec = &k;
    }
    if (!spec) return UnknownKey(name);
    STRATA_TRY(ApplyKey(spec->key, value, config));
  }
  return Ok();
}

// The whole file, or the errno of open/read (ENOENT, EACCES, EISDIR, ...).
Result<std::string> ReadFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::FromErrno("open");
  std::string text;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.Get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno("read");
    if (n == 0) return text;
    text.append(buf, static_cast<size_t>(n));
  }
}

// A flag path: relative is taken against the current directory.
Result<std::string> FlagPath(const std::string& flag, const std::string& value) {
  if (value.empty()) return Error(EINVAL, flag + ": expected a path, got \"\"");
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(value, ec);
  if (ec) return Error(ec.value(), flag + " " + value + ": " + ec.message());
  return NormalizePath(abs.string());
}

Status ApplyFlags(const ConfigFlags& flags, Config& c) {
  constexpr ConfigSource kFlag = ConfigSource::kFlag;
  if (flags.root) {
    STRATA_ASSIGN_OR_RETURN(std::string root, FlagPath("--root", *flags.root));
    c.root = {std::move(root), kFlag};
  }
  if (flags.driver) c.driver = {*flags.driver, kFlag};
  if (flags.log_level) {
    STRATA_TRY_CTX(ParseLogLevel(*flags.log_level), "--log-level");
    c.log_level = {flags.log_level->empty() ? kDefaultLogLevelName : *flags.log_level, kFlag};
  }
  if (flags.log_file) {
    std::string file;  // "--log-file ''" turns a configured file off
    if (!flags.log_file->empty()) {
      STRATA_ASSIGN_OR_RETURN(file, FlagPath("--log-file", *flags.log_file));
    }
    c.log_file = {std::move(file), kFlag};
  }
  return Ok();
}

json SettingJson(const Setting<std::string>& s) {
  return {{"value", s.value}, {"source", SourceName(s.source)}};
}

}  // namespace

std::string_view SourceName(ConfigSource source) {
  switch (source) {
    case ConfigSource::kDefault:
      return "default";
    case ConfigSource::kConfigFile:
      return "config file";
    case ConfigSource::kFlag:
      return "flag";
  }
  return "default";
}

Result<Config> ParseConfig(std::string_view json_text, const std::string& path_for_messages) {
  STRATA_ASSIGN_OR_RETURN(json doc, ParseJson(json_text, path_for_messages));
  Config config;
  config.config_path = path_for_messages;
  config.config_file_loaded = true;
  STRATA_TRY_CTX(ApplyObject(doc, config), "config " + path_for_messages);
  return config;
}

Result<Config> LoadConfig(const ConfigFlags& flags) {
  const bool explicit_path = flags.config_path.has_value();
  const std::string path = explicit_path ? *flags.config_path : kDefaultConfigPath;
  if (path.empty()) return Error(EINVAL, "--config: expected a path, got \"\"");
  Config config;
  config.config_path = path;
  Result<std::string> text = ReadFile(path);
  if (text.ok()) {
    STRATA_ASSIGN_OR_RETURN(config, ParseConfig(*text, path));
  } else if (text.error().code() != ENOENT || explicit_path) {
    return std::move(text).error().Wrap("config " + path);
  }
  STRATA_TRY(ApplyFlags(flags, config));
  return config;
}

json ConfigToJson(const Config& config) {
  return {
      {"config-path", config.config_path},
      {"config-file-loaded", config.config_file_loaded},
      {"root", SettingJson(config.root)},
      {"driver", SettingJson(config.driver)},
      {"log-level", SettingJson(config.log_level)},
      {"log-file", SettingJson(config.log_file)},
      {"driver-opts",
       {{"value", config.driver_opts.value}, {"source", SourceName(config.driver_opts.source)}}},
      {"volumes",
       {{"value", config.volumes.value}, {"source", SourceName(config.volumes.source)}}}};
}

}  // namespace strata
