// UnionFs's namespace changes: copy-up, creation, removal with whiteouts, rename, link and
// attribute changes. All run under ns_mu_ and write only to branch 0 (the rw branch).
//
// Crash ordering: every step leaves a state the lookup rules read correctly, because an entry
// beats a whiteout of the same name in its own branch: a whiteout is written before the rw entry
// it replaces is removed or renamed away, an opaque marker before the whiteout it supersedes is
// removed, and a copied-up file is built under an internal temporary name and renamed into place.
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>

#include "aufs/branch_ops.h"
#include "aufs/copy_up.h"
#include "aufs/union_fs.h"

namespace strata::aufs {
namespace {

int TouchEmpty(int dir_fd, const std::string& rel) {
  int fd = openat(dir_fd, rel.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return Errno();
  close(fd);
  return 0;
}

}  // namespace

int UnionFs::CopyUpDirsLocked(const std::string& dir) {
  if (read_only_) return -EROFS;
  Node node;
  if (int r = Resolve(dir, &node); r < 0) return r;
  if (node.type != EntryType::kDirectory) return -ENOTDIR;
  if (node.winner() == 0) return 0;
  if (int r = CopyUpDirsLocked(std::string(ParentPath(dir))); r < 0) return r;
  std::string rel = Rel(dir);
  struct stat st;
  if (fstatat(branch_fd(node.winner()), rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) return Errno();
  // Built in place, not renamed in: an empty rw directory merged over the lower one changes
  // nothing the union shows, so a crash midway is harmless.
  int r = CopyEntry(branch_fd(node.winner()), rel, st, rw_fd(), rel,
                    as_root_ ? Privilege::kRoot : Privilege::kUser);
  Invalidate(dir);
  return r;
}

std::string UnionFs::CopyUpTempLocked(const std::string& path) {
  return RelJoin(BranchRelative(ParentPath(path)), ".wh..wh.copyup." + std::to_string(getpid()) +
                                                       "." + std::to_string(++temp_counter_));
}

int UnionFs::CopyUpLocked(const std::string& path, Node* node, off_t keep_bytes) {
  if (read_only_) return -EROFS;
  if (int r = Resolve(path, node); r < 0) return r;
  if (node->winner() == 0) return 0;
  if (node->type == EntryType::kDirectory) return CopyUpDirsLocked(path);
  if (int r = CopyUpDirsLocked(std::string(ParentPath(path))); r < 0) return r;
  std::string rel = Rel(path);
  int src = branch_fd(node->winner());
  struct stat st;
  if (fstatat(src, rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) return Errno();
  std::string tmp = CopyUpTempLocked(path);
  int r = CopyEntry(src, rel, st, rw_fd(), tmp, as_root_ ? Privilege::kRoot : Privilege::kUser,
                    keep_bytes);
  if (r == 0 && renameat(rw_fd(), tmp.c_str(), rw_fd(), rel.c_str()) < 0) r = Errno();
  if (r < 0) {
    (void)unlinkat(rw_fd(), tmp.c_str(), 0);  // best effort: the error is what matters
    return r;
  }
  Invalidate(path);
  return Resolve(path, node);
}

int UnionFs::CopyUp(const std::string& path, off_t keep_bytes) {
  if (read_only_) return -EROFS;
  std::unique_lock lock(ns_mu_);
  Node node;
  struct stat st;
  std::string rel = Rel(path);
  for (;;) {
    if (int r = Resolve(path, &node); r < 0) return r;
    if (node.winner() == 0) return 0;
    if (fstatat(branch_fd(node.winner()), rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
      return Errno();
    if (!S_ISREG(st.st_mode)) return CopyUpLocked(path, &node, keep_bytes);  // no content: quick
    if (!copying_.contains(path)) break;
    copy_done_.wait(lock);  // another request is copying it: use its copy
  }
  if (int r = CopyUpDirsLocked(std::string(ParentPath(path))); r < 0) return r;
  uint8_t src = node.winner();
  std::string tmp = CopyUpTempLocked(path);
  copying_.insert(path);
  lock.unlock();
  // The parent cannot move or go meanwhile: it exists in a lower branch (rename answers EXDEV)
  // and holds this file (rmdir answers ENOTEMPTY).
  int r = CopyEntry(branch_fd(src), rel, st, rw_fd(), tmp,
                    as_root_ ? Privilege::kRoot : Privilege::kUser, keep_bytes);
  lock.lock();
  copying_.erase(path);
  copy_done_.notify_all();
  // What happened to the path meanwhile decides: still the lower file, the copy goes in; removed
  // (whiteout) or replaced in the rw branch, the copy is dropped, as if it had come first.
  Node now;
  int rr = r < 0 ? r : Resolve(path, &now);
  if (rr == 0 && now.winner() == src) {
    if (renameat(rw_fd(), tmp.c_str(), rw_fd(), rel.c_str()) == 0) {
      Invalidate(path);
      return 0;
    }
    rr = Errno();
  }
  (void)unlinkat(rw_fd(), tmp.c_str(), 0);  // best effort: a leftover is an internal name
  return rr;
}

void UnionFs::PreCopyUp(const std::string& path) {
  Node node;
  if (read_only_ || Resolve(path, &node) < 0 || node.type == EntryType::kDirectory) return;
  (void)CopyUp(path);  // a failure shows again, and is reported, under the lock
}

int UnionFs::CheckCreatableLocked(const std::string& path) {
  if (read_only_) return -EROFS;
  if (IsInternalName(BaseName(path))) return -EPERM;  // whiteout names belong to the union
  Node node;
  int r = Resolve(path, &node);
  if (r == 0) return -EEXIST;
  if (r != -ENOENT) return r;
  return CopyUpDirsLocked(std::string(ParentPath(path)));
}

// After creating `path` in the rw branch: owner (as root, the caller's, or the group of a
// set-group-ID parent), then the opaque marker for a directory made over a whiteout, then the
// whiteout's removal.
void UnionFs::FinishCreateLocked(const std::string& path, const Caller* caller, bool is_dir) {
  std::string rel = Rel(path);
  if (caller != nullptr && as_root_) {
    gid_t gid = caller->gid;
    struct stat parent;
    if (fstatat(rw_fd(), std::string(BranchRelative(ParentPath(path))).c_str(), &parent, 0) == 0 &&
        (parent.st_mode & S_ISGID)) {
      gid = parent.st_gid;
    }
    // As root: cannot fail.
    (void)fchownat(rw_fd(), rel.c_str(), caller->uid, gid, AT_SYMLINK_NOFOLLOW);
  }
  std::string wh = WhiteoutRel(path);
  if (Present(rw_fd(), wh)) {
    // A missing marker is reported by lookups.
    if (is_dir) (void)TouchEmpty(rw_fd(), RelJoin(rel, kOpaqueName));
    (void)unlinkat(rw_fd(), wh.c_str(), 0);  // a leftover whiteout is shadowed by the new entry
  }
  Invalidate(path);
}

int UnionFs::WriteWhiteoutLocked(const std::string& path) {
  if (int r = CopyUpDirsLocked(std::string(ParentPath(path))); r < 0) return r;
  return TouchEmpty(rw_fd(), WhiteoutRel(path));
}

int UnionFs::ClearInternalEntriesLocked(const std::string& dir) {
  int fd = openat(rw_fd(), Rel(dir).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno();
  DIR* d = fdopendir(fd);
  if (d == nullptr) {
    int err = Errno();
    close(fd);
    return err;
  }
  int r = 0;
  while (struct dirent* e = readdir(d)) {
    if (!IsInternalName(e->d_name)) continue;
    int flags = e->d_type == DT_DIR ? AT_REMOVEDIR : 0;
    if (unlinkat(dirfd(d), e->d_name, flags) < 0 && errno != ENOENT) r = Errno();
  }
  closedir(d);
  return r;
}

int UnionFs::OpenFile(const std::string& path, int flags, int* fd, bool* from_lower) {
  bool write = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
  Node node;
  if (write) {
    // O_TRUNC empties the file anyway: copy the metadata only.
    if (int r = CopyUp(path, (flags & O_TRUNC) ? 0 : -1); r < 0) return r;
  }
  if (int r = Resolve(path, &node); r < 0) return r;
  int f = openat(branch_fd(node.winner()), Rel(path).c_str(),
                 (flags & ~(O_CREAT | O_EXCL | O_NOCTTY)) | O_CLOEXEC | O_NOFOLLOW);
  if (f < 0) return Errno();
  *fd = f;
  *from_lower = node.winner() != 0 || !has_rw_;
  return 0;
}

int UnionFs::Create(const std::string& path, mode_t mode, int flags, const Caller& caller,
                    int* fd) {
  std::lock_guard lock(ns_mu_);
  if (int r = CheckCreatableLocked(path); r < 0) return r;
  int f =
      openat(rw_fd(), Rel(path).c_str(), flags | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (f < 0) return Errno();
  FinishCreateLocked(path, &caller, false);
  *fd = f;
  return 0;
}

int UnionFs::MakeNode(const std::string& path, mode_t mode, dev_t rdev, const Caller& caller) {
  std::lock_guard lock(ns_mu_);
  if (int r = CheckCreatableLocked(path); r < 0) return r;
  if (mknodat(rw_fd(), Rel(path).c_str(), mode, rdev) < 0) return Errno();
  FinishCreateLocked(path, &caller, false);
  return 0;
}

int UnionFs::MakeDir(const std::string& path, mode_t mode, const Caller& caller) {
  std::lock_guard lock(ns_mu_);
  if (int r = CheckCreatableLocked(path); r < 0) return r;
  if (mkdirat(rw_fd(), Rel(path).c_str(), mode) < 0) return Errno();
  FinishCreateLocked(path, &caller, true);
  return 0;
}

int UnionFs::MakeSymlink(const std::string& target, const std::string& path, const Caller& caller) {
  std::lock_guard lock(ns_mu_);
  if (int r = CheckCreatableLocked(path); r < 0) return r;
  if (symlinkat(target.c_str(), rw_fd(), Rel(path).c_str()) < 0) return Errno();
  FinishCreateLocked(path, &caller, false);
  return 0;
}

int UnionFs::Link(const std::string& from, const std::string& to) {
  PreCopyUp(from);
  std::lock_guard lock(ns_mu_);
  Node src;
  if (int r = Resolve(from, &src); r < 0) return r;
  if (src.type == EntryType::kDirectory) return -EPERM;
  if (int r = CheckCreatableLocked(to); r < 0) return r;
  if (int r = CopyUpLocked(from, &src); r < 0) return r;
  if (linkat(rw_fd(), Rel(from).c_str(), rw_fd(), Rel(to).c_str(), 0) < 0) return Errno();
  FinishCreateLocked(to, nullptr, false);
  inodes_.Link(from, to);
  return 0;
}

int UnionFs::Unlink(const std::string& path) {
  std::lock_guard lock(ns_mu_);
  if (read_only_) return -EROFS;
  Node node, parent;
  if (int r = Resolve(path, &node); r < 0) return r;
  if (node.type == EntryType::kDirectory) return -EISDIR;
  if (int r = Resolve(std::string(ParentPath(path)), &parent); r < 0) return r;
  bool in_rw = node.winner() == 0 && has_rw_;
  if (!in_rw || ExistsBelow(parent, path)) {
    if (int r = WriteWhiteoutLocked(path); r < 0) return r;
  }
  if (in_rw && unlinkat(rw_fd(), Rel(path).c_str(), 0) < 0) return Errno();
  Invalidate(path);
  inodes_.Forget(path);
  return 0;
}

int UnionFs::RemoveDir(const std::string& path) {
  std::lock_guard lock(ns_mu_);
  if (read_only_) return -EROFS;
  if (path == "/") return -EBUSY;
  Node node, parent;
  if (int r = Resolve(path, &node); r < 0) return r;
  if (node.type != EntryType::kDirectory) return -ENOTDIR;
  std::vector<ListedEntry> entries;
  if (int r = List(path, &entries); r < 0) return r;
  if (!entries.empty()) return -ENOTEMPTY;
  if (int r = Resolve(std::string(ParentPath(path)), &parent); r < 0) return r;
  bool in_rw = node.winner() == 0 && has_rw_;
  if (!in_rw || node.branches.size() > 1 || ExistsBelow(parent, path)) {
    if (int r = WriteWhiteoutLocked(path); r < 0) return r;
  }
  if (in_rw) {
    // The merged view is empty, so the rw directory holds only whiteouts and markers.
    if (int r = ClearInternalEntriesLocked(path); r < 0) return r;
    if (unlinkat(rw_fd(), Rel(path).c_str(), AT_REMOVEDIR) < 0) return Errno();
  }
  Invalidate(path);
  inodes_.Forget(path);
  return 0;
}

}  // namespace strata::aufs
