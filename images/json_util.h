// Internal to images/: checked access to parsed JSON and error locations, shared by the OCI
// (oci.cc) and docker-save (docker_archive.cc) parsers.
#pragma once
#include <cerrno>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace strata::images::internal {

// Where a JSON value sits, for error messages: "index.json: manifests[1].digest: ...".
struct Where {
  std::string_view source;
  std::string path;  // "" at the document root

  Where Key(std::string_view key) const {
    return {source, path.empty() ? std::string(key) : path + "." + std::string(key)};
  }
  Where At(size_t i) const { return {source, path + "[" + std::to_string(i) + "]"}; }
  std::string Prefix() const {
    return path.empty() ? std::string(source) : std::string(source) + ": " + path;
  }
  Error Fail(std::string message) const { return Error(EINVAL, std::move(message)).Wrap(Prefix()); }
  Error Wrap(Error e) const { return std::move(e).Wrap(Prefix()); }
};

// The member `key` of object `obj`; nullptr when absent or null (Docker writes "Cmd": null and
// "RepoTags": null).
inline const nlohmann::json* Find(const nlohmann::json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

// Wraps a parser so a nlohmann exception (none is expected: access is checked) stays inside.
template <class T, class F>
Result<T> Guarded(std::string_view source, F&& parse) {
  try {
    return parse();
  } catch (const nlohmann::json::exception& e) {
    return Error(EINVAL, std::string(source) + ": " + e.what());
  }
}

}  // namespace strata::images::internal
