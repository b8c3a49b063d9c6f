// Streaming a layer blob into a layer in one pass, verifying it on the way (`strata image load`).
//
// A worker thread reads the blob (a tar, plain or gzip- or zstd-compressed), hashes the bytes as
// stored, optionally copies them to a content-store file, decompresses them (libarchive), hashes
// the uncompressed tar and writes it into a pipe; the caller's thread runs `consume` on the pipe's
// read end (ApplyLayerTar in practice). Two threads for two cores: decompression and hashing
// overlap the filesystem work of the apply.
//
// The digests always cover everything: the blob is read to EOF and the uncompressed stream to its
// end even when `consume` stops early (a tar reader stops at the end-of-archive blocks; trailing
// padding still counts toward the diff id).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "core/result.h"
#include "drivers/archive/archive.h"

namespace strata::images {

// Every member has an initializer, so designated initializers may name only what they set.
struct LayerStreamOptions {
  std::string expected_digest{};   // "sha256:<hex>" of the blob bytes; "" = not checked
  int64_t expected_size = -1;      // blob size in bytes; -1 = not checked
  std::string expected_diff_id{};  // "sha256:<hex>" of the uncompressed tar; "" = not checked
  // When >= 0, the blob's bytes are written here as they are read (not owned; not synced).
  int copy_fd = -1;
  // When set, advanced (relaxed, from the worker thread) by the blob bytes read: progress.
  std::atomic<uint64_t>* bytes_read = nullptr;
  std::string what{};  // names the blob in errors, e.g. "layer 2/3 sha256:ab12..."
};

struct LayerStreamResult {
  std::string digest;      // computed "sha256:<hex>" of the blob bytes
  uint64_t size = 0;       // blob bytes
  std::string diff_id;     // computed "sha256:<hex>" of the uncompressed stream
  uint64_t diff_size = 0;  // uncompressed bytes
  drivers::archive::Compression compression = drivers::archive::Compression::kNone;  // detected
};

// Streams `blob_fd` (read from its current offset to EOF; not owned) through the checks above
// into `consume`, which gets the read end of a pipe carrying the uncompressed bytes. `consume`
// runs on the calling thread, must not close the fd, and may stop reading at any point.
//
// Compression is detected from the bytes: gzip, zstd, else plain (as ApplyLayerTar does).
// Errors, the first that applies:
//   - the worker's own failure: a read or copy error (its errno), corrupt or truncated compressed
//     data (EIO), the blob growing past expected_size (EIO, stops reading at once). The write end
//     of the pipe is closed at once, so `consume` sees EOF; the worker's error wins over the
//     truncated-tar error that `consume` then reports.
//   - when the whole stream was read: EIO "<what>: size N != M in the descriptor",
//     "<what>: digest mismatch: computed sha256:...", "<what>: uncompressed digest sha256:...
//     does not match the config's diff id sha256:...". Reported even when `consume` succeeded:
//     the caller rolls the layer back.
//   - `consume`'s error, as returned. The worker is told to stop and the read end is closed, so
//     it stops within a buffer or two instead of reading the rest of the blob.
// The worker is joined on every path. It runs with SIGPIPE blocked, so a `consume` that stops
// early never kills the process. If `blob_fd` is a pipe or socket whose writer stalls, a failing
// `consume` waits for the worker's read in progress.
Result<LayerStreamResult> StreamLayer(int blob_fd, const LayerStreamOptions& options,
                                      const std::function<Status(int tar_fd)>& consume);

}  // namespace strata::images
