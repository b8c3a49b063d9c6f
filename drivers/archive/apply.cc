// ApplyLayerTar: the reader loop. Each entry's name is cleaned and classified here (pure functions
// in entry_name.h); TreeWriter does the filesystem work below the root.
#include <archive.h>
#include <archive_entry.h>

#include <cerrno>
#include <string>

#include "drivers/archive/archive.h"
#include "drivers/archive/archive_handles.h"
#include "drivers/archive/entry_name.h"
#include "drivers/archive/tree_writer.h"

namespace strata::drivers::archive {
namespace {

// An uncompressed tar is served straight from libarchive's read buffer (it hands out pointers into
// it). 64 KiB stays cache-resident; 1 MiB measured no faster and used more user time.
constexpr size_t kReadBlockBytes = 64 * 1024;

Result<ReadArchive> OpenReader(int in_fd) {
  ReadArchive reader(archive_read_new());
  if (!reader) return Error(ENOMEM, "archive_read_new");
  struct archive* a = reader.get();
  // Only what OCI layers use. support_filter_all would also accept formats libarchive decodes by
  // running an external program (lrzip, lzop, grzip, ...), which a layer has no business needing.
  if (archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
      archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
      archive_read_support_format_tar(a) != ARCHIVE_OK ||
      archive_read_support_format_empty(a) != ARCHIVE_OK) {
    return ArchiveError(a, "set up layer reader");
  }
  if (archive_read_open_fd(a, in_fd, kReadBlockBytes) != ARCHIVE_OK) {
    return ArchiveError(a, "open layer");
  }
  return reader;
}

// Applies one entry: whiteouts per `whiteouts`, aufs meta entries skipped, the rest written.
// Returns whether the entry counted (skipped meta entries do not).
Result<bool> ApplyEntry(struct archive* reader, archive_entry* entry, TreeWriter& writer,
                        WhiteoutFormat whiteouts, ApplyStats& stats) {
  const char* raw = EntryPathname(entry);
  STRATA_ASSIGN_OR_RETURN(std::string path, CleanEntryName(raw));
  STRATA_ASSIGN_OR_RETURN(WhiteoutName whiteout, ParseWhiteout(path, raw));
  switch (whiteout.kind) {
    case WhiteoutName::Kind::kAufsMeta:
      return false;
    case WhiteoutName::Kind::kWhiteout:
    case WhiteoutName::Kind::kOpaque:
      if (whiteouts != WhiteoutFormat::kAufs) {
        STRATA_TRY_CTX(writer.ApplyWhiteout(whiteout, entry), EntryContext(raw));
        return true;
      }
      break;  // aufs keeps .wh. files as they are
    case WhiteoutName::Kind::kNone:
      break;
  }
  STRATA_ASSIGN_OR_RETURN_CTX(uint64_t bytes, writer.Write(reader, entry, path), EntryContext(raw));
  stats.size_bytes += bytes;
  return true;
}

}  // namespace

Result<ApplyStats> ApplyLayerTar(int in_fd, const std::string& root, WhiteoutFormat whiteouts) {
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<TreeWriter> writer, TreeWriter::Open(root, whiteouts));
  STRATA_ASSIGN_OR_RETURN(ReadArchive reader, OpenReader(in_fd));
  ApplyStats stats;
  std::string last = "(none)";
  for (;;) {
    archive_entry* entry = nullptr;  // owned by the reader, valid until the next header
    int r = archive_read_next_header(reader.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    // ARCHIVE_WARN is a name libarchive could not convert to the locale's charset: the raw bytes
    // are still there and are what we want.
    if (r < ARCHIVE_WARN) {
      return ArchiveError(reader.get(), "read header after entry \"" + last + "\"");
    }
    last = EntryPathname(entry);
    STRATA_ASSIGN_OR_RETURN(bool counted,
                            ApplyEntry(reader.get(), entry, *writer, whiteouts, stats));
    if (counted) ++stats.entries;
  }
  STRATA_TRY(writer->Finish());
  if (archive_read_close(reader.get()) != ARCHIVE_OK) {
    return ArchiveError(reader.get(), "close layer");
  }
  return stats;
}

}  // namespace strata::drivers::archive
