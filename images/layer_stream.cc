#include "images/layer_stream.h"

#include <archive.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "core/digest.h"
#include "core/unique_fd.h"
#include "drivers/archive/archive_handles.h"

namespace strata::images {
namespace {

using drivers::archive::ArchiveError;
using drivers::archive::Compression;
using drivers::archive::ReadArchive;

// Blob reads. Large, so a 50 MB layer is ~50 read syscalls; libarchive decompresses straight out
// of this buffer, and an uncompressed blob is passed to the pipe from it without a copy.
constexpr size_t kBlobReadBytes = 1 << 20;
// The pipe to `consume`: 1 MiB lets the worker run ahead of the tar reader by a whole read.
constexpr int kPipeBytes = 1 << 20;

Status WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno("write");
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Ok();
}

Compression CompressionOf(int filter_code) {
  switch (filter_code) {
    case ARCHIVE_FILTER_GZIP:
      return Compression::kGzip;
    case ARCHIVE_FILTER_ZSTD:
      return Compression::kZstd;
    default:
      return Compression::kNone;  // only gzip and zstd are enabled below
  }
}

// The worker's half. Constructed on the caller's thread, Run() on the worker thread; the caller
// reads the results only after joining it. `cancel` is the only state shared while it runs.
class Worker {
 public:
  Worker(int blob_fd, const LayerStreamOptions& options, UniqueFd pipe_write,
         const std::atomic<bool>& cancel)
      : blob_fd_(blob_fd),
        options_(options),
        out_(std::move(pipe_write)),
        cancel_(cancel),
        buffer_(kBlobReadBytes) {}

  // Streams the whole blob; closes the pipe's write end before returning, on every path.
  Status Run() {
    Status status = Stream();
    out_.Reset();  // `consume` sees EOF now, even if `status` is an error
    return status;
  }

  // Valid after a successful Run().
  Result<LayerStreamResult> Finish() {
    LayerStreamResult result;
    STRATA_ASSIGN_OR_RETURN(result.digest, blob_sha_.Final());
    result.size = size_;
    result.compression = compression_;
    result.diff_size = diff_size_;
    if (compression_ == Compression::kNone) {
      result.diff_id = result.digest;  // the same bytes: hashed once (see Emit)
    } else {
      STRATA_ASSIGN_OR_RETURN(result.diff_id, diff_sha_.Final());
    }
    return result;
  }

  // True when Run() failed because the caller asked it to stop (`consume` failed).
  bool cancelled() const { return cancelled_; }

 private:
  Status Stream();
  Status Decompress(struct archive* a);
  Result<size_t> ReadSome();
  Status Emit(const void* data, size_t size);
  Error Cancelled();
  Error ReaderError(struct archive* a);
  Error ExplainCorruption(Error decompress_error);
  static la_ssize_t ReadCallback(struct archive* a, void* self, const void** buffer);

  const int blob_fd_;
  const LayerStreamOptions& options_;
  UniqueFd out_;  // the pipe's write end; reset on EPIPE (drain mode) and when Run returns
  const std::atomic<bool>& cancel_;
  std::vector<char> buffer_;  // libarchive reads from it until the next ReadCallback
  Sha256 blob_sha_;
  // The uncompressed hash runs beside the worker: decompression keeps this thread busy.
  BackgroundSha256 diff_sha_;
  uint64_t size_ = 0;
  uint64_t diff_size_ = 0;
  Compression compression_ = Compression::kNone;
  bool cancelled_ = false;
  std::optional<Error> read_error_;  // why ReadCallback failed: more precise than libarchive's
};

Error Worker::Cancelled() {
  cancelled_ = true;
  return Error(ECANCELED, options_.what + ": stopped: the consumer failed");
}

Error Worker::ReaderError(struct archive* a) {
  if (read_error_) return *std::move(read_error_);
  return ArchiveError(a, options_.what + ": decompress");
}

// Reads the next piece of the blob into buffer_: hashes it, copies it, counts it. 0 at EOF.
Result<size_t> Worker::ReadSome() {
  if (cancel_.load(std::memory_order_relaxed)) return Cancelled();
  ssize_t n;
  do {
    n = ::read(blob_fd_, buffer_.data(), buffer_.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Error::FromErrno(options_.what + ": read");
  size_ += static_cast<uint64_t>(n);
  if (options_.expected_size >= 0 && size_ > static_cast<uint64_t>(options_.expected_size)) {
    return Error(EIO, options_.what + ": size > " + std::to_string(options_.expected_size) +
                          " in the descriptor (stopped after " + std::to_string(size_) + " bytes)");
  }
  blob_sha_.Update(buffer_.data(), static_cast<size_t>(n));
  if (options_.copy_fd >= 0) {
    STRATA_TRY_CTX(WriteAll(options_.copy_fd, buffer_.data(), static_cast<size_t>(n)),
                   options_.what + ": copy");
  }
  if (options_.bytes_read != nullptr) {
    options_.bytes_read->fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
  }
  return static_cast<size_t>(n);
}

la_ssize_t Worker::ReadCallback(struct archive* a, void* self, const void** buffer) {
  auto* worker = static_cast<Worker*>(self);
  Result<size_t> n = worker->ReadSome();
  if (!n.ok()) {
    worker->read_error_ = std::move(n).error();
    archive_set_error(a, worker->read_error_->code(), "%s", worker->read_error_->message().c_str());
    return ARCHIVE_FATAL;
  }
  *buffer = worker->buffer_.data();
  return static_cast<la_ssize_t>(*n);
}

// Hands uncompressed bytes to `consume`. Once the read end is closed (EPIPE: `consume` returned),
// keeps hashing and discards: the diff id covers the whole stream.
Status Worker::Emit(const void* data, size_t size) {
  diff_size_ += size;
  // A plain blob is its own uncompressed stream: blob_sha_ has these bytes already.
  if (compression_ != Compression::kNone) diff_sha_.Update(data, size);
  const char* p = static_cast<const char*>(data);
  while (out_ && size > 0) {
    ssize_t n = ::write(out_.Get(), p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EPIPE) {
      out_.Reset();  // drain mode; the SIGPIPE raised with it is blocked in this thread
      break;
    }
    if (n < 0) return Error::FromErrno(options_.what + ": write the uncompressed stream");
    p += n;
    size -= static_cast<size_t>(n);
  }
  return Ok();
}

Status Worker::Decompress(struct archive* a) {
  archive_entry* entry = nullptr;  // the raw format's one pseudo-entry, owned by `a`
  int r = archive_read_next_header(a, &entry);
  compression_ = CompressionOf(archive_filter_code(a, 0));  // chosen when `a` was opened
  if (r == ARCHIVE_EOF) return Ok();  // the "empty" format: no bytes after decompression
  if (r != ARCHIVE_OK) return ReaderError(a);
  for (;;) {
    if (cancel_.load(std::memory_order_relaxed)) return Cancelled();
    const void* block = nullptr;  // points into libarchive's (or, plain, our) buffer
    size_t size = 0;
    la_int64_t offset = 0;  // contiguous for the raw format
    r = archive_read_data_block(a, &block, &size, &offset);
    if (r == ARCHIVE_EOF) return Ok();
    if (r != ARCHIVE_OK) return ReaderError(a);
    STRATA_TRY(Emit(block, size));
  }
}

Status Worker::Stream() {
  // A write to the pipe after `consume` closed its end raises SIGPIPE at this thread; blocked, it
  // stays pending and is discarded when the thread exits, and the write fails with EPIPE.
  sigset_t pipe_signal;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  if (int err = pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr); err != 0) {
    return Error::FromErrno(err, options_.what + ": block SIGPIPE");
  }
  (void)::posix_fadvise(blob_fd_, 0, 0, POSIX_FADV_SEQUENTIAL);  // best effort: a hint
  ReadArchive reader(archive_read_new());
  if (!reader) return Error(ENOMEM, options_.what + ": archive_read_new");
  struct archive* a = reader.get();
  // The filters ApplyLayerTar accepts. Raw hands out the decompressed bytes; "empty" accepts a
  // stream with none (raw does not bid on it).
  if (archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
      archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
      archive_read_support_format_raw(a) != ARCHIVE_OK ||
      archive_read_support_format_empty(a) != ARCHIVE_OK) {
    return ArchiveError(a, options_.what + ": set up the decompressor");
  }
  // Opening reads the first block to detect the compression.
  if (archive_read_open(a, this, nullptr, &Worker::ReadCallback, nullptr) != ARCHIVE_OK) {
    return ExplainCorruption(ReaderError(a));
  }
  Status decompressed = Decompress(a);
  if (!decompressed.ok()) return ExplainCorruption(std::move(decompressed).error());
  // The compressed stream ended; whatever follows it is part of the blob and its digest.
  for (;;) {
    STRATA_ASSIGN_OR_RETURN(size_t n, ReadSome());
    if (n == 0) return Ok();
  }
}

// A blob that does not decompress is most often a damaged or substituted one. When its digest
// is known, the rest of it is read so the error can say that (the root cause) rather than only
// what zlib or zstd tripped over.
Error Worker::ExplainCorruption(Error decompress_error) {
  if (cancelled_ || read_error_ || options_.expected_digest.empty()) return decompress_error;
  out_.Reset();  // `consume` sees EOF now
  for (;;) {
    Result<size_t> n = ReadSome();
    if (!n.ok()) return decompress_error;
    if (*n == 0) break;
  }
  Result<std::string> digest = blob_sha_.Final();
  if (!digest.ok() || *digest == options_.expected_digest) return decompress_error;
  return Error(EIO, options_.what + ": digest mismatch: computed " + *digest +
                        ", the descriptor has " + options_.expected_digest +
                        " (and it does not decompress: " + decompress_error.message() + ")");
}

// The pipe to `consume`. Its 64 KiB default means a context switch per 64 KiB; a bigger one may
// be refused (pipe-max-size, pipe-user-pages-soft) and the default still works.
Result<std::pair<UniqueFd, UniqueFd>> MakePipe(const std::string& what) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Error::FromErrno(what + ": pipe");
  std::pair<UniqueFd, UniqueFd> ends{UniqueFd(fds[0]), UniqueFd(fds[1])};
  (void)::fcntl(fds[1], F_SETPIPE_SZ, kPipeBytes);  // best effort: see above
  return ends;
}

// The checks of a completely read stream against the options.
Status Verify(const LayerStreamResult& r, const LayerStreamOptions& options) {
  if (options.expected_size >= 0 && r.size != static_cast<uint64_t>(options.expected_size)) {
    return Error(EIO, options.what + ": size " + std::to_string(r.size) +
                          " != " + std::to_string(options.expected_size) + " in the descriptor");
  }
  if (!options.expected_digest.empty() && r.digest != options.expected_digest) {
    return Error(EIO, options.what + ": digest mismatch: computed " + r.digest +
                          ", the descriptor has " + options.expected_digest);
  }
  if (!options.expected_diff_id.empty() && r.diff_id != options.expected_diff_id) {
    return Error(EIO, options.what + ": uncompressed digest " + r.diff_id +
                          " does not match the config's diff id " + options.expected_diff_id);
  }
  return Ok();
}

}  // namespace

Result<LayerStreamResult> StreamLayer(int blob_fd, const LayerStreamOptions& options,
                                      const std::function<Status(int tar_fd)>& consume) {
  STRATA_ASSIGN_OR_RETURN(auto ends, MakePipe(options.what));
  UniqueFd read_end = std::move(ends.first);
  std::atomic<bool> cancel{false};
  std::optional<Worker> worker;  // outlives the thread: the guard below joins it first
  Status streamed;
  Status consumed;
  {
    std::thread thread;
    bool consume_ok = false;
    // On every path: stop the worker unless `consume` succeeded, close the read end (a worker
    // blocked writing the pipe gets EPIPE: it stops, or drains to EOF), join.
    auto join = MakeGuard([&] {
      if (!consume_ok) cancel.store(true, std::memory_order_relaxed);
      read_end.Reset();
      if (thread.joinable()) thread.join();
    });
    try {  // both start a thread: std::system_error is the only exception here
      worker.emplace(blob_fd, options, std::move(ends.second), cancel);  // owns the write end
      thread = std::thread([&] { streamed = worker->Run(); });
    } catch (const std::system_error& e) {
      return Error(e.code().value(), options.what + ": start the stream thread: " + e.what());
    }
    consumed = consume(read_end.Get());
    consume_ok = consumed.ok();
  }
  // Joined: the worker's results are ours to read. Its own failure is the root cause of what
  // `consume` saw; a cancellation only echoes `consume`'s failure.
  if (!streamed.ok() && !worker->cancelled()) return std::move(streamed).error();
  if (streamed.ok()) {
    STRATA_ASSIGN_OR_RETURN(LayerStreamResult result, worker->Finish());
    // A mismatch explains a tar `consume` could not read, so it comes first.
    STRATA_TRY(Verify(result, options));
    if (!consumed.ok()) return std::move(consumed).error();
    return result;
  }
  return std::move(consumed).error();
}

}  // namespace strata::images
