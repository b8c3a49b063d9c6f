// The container process's identity and environment, from an image config and `run` flags.
// Pure functions: the caller reads /etc/passwd and /etc/group of the rootfs and passes the text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace strata::runtime {

struct User {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> additional_gids;  // the groups of /etc/group that list the user by name
  std::string home;                       // from passwd, "" when unknown
};

// "UID", "UID:GID", "NAME", "NAME:GROUP", "UID:GROUP", "" (root). Names are looked up in
// `passwd` and `group` (the rootfs's files; empty text when missing). A numeric uid without a
// passwd entry gets gid = uid's passwd gid if known, else 0 (as docker does). ENOENT naming the
// user or group when a name is not found; EINVAL for a malformed spec.
Result<User> ResolveUser(std::string_view spec, std::string_view passwd, std::string_view group);

// The image's env with `overrides` ("K=V", or "K" alone: removed) applied in order; a PATH is
// added when neither has one, and HOME from the user when unset. Order is kept; a key appears once.
std::vector<std::string> MergeEnv(const std::vector<std::string>& image_env,
                                  const std::vector<std::string>& overrides,
                                  const std::string& home);

}  // namespace strata::runtime
