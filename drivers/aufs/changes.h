// Native aufs diff reading: what a layer's diff/ (an aufs branch, whiteouts as .wh. files)
// changes against the merged view of its parents' branches, without mounting anything.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "drivers/archive/archive.h"

namespace strata::drivers::aufs {

inline constexpr std::string_view kWhiteoutPrefix = ".wh.";
inline constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
// aufs meta entries (.wh..wh.aufs, .wh..wh.plnk/, .wh..wh.orph/, and the opaque marker): never
// user files, never changes of their own.
inline constexpr std::string_view kMetaPrefix = ".wh..wh.";

// Compares `branch` (a diff/ dir in aufs whiteout format) with the merged view of `parents`
// (diff/ dirs, nearest first), honouring whiteouts and opaque directories in the parents as aufs
// does:
//   - `.wh.NAME` in branch                          -> D NAME
//   - an entry absent from the parents' view        -> A (and everything below it)
//   - an entry present in the parents' view         -> C, except a directory whose mode and
//                                                      mtime are unchanged
//   - in an opaque branch dir (holding .wh..wh..opq), and below it, entries of the parents'
//     view the branch lacks                         -> D
// Sorted by path. Errors: the failing syscall, naming the path.
Result<std::vector<archive::Change>> AufsChanges(const std::string& branch,
                                                 const std::vector<std::string>& parents);

}  // namespace strata::drivers::aufs
