// The /dev/mapper/<name> block nodes strata keeps in step with the kernel itself, so nothing
// waits for udev (FIELD-GUIDE §1.15). Used by the libdevmapper implementation of the
// device-mapper seam after Resume and Remove; callable on any directory for tests.
#pragma once

#include <cstdint>
#include <string>

#include "core/result.h"

namespace strata::thinpool {

// Makes `dir`/`name` a block node (mode 0600, owner root) for major:minor; creates `dir` (0755)
// if missing. An existing node with the right device number is left as is. A block node with
// another device number, or a symlink (dangling or not: udev-style links are replaced by a real
// node), is replaced atomically (mknod of a temporary name, then rename over it), so an opener
// never sees a missing node. Anything else there (a file, a directory) is not ours to remove:
// EEXIST. Other errors: the failing syscall's errno (EPERM without CAP_MKNOD, EROFS, ...).
Status EnsureDmNode(const std::string& dir, const std::string& name, uint32_t major,
                    uint32_t minor);

// Removes `dir`/`name` when it is a block node or a symlink. Idempotent: Ok when absent.
// EEXIST when something else is there (left alone); otherwise unlink's errno.
Status RemoveDmNode(const std::string& dir, const std::string& name);

}  // namespace strata::thinpool
