// Directory-tree helpers for the directory-backed drivers (vfs, overlay): a faithful tree copy,
// a fast recursive delete, atomic small-file writes, and crash leftovers GC.
//
// These use plain libc (openat/unlinkat/copy_file_range/xattrs); no policy beyond what each
// contract says. Not thread-safe with respect to concurrent writers of the same tree.
#pragma once

#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/random_id.h"
#include "core/read_file.h"
#include "core/result.h"
#include "core/write_file.h"

namespace strata::drivers::fs {

struct CopyStats {
  uint64_t entries = 0;
  uint64_t bytes = 0;  // bytes of regular-file data copied (holes excluded)
};

// Copies the tree at `src` to `dst` (which must not exist), preserving file types, modes, owners,
// nanosecond times, xattrs (including trusted.* and security.*), hardlinks within the tree,
// symlinks, device nodes, fifos, sockets and holes in sparse files. Regular files are cloned with
// FICLONE where the filesystem supports reflinks, else copied extent by extent (SEEK_DATA /
// SEEK_HOLE + copy_file_range, which the kernel also turns into a reflink on xfs/btrfs since 5.3).
// Does not cross into other mounts below `src`: EXDEV. On error `dst` may be partly written; the
// caller removes it.
Result<CopyStats> CopyTree(const std::string& src, const std::string& dst);

// Removes `path` and everything below it without following symlinks, by openat/unlinkat (no path
// re-resolution per entry). A missing `path` is success (idempotent).
Status RemoveTree(const std::string& path);

// Atomic whole-file writes (core/write_file.h).
using ::strata::WriteFileAtomic;

// Reads a small file whole. ENOENT when missing (core/read_file.h).
using ::strata::ReadFile;

// `n` random lowercase hex characters, for temp names (core/random_id.h).
using ::strata::RandomHex;

// Apparent size of the files under `dir` (st_size of every non-directory, each hardlinked inode
// once), as `du --apparent-size` would sum them.
Result<uint64_t> DirectorySize(const std::string& dir);

// The names in `dir`, without "." and "..", in readdir order. Errors name the dir.
Result<std::vector<std::string>> ListNames(const std::string& dir);

// lstat that maps "missing" to false (ENOENT, and ENOTDIR: a parent is not a directory).
Result<bool> Lstat(const std::string& path, struct stat& st);

// True when `path` is a directory holding at least one entry. Missing: false.
bool IsNonEmptyDir(const std::string& path);

// Creates `path` with `mode` (not its parents); an existing directory is success.
Status MakeDir(const std::string& path, unsigned mode);

// The driver's private names. Layer ids never start with '.', '_' or '-' (ValidateLayerId; the
// LayerStore accepts [a-zA-Z0-9][a-zA-Z0-9_.-]*), so these can never collide with a layer.
using ::strata::kTempPrefix;  // core/write_file.h: WriteFileAtomic's temp files use it too
inline constexpr std::string_view kRemovingPrefix = ".removing-";

// Deletes crash leftovers directly under `dir`: entries named ".removing-*" (a Remove was
// interrupted; always safe, nothing else uses the name) and ".tmp-*" (an interrupted Create or
// atomic write) whose ctime is older than `min_age` (younger ones may belong to a Create running
// in another process right now). Best effort: returns how many were removed.
size_t CollectLeftovers(const std::string& dir, std::chrono::seconds min_age);

// A temp sibling name for something being created: ".tmp-<name>-<12 hex>" (core/write_file.h).
using ::strata::TempName;
// The name a layer is renamed to before deletion: ".removing-<id>".
std::string RemovingName(const std::string& id);

// Layer ids become directory names: non-empty, at most 200 bytes, no '/' or NUL, not "." or
// "..", and not starting with '.', '_' or '-' (the driver's private names). EINVAL otherwise.
Status ValidateLayerId(const std::string& id);

}  // namespace strata::drivers::fs
