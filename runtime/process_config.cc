#include "runtime/process_config.h"

#include <cerrno>
#include <charconv>
#include <optional>

namespace strata::runtime {
namespace {

std::optional<uint32_t> ParseId(std::string_view text) {
  if (text.empty()) return std::nullopt;
  uint32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::vector<std::string_view> Split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t at = text.find(sep, start);
    out.push_back(text.substr(start, at == std::string_view::npos ? at : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

// Calls `row(fields)` for each non-empty, non-comment line of a colon-separated file.
template <class Fn>
void ForEachRow(std::string_view text, Fn row) {
  for (std::string_view line : Split(text, '\n')) {
    if (line.empty() || line.front() == '#') continue;
    row(Split(line, ':'));
  }
}

}  // namespace

Result<User> ResolveUser(std::string_view spec, std::string_view passwd, std::string_view group) {
  User user;
  if (spec.empty()) spec = "0";
  std::vector<std::string_view> parts = Split(spec, ':');
  if (parts.size() > 2 || parts[0].empty() || (parts.size() == 2 && parts[1].empty())) {
    return Error(EINVAL, "user \"" + std::string(spec) + "\": want USER[:GROUP] (a name or an id)");
  }
  std::string name;
  bool found = false;
  std::optional<uint32_t> uid = ParseId(parts[0]);
  ForEachRow(passwd, [&](const std::vector<std::string_view>& f) {
    if (found || f.size() < 4) return;
    std::optional<uint32_t> row_uid = ParseId(f[2]);
    if (!row_uid) return;
    if ((uid && *row_uid == *uid) || (!uid && f[0] == parts[0])) {
      found = true;
      name = std::string(f[0]);
      user.uid = *row_uid;
      user.gid = ParseId(f[3]).value_or(0);
      user.home = f.size() >= 6 ? std::string(f[5]) : "";
    }
  });
  if (!found) {
    if (!uid) {
      return Error(ENOENT, "user \"" + std::string(parts[0]) +
                               "\": no such user in the image's /etc/passwd");
    }
    user.uid = *uid;
  }
  if (parts.size() == 2) {
    std::optional<uint32_t> gid = ParseId(parts[1]);
    bool group_found = gid.has_value();
    if (!gid) {
      ForEachRow(group, [&](const std::vector<std::string_view>& f) {
        if (group_found || f.size() < 3 || f[0] != parts[1]) return;
        if (std::optional<uint32_t> id = ParseId(f[2])) {
          gid = id;
          group_found = true;
        }
      });
    }
    if (!group_found) {
      return Error(ENOENT, "group \"" + std::string(parts[1]) +
                               "\": no such group in the image's /etc/group");
    }
    user.gid = *gid;
  }
  if (!name.empty()) {
    ForEachRow(group, [&](const std::vector<std::string_view>& f) {
      if (f.size() < 4) return;
      std::optional<uint32_t> id = ParseId(f[2]);
      if (!id || *id == user.gid) return;
      for (std::string_view member : Split(f[3], ',')) {
        if (member == name) user.additional_gids.push_back(*id);
      }
    });
  }
  return user;
}

std::vector<std::string> MergeEnv(const std::vector<std::string>& image_env,
                                  const std::vector<std::string>& overrides,
                                  const std::string& home) {
  std::vector<std::string> env;
  auto key_of = [](const std::string& kv) { return kv.substr(0, kv.find('=')); };
  auto set = [&](const std::string& kv) {
    const std::string key = key_of(kv);
    for (auto it = env.begin(); it != env.end(); ++it) {
      if (key_of(*it) == key) {
        if (kv.find('=') == std::string::npos) {
          env.erase(it);
        } else {
          *it = kv;
        }
        return;
      }
    }
    if (kv.find('=') != std::string::npos) env.push_back(kv);
  };
  for (const std::string& kv : image_env) set(kv);
  for (const std::string& kv : overrides) set(kv);
  auto has = [&](const std::string& key) {
    for (const std::string& kv : env) {
      if (key_of(kv) == key) return true;
    }
    return false;
  };
  if (!has("PATH")) env.push_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  if (!has("HOME")) env.push_back("HOME=" + (home.empty() ? std::string("/") : home));
  return env;
}

}  // namespace strata::runtime
