// TreeChanges: the naive diff of two full trees (vfs, devicemapper, or any driver without a native
// diff), walked in lockstep in name order.
//
// What counts as a change, per path present in both trees:
//  - type, permission bits, owner, xattrs, rdev (devices), symlink target: any difference is 'C';
//  - mtime, to the nanosecond, for every type (a directory's mtime moves when its entries do, so
//    a directory that lost or gained children is 'C' too, and an apply restores its mtime);
//  - size, except for directories (their size is a filesystem detail);
//  - a regular file's content is NOT read: same size and mtime means unchanged, as in docker.
//    A writer that keeps size and resets mtime (touch -r) hides its change.
// Link counts are not compared. A path only in the layer is 'A', and so is everything below it; a
// path only in the parent is 'D', once (its children are implied).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "drivers/archive/archive.h"
#include "drivers/archive/dir_resolver.h"
#include "drivers/archive/disk_entry.h"
#include "drivers/archive/entry_name.h"

namespace strata::drivers::archive {
namespace {

struct Object {
  struct stat st;
  std::string name;
  int dir_fd;
};

Result<std::string> ReadLinkAt(const Object& obj) {
  std::string target(static_cast<size_t>(obj.st.st_size) + 1, '\0');
  ssize_t n = readlinkat(obj.dir_fd, obj.name.c_str(), target.data(), target.size());
  if (n < 0) return Error::FromErrno("readlink \"" + obj.name + "\"");
  target.resize(static_cast<size_t>(n));
  return target;
}

Result<bool> Differs(const Object& layer, const Object& parent) {
  const struct stat& a = layer.st;
  const struct stat& b = parent.st;
  if (a.st_mode != b.st_mode || a.st_uid != b.st_uid || a.st_gid != b.st_gid) return true;
  if (a.st_mtim.tv_sec != b.st_mtim.tv_sec || a.st_mtim.tv_nsec != b.st_mtim.tv_nsec) return true;
  if (!S_ISDIR(a.st_mode) && a.st_size != b.st_size) return true;
  if ((S_ISCHR(a.st_mode) || S_ISBLK(a.st_mode)) && a.st_rdev != b.st_rdev) return true;
  if (S_ISLNK(a.st_mode)) {
    STRATA_ASSIGN_OR_RETURN(std::string target_a, ReadLinkAt(layer));
    STRATA_ASSIGN_OR_RETURN(std::string target_b, ReadLinkAt(parent));
    if (target_a != target_b) return true;
  }
  STRATA_ASSIGN_OR_RETURN(Xattrs xattrs_a, ReadXattrs(-1, layer.dir_fd, layer.name));
  STRATA_ASSIGN_OR_RETURN(Xattrs xattrs_b, ReadXattrs(-1, parent.dir_fd, parent.name));
  return xattrs_a != xattrs_b;
}

Result<Object> StatAt(int dir_fd, const std::string& name) {
  Object obj{{}, name, dir_fd};
  if (fstatat(dir_fd, name.c_str(), &obj.st, AT_SYMLINK_NOFOLLOW) != 0) {
    return Error::FromErrno("stat \"" + name + "\"");
  }
  return obj;
}

class TreeDiffer {
 public:
  // Compares the children of the directory `dir` in both trees; `parent_fd` -1: no parent tree.
  Status Compare(int layer_fd, int parent_fd, const std::string& dir) {
    STRATA_ASSIGN_OR_RETURN(std::vector<std::string> ours, ListDirSorted(layer_fd));
    std::vector<std::string> theirs;
    if (parent_fd >= 0) {
      STRATA_ASSIGN_OR_RETURN(theirs, ListDirSorted(parent_fd));
    }
    auto a = ours.begin();
    auto b = theirs.begin();
    while (a != ours.end() || b != theirs.end()) {
      if (a == ours.end() || (b != theirs.end() && *b < *a)) {
        Add(JoinEntryName(dir, *b++), Change::Kind::kDelete);
      } else if (b == theirs.end() || *a < *b) {
        STRATA_TRY(Added(layer_fd, *a++, dir));
      } else {
        STRATA_TRY(Both(layer_fd, parent_fd, *a, dir));
        ++a;
        ++b;
      }
    }
    return Ok();
  }

  std::vector<Change> Take() && {
    std::sort(changes_.begin(), changes_.end(),
              [](const Change& x, const Change& y) { return x.path < y.path; });
    return std::move(changes_);
  }

 private:
  void Add(std::string path, Change::Kind kind) { changes_.push_back({std::move(path), kind}); }

  // `name` exists only in the layer: it and everything below it are added.
  Status Added(int layer_fd, const std::string& name, const std::string& dir) {
    std::string path = JoinEntryName(dir, name);
    Add(path, Change::Kind::kAdd);
    STRATA_ASSIGN_OR_RETURN(Object obj, StatAt(layer_fd, name));
    if (!S_ISDIR(obj.st.st_mode)) return Ok();
    STRATA_ASSIGN_OR_RETURN(UniqueFd sub, OpenAt(layer_fd, name, O_RDONLY | O_DIRECTORY, "open"));
    return Compare(sub.Get(), -1, path);
  }

  Status Both(int layer_fd, int parent_fd, const std::string& name, const std::string& dir) {
    std::string path = JoinEntryName(dir, name);
    STRATA_ASSIGN_OR_RETURN(Object ours, StatAt(layer_fd, name));
    STRATA_ASSIGN_OR_RETURN(Object theirs, StatAt(parent_fd, name));
    STRATA_ASSIGN_OR_RETURN_CTX(bool differs, Differs(ours, theirs), "\"" + path + "\"");
    if (differs) Add(path, Change::Kind::kModify);
    if (!S_ISDIR(ours.st.st_mode)) return Ok();
    STRATA_ASSIGN_OR_RETURN(UniqueFd sub, OpenAt(layer_fd, name, O_RDONLY | O_DIRECTORY, "open"));
    if (!S_ISDIR(theirs.st.st_mode)) return Compare(sub.Get(), -1, path);  // was a file: all new
    STRATA_ASSIGN_OR_RETURN(UniqueFd old, OpenAt(parent_fd, name, O_RDONLY | O_DIRECTORY, "open"));
    return Compare(sub.Get(), old.Get(), path);
  }

  std::vector<Change> changes_;
};

}  // namespace

Result<std::vector<Change>> TreeChanges(const std::string& layer_root,
                                        const std::string& parent_root) {
  STRATA_ASSIGN_OR_RETURN(DirResolver layer, DirResolver::Open(layer_root));
  TreeDiffer differ;
  if (parent_root.empty()) {
    STRATA_TRY_CTX(differ.Compare(layer.root_fd(), -1, ""), "changes of " + layer_root);
  } else {
    STRATA_ASSIGN_OR_RETURN(DirResolver parent, DirResolver::Open(parent_root));
    STRATA_TRY_CTX(differ.Compare(layer.root_fd(), parent.root_fd(), ""),
                   "changes of " + layer_root + " against " + parent_root);
  }
  return std::move(differ).Take();
}

}  // namespace strata::drivers::archive
