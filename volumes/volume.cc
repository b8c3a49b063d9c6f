#include "volumes/volume.h"

#include <array>
#include <cerrno>
#include <utility>

#include "core/strings.h"
#include "core/units.h"

namespace strata::volumes {
namespace {

constexpr std::array<std::pair<std::string_view, BackendKind>, 3> kBackends = {{
    {"thin", BackendKind::kThin},
    {"loop", BackendKind::kLoop},
    {"local", BackendKind::kLocal},
}};

constexpr std::array<std::pair<std::string_view, VolumeState>, 4> kStates = {{
    {"creating", VolumeState::kCreating},
    {"ready", VolumeState::kReady},
    {"resizing", VolumeState::kResizing},
    {"removing", VolumeState::kRemoving},
}};

constexpr size_t kMaxNameLength = 128;

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

Error Invalid(std::string_view key, std::string_view why) {
  return Error(EINVAL, "volumes." + std::string(key) + ": " + std::string(why));
}

Result<std::vector<std::string>> StringList(const nlohmann::json& value, std::string_view key) {
  if (!value.is_array()) return Invalid(key, "expected an array of strings");
  std::vector<std::string> out;
  for (const nlohmann::json& item : value) {
    if (!item.is_string()) return Invalid(key, "expected an array of strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

Status ApplyDefault(VolumeDefaults& d, const std::string& key, const nlohmann::json& value) {
  if (key == "backend" || key == "fs" || key == "size") {
    if (!value.is_string()) return Invalid(key, "expected a string");
    const std::string text = value.get<std::string>();
    if (key == "backend") {
      STRATA_ASSIGN_OR_RETURN_CTX(d.backend, ParseBackend(text), "volumes.backend");
    } else if (key == "fs") {
      STRATA_ASSIGN_OR_RETURN_CTX(d.fs, ParseFilesystem(text), "volumes.fs");
    } else {
      STRATA_ASSIGN_OR_RETURN_CTX(d.size_bytes, ParseSize(text), "volumes.size");
      if (d.size_bytes == 0) return Invalid(key, "must be more than 0");
    }
    return Ok();
  }
  if (key == "mkfs-options") {
    STRATA_ASSIGN_OR_RETURN(d.mkfs_options, StringList(value, key));
    return Ok();
  }
  if (key == "mount-options") {
    STRATA_ASSIGN_OR_RETURN(d.mount_options, StringList(value, key));
    return Ok();
  }
  return Invalid(key, "unknown option" +
                          DidYouMean(key, {"backend", "size", "fs", "mkfs-options",
                                           "mount-options"}) +
                          " (known: backend, size, fs, mkfs-options, mount-options)");
}

}  // namespace

std::string_view BackendName(BackendKind kind) {
  for (const auto& [name, k] : kBackends) {
    if (k == kind) return name;
  }
  return "?";
}

Result<BackendKind> ParseBackend(std::string_view name) {
  std::vector<std::string_view> names;
  for (const auto& [n, kind] : kBackends) {
    if (n == name) return kind;
    names.push_back(n);
  }
  return Error(EINVAL, "unknown backend \"" + std::string(name) + "\"" + DidYouMean(name, names) +
                           " (known: thin, loop, local)");
}

Result<Filesystem> ParseFilesystem(std::string_view name) {
  if (name == "ext4") return Filesystem::kExt4;
  if (name == "xfs") return Filesystem::kXfs;
  return Error(EINVAL, "unknown filesystem \"" + std::string(name) + "\"" +
                           DidYouMean(name, {"ext4", "xfs"}) + " (known: ext4, xfs)");
}

Status CheckVolumeName(std::string_view name) {
  const auto bad = [&](std::string_view why) {
    return Error(EINVAL, "invalid volume name \"" + std::string(name) + "\": " + std::string(why) +
                             " (names are 1-128 of a-z A-Z 0-9 _ . -, starting with a letter or "
                             "digit)");
  };
  if (name.empty()) return bad("empty");
  if (name.size() > kMaxNameLength) return bad("longer than 128 characters");
  if (!IsAlnum(name[0])) return bad("must start with a letter or digit");
  for (char c : name) {
    if (!IsAlnum(c) && c != '_' && c != '.' && c != '-') {
      return bad(std::string("character '") + c + "' is not allowed");
    }
  }
  return Ok();
}

std::string_view StateName(VolumeState state) {
  for (const auto& [name, s] : kStates) {
    if (s == state) return name;
  }
  return "?";
}

Result<VolumeState> ParseState(std::string_view name) {
  for (const auto& [n, state] : kStates) {
    if (n == name) return state;
  }
  return Error(EINVAL, "unknown volume state \"" + std::string(name) + "\"");
}

Result<VolumeDefaults> ParseVolumeDefaults(const nlohmann::json& options) {
  VolumeDefaults defaults;
  if (options.is_null()) return defaults;
  if (!options.is_object()) return Error(EINVAL, "volumes: expected an object");
  for (const auto& [key, value] : options.items()) {
    STRATA_TRY(ApplyDefault(defaults, key, value));
  }
  if (defaults.size_bytes < MinFilesystemBytes(defaults.fs)) {
    return Invalid("size", FormatSize(defaults.size_bytes) + " is below the " +
                               std::string(thinpool::FilesystemName(defaults.fs)) + " minimum of " +
                               FormatSize(MinFilesystemBytes(defaults.fs)));
  }
  return defaults;
}

uint64_t MinFilesystemBytes(Filesystem fs) {
  return fs == Filesystem::kXfs ? 300ull << 20 : 16ull << 20;
}

}  // namespace strata::volumes
