// Native diff reading for union drivers: what one branch (a layer's diff/ dir) changes against
// the merged view of its parents' branches, without mounting anything. overlay and aufs differ
// only in how a branch marks deletions (archive::WhiteoutFormat):
//   kOverlay: a char device 0/0 named NAME; an opaque dir has trusted.overlay.opaque=y
//   kAufs:    a file .wh.NAME; an opaque dir holds .wh..wh..opq; other .wh..wh.* are aufs meta
//             entries, never user files or changes of their own
#pragma once

#include <string>
#include <vector>

#include "core/result.h"
#include "drivers/archive/archive.h"

namespace strata::drivers {

// Compares `branch` with the merged view of `parents` (diff/ dirs, nearest first), honouring
// whiteouts and opaque directories in the parents as the kernel's union does:
//   - a whiteout of NAME in branch                  -> D NAME
//   - an entry absent from the parents' view        -> A (and everything below it)
//   - an entry present in the parents' view         -> C, except a directory whose mode and
//                                                      mtime are unchanged (copied up only
//                                                      because something below it changed)
//   - in an opaque branch dir, and below it, entries of the parents' view the branch lacks -> D
// Sorted by path. `format` is kOverlay or kAufs. Errors: the failing syscall, naming the path.
Result<std::vector<archive::Change>> UnionChanges(const std::string& branch,
                                                  const std::vector<std::string>& parents,
                                                  archive::WhiteoutFormat format);

}  // namespace strata::drivers
