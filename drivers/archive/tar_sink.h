// TarSink: a PAX layer-tar writer over an output fd that hashes exactly the bytes it writes.
// Internal to drivers/archive (ExportTree, ExportChanges).
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <cstdint>
#include <memory>
#include <string_view>

#include "core/digest.h"
#include "core/result.h"
#include "core/unique_fd.h"
#include "drivers/archive/archive.h"
#include "drivers/archive/archive_handles.h"

namespace strata::drivers::archive {

class TarSink {
 public:
  // Starts a PAX tar on `out_fd` (borrowed; never closed) through `compression`. The output is
  // deterministic: no gzip timestamp, no padding past the end-of-archive blocks.
  static Result<std::unique_ptr<TarSink>> Open(int out_fd, Compression compression);
  TarSink(const TarSink&) = delete;
  TarSink& operator=(const TarSink&) = delete;
  // An unfinished sink writes nothing more (no end-of-archive blocks after an error).
  ~TarSink();

  // Writes a header; `name` is for errors.
  Status WriteHeader(archive_entry* entry, std::string_view name);
  // Writes content of the current entry (for a sparse entry, the whole logical range: libarchive
  // drops the bytes that fall in holes).
  Status WriteData(const void* buf, size_t size, std::string_view name);
  // Writes the end of the archive, flushes the compressor and returns what was written.
  Result<ExportStats> Finish();

 private:
  TarSink(int out_fd);
  static la_ssize_t WriteCallback(struct archive* a, void* self, const void* buf, size_t size);

  // Declared before archive_ so it outlives it: freeing an archive may still flush through
  // WriteCallback.
  BackgroundSha256 sha256_;  // hashes on its own thread, overlapping the writes
  WriteArchive archive_;
  int out_fd_;
  uint64_t bytes_ = 0;
  uint64_t entries_ = 0;
  bool finished_ = false;
};

}  // namespace strata::drivers::archive
