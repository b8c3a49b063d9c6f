#include "drivers/archive/tar_sink.h"

#include <unistd.h>

#include <cerrno>
#include <string>

#include "drivers/archive/entry_name.h"

namespace strata::drivers::archive {
namespace {

// Big writes to the output; the archive itself is not padded to this (bytes_in_last_block = 1).
constexpr int kBytesPerBlock = 64 * 1024;

Status AddFilter(struct archive* a, Compression compression) {
  int r = ARCHIVE_OK;
  switch (compression) {
    case Compression::kNone:
      r = archive_write_add_filter_none(a);
      break;
    case Compression::kGzip:
      r = archive_write_add_filter_gzip(a);
      // The gzip header would carry the current time: same tree, different digest.
      if (r == ARCHIVE_OK) r = archive_write_set_filter_option(a, "gzip", "timestamp", nullptr);
      break;
    case Compression::kZstd:
      r = archive_write_add_filter_zstd(a);
      break;
  }
  if (r != ARCHIVE_OK) return ArchiveError(a, "set up compression");
  return Ok();
}

}  // namespace

TarSink::TarSink(int out_fd) : out_fd_(out_fd) {}

TarSink::~TarSink() {
  if (archive_ && !finished_) (void)archive_write_fail(archive_.get());  // best effort: see header
}

Result<std::unique_ptr<TarSink>> TarSink::Open(int out_fd, Compression compression) {
  std::unique_ptr<TarSink> sink(new TarSink(out_fd));
  sink->archive_.reset(archive_write_new());
  struct archive* a = sink->archive_.get();
  if (a == nullptr) return Error(ENOMEM, "archive_write_new");
  // Full PAX, not "pax restricted": restricted drops sub-second mtimes unless some other field
  // forces an extended header, so a file's mtime precision would depend on whether it has xattrs.
  // xattrs as SCHILY.xattr records only (what docker and Go's archive/tar read); libarchive would
  // also repeat each one as a LIBARCHIVE.xattr record, and its reader then sets it twice.
  if (archive_write_set_format_pax(a) != ARCHIVE_OK ||
      archive_write_set_format_option(a, "pax", "xattrheader", "SCHILY") != ARCHIVE_OK ||
      archive_write_set_bytes_per_block(a, kBytesPerBlock) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK) {
    return ArchiveError(a, "set up layer writer");
  }
  STRATA_TRY(AddFilter(a, compression));
  // `sink` outlives the archive: the archive is its member, freed first in ~TarSink.
  if (archive_write_open(a, sink.get(), nullptr, &TarSink::WriteCallback, nullptr) != ARCHIVE_OK) {
    return ArchiveError(a, "open layer writer");
  }
  return sink;
}

la_ssize_t TarSink::WriteCallback(struct archive* a, void* self, const void* buf, size_t size) {
  auto* sink = static_cast<TarSink*>(self);
  const char* p = static_cast<const char*>(buf);
  for (size_t done = 0; done < size;) {
    ssize_t n = write(sink->out_fd_, p + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      archive_set_error(a, errno, "write layer output");
      return -1;
    }
    done += static_cast<size_t>(n);
  }
  sink->sha256_.Update(buf, size);
  sink->bytes_ += size;
  return static_cast<la_ssize_t>(size);
}

Status TarSink::WriteHeader(archive_entry* entry, std::string_view name) {
  // ARCHIVE_WARN: a name not convertible to UTF-8 in this locale, written as raw bytes (pax
  // hdrcharset=BINARY), which the reader hands back unchanged.
  if (archive_write_header(archive_.get(), entry) < ARCHIVE_WARN) {
    return ArchiveError(archive_.get(), EntryContext(name) + ": write header");
  }
  ++entries_;
  return Ok();
}

Status TarSink::WriteData(const void* buf, size_t size, std::string_view name) {
  if (archive_write_data(archive_.get(), buf, size) < 0) {
    return ArchiveError(archive_.get(), EntryContext(name) + ": write data");
  }
  return Ok();
}

Result<ExportStats> TarSink::Finish() {
  finished_ = true;
  if (archive_write_close(archive_.get()) != ARCHIVE_OK) {
    return ArchiveError(archive_.get(), "finish layer");
  }
  ExportStats stats;
  STRATA_ASSIGN_OR_RETURN(stats.digest, sha256_.Final());
  stats.size_bytes = bytes_;
  stats.entries = entries_;
  return stats;
}

}  // namespace strata::drivers::archive
