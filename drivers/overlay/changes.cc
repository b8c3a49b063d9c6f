#include "drivers/overlay/changes.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>
#include <utility>

#include "core/unique_fd.h"
#include "drivers/fs_tree.h"

namespace strata::drivers::overlay {
namespace {

using Kind = archive::Change::Kind;
using fs::ListNames;
using fs::Lstat;


// Overlay's on-disk whiteout: a character device with device number 0/0.
bool IsWhiteout(const struct stat& st) {
  return S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

bool IsOpaque(const std::string& dir) {
  char value[2] = {};
  ssize_t n = ::lgetxattr(dir.c_str(), "trusted.overlay.opaque", value, sizeof(value));
  return n == 1 && value[0] == 'y';
}


// The entry `name` as the merged view of `lowers` shows it: false when hidden or absent.
Result<bool> LookupLower(const std::vector<std::string>& lowers, const std::string& name,
                         struct stat& found) {
  for (const std::string& lower : lowers) {
    STRATA_ASSIGN_OR_RETURN(bool exists, Lstat(lower + "/" + name, found));
    if (exists) return !IsWhiteout(found);
  }
  return false;
}

// The lower directories that make up the merged view of directory `name` below `lowers`: each
// layer's `name` while it is a directory, stopping after an opaque one or at a non-directory.
Result<std::vector<std::string>> ChildLowers(const std::vector<std::string>& lowers,
                                             const std::string& name) {
  std::vector<std::string> out;
  for (const std::string& lower : lowers) {
    const std::string path = lower + "/" + name;
    struct stat st {};
    STRATA_ASSIGN_OR_RETURN(bool exists, Lstat(path, st));
    if (!exists) continue;
    if (!S_ISDIR(st.st_mode)) break;  // a whiteout or a file hides everything deeper
    out.push_back(path);
    if (IsOpaque(path)) break;
  }
  return out;
}

// Names visible in the merged view of `lowers` (first occurrence wins; whiteouts hide).
Result<std::set<std::string>> VisibleNames(const std::vector<std::string>& lowers) {
  std::map<std::string, bool> seen;  // name -> visible
  for (const std::string& lower : lowers) {
    STRATA_ASSIGN_OR_RETURN(auto names, ListNames(lower));
    for (const std::string& name : names) {
      if (seen.count(name)) continue;
      struct stat st {};
      STRATA_ASSIGN_OR_RETURN(bool exists, Lstat(lower + "/" + name, st));
      seen[name] = exists && !IsWhiteout(st);
    }
  }
  std::set<std::string> out;
  for (const auto& [name, visible] : seen) {
    if (visible) out.insert(name);
  }
  return out;
}

struct Walker {
  std::vector<archive::Change> changes;

  // `upper_dir` is the upper directory at `rel` ("" for the root); `lowers` the lower view of the
  // same directory; `replacing`: this dir or an ancestor is opaque, so the lower view is hidden.
  Status Walk(const std::string& upper_dir, const std::string& rel,
              const std::vector<std::string>& lowers, bool replacing) {
    replacing = replacing || (!rel.empty() && IsOpaque(upper_dir));
    STRATA_ASSIGN_OR_RETURN(auto names, ListNames(upper_dir));
    if (replacing && !lowers.empty()) {
      STRATA_ASSIGN_OR_RETURN(auto hidden, VisibleNames(lowers));
      for (const std::string& name : names) hidden.erase(name);
      for (const std::string& name : hidden) changes.push_back({Join(rel, name), Kind::kDelete});
    }
    for (const std::string& name : names)
      STRATA_TRY(Entry(upper_dir, rel, lowers, replacing, name));
    return Ok();
  }

  Status Entry(const std::string& upper_dir, const std::string& rel,
               const std::vector<std::string>& lowers, bool replacing, const std::string& name) {
    const std::string path = upper_dir + "/" + name, child = Join(rel, name);
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return Error::FromErrno("stat " + path);
    if (IsWhiteout(st)) {
      changes.push_back({child, Kind::kDelete});
      return Ok();
    }
    struct stat lower_st {};
    STRATA_ASSIGN_OR_RETURN(bool in_lower, LookupLower(lowers, name, lower_st));
    const bool unchanged_dir = in_lower && S_ISDIR(st.st_mode) && S_ISDIR(lower_st.st_mode) &&
                               st.st_mode == lower_st.st_mode &&
                               st.st_mtim.tv_sec == lower_st.st_mtim.tv_sec &&
                               st.st_mtim.tv_nsec == lower_st.st_mtim.tv_nsec;
    if (!unchanged_dir) changes.push_back({child, in_lower ? Kind::kModify : Kind::kAdd});
    if (!S_ISDIR(st.st_mode)) return Ok();
    std::vector<std::string> child_lowers;
    if (in_lower) {
      STRATA_ASSIGN_OR_RETURN(child_lowers, ChildLowers(lowers, name));
    }
    return Walk(path, child, child_lowers, replacing);
  }

  static std::string Join(const std::string& rel, const std::string& name) {
    return rel.empty() ? name : rel + "/" + name;
  }
};

Status SumSizes(const std::string& dir, std::set<std::pair<dev_t, ino_t>>& seen, uint64_t& total) {
  STRATA_ASSIGN_OR_RETURN(auto names, ListNames(dir));
  for (const std::string& name : names) {
    const std::string path = dir + "/" + name;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return Error::FromErrno("stat " + path);
    if (S_ISDIR(st.st_mode)) {
      STRATA_TRY(SumSizes(path, seen, total));
    } else if (st.st_nlink <= 1 || seen.insert({st.st_dev, st.st_ino}).second) {
      total += static_cast<uint64_t>(st.st_size);
    }
  }
  return Ok();
}

}  // namespace

Result<std::vector<archive::Change>> OverlayChanges(const std::string& upper,
                                                    const std::vector<std::string>& lowers) {
  Walker walker;
  STRATA_TRY(walker.Walk(upper, "", lowers, false));
  std::sort(walker.changes.begin(), walker.changes.end(),
            [](const archive::Change& a, const archive::Change& b) { return a.path < b.path; });
  return std::move(walker.changes);
}

Result<uint64_t> DirectorySize(const std::string& dir) {
  std::set<std::pair<dev_t, ino_t>> seen;
  uint64_t total = 0;
  STRATA_TRY(SumSizes(dir, seen, total));
  return total;
}

}  // namespace strata::drivers::overlay
