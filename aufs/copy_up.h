// Copy-up primitives: one lower-branch entry reproduced in the rw branch with its content, mode,
// owner, xattrs and times. Negative errno returns (see union_fs.h for why).
#pragma once

#include <sys/stat.h>

#include <string>

namespace strata::aufs {

enum class Privilege { kRoot, kUser };

// Copies `st`'s entry at src_dir_fd/src_rel to dst_dir_fd/dst_rel (which must not exist):
// regular files (content through copy_file_range, which reflinks where the filesystem can, with
// a read/write fallback), symlinks, fifos, sockets and device nodes; directories get an empty
// directory with the same metadata. Owner: chown as root; as a user a failed chown is ignored (the
// copy stays the user's). Xattrs: user.* and system.posix_acl_* always, trusted.*/security.* as
// root; not for symlinks and special files (no fd to carry them). Times last (atime, mtime).
// On error the partial dst is left for the caller to remove.
int CopyEntry(int src_dir_fd, const std::string& src_rel, const struct stat& st, int dst_dir_fd,
              const std::string& dst_rel, Privilege privilege);

// The xattrs, owner, mode and times of src_fd onto dst_fd (both open files or directories).
int CopyAttributes(int src_fd, int dst_fd, const struct stat& st, Privilege privilege);

}  // namespace strata::aufs
