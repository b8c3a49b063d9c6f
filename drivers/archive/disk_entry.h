// Reading objects from disk as archive entries, for ExportTree and ExportChanges, and their xattrs,
// for TreeChanges. Internal to drivers/archive.
//
// Why not archive_read_disk_entry_from_file: on Linux it maps sparse files with
// FIEMAP_FLAG_SYNC, which forces writeback of every file it looks at (a container's upper dir is
// mostly dirty page cache), and it reports POSIX ACLs as SCHILY.acl text that only libarchive
// restores. Here sparse files are found with SEEK_DATA/SEEK_HOLE, only for files whose allocated
// blocks are fewer than their size (GNU tar's test), and ACLs travel as the
// system.posix_acl_access/default xattrs, as docker writes them.
#pragma once

#include <sys/stat.h>

#include <map>
#include <string>
#include <string_view>

#include "core/result.h"
#include "core/unique_fd.h"
#include "drivers/archive/archive_handles.h"
#include "drivers/archive/tar_sink.h"

namespace strata::drivers::archive {

using Xattrs = std::map<std::string, std::string>;  // name -> value, sorted by name

// One object under an exported tree.
struct DiskObject {
  Entry entry;  // pathname `rel`, stat fields, symlink target, xattrs (sorted), sparse map;
                // no atime/ctime (they change on every read and would change the digest)
  UniqueFd fd;  // open for reading: regular files and directories; invalid otherwise
  struct stat st;
  Xattrs xattrs;  // every xattr, overlay's included (the entry's exclude IsOverlayXattr ones)
};

// Loads `name` in `dir_fd` as the entry `rel`, never following a final symlink. Sockets are
// EOPNOTSUPP (a tar cannot hold them; callers skip them).
Result<DiskObject> LoadDiskObject(int dir_fd, const std::string& name, const std::string& rel);

// The xattrs of `name` in `dir_fd`: through `fd` when valid, else without following a final
// symlink.
Result<Xattrs> ReadXattrs(int fd, int dir_fd, const std::string& name);

// Writes a regular file's content for `entry` from `fd`: the whole logical range, holes included
// (TarSink drops the bytes in holes of a sparse entry). EIO if the file shrank meanwhile.
// `buffer` is scratch space of kCopyBufferBytes, reused across files.
inline constexpr size_t kCopyBufferBytes = 256 * 1024;
Status CopyContent(TarSink& sink, archive_entry* entry, int fd, char* buffer);

// A fresh entry for an empty regular file `rel` (a whiteout or opaque marker) with mode 0600 and
// the owner and mtime of `like`.
Entry MarkerEntry(const std::string& rel, const struct stat& like);

}  // namespace strata::drivers::archive
