#include "drivers/archive/dir_resolver.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

#include "drivers/archive/entry_name.h"

namespace strata::drivers::archive {
namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

// Why openat(O_DIRECTORY|O_NOFOLLOW) failed, as the error callers branch on.
Error LookupError(int err, int parent_fd, std::string_view path) {
  struct stat st;
  std::string name(SplitEntryName(path).base);
  if ((err == ELOOP || err == ENOTDIR) &&
      fstatat(parent_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
    return Error(EXDEV, "\"" + std::string(path) + "\" is a symlink: path escapes the layer root");
  }
  return Error::FromErrno(err, "open directory \"" + std::string(path) + "\"");
}

}  // namespace

Result<DirResolver> DirResolver::Open(const std::string& root) {
  int fd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Error::FromErrno("open layer root " + root);
  UniqueFd owned(fd);
  STRATA_ASSIGN_OR_RETURN(DirInfo info, Stat(fd, root));
  return DirResolver(std::move(owned), info);
}

Result<DirResolver::DirInfo> DirResolver::Stat(int fd, std::string_view path) {
  struct stat st;
  if (fstat(fd, &st) != 0) return Error::FromErrno("stat \"" + std::string(path) + "\"");
  return DirInfo{(st.st_mode & S_ISGID) != 0, st.st_gid};
}

std::string DirResolver::ChainPath(size_t depth) const {
  std::string path;
  for (size_t i = 0; i < depth; ++i) {
    if (i > 0) path += '/';
    path += chain_[i].name;
  }
  return path;
}

Result<UniqueFd> DirResolver::OpenChild(int parent_fd, std::string_view parent,
                                        std::string_view name, MissingDirs missing,
                                        std::vector<std::string>* created) {
  std::string component(name);
  std::string path = JoinEntryName(parent, name);
  int fd = openat(parent_fd, component.c_str(), kDirFlags);
  if (fd < 0 && errno == ENOENT && missing == MissingDirs::kCreate) {
    if (mkdirat(parent_fd, component.c_str(), 0755) != 0 && errno != EEXIST) {
      return Error::FromErrno("create directory \"" + path + "\"");
    }
    if (created != nullptr) created->push_back(path);
    fd = openat(parent_fd, component.c_str(), kDirFlags);
  }
  if (fd < 0) return LookupError(errno, parent_fd, path);
  return UniqueFd(fd);
}

Result<int> DirResolver::Resolve(std::string_view dir, MissingDirs missing,
                                 std::vector<std::string>* created) {
  // Keep the longest cached prefix of `dir`, then open the remaining components.
  size_t depth = 0;
  size_t pos = 0;
  while (depth < chain_.size() && pos < dir.size()) {
    size_t slash = dir.find('/', pos);
    if (slash == std::string_view::npos) slash = dir.size();
    if (dir.substr(pos, slash - pos) != chain_[depth].name) break;
    ++depth;
    pos = slash + 1;
  }
  chain_.resize(depth);
  while (pos < dir.size()) {
    size_t slash = dir.find('/', pos);
    if (slash == std::string_view::npos) slash = dir.size();
    std::string_view name = dir.substr(pos, slash - pos);
    int parent_fd = chain_.empty() ? root_.Get() : chain_.back().fd.Get();
    STRATA_ASSIGN_OR_RETURN(UniqueFd fd, OpenChild(parent_fd, dir.substr(0, pos == 0 ? 0 : pos - 1),
                                                   name, missing, created));
    STRATA_ASSIGN_OR_RETURN(DirInfo info, Stat(fd.Get(), dir.substr(0, slash)));
    chain_.push_back(Level{std::string(name), std::move(fd), info});
    pos = slash + 1;
  }
  return chain_.empty() ? root_.Get() : chain_.back().fd.Get();
}

void DirResolver::Invalidate(std::string_view path) {
  for (size_t depth = 1; depth <= chain_.size(); ++depth) {
    if (IsAtOrUnder(ChainPath(depth), path)) {
      chain_.resize(depth - 1);
      return;
    }
  }
}

Status RemoveTreeAt(int dir_fd, const std::string& name) {
  if (unlinkat(dir_fd, name.c_str(), 0) == 0 || errno == ENOENT) return Ok();
  if (errno != EISDIR) return Error::FromErrno("remove \"" + name + "\"");
  STRATA_ASSIGN_OR_RETURN(UniqueFd sub, OpenAt(dir_fd, name, O_RDONLY | O_DIRECTORY, "remove"));
  STRATA_ASSIGN_OR_RETURN(std::vector<std::string> children, ListDirSorted(sub.Get()));
  for (const std::string& child : children) {
    STRATA_TRY_CTX(RemoveTreeAt(sub.Get(), child), name);
  }
  if (unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return Error::FromErrno("remove directory \"" + name + "\"");
  }
  return Ok();
}

Result<std::vector<std::string>> ListDirSorted(int dir_fd) {
  // fdopendir takes ownership of its fd and shares the offset with it: give it a fresh one.
  int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Error::FromErrno("open directory");
  DIR* dir = fdopendir(fd);
  if (dir == nullptr) {
    Error error = Error::FromErrno("fdopendir");
    (void)close(fd);  // best effort: fdopendir failed, so the fd is still ours
    return error;
  }
  CPtr<DIR, closedir> owned(dir);
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* ent = readdir(dir)) {
    std::string_view name(ent->d_name);
    if (name != "." && name != "..") names.emplace_back(name);
    errno = 0;
  }
  if (errno != 0) return Error::FromErrno("readdir");
  std::sort(names.begin(), names.end());
  return names;
}

Result<UniqueFd> OpenAt(int dir_fd, const std::string& name, int flags, std::string_view what) {
  int fd = openat(dir_fd, name.c_str(), flags | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Error::FromErrno(std::string(what) + " \"" + name + "\"");
  return UniqueFd(fd);
}

}  // namespace strata::drivers::archive
