// Layer archives: OCI layer tars (plain, gzip, zstd) applied to and exported from directories.
// Built on libarchive. See FIELD-GUIDE §3.7 for the whiteout rules.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace strata::drivers::archive {

// How whiteouts are stored in a layer directory.
enum class WhiteoutFormat {
  kOverlay,  // char device 0/0 named NAME; opaque dir has trusted.overlay.opaque=y
  kDelete,   // full-copy trees (vfs, devicemapper): whited-out paths are removed on apply
  kAufs,     // kept as .wh.NAME files, as aufs stores them; aufs meta files are skipped
};

enum class Compression { kNone, kGzip, kZstd };

// A change of a layer against its parent. `path` is relative to the layer root, no leading '/'.
struct Change {
  enum class Kind { kAdd, kModify, kDelete };
  std::string path;
  Kind kind;
};
char ChangeKindLetter(Change::Kind kind);  // 'A', 'C', 'D' as `docker diff` prints

struct ApplyStats {
  uint64_t entries = 0;
  uint64_t size_bytes = 0;  // bytes of regular-file content written
};

struct ExportStats {
  std::string digest;       // "sha256:<hex>" of the bytes written to the output
  uint64_t size_bytes = 0;  // bytes written to the output
  uint64_t entries = 0;
};

}  // namespace strata::drivers::archive

namespace strata::drivers::archive {

// Applies the layer tar read from `in_fd` (plain, gzip or zstd, detected from the bytes) to the
// directory `root`, storing whiteouts as `whiteouts` says. Preserves modes, owners, mtimes,
// xattrs, hardlinks, symlinks, device nodes, fifos and sparse files. No entry may write outside
// `root`: `..`, absolute names, and hardlink/symlink escapes are rejected with an error naming the
// entry (EPERM/EXDEV). On error the tree may hold part of the archive: callers that need
// all-or-nothing apply into a fresh layer and remove it on failure.
Result<ApplyStats> ApplyLayerTar(int in_fd, const std::string& root, WhiteoutFormat whiteouts);

// Native diff: exports every entry under `root` (an overlay upper dir or an aufs branch) as a
// layer tar, converting `format` whiteouts and opaque markers to .wh. entries.
Result<ExportStats> ExportTree(const std::string& root, WhiteoutFormat format, int out_fd,
                               Compression compression);

// Naive diff: exports `changes` of the full tree `root`; adds and modifies are read from `root`
// (with their parent directories), deletes become .wh. entries.
Result<ExportStats> ExportChanges(const std::string& root, const std::vector<Change>& changes,
                                  int out_fd, Compression compression);

// Compares two full trees: what `layer_root` adds, modifies and deletes against `parent_root`
// (empty string: against nothing). Sorted by path.
Result<std::vector<Change>> TreeChanges(const std::string& layer_root,
                                        const std::string& parent_root);

}  // namespace strata::drivers::archive
