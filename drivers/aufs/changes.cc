#include "drivers/aufs/changes.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>
#include <utility>

#include "core/unique_fd.h"
#include "drivers/fs_tree.h"

namespace strata::drivers::aufs {
namespace {

using Kind = archive::Change::Kind;
using fs::ListNames;
using fs::Lstat;

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}



Result<bool> Exists(const std::string& path) {
  struct stat st {};
  return Lstat(path, st);
}

// What one branch says about `name` in directory `dir`.
enum class Seen { kAbsent, kWhiteout, kPresent };

Result<Seen> LookupIn(const std::string& dir, const std::string& name, struct stat& st) {
  STRATA_ASSIGN_OR_RETURN(bool present, Lstat(dir + "/" + name, st));
  if (present) return Seen::kPresent;
  STRATA_ASSIGN_OR_RETURN(bool whiteout, Exists(dir + "/" + std::string(kWhiteoutPrefix) + name));
  return whiteout ? Seen::kWhiteout : Seen::kAbsent;
}

// The entry `name` as the merged view of `parents` shows it: false when hidden or absent. An
// opaque parent directory hides the deeper ones, but the caller's ChildParents already stops there.
Result<bool> LookupParents(const std::vector<std::string>& parents, const std::string& name,
                           struct stat& found) {
  for (const std::string& parent : parents) {
    STRATA_ASSIGN_OR_RETURN(Seen seen, LookupIn(parent, name, found));
    if (seen != Seen::kAbsent) return seen == Seen::kPresent;
  }
  return false;
}

// The parent directories that make up the merged view of directory `name` below `parents`.
Result<std::vector<std::string>> ChildParents(const std::vector<std::string>& parents,
                                              const std::string& name) {
  std::vector<std::string> out;
  for (const std::string& parent : parents) {
    struct stat st {};
    STRATA_ASSIGN_OR_RETURN(Seen seen, LookupIn(parent, name, st));
    if (seen == Seen::kWhiteout) break;
    if (seen == Seen::kAbsent) continue;
    if (!S_ISDIR(st.st_mode)) break;  // a file hides everything deeper
    const std::string path = parent + "/" + name;
    out.push_back(path);
    STRATA_ASSIGN_OR_RETURN(bool opaque, Exists(path + "/" + std::string(kOpaqueMarker)));
    if (opaque) break;
  }
  return out;
}

// Names visible in the merged view of `parents` (the nearest branch that knows a name decides).
Result<std::set<std::string>> VisibleNames(const std::vector<std::string>& parents) {
  std::map<std::string, bool> seen;  // name -> visible
  for (const std::string& parent : parents) {
    STRATA_ASSIGN_OR_RETURN(auto names, ListNames(parent));
    for (const std::string& name : names) {
      if (StartsWith(name, kMetaPrefix)) continue;
      if (StartsWith(name, kWhiteoutPrefix)) {
        seen.emplace(name.substr(kWhiteoutPrefix.size()), false);
      } else {
        seen.emplace(name, true);
      }
    }
  }
  std::set<std::string> out;
  for (const auto& [name, visible] : seen) {
    if (visible) out.insert(name);
  }
  return out;
}

std::string JoinRel(const std::string& rel, const std::string& name) {
  return rel.empty() ? name : rel + "/" + name;
}

struct Walker {
  std::vector<archive::Change> changes;

  Status Walk(const std::string& dir, const std::string& rel,
              const std::vector<std::string>& parents, bool replacing) {
    STRATA_ASSIGN_OR_RETURN(auto names, ListNames(dir));
    const bool opaque = std::find(names.begin(), names.end(), kOpaqueMarker) != names.end();
    replacing = replacing || (!rel.empty() && opaque);
    if (replacing && !parents.empty()) {
      STRATA_ASSIGN_OR_RETURN(auto hidden, VisibleNames(parents));
      for (const std::string& name : names) {
        // An entry or a whiteout of the branch itself reports that name below.
        hidden.erase(StartsWith(name, kWhiteoutPrefix) && !StartsWith(name, kMetaPrefix)
                         ? name.substr(kWhiteoutPrefix.size())
                         : name);
      }
      for (const std::string& name : hidden) changes.push_back({JoinRel(rel, name), Kind::kDelete});
    }
    for (const std::string& name : names) {
      if (StartsWith(name, kMetaPrefix)) continue;
      if (StartsWith(name, kWhiteoutPrefix)) {
        const std::string target = name.substr(kWhiteoutPrefix.size());
        changes.push_back({JoinRel(rel, target), Kind::kDelete});
        continue;
      }
      STRATA_TRY(Entry(dir, rel, parents, replacing, name));
    }
    return Ok();
  }

  Status Entry(const std::string& dir, const std::string& rel,
               const std::vector<std::string>& parents, bool replacing, const std::string& name) {
    const std::string path = dir + "/" + name, child = JoinRel(rel, name);
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return Error::FromErrno("stat " + path);
    struct stat parent_st {};
    STRATA_ASSIGN_OR_RETURN(bool in_parents, LookupParents(parents, name, parent_st));
    const bool unchanged_dir = in_parents && S_ISDIR(st.st_mode) && S_ISDIR(parent_st.st_mode) &&
                               st.st_mode == parent_st.st_mode &&
                               st.st_mtim.tv_sec == parent_st.st_mtim.tv_sec &&
                               st.st_mtim.tv_nsec == parent_st.st_mtim.tv_nsec;
    if (!unchanged_dir) changes.push_back({child, in_parents ? Kind::kModify : Kind::kAdd});
    if (!S_ISDIR(st.st_mode)) return Ok();
    std::vector<std::string> child_parents;
    if (in_parents) {
      STRATA_ASSIGN_OR_RETURN(child_parents, ChildParents(parents, name));
    }
    return Walk(path, child, child_parents, replacing);
  }
};

}  // namespace

Result<std::vector<archive::Change>> AufsChanges(const std::string& branch,
                                                 const std::vector<std::string>& parents) {
  Walker walker;
  STRATA_TRY(walker.Walk(branch, "", parents, false));
  std::sort(walker.changes.begin(), walker.changes.end(),
            [](const archive::Change& a, const archive::Change& b) { return a.path < b.path; });
  return std::move(walker.changes);
}

}  // namespace strata::drivers::aufs
