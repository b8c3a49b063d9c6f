#include "drivers/archive/archive_handles.h"

#include <cerrno>
#include <string>

namespace strata::drivers::archive {

Error ArchiveError(struct archive* a, std::string_view what) {
  int code = archive_errno(a);
  // libarchive reports format errors with EILSEQ on Linux (its private ARCHIVE_ERRNO_FILE_FORMAT)
  // and its own misc errors as -1.
  if (code <= 0 || code == EILSEQ) code = EIO;
  const char* text = archive_error_string(a);
  std::string message(what);
  message += ": ";
  message += text != nullptr ? text : "libarchive error";
  return Error(code, std::move(message));
}

const char* EntryPathname(archive_entry* entry) {
  const char* name = archive_entry_pathname(entry);
  return name != nullptr ? name : "";
}

}  // namespace strata::drivers::archive
