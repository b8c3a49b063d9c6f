// Pure parsing of /proc/<pid>/mountinfo (proc(5)). No syscalls: tested with literal text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/sys/mounts.h"

namespace strata::sys {

// Parses the whole text of a mountinfo file, one MountEntry per non-empty line, in file order.
// Line format (proc(5)):
//   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//   (1)(2)(3)   (4)   (5)      (6)      (7)    (8) (9)   (10)         (11)
// Field (7) is zero or more optional fields ended by the "-" separator. Octal escapes the kernel
// writes for space, tab, newline and backslash (\040 \011 \012 \134) are decoded in root,
// mount_point, source and super_options.
// Errors: EINVAL naming the 1-based line number and what was wrong (too few fields, no " - "
// separator, non-numeric mount id).
Result<std::vector<MountEntry>> ParseMountInfo(std::string_view text);

// Decodes mountinfo octal escapes ("\040" -> ' '). A backslash not followed by three octal digits
// is kept as is.
std::string UnescapeMountField(std::string_view field);

}  // namespace strata::sys
