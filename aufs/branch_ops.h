// Small helpers the UnionFs implementation files (and copy-up, and the libfuse table) share: the
// negative-errno convention of the request path (see union_fs.h) and branch-relative names.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <string>
#include <string_view>

#include "aufs/union_model.h"

namespace strata::aufs {

// The current errno as a FUSE reply: negative.
inline int Errno() { return -errno; }

// A union path ("/a/b") as a name relative to a branch directory ("a/b", "." for "/").
inline std::string Rel(const std::string& path) { return std::string(BranchRelative(path)); }

// A branch-relative directory name and an entry name joined ("." joins to the name alone).
inline std::string RelJoin(std::string_view parent_rel, std::string_view name) {
  if (parent_rel == ".") return std::string(name);
  std::string s(parent_rel);
  s += '/';
  s += name;
  return s;
}

// The branch-relative name of the whiteout that hides union path `path`.
inline std::string WhiteoutRel(const std::string& path) {
  return RelJoin(BranchRelative(ParentPath(path)), WhiteoutName(BaseName(path)));
}

// Whether `rel` exists in the branch directory `dir_fd` (not following a final symlink).
inline bool Present(int dir_fd, const std::string& rel) {
  struct stat st;
  return fstatat(dir_fd, rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

}  // namespace strata::aufs
