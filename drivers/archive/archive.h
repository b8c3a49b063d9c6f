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
//   Errors: EPERM  absolute name or ".." (entry or hardlink target), whiteout of "." or "..";
//           EXDEV  a path through a symlink on disk (`evil -> /etc` then `evil/x`, or a symlink
//                  swapped in for a directory mid-archive);
//           EIO / EINVAL  truncated or corrupt input, naming the last entry read;
//           otherwise the failing syscall's errno, wrapped as `entry "NAME": ...`.
//   Also: the root entry ("./") is counted but its metadata is not applied (as in docker);
//   trusted.overlay.* and user.overlay.* xattrs in the archive are dropped (they would steer
//   overlayfs); xattrs the filesystem does not support (EOPNOTSUPP) are skipped, as docker does.
//   Entries owned by someone else, devices and trusted.* xattrs need root (CAP_CHOWN, CAP_MKNOD,
//   CAP_SYS_ADMIN). ApplyStats.entries counts whiteouts but not skipped aufs meta entries.
//   Safety holds against the archive, not against another process rewriting `root` meanwhile.
Result<ApplyStats> ApplyLayerTar(int in_fd, const std::string& root, WhiteoutFormat whiteouts);

// Native diff: exports every entry under `root` (an overlay upper dir or an aufs branch) as a
// layer tar, converting `format` whiteouts and opaque markers to .wh. entries.
//   Output: PAX (interchange, not "restricted": sub-second mtimes are kept for every entry),
//   names relative without "./", depth first in byte order of names, so the same tree gives the
//   same bytes and digest. No atime/ctime/uname/gname; xattrs as SCHILY.xattr records, POSIX ACLs
//   among them as system.posix_acl_* (docker's form); hardlinks as link entries to the first path;
//   sparse files with holes; sockets skipped. kOverlay: char device 0/0 -> empty `.wh.NAME`, mode
//   0600, the device's owner and mtime; trusted.overlay.opaque=y -> the directory, then
//   `DIR/.wh..wh..opq`; no trusted.overlay.* / user.overlay.* xattr is ever written. aufs meta
//   entries are skipped in every format.
Result<ExportStats> ExportTree(const std::string& root, WhiteoutFormat format, int out_fd,
                               Compression compression);

// Naive diff: exports `changes` of the full tree `root`; adds and modifies are read from `root`
// (with their parent directories), deletes become .wh. entries.
//   Changes are written in path order; each parent directory is written once, before its first
//   child. A deleted directory is one `.wh.NAME` entry; a whiteout takes its parent's owner and
//   mtime. Same output format as ExportTree. EPERM for a change path outside `root`.
Result<ExportStats> ExportChanges(const std::string& root, const std::vector<Change>& changes,
                                  int out_fd, Compression compression);

// Compares two full trees: what `layer_root` adds, modifies and deletes against `parent_root`
// (empty string: against nothing). Sorted by path.
//   'C' when type, permissions, owner, mtime (ns), xattrs, rdev, symlink target, or (not for
//   directories) size differ. A regular file's content is not read: same size and mtime means
//   unchanged. A directory is 'C' only for its own metadata (its mtime moves when entries are
//   added or removed). Everything below an added directory is 'A'; a deleted directory is one
//   'D'. The root itself is never reported.
Result<std::vector<Change>> TreeChanges(const std::string& layer_root,
                                        const std::string& parent_root);

}  // namespace strata::drivers::archive
