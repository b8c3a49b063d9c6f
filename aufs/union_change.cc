// UnionFs: rename and attribute changes (chmod, chown, truncate, utimens, xattrs).
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>

#include "aufs/branch_ops.h"
#include "aufs/union_fs.h"

namespace strata::aufs {
// Files are copied up and renamed in the rw branch. A directory is renamed only when the rw
// branch holds all of it; one merged with lower branches gets EXDEV (as overlayfs without
// redirect_dir), and mv/cp fall back to copy and delete. The old name gets a whiteout when a
// lower branch still has it; a directory moved over a name that lower branches have is made
// opaque first. RENAME_EXCHANGE and RENAME_WHITEOUT are not supported (EINVAL).
int UnionFs::Rename(const std::string& from, const std::string& to, unsigned int flags) {
  if (flags & ~static_cast<unsigned int>(RENAME_NOREPLACE)) return -EINVAL;
  PreCopyUp(from);
  std::lock_guard lock(ns_mu_);
  if (read_only_) return -EROFS;
  if (IsInternalName(BaseName(to))) return -EPERM;
  Node src, dst;
  if (int r = Resolve(from, &src); r < 0) return r;
  int dr = Resolve(to, &dst);
  if (dr < 0 && dr != -ENOENT) return dr;
  bool dst_exists = dr == 0;
  if (from == to) return 0;
  bool is_dir = src.type == EntryType::kDirectory;
  if (dst_exists) {
    if (flags & RENAME_NOREPLACE) return -EEXIST;
    bool dst_dir = dst.type == EntryType::kDirectory;
    if (is_dir && !dst_dir) return -ENOTDIR;
    if (!is_dir && dst_dir) return -EISDIR;
    if (dst_dir) {
      std::vector<ListedEntry> entries;
      if (int r = List(to, &entries); r < 0) return r;
      if (!entries.empty()) return -ENOTEMPTY;
    }
  }
  if (is_dir) {
    if (src.winner() != 0 || src.branches.size() > 1) return -EXDEV;
  } else if (int r = CopyUpLocked(from, &src); r < 0) {
    return r;
  }
  if (int r = CopyUpDirsLocked(std::string(ParentPath(to))); r < 0) return r;
  Node from_parent, to_parent;
  if (int r = Resolve(std::string(ParentPath(from)), &from_parent); r < 0) return r;
  if (int r = Resolve(std::string(ParentPath(to)), &to_parent); r < 0) return r;
  bool from_below = ExistsBelow(from_parent, from);
  std::string to_wh = WhiteoutRel(to);
  bool to_whited = Present(rw_fd(), to_wh);
  if (is_dir && (to_whited || ExistsBelow(to_parent, to))) {
    // Opaque before it lands: the moved directory must not merge with lower `to` directories.
    std::string marker = Rel(from) + "/" + std::string(kOpaqueName);
    int fd = openat(rw_fd(), marker.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return Errno();
    close(fd);
  }
  if (dst_exists && dst.type == EntryType::kDirectory && dst.winner() == 0) {
    if (int r = ClearInternalEntriesLocked(to); r < 0) return r;
  }
  if (from_below) {
    if (int r = WriteWhiteoutLocked(from); r < 0) return r;
  }
  if (renameat2(rw_fd(), Rel(from).c_str(), rw_fd(), Rel(to).c_str(), flags) < 0) return Errno();
  if (to_whited) (void)unlinkat(rw_fd(), to_wh.c_str(), 0);  // shadowed by `to` if it stays
  Invalidate(from);
  Invalidate(to);
  inodes_.Rename(from, to);
  return 0;
}

int UnionFs::Chmod(const std::string& path, mode_t mode) {
  if (int r = CopyUp(path); r < 0) return r;
  return fchmodat(rw_fd(), Rel(path).c_str(), mode & 07777, 0) < 0 ? Errno() : 0;
}

int UnionFs::Chown(const std::string& path, uid_t uid, gid_t gid) {
  if (int r = CopyUp(path); r < 0) return r;
  return fchownat(rw_fd(), Rel(path).c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ? Errno() : 0;
}

int UnionFs::Truncate(const std::string& path, off_t size) {
  if (size < 0) return -EINVAL;
  if (int r = CopyUp(path, size); r < 0) return r;
  int fd = openat(rw_fd(), Rel(path).c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Errno();
  int r = ftruncate(fd, size) < 0 ? Errno() : 0;
  close(fd);
  return r;
}

int UnionFs::Utimens(const std::string& path, const struct timespec ts[2]) {
  if (int r = CopyUp(path); r < 0) return r;
  return utimensat(rw_fd(), Rel(path).c_str(), ts, AT_SYMLINK_NOFOLLOW) < 0 ? Errno() : 0;
}

int UnionFs::SetXattr(const std::string& path, const char* name, const char* value, size_t size,
                      int flags) {
  if (int r = CopyUp(path); r < 0) return r;
  return lsetxattr(AbsolutePath(0, path).c_str(), name, value, size, flags) < 0 ? Errno() : 0;
}

int UnionFs::RemoveXattr(const std::string& path, const char* name) {
  if (int r = CopyUp(path); r < 0) return r;
  return lremovexattr(AbsolutePath(0, path).c_str(), name) < 0 ? Errno() : 0;
}

}  // namespace strata::aufs
