#include "aufs/union_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>

#include "aufs/branch_ops.h"
#include "aufs/copy_up.h"

namespace strata::aufs {
namespace {

EntryType TypeOf(mode_t mode) { return S_ISDIR(mode) ? EntryType::kDirectory : EntryType::kOther; }

uint8_t DtypeOf(mode_t mode) { return static_cast<uint8_t>((mode & S_IFMT) >> 12); }

}  // namespace

Result<std::unique_ptr<UnionFs>> UnionFs::Open(const Options& options) {
  std::unique_ptr<UnionFs> u(new UnionFs());
  for (size_t i = 0; i < options.branches.size(); ++i) {
    const Branch& b = options.branches[i];
    std::string where = "branch " + std::to_string(i + 1) + " \"" + b.path + "\"";
    char resolved[PATH_MAX];
    if (realpath(b.path.c_str(), resolved) == nullptr) return Error::FromErrno(where);
    UniqueFd fd(open(resolved, O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return Error::FromErrno(where);
    if (b.mode == BranchMode::kReadWrite && !options.read_only && access(resolved, W_OK) < 0) {
      return Error::FromErrno(where + ": rw branch not writable");
    }
    for (const BranchDir& other : u->branches_) {
      if (other.path == resolved) {
        return Error(EINVAL, where + ": same directory as another branch");
      }
    }
    u->branches_.push_back(BranchDir{resolved, b.mode, std::move(fd)});
  }
  u->has_rw_ = options.branches.front().mode == BranchMode::kReadWrite;
  u->read_only_ = options.read_only || !u->has_rw_;
  u->as_root_ = geteuid() == 0;
  return u;
}

std::string UnionFs::AbsolutePath(uint8_t branch, const std::string& path) const {
  return path == "/" ? branches_[branch].path : branches_[branch].path + path;
}

BranchEntry UnionFs::Observe(uint8_t branch, const std::string& rel, std::string_view parent_rel,
                             std::string_view name, bool check_below) {
  int fd = branch_fd(branch);
  BranchEntry e;
  struct stat st;
  if (fstatat(fd, rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    e.type = TypeOf(st.st_mode);
    // Whiteouts and opaque markers matter only when something lies below.
    if (check_below && e.type == EntryType::kDirectory) {
      e.opaque = Present(fd, RelJoin(rel, kOpaqueName));
    }
  } else if (check_below) {
    // ENOENT, ENOTDIR (a file where the parent was), EACCES: nothing usable here.
    e.whiteout = Present(fd, RelJoin(parent_rel, WhiteoutName(name)));
  }
  return e;
}

int UnionFs::ResolveUncached(const std::string& path, Node* out) {
  std::string_view name = BaseName(path);
  if (IsInternalName(name)) return -ENOENT;
  Node parent;
  if (int r = Resolve(std::string(ParentPath(path)), &parent); r < 0) return r;
  if (parent.type != EntryType::kDirectory) return -ENOTDIR;
  std::string rel = Rel(path);
  std::string_view parent_rel = BranchRelative(ParentPath(path));
  const std::vector<uint8_t>& view = parent.branches;
  Resolution res = ResolveEntry(view.size(), [&](size_t i) {
    bool below = view[i] + 1u < branches_.size();
    return Observe(view[i], rel, parent_rel, name, below);
  });
  if (res.type == EntryType::kAbsent) return -ENOENT;
  out->type = res.type;
  out->branches.clear();
  for (uint8_t layer : res.layers) out->branches.push_back(view[layer]);
  return 0;
}

int UnionFs::Resolve(const std::string& path, Node* out) {
  if (path == "/") {
    out->type = EntryType::kDirectory;
    out->branches.resize(branches_.size());
    for (size_t i = 0; i < branches_.size(); ++i) out->branches[i] = static_cast<uint8_t>(i);
    return 0;
  }
  {
    std::shared_lock lock(cache_mu_);
    auto it = cache_.find(path);
    if (it != cache_.end()) {
      *out = it->second;
      return 0;
    }
  }
  uint64_t generation = generation_.load(std::memory_order_acquire);
  if (int r = ResolveUncached(path, out); r < 0) return r;
  std::unique_lock lock(cache_mu_);
  // A namespace change since we started may have made this result stale: do not cache it.
  if (generation_.load(std::memory_order_acquire) == generation) cache_.emplace(path, *out);
  return 0;
}

void UnionFs::Invalidate(const std::string& path) {
  std::unique_lock lock(cache_mu_);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  for (auto it = cache_.lower_bound(path); it != cache_.end() && it->first.starts_with(path);) {
    const std::string& key = it->first;
    bool in_subtree = key.size() == path.size() || key[path.size()] == '/';
    it = in_subtree ? cache_.erase(it) : std::next(it);
  }
}

bool UnionFs::ExistsBelow(const Node& parent, const std::string& path) {
  std::vector<uint8_t> lower;
  for (uint8_t b : parent.branches) {
    if (b != 0 || !has_rw_) lower.push_back(b);
  }
  std::string rel = Rel(path);
  std::string_view parent_rel = BranchRelative(ParentPath(path));
  std::string_view name = BaseName(path);
  Resolution res = ResolveEntry(lower.size(), [&](size_t i) {
    return Observe(lower[i], rel, parent_rel, name, lower[i] + 1u < branches_.size());
  });
  return res.type != EntryType::kAbsent;
}

int UnionFs::GetAttr(const std::string& path, struct stat* st) {
  Node node;
  if (int r = Resolve(path, &node); r < 0) return r;
  if (fstatat(branch_fd(node.winner()), Rel(path).c_str(), st, AT_SYMLINK_NOFOLLOW) < 0) {
    return Errno();
  }
  st->st_ino =
      S_ISDIR(st->st_mode) ? inodes_.Get(path) : inodes_.GetLinked(path, node.winner(), st->st_ino);
  // A merged directory's link count is not its subdirectory count plus two: report 1, "unknown",
  // so find(1) and fts do not skip subdirectories (btrfs does the same).
  if (S_ISDIR(st->st_mode)) st->st_nlink = 1;
  return 0;
}

int UnionFs::List(const std::string& path, std::vector<ListedEntry>* out) {
  Node node;
  if (int r = Resolve(path, &node); r < 0) return r;
  if (node.type != EntryType::kDirectory) return -ENOTDIR;
  std::vector<std::vector<DirEntry>> listings(node.branches.size());
  std::string rel = Rel(path);
  for (size_t i = 0; i < node.branches.size(); ++i) {
    int fd = openat(branch_fd(node.branches[i]), rel.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Errno();
    DIR* dir = fdopendir(fd);  // owns fd from here
    if (dir == nullptr) {
      int err = Errno();
      close(fd);
      return err;
    }
    while (struct dirent* d = readdir(dir)) {
      std::string_view name = d->d_name;
      if (name == "." || name == "..") continue;
      uint8_t type = d->d_type;
      if (type == DT_UNKNOWN) {
        struct stat st;
        if (fstatat(dirfd(dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
          type = DtypeOf(st.st_mode);
        }
      }
      listings[i].push_back(DirEntry{std::string(name), type, 0, d->d_ino});
    }
    closedir(dir);
  }
  std::vector<DirEntry> merged = MergeListings(listings);
  out->clear();
  out->reserve(merged.size());
  for (DirEntry& e : merged) {
    std::string child = JoinPath(path, e.name);
    uint64_t ino = e.d_type == DT_DIR ? inodes_.Get(child)
                                      : inodes_.GetLinked(child, node.branches[e.layer], e.ino);
    out->push_back(ListedEntry{std::move(e.name), e.d_type, node.branches[e.layer], ino});
  }
  return 0;
}

int UnionFs::ReadLink(const std::string& path, char* buf, size_t size) {
  Node node;
  if (int r = Resolve(path, &node); r < 0) return r;
  if (size == 0) return -EINVAL;
  ssize_t n = readlinkat(branch_fd(node.winner()), Rel(path).c_str(), buf, size - 1);
  if (n < 0) return Errno();
  buf[n] = '\0';
  return 0;
}

ssize_t UnionFs::GetXattr(const std::string& path, const char* name, char* value, size_t size) {
  Node node;
  if (int r = Resolve(path, &node); r < 0) return r;
  ssize_t n = lgetxattr(AbsolutePath(node.winner(), path).c_str(), name, value, size);
  return n < 0 ? Errno() : n;
}

ssize_t UnionFs::ListXattr(const std::string& path, char* list, size_t size) {
  Node node;
  if (int r = Resolve(path, &node); r < 0) return r;
  ssize_t n = llistxattr(AbsolutePath(node.winner(), path).c_str(), list, size);
  return n < 0 ? Errno() : n;
}

}  // namespace strata::aufs
