#include "drivers/union_changes.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <utility>

#include "drivers/archive/entry_name.h"
#include "drivers/fs_tree.h"

namespace strata::drivers {
namespace {

using Kind = archive::Change::Kind;
using archive::kOpaqueMarker;
using archive::kWhiteoutPrefix;
using archive::WhiteoutFormat;
using fs::ListNames;
using fs::Lstat;

// aufs meta entries (.wh..wh.aufs, .wh..wh.plnk/, .wh..wh.orph/, and the opaque marker).
constexpr std::string_view kAufsMetaPrefix = ".wh..wh.";

std::string JoinRel(const std::string& rel, const std::string& name) {
  return rel.empty() ? name : rel + "/" + name;
}

// What one branch says about a name.
enum class Seen { kAbsent, kWhiteout, kPresent };

class Walker {
 public:
  explicit Walker(WhiteoutFormat format) : aufs_(format == WhiteoutFormat::kAufs) {}

  std::vector<archive::Change> changes;

  // `dir` is the branch's directory at `rel` ("" for the root); `parents` the parents' view of
  // the same directory; `replacing`: this dir or an ancestor is opaque, so that view is hidden.
  Status Walk(const std::string& dir, const std::string& rel,
              const std::vector<std::string>& parents, bool replacing) {
    STRATA_ASSIGN_OR_RETURN(auto names, ListNames(dir));
    if (!rel.empty() && !replacing) {
      STRATA_ASSIGN_OR_RETURN(replacing, IsOpaque(dir));
    }
    if (replacing && !parents.empty()) {
      STRATA_ASSIGN_OR_RETURN(auto hidden, VisibleNames(parents));
      // An entry or a whiteout of the branch itself reports that name below.
      for (const std::string& name : names) hidden.erase(WhiteoutTarget(name).value_or(name));
      for (const std::string& name : hidden) changes.push_back({JoinRel(rel, name), Kind::kDelete});
    }
    for (const std::string& name : names) {
      if (IsMeta(name)) continue;
      if (auto target = WhiteoutTarget(name)) {
        changes.push_back({JoinRel(rel, *target), Kind::kDelete});
        continue;
      }
      STRATA_TRY(Entry(dir, rel, parents, replacing, name));
    }
    return Ok();
  }

 private:
  bool IsMeta(const std::string& name) const { return aufs_ && name.starts_with(kAufsMetaPrefix); }

  // aufs: the NAME a `.wh.NAME` file deletes (nullopt for entries and meta names). overlay
  // whiteouts are devices named NAME, told apart by their stat (IsDeviceWhiteout).
  std::optional<std::string> WhiteoutTarget(const std::string& name) const {
    if (!aufs_ || !name.starts_with(kWhiteoutPrefix) || IsMeta(name)) return std::nullopt;
    return name.substr(kWhiteoutPrefix.size());
  }

  bool IsDeviceWhiteout(const struct stat& st) const {
    return !aufs_ && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
  }

  Result<bool> IsOpaque(const std::string& dir) const {
    if (aufs_) {
      struct stat st {};
      return Lstat(dir + "/" + std::string(kOpaqueMarker), st);
    }
    char value[2] = {};
    ssize_t n = ::lgetxattr(dir.c_str(), "trusted.overlay.opaque", value, sizeof(value));
    return n == 1 && value[0] == 'y';
  }

  Result<Seen> LookupIn(const std::string& dir, const std::string& name, struct stat& st) const {
    STRATA_ASSIGN_OR_RETURN(bool present, Lstat(dir + "/" + name, st));
    if (present) return IsDeviceWhiteout(st) ? Seen::kWhiteout : Seen::kPresent;
    if (!aufs_) return Seen::kAbsent;
    struct stat wh {};
    STRATA_ASSIGN_OR_RETURN(bool whiteout,
                            Lstat(dir + "/" + std::string(kWhiteoutPrefix) + name, wh));
    return whiteout ? Seen::kWhiteout : Seen::kAbsent;
  }

  // The entry `name` as the merged view of `parents` shows it: false when hidden or absent. An
  // opaque parent directory hides the deeper ones, but ChildParents already stops there.
  Result<bool> LookupParents(const std::vector<std::string>& parents, const std::string& name,
                             struct stat& found) const {
    for (const std::string& parent : parents) {
      STRATA_ASSIGN_OR_RETURN(Seen seen, LookupIn(parent, name, found));
      if (seen != Seen::kAbsent) return seen == Seen::kPresent;
    }
    return false;
  }

  // The parent directories that make up the merged view of directory `name` below `parents`:
  // each one's `name` while it is a directory, stopping after an opaque one, at a whiteout or at a
  // non-directory.
  Result<std::vector<std::string>> ChildParents(const std::vector<std::string>& parents,
                                                const std::string& name) const {
    std::vector<std::string> out;
    for (const std::string& parent : parents) {
      struct stat st {};
      STRATA_ASSIGN_OR_RETURN(Seen seen, LookupIn(parent, name, st));
      if (seen == Seen::kWhiteout) break;
      if (seen == Seen::kAbsent) continue;
      if (!S_ISDIR(st.st_mode)) break;  // a file hides everything deeper
      const std::string path = parent + "/" + name;
      out.push_back(path);
      STRATA_ASSIGN_OR_RETURN(bool opaque, IsOpaque(path));
      if (opaque) break;
    }
    return out;
  }

  // Names visible in the merged view of `parents` (the nearest branch that knows a name decides).
  Result<std::set<std::string>> VisibleNames(const std::vector<std::string>& parents) const {
    std::map<std::string, bool> seen;  // name -> visible
    for (const std::string& parent : parents) {
      STRATA_ASSIGN_OR_RETURN(auto names, ListNames(parent));
      for (const std::string& name : names) {
        if (IsMeta(name)) continue;
        if (auto target = WhiteoutTarget(name)) {
          seen.emplace(*target, false);
          continue;
        }
        if (seen.count(name)) continue;
        bool visible = true;
        if (!aufs_) {
          struct stat st {};
          STRATA_ASSIGN_OR_RETURN(bool exists, Lstat(parent + "/" + name, st));
          visible = exists && !IsDeviceWhiteout(st);
        }
        seen.emplace(name, visible);
      }
    }
    std::set<std::string> out;
    for (const auto& [name, visible] : seen) {
      if (visible) out.insert(name);
    }
    return out;
  }

  Status Entry(const std::string& dir, const std::string& rel,
               const std::vector<std::string>& parents, bool replacing, const std::string& name) {
    const std::string path = dir + "/" + name, child = JoinRel(rel, name);
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return Error::FromErrno("stat " + path);
    if (IsDeviceWhiteout(st)) {
      changes.push_back({child, Kind::kDelete});
      return Ok();
    }
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

  bool aufs_;
};

}  // namespace

Result<std::vector<archive::Change>> UnionChanges(const std::string& branch,
                                                  const std::vector<std::string>& parents,
                                                  archive::WhiteoutFormat format) {
  Walker walker(format);
  STRATA_TRY(walker.Walk(branch, "", parents, false));
  std::sort(walker.changes.begin(), walker.changes.end(),
            [](const archive::Change& a, const archive::Change& b) { return a.path < b.path; });
  return std::move(walker.changes);
}

}  // namespace strata::drivers
