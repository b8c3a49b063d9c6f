// UnionFs: the branch directories of one strata-aufs mount and every operation on them, by union
// path ("/a/b"). fuse_fs.cc is a thin table of libfuse callbacks over these methods.
//
// Errors: methods on the request path return 0 or a negative errno (what FUSE replies with), not
// Result<T>: they run once per kernel request and a failed lookup (ENOENT) is the common case, so
// they build no message strings. Setup (Open) returns Result.
//
// Thread-safety: every method may be called from any libfuse worker thread. Reads take no lock
// except the resolution cache's shared lock; every namespace change (create, copy-up, unlink,
// rename, ...) runs under one mutex, so copy-up and whiteout placement never race each other.
// The one slow step, copying a regular file's content up, runs outside that mutex (into an
// internal temporary name; concurrent copy-ups of the same path wait for the first), so a large
// copy-up does not stall every other change in the union.
//
// Syscalls: this helper talks to the kernel directly (openat, copy_file_range, *xattr, renameat2)
// rather than through core/sys: it is a separate executable whose whole job is those syscalls,
// and the policy it applies lives in union_model (pure, unit-tested).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "aufs/union_model.h"
#include "core/result.h"
#include "core/unique_fd.h"

namespace strata::aufs {

// A resolved union entry: its type and the branches (absolute indices, top first) that make it
// up; the first is the winner (attributes, content). More than one only for a merged directory.
struct Node {
  EntryType type = EntryType::kAbsent;
  std::vector<uint8_t> branches;
  uint8_t winner() const { return branches.front(); }
};

// The caller of a creating request: owner for the new entry when the helper runs as root.
struct Caller {
  uid_t uid = 0;
  gid_t gid = 0;
};

// One merged directory listing entry, ready for readdir.
struct ListedEntry {
  std::string name;
  uint8_t d_type = 0;
  uint8_t branch = 0;  // absolute index of the branch the entry came from
  uint64_t ino = 0;
};

class UnionFs {
 public:
  // Opens every branch directory (O_PATH). EINVAL/ENOENT/ENOTDIR/EACCES name the branch.
  static Result<std::unique_ptr<UnionFs>> Open(const Options& options);

  bool read_only() const { return read_only_; }
  bool has_rw() const { return has_rw_; }
  int branch_fd(uint8_t b) const { return branches_[b].fd.Get(); }
  int rw_fd() const { return branches_[0].fd.Get(); }
  const std::string& branch_path(uint8_t b) const { return branches_[b].path; }
  InodeTable& inodes() { return inodes_; }

  // Lookup: 0 and *out, or -ENOENT / -ENOTDIR. Internal names (.wh.*) never resolve.
  int Resolve(const std::string& path, Node* out);

  int GetAttr(const std::string& path, struct stat* st);
  // Merged listing of a directory (no "." and ".."), inode numbers assigned.
  int List(const std::string& path, std::vector<ListedEntry>* out);
  // Opens for I/O: write access (or O_TRUNC) copies the file up first. *from_lower tells
  // whether the fd is on a read-only branch (whose content never changes while mounted).
  int OpenFile(const std::string& path, int flags, int* fd, bool* from_lower);
  int Create(const std::string& path, mode_t mode, int flags, const Caller& caller, int* fd);
  int MakeNode(const std::string& path, mode_t mode, dev_t rdev, const Caller& caller);
  int MakeDir(const std::string& path, mode_t mode, const Caller& caller);
  int MakeSymlink(const std::string& target, const std::string& path, const Caller& caller);
  int Unlink(const std::string& path);
  int RemoveDir(const std::string& path);
  int Rename(const std::string& from, const std::string& to, unsigned int flags);
  int Link(const std::string& from, const std::string& to);

  // Attribute changes copy the entry up, then apply to the rw branch.
  int Chmod(const std::string& path, mode_t mode);
  int Chown(const std::string& path, uid_t uid, gid_t gid);
  int Truncate(const std::string& path, off_t size);
  int Utimens(const std::string& path, const struct timespec ts[2]);
  int SetXattr(const std::string& path, const char* name, const char* value, size_t size,
               int flags);
  int RemoveXattr(const std::string& path, const char* name);
  ssize_t GetXattr(const std::string& path, const char* name, char* value, size_t size);
  ssize_t ListXattr(const std::string& path, char* list, size_t size);
  int ReadLink(const std::string& path, char* buf, size_t size);

 private:
  struct BranchDir {
    std::string path;  // absolute
    BranchMode mode;
    UniqueFd fd;  // O_PATH directory
  };

  UnionFs() = default;

  BranchEntry Observe(uint8_t branch, const std::string& rel, std::string_view parent_rel,
                      std::string_view name, bool check_below);
  int ResolveUncached(const std::string& path, Node* out);
  // Resolves `name` in `parent` over only those of its branches below the rw one: tells whether
  // removing the rw entry would let a lower one show (so a whiteout is needed).
  bool ExistsBelow(const Node& parent, const std::string& path);
  void Invalidate(const std::string& path);  // drops path and its subtree from the cache
  // Copies `path` up so a change can apply to the rw branch; a regular file's content is copied
  // without holding ns_mu_ (see the top). keep_bytes: as CopyEntry's (a truncate copies only
  // what it keeps).
  int CopyUp(const std::string& path, off_t keep_bytes = -1);
  // Before a rename or link, which copy a lower file up under ns_mu_: the content goes up
  // first without it, so the locked copy-up finds it done.
  void PreCopyUp(const std::string& path);
  std::string AbsolutePath(uint8_t branch, const std::string& path) const;

  // Namespace changes; callers hold ns_mu_.
  int CopyUpDirsLocked(const std::string& dir);
  int CopyUpLocked(const std::string& path, Node* node, off_t keep_bytes = -1);
  // A fresh internal name beside `path` in the rw branch for a copy being built.
  std::string CopyUpTempLocked(const std::string& path);
  int CheckCreatableLocked(const std::string& path);
  // caller null: keep the owner (link).
  void FinishCreateLocked(const std::string& path, const Caller* caller, bool is_dir);
  int WriteWhiteoutLocked(const std::string& path);
  int ClearInternalEntriesLocked(const std::string& dir);

  std::vector<BranchDir> branches_;
  bool read_only_ = false;
  bool has_rw_ = false;
  bool as_root_ = false;
  InodeTable inodes_;

  std::shared_mutex cache_mu_;
  std::map<std::string, Node, std::less<>> cache_;  // ordered: Invalidate drops a subtree
  std::atomic<uint64_t> generation_{0};  // bumped by Invalidate; stale resolutions are not cached

  std::mutex ns_mu_;
  uint64_t temp_counter_ = 0;                   // copy-up temporaries, under ns_mu_
  std::set<std::string, std::less<>> copying_;  // paths whose content is being copied up
  std::condition_variable copy_done_;           // signalled when one leaves copying_
};

}  // namespace strata::aufs
