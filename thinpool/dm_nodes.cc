#include "thinpool/dm_nodes.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace strata::thinpool {
namespace {

enum class NodeState { kAbsent, kCorrect, kReplaceable, kForeign };

// What is at `path` now. kReplaceable: a block node with another device number or a symlink.
Result<NodeState> Inspect(const std::string& path, dev_t want) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return NodeState::kAbsent;
    return Error::FromErrno("stat " + path);
  }
  if (S_ISBLK(st.st_mode))
    return st.st_rdev == want ? NodeState::kCorrect : NodeState::kReplaceable;
  if (S_ISLNK(st.st_mode)) return NodeState::kReplaceable;
  return NodeState::kForeign;
}

Status MakeDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) return Ok();
  return Error::FromErrno("mkdir " + dir);
}

// mknod with the mode exactly as given (umask would otherwise strip bits we asked for).
Status MakeNode(const std::string& path, dev_t dev) {
  mode_t old_umask = ::umask(0);
  int r = ::mknod(path.c_str(), S_IFBLK | 0600, dev);
  int saved = errno;
  (void)::umask(old_umask);
  if (r != 0) return Error::FromErrno(saved, "mknod " + path);
  return Ok();
}

// Replaces whatever is at `path` with a fresh node in one rename(2), so the name never vanishes.
Status ReplaceNode(const std::string& dir, const std::string& name, dev_t dev) {
  std::string tmp = dir + "/.strata-node-" + std::to_string(::getpid()) + "-" + name;
  (void)::unlink(tmp.c_str());  // best effort: a leftover of a crashed earlier attempt
  STRATA_TRY(MakeNode(tmp, dev));
  std::string path = dir + "/" + name;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Error e = Error::FromErrno("rename " + tmp + " to " + path);
    (void)::unlink(tmp.c_str());  // best effort: do not leave the temporary behind
    return e;
  }
  return Ok();
}

}  // namespace

Status EnsureDmNode(const std::string& dir, const std::string& name, uint32_t major,
                    uint32_t minor) {
  std::string path = dir + "/" + name;
  dev_t dev = makedev(major, minor);
  STRATA_TRY(MakeDir(dir));
  STRATA_ASSIGN_OR_RETURN(NodeState state, Inspect(path, dev));
  switch (state) {
    case NodeState::kCorrect:
      return Ok();
    case NodeState::kAbsent:
      return MakeNode(path, dev);
    case NodeState::kReplaceable:
      return ReplaceNode(dir, name, dev);
    case NodeState::kForeign:
      break;
  }
  return Error(EEXIST, "node " + path + ": not a block device or symlink; leaving it alone");
}

Status RemoveDmNode(const std::string& dir, const std::string& name) {
  std::string path = dir + "/" + name;
  STRATA_ASSIGN_OR_RETURN(NodeState state, Inspect(path, 0));
  if (state == NodeState::kAbsent) return Ok();
  if (state == NodeState::kForeign) {
    return Error(EEXIST, "node " + path + ": not a block device or symlink; leaving it alone");
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Error::FromErrno("unlink " + path);
  return Ok();
}

}  // namespace strata::thinpool
