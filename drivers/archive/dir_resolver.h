// Symlink-proof directory lookups below a root, for applying untrusted layer tars.
//
// Every directory fd a DirResolver hands out was opened component by component with
// openat(parent_fd, name, O_DIRECTORY | O_NOFOLLOW) starting from the root's fd, so no lookup can
// leave the root through a symlink or "..": a component that is a symlink on disk (say an earlier
// entry `d -> /etc`) fails the lookup with EXDEV. Callers then touch only single components with
// *at() calls on those fds. This is what makes ApplyLayerTar safe without chroot, with no window
// between a check and the use (the fds pin the directories that were checked).
//
// The resolver caches the chain of fds of the last directory resolved, like a DFS stack: tar
// entries arrive grouped by directory, so most lookups cost no syscall at all, which is how apply
// keeps up with GNU tar (which trusts the tree and does no checks).
//
// Thread-safety: none. Ownership: returned fds belong to the resolver and stay valid only until the
// next call on it.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/unique_fd.h"

namespace strata::drivers::archive {

enum class MissingDirs {
  kFail,    // a missing component is ENOENT
  kCreate,  // missing components are created, mode 0755, owned by the caller (like tar and docker)
};

class DirResolver {
 public:
  // Opens `root`, which must be a directory (symlinks in `root` itself are followed: the caller
  // chose it).
  static Result<DirResolver> Open(const std::string& root);

  // Returns a directory fd for the cleaned relative path `dir` ("" is the root). Components created
  // because of kCreate are appended to `created` (cleaned paths) when it is not null.
  // Errors: EXDEV (a component is a symlink), ENOTDIR, ENOENT (kFail), or the syscall's errno.
  Result<int> Resolve(std::string_view dir, MissingDirs missing,
                      std::vector<std::string>* created = nullptr);

  // Forgets cached fds at or below `path`; call after removing or replacing `path` on disk so a
  // later lookup re-checks what is there now.
  void Invalidate(std::string_view path);

  int root_fd() const { return root_.Get(); }

  // The group the kernel gives a new object in the directory Resolve returned last: that
  // directory's group if it is set-group-ID, else nullopt (the creator's egid). Lets callers skip
  // a chown that would change nothing.
  std::optional<gid_t> InheritedGid() const {
    const DirInfo& top = chain_.empty() ? root_info_ : chain_.back().info;
    if (!top.setgid) return std::nullopt;
    return top.gid;
  }

 private:
  struct DirInfo {
    bool setgid = false;
    gid_t gid = 0;
  };
  DirResolver(UniqueFd root, DirInfo info) : root_(std::move(root)), root_info_(info) {}
  static Result<DirInfo> Stat(int fd, std::string_view path);
  Result<UniqueFd> OpenChild(int parent_fd, std::string_view parent, std::string_view name,
                             MissingDirs missing, std::vector<std::string>* created);
  // Path of the cached chain: components joined by '/'.
  std::string ChainPath(size_t depth) const;

  struct Level {
    std::string name;
    UniqueFd fd;
    DirInfo info;  // as opened; only this apply changes modes, and only in TreeWriter::Finish
  };
  UniqueFd root_;
  DirInfo root_info_;
  std::vector<Level> chain_;  // chain_[i] is a child directory of chain_[i-1] (or of the root)
};

// Removes `name` in `dir_fd` and, if it is a directory, everything below it, never following a
// symlink. ENOENT is success (already gone).
Status RemoveTreeAt(int dir_fd, const std::string& name);

// Names in the directory `dir_fd` (not "." or ".."), sorted bytewise. Does not move `dir_fd`'s
// offset (reads through its own fd).
Result<std::vector<std::string>> ListDirSorted(int dir_fd);

// openat(dir_fd, name, flags | O_CLOEXEC | O_NOFOLLOW) as a UniqueFd, errors naming `what`.
Result<UniqueFd> OpenAt(int dir_fd, const std::string& name, int flags, std::string_view what);

}  // namespace strata::drivers::archive
