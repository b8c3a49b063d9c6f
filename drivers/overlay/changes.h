// Native overlay diff reading: what a layer's diff/ (its upper dir) changes against the merged
// view of its lower layers, without mounting anything.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "drivers/archive/archive.h"

namespace strata::drivers::overlay {

// Compares `upper` (a diff/ dir in overlay whiteout format) with the merged view of `lowers`
// (diff/ dirs of the parents, nearest first), honouring whiteouts and opaque directories in the
// lowers as the kernel does:
//   - a char device 0/0 in upper                      -> D
//   - an entry absent from the lower view             -> A (and everything below it)
//   - an entry present in the lower view              -> C, except a directory whose mode and
//                                                        mtime are unchanged (copied up only
//                                                        because something below it changed)
//   - in an opaque upper dir (trusted.overlay.opaque=y), and below it, entries of the lower view
//     that upper lacks                                -> D
// Sorted by path. Errors: the failing syscall, naming the path.
Result<std::vector<archive::Change>> OverlayChanges(const std::string& upper,
                                                    const std::vector<std::string>& lowers);

// Apparent size of the files under `dir` (st_size of every non-directory, each hardlinked inode
// once), as `du --apparent-size` would sum them.
Result<uint64_t> DirectorySize(const std::string& dir);

}  // namespace strata::drivers::overlay
