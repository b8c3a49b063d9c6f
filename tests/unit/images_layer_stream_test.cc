#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <map>
#include <string>
#include <thread>

#include "core/digest.h"
#include "core/unique_fd.h"
#include "images/layer_stream.h"

namespace strata::images {
namespace {

using drivers::archive::Compression;

using Files = std::map<std::string, std::string>;

std::string ShaOf(const std::string& bytes) {
  Sha256 sha;
  sha.Update(bytes.data(), bytes.size());
  return *sha.Final();
}

la_ssize_t AppendCallback(struct archive*, void* out, const void* data, size_t size) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(data), size);
  return static_cast<la_ssize_t>(size);
}

// A pax tar of `files`, padded to `block_bytes` (the padding follows the end-of-archive blocks).
std::string MakeTar(const Files& files, int block_bytes = 10240) {
  std::string out;
  struct archive* a = archive_write_new();
  EXPECT_EQ(archive_write_set_format_pax(a), ARCHIVE_OK);
  EXPECT_EQ(archive_write_set_bytes_per_block(a, block_bytes), ARCHIVE_OK);
  EXPECT_EQ(archive_write_open(a, &out, nullptr, AppendCallback, nullptr), ARCHIVE_OK);
  for (const auto& [name, content] : files) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, name.c_str());
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0644);
    archive_entry_set_size(entry, static_cast<la_int64_t>(content.size()));
    EXPECT_EQ(archive_write_header(a, entry), ARCHIVE_OK);
    EXPECT_EQ(archive_write_data(a, content.data(), content.size()),
              static_cast<la_ssize_t>(content.size()));
    archive_entry_free(entry);
  }
  EXPECT_EQ(archive_write_close(a), ARCHIVE_OK);
  archive_write_free(a);
  return out;
}

// `bytes` compressed as one gzip member or zstd frame, nothing after it.
std::string Compress(const std::string& bytes, Compression compression) {
  if (compression == Compression::kNone) return bytes;
  std::string out;
  struct archive* a = archive_write_new();
  EXPECT_EQ(archive_write_set_format_raw(a), ARCHIVE_OK);
  if (compression == Compression::kGzip) {
    EXPECT_EQ(archive_write_add_filter_gzip(a), ARCHIVE_OK);
  } else {
    EXPECT_EQ(archive_write_add_filter_zstd(a), ARCHIVE_OK);
  }
  EXPECT_EQ(archive_write_set_bytes_in_last_block(a, 1), ARCHIVE_OK);  // no zero padding
  EXPECT_EQ(archive_write_open(a, &out, nullptr, AppendCallback, nullptr), ARCHIVE_OK);
  archive_entry* entry = archive_entry_new();
  archive_entry_set_pathname(entry, "data");
  archive_entry_set_filetype(entry, AE_IFREG);
  EXPECT_EQ(archive_write_header(a, entry), ARCHIVE_OK);
  EXPECT_EQ(archive_write_data(a, bytes.data(), bytes.size()),
            static_cast<la_ssize_t>(bytes.size()));
  archive_entry_free(entry);
  EXPECT_EQ(archive_write_close(a), ARCHIVE_OK);
  archive_write_free(a);
  return out;
}

std::string Pattern(size_t size) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 131) ^ (i >> 9));
  return s;
}

const Files& SampleFiles() {
  static const Files files = {{"a.txt", "hello\n"}, {"big.bin", Pattern(3 << 20)}, {"empty", ""}};
  return files;
}

// An in-memory file holding `bytes`, positioned at 0 (or `sparse_bytes` of zeros).
UniqueFd BlobFd(const std::string& bytes, off_t sparse_bytes = 0) {
  UniqueFd fd(memfd_create("blob", MFD_CLOEXEC));
  EXPECT_TRUE(fd.valid());
  EXPECT_EQ(::write(fd.Get(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  if (sparse_bytes > 0) {
    EXPECT_EQ(::ftruncate(fd.Get(), sparse_bytes), 0);
  }
  EXPECT_EQ(::lseek(fd.Get(), 0, SEEK_SET), 0);
  return fd;
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

// A consumer that reads everything and succeeds.
Status Drain(int fd) {
  (void)ReadAll(fd);  // the bytes are checked through the digests
  return Ok();
}

// A consumer that reads the stream as a tar (libarchive stops at the end-of-archive blocks).
Status ReadTar(int fd, Files* files) {
  struct archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  Status status;
  if (archive_read_open_fd(a, fd, 10240) != ARCHIVE_OK) {
    status = Error(EINVAL, std::string("consumer: ") + archive_error_string(a));
  }
  archive_entry* entry = nullptr;
  int r;
  while (status.ok() && (r = archive_read_next_header(a, &entry)) != ARCHIVE_EOF) {
    if (r != ARCHIVE_OK) {
      status = Error(EINVAL, std::string("consumer: ") + archive_error_string(a));
      break;
    }
    std::string content(static_cast<size_t>(archive_entry_size(entry)), '\0');
    if (archive_read_data(a, content.data(), content.size()) !=
        static_cast<la_ssize_t>(content.size())) {
      status = Error(EINVAL, std::string("consumer: truncated ") + archive_entry_pathname(entry));
    }
    (*files)[archive_entry_pathname(entry)] = std::move(content);
  }
  archive_read_free(a);
  return status;
}

// Waits (bounded) until the pipe holds its capacity: the worker must block on its next write.
void WaitForFullPipe(int fd) {
  int capacity = ::fcntl(fd, F_GETPIPE_SZ);
  ASSERT_GT(capacity, 0);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int queued = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    ASSERT_EQ(::ioctl(fd, FIONREAD, &queued), 0);
    if (queued >= capacity) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  FAIL() << "pipe never filled: " << queued << " of " << capacity;
}

void ExpectRoundTrip(Compression compression) {
  std::string tar = MakeTar(SampleFiles());
  std::string blob = Compress(tar, compression);
  if (compression != Compression::kNone) {
    ASSERT_NE(blob, tar) << "fixture not compressed";
  }
  UniqueFd fd = BlobFd(blob);
  std::string streamed;
  auto r = StreamLayer(fd.Get(), {.what = "layer 1/1"}, [&](int tar_fd) {
    streamed = ReadAll(tar_fd);
    return Ok();
  });
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->compression, compression);
  EXPECT_EQ(r->digest, ShaOf(blob));
  EXPECT_EQ(r->size, blob.size());
  EXPECT_EQ(r->diff_id, ShaOf(tar));
  EXPECT_EQ(r->diff_size, tar.size());
  EXPECT_TRUE(streamed == tar) << "the consumer got " << streamed.size() << " bytes";
}

TEST(LayerStreamTest, PlainTar) { ExpectRoundTrip(Compression::kNone); }
TEST(LayerStreamTest, Gzip) { ExpectRoundTrip(Compression::kGzip); }
TEST(LayerStreamTest, Zstd) { ExpectRoundTrip(Compression::kZstd); }

TEST(LayerStreamTest, TarReaderGetsTheEntriesAndExpectationsPass) {
  std::string tar = MakeTar(SampleFiles());
  std::string blob = Compress(MakeTar(SampleFiles()), Compression::kZstd);
  UniqueFd fd = BlobFd(blob);
  LayerStreamOptions options{.expected_digest = ShaOf(blob),
                             .expected_size = static_cast<int64_t>(blob.size()),
                             .expected_diff_id = ShaOf(tar),
                             .what = "layer 1/1"};
  Files files;
  auto r = StreamLayer(fd.Get(), options, [&](int tar_fd) { return ReadTar(tar_fd, &files); });
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(files, SampleFiles());
}

TEST(LayerStreamTest, CopyFdGetsTheBlobAndProgressReachesTheSize) {
  std::string blob = Compress(MakeTar(SampleFiles()), Compression::kGzip);
  UniqueFd fd = BlobFd(blob);
  UniqueFd copy(memfd_create("copy", MFD_CLOEXEC));
  std::atomic<uint64_t> progress{0};
  LayerStreamOptions options{.copy_fd = copy.Get(), .bytes_read = &progress, .what = "layer"};
  auto r = StreamLayer(fd.Get(), options, Drain);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(progress.load(), blob.size());
  ASSERT_EQ(::lseek(copy.Get(), 0, SEEK_SET), 0);
  EXPECT_TRUE(ReadAll(copy.Get()) == blob);
}

TEST(LayerStreamTest, BytesAfterTheCompressedStreamCountTowardTheDigest) {
  std::string tar = MakeTar(SampleFiles());
  std::string blob = Compress(MakeTar(SampleFiles()), Compression::kGzip) + std::string(3000, '\0');
  UniqueFd fd = BlobFd(blob);
  auto r = StreamLayer(fd.Get(), {.what = "layer"}, Drain);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->size, blob.size());
  EXPECT_EQ(r->digest, ShaOf(blob));
  EXPECT_EQ(r->diff_id, ShaOf(tar));
}

TEST(LayerStreamTest, ConsumerStoppingEarlyStillGetsFullDigests) {
  // 2 MiB of zero padding after the end-of-archive blocks: a tar reader never reads it.
  for (Compression c : {Compression::kNone, Compression::kGzip}) {
    std::string tar = MakeTar(SampleFiles(), 2 << 20);
    std::string blob = Compress(tar, c);
    UniqueFd fd = BlobFd(blob);
    auto r = StreamLayer(fd.Get(), {.what = "layer"}, [](int tar_fd) {
      char header[512];
      return ::read(tar_fd, header, sizeof header) > 0 ? Ok() : Error(EIO, "no header");
    });
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->digest, ShaOf(blob));
    EXPECT_EQ(r->size, blob.size());
    EXPECT_EQ(r->diff_id, ShaOf(tar));
    EXPECT_EQ(r->diff_size, tar.size());
  }
}

TEST(LayerStreamTest, ConsumerClosingThePipeDoesNotRaiseSigpipe) {
  // SIG_DFL: a SIGPIPE reaching the process would kill this test binary.
  struct sigaction dfl = {}, old = {};
  dfl.sa_handler = SIG_DFL;
  ASSERT_EQ(sigaction(SIGPIPE, &dfl, &old), 0);
  std::string blob = Pattern(16 << 20);
  UniqueFd fd = BlobFd(blob);
  auto r = StreamLayer(fd.Get(), {.what = "layer"}, [](int tar_fd) {
    WaitForFullPipe(tar_fd);  // the worker's next write meets the closed read end
    return Ok();
  });
  ASSERT_EQ(sigaction(SIGPIPE, &old, nullptr), 0);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->digest, ShaOf(blob));
  EXPECT_EQ(r->diff_size, blob.size());
}

TEST(LayerStreamTest, ConsumeFailureIsReturnedAndStopsTheWorker) {
  constexpr off_t kBlobBytes = off_t{1} << 30;  // sparse: reading it all would take a while
  UniqueFd fd = BlobFd("", kBlobBytes);
  std::atomic<uint64_t> progress{0};
  LayerStreamOptions options{.expected_size = kBlobBytes, .bytes_read = &progress, .what = "l"};
  auto r = StreamLayer(fd.Get(), options, [](int tar_fd) -> Status {
    WaitForFullPipe(tar_fd);  // the worker is blocked writing: it must be woken
    return Error(ENOSPC, "apply: disk full");
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ENOSPC);
  EXPECT_EQ(r.error().message(), "apply: disk full");
  EXPECT_LT(progress.load(), uint64_t{64} << 20);
}

TEST(LayerStreamTest, CorruptGzipIsTheWorkersEioNamingTheBlob) {
  std::string good = Compress(MakeTar(SampleFiles()), Compression::kGzip);
  std::string bad_block = good;
  bad_block[10] = '\xff';  // first deflate block: BTYPE 11, reserved
  std::string truncated = good.substr(0, good.size() / 2);
  for (const std::string& blob : {bad_block, truncated}) {
    UniqueFd fd = BlobFd(blob);
    Files files;
    auto r = StreamLayer(fd.Get(), {.what = "layer 2/3 sha256:ab12"},
                         [&](int tar_fd) { return ReadTar(tar_fd, &files); });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), EIO);
    EXPECT_EQ(r.error().message().rfind("layer 2/3 sha256:ab12: decompress: ", 0), 0)
        << r.error().message();
  }
}

TEST(LayerStreamTest, ReadErrorIsTheWorkers) {
  UniqueFd dir(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(dir.valid());
  auto r = StreamLayer(dir.Get(), {.what = "layer 1/1"}, [](int tar_fd) {
    return ReadAll(tar_fd).empty() ? Error(EINVAL, "consumer: empty tar") : Ok();
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EISDIR);
  EXPECT_EQ(r.error().message().rfind("layer 1/1: read: ", 0), 0) << r.error().message();
}

// Streams `blob` with `options`, the consumer reading everything and succeeding.
Result<LayerStreamResult> StreamAll(const std::string& blob, const LayerStreamOptions& options) {
  UniqueFd fd = BlobFd(blob);
  return StreamLayer(fd.Get(), options, Drain);
}

TEST(LayerStreamTest, SizeMismatchIsEio) {
  std::string blob = Compress(MakeTar(SampleFiles()), Compression::kGzip);
  auto r = StreamAll(blob, {.expected_size = static_cast<int64_t>(blob.size()) + 1, .what = "L"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EIO);
  EXPECT_EQ(r.error().message(), "L: size " + std::to_string(blob.size()) + " != " +
                                     std::to_string(blob.size() + 1) + " in the descriptor");
}

TEST(LayerStreamTest, DigestMismatchIsEio) {
  std::string blob = Compress(MakeTar(SampleFiles()), Compression::kGzip);
  auto r = StreamAll(blob, {.expected_digest = ShaOf("other"), .what = "L"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EIO);
  EXPECT_EQ(r.error().message().rfind("L: digest mismatch: computed " + ShaOf(blob), 0), 0)
      << r.error().message();
}

TEST(LayerStreamTest, DiffIdMismatchIsEio) {
  std::string tar = MakeTar(SampleFiles());
  std::string blob = Compress(MakeTar(SampleFiles()), Compression::kZstd);
  auto r = StreamAll(blob, {.expected_digest = ShaOf(blob),
                            .expected_diff_id = ShaOf(blob),  // the compressed digest: wrong
                            .what = "L"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EIO);
  EXPECT_EQ(r.error().message(), "L: uncompressed digest " + ShaOf(tar) +
                                     " does not match the config's diff id " + ShaOf(blob));
}

TEST(LayerStreamTest, BlobLargerThanExpectedStopsEarly) {
  UniqueFd fd = BlobFd("", off_t{1} << 30);
  std::atomic<uint64_t> progress{0};
  LayerStreamOptions options{.expected_size = 1 << 20, .bytes_read = &progress, .what = "L"};
  auto r = StreamLayer(fd.Get(), options, Drain);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EIO);
  EXPECT_EQ(r.error().message().rfind("L: size > 1048576 in the descriptor", 0), 0)
      << r.error().message();
  EXPECT_LE(progress.load(), uint64_t{4} << 20);
}

TEST(LayerStreamTest, EmptyBlob) {
  auto r = StreamAll("", {.expected_size = 0, .what = "L"});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->digest, ShaOf(""));
  EXPECT_EQ(r->diff_id, ShaOf(""));
  EXPECT_EQ(r->size, 0u);
}

TEST(LayerStreamTest, GzipOfNothing) {
  std::string blob = Compress("", Compression::kGzip);
  ASSERT_FALSE(blob.empty());
  auto r = StreamAll(blob, {.what = "L"});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->compression, Compression::kGzip);
  EXPECT_EQ(r->digest, ShaOf(blob));
  EXPECT_EQ(r->diff_id, ShaOf(""));
  EXPECT_EQ(r->diff_size, 0u);
}

}  // namespace
}  // namespace strata::images
