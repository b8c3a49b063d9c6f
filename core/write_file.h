// Writing files: a control file (/proc, cgroupfs) in one write, or a whole file replaced
// atomically (state files, driver metadata).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "core/result.h"

namespace strata {

// The prefix of WriteFileAtomic's temp files: ".tmp-<name>-<12 hex>" beside the target. The
// graph drivers sweep crash leftovers by it (drivers/fs_tree.h CollectLeftovers).
inline constexpr std::string_view kTempPrefix = ".tmp-";

// A temp sibling name for something being created: ".tmp-<name>-<12 hex>".
std::string TempName(const std::string& name);

// Writes `content` to the existing file `path` in one write(2), as kernel control files want
// (no O_CREAT, no O_TRUNC). A short write is EIO. Errors name the path.
Status WriteFile(const std::string& path, const std::string& content);

// Writes `content` to `path` atomically: a temp file in the same directory created with `mode`
// (less the umask), fsync (skipped for empty content), rename. A reader sees the old content or
// the new, never a torn one; on error the temp file is removed. Errors name the path.
Status WriteFileAtomic(const std::string& path, const std::string& content, mode_t mode = 0644);

}  // namespace strata
