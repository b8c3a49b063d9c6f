// Copy-up primitives: one lower-branch entry reproduced in the rw branch with its content, mode,
// owner, xattrs and times. Negative errno returns (see union_fs.h for why).
#pragma once

#include <sys/stat.h>

#include <string>

namespace strata::aufs {

enum class Privilege { kRoot, kUser };

// Copies `st`'s entry at src_dir_fd/src_rel to dst_dir_fd/dst_rel (which must not exist):
// regular files (content through copy_file_range, which reflinks where the filesystem can, with
// a read/write fallback; holes stay holes), symlinks, fifos, sockets and device nodes;
// directories get an empty directory with the same metadata. Owner: chown as root; as a user a
// failed chown is ignored (the copy stays the user's). Xattrs: user.* and system.posix_acl_*
// always, trusted.*/security.* as root, for every type (symlinks and special files through their
// path). Times last (atime, mtime). `keep_bytes` (>= 0) copies only the first keep_bytes of a
// regular file's content and leaves it that long: the caller truncates next, so the rest would be
// copied for nothing (an open with O_TRUNC keeps 0). On error the partial dst is left for the
// caller to remove.
int CopyEntry(int src_dir_fd, const std::string& src_rel, const struct stat& st, int dst_dir_fd,
              const std::string& dst_rel, Privilege privilege, off_t keep_bytes = -1);

// The xattrs, owner, mode and times of src_fd onto dst_fd (both open files or directories).
int CopyAttributes(int src_fd, int dst_fd, const struct stat& st, Privilege privilege);

}  // namespace strata::aufs
