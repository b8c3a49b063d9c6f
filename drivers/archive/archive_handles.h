// Owning handles for libarchive objects and the conversion of libarchive errors to strata Errors.
// Internal to drivers/archive.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <string_view>

#include "core/result.h"
#include "core/unique_fd.h"

namespace strata::drivers::archive {

using ReadArchive = CPtr<struct archive, archive_read_free>;
using WriteArchive = CPtr<struct archive, archive_write_free>;
using Entry = CPtr<archive_entry, archive_entry_free>;
using LinkResolver = CPtr<archive_entry_linkresolver, archive_entry_linkresolver_free>;

// "<what>: <libarchive's message>" with an errno callers can branch on: libarchive's own errno when
// it is a real one (ENOMEM, EIO from the fd, ...), EIO for format errors (truncated or corrupt
// input) and libarchive's internal "misc" errors.
Error ArchiveError(struct archive* a, std::string_view what);

// Entry pathname as stored (raw bytes: in the C locale libarchive passes UTF-8 names through and
// only warns). Never null.
const char* EntryPathname(archive_entry* entry);

}  // namespace strata::drivers::archive
