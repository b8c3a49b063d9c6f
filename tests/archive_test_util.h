// Test helpers for drivers/archive: temp dirs, tars built in memory with libarchive, and tree
// snapshots that compare everything a layer must preserve.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/unique_fd.h"
#include "drivers/archive/archive.h"

namespace strata::drivers::archive::test_util {

// A directory under /var/tmp (ext4 here, with xattrs; /tmp may be tmpfs), removed at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/var/tmp/strata-archive-XXXXXX";
    path_ = mkdtemp(tmpl.data()) != nullptr ? tmpl : std::string();
    EXPECT_FALSE(path_.empty()) << "mkdtemp: " << strerror(errno);
  }
  ~TempDir() {
    std::error_code ignored;  // best effort: a test failure already says what went wrong
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

// An fd holding `bytes`, positioned at 0 (a memfd: no file to clean up).
inline UniqueFd BytesFd(const std::string& bytes) {
  UniqueFd fd(memfd_create("layer", MFD_CLOEXEC));
  EXPECT_TRUE(fd.valid());
  EXPECT_EQ(write(fd.Get(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  EXPECT_EQ(lseek(fd.Get(), 0, SEEK_SET), 0);
  return fd;
}

// Everything in an fd, from offset 0.
inline std::string ReadAll(int fd) {
  std::string out;
  char buf[65536];
  ssize_t n;
  off_t pos = 0;
  while ((n = pread(fd, buf, sizeof(buf), pos)) > 0) {
    out.append(buf, static_cast<size_t>(n));
    pos += n;
  }
  return out;
}

// Builds a PAX tar in memory. Each Add* starts an entry; Xattr() applies to the next one added.
class TarBuilder {
 public:
  explicit TarBuilder(Compression compression = Compression::kNone) {
    a_ = archive_write_new();
    archive_write_set_format_pax(a_);
    if (compression == Compression::kGzip) archive_write_add_filter_gzip(a_);
    if (compression == Compression::kZstd) archive_write_add_filter_zstd(a_);
    // No padding after the compressed stream (a zstd reader takes zeros for a bad frame).
    archive_write_set_bytes_in_last_block(a_, 1);
    archive_write_open(a_, &out_, nullptr, &TarBuilder::Append, nullptr);
  }
  ~TarBuilder() {
    if (a_ != nullptr) archive_write_free(a_);
  }
  TarBuilder(const TarBuilder&) = delete;
  TarBuilder& operator=(const TarBuilder&) = delete;

  TarBuilder& Xattr(const std::string& name, const std::string& value) {
    xattrs_.emplace_back(name, value);
    return *this;
  }
  TarBuilder& File(const std::string& name, const std::string& content, mode_t perm = 0644,
                   int64_t uid = 0, int64_t gid = 0, int64_t mtime = 1600000000) {
    archive_entry* e = Start(name, AE_IFREG, perm, uid, gid, mtime);
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    Finish(e, content);
    return *this;
  }
  TarBuilder& Dir(const std::string& name, mode_t perm = 0755, int64_t uid = 0, int64_t gid = 0,
                  int64_t mtime = 1600000000) {
    Finish(Start(name, AE_IFDIR, perm, uid, gid, mtime), "");
    return *this;
  }
  // Owner of later Symlink/Hardlink/Node entries (tests without root use their own ids).
  TarBuilder& Owner(int64_t uid, int64_t gid) {
    uid_ = uid;
    gid_ = gid;
    return *this;
  }
  TarBuilder& Symlink(const std::string& name, const std::string& target) {
    archive_entry* e = Start(name, AE_IFLNK, 0777, uid_, gid_, 1600000000);
    archive_entry_set_symlink(e, target.c_str());
    Finish(e, "");
    return *this;
  }
  TarBuilder& Hardlink(const std::string& name, const std::string& target) {
    archive_entry* e = Start(name, AE_IFREG, 0644, uid_, gid_, 1600000000);
    archive_entry_set_hardlink(e, target.c_str());
    archive_entry_set_size(e, 0);
    Finish(e, "");
    return *this;
  }
  TarBuilder& Node(const std::string& name, mode_t type, unsigned major, unsigned minor,
                   mode_t perm = 0644) {
    archive_entry* e = Start(name, type, perm, uid_, gid_, 1600000000);
    archive_entry_set_rdev(e, makedev(major, minor));
    Finish(e, "");
    return *this;
  }
  // A sparse file of `size` bytes with `data` at `offset` and holes elsewhere.
  TarBuilder& Sparse(const std::string& name, int64_t size, int64_t offset,
                     const std::string& data) {
    archive_entry* e = Start(name, AE_IFREG, 0644, 0, 0, 1600000000);
    archive_entry_set_size(e, size);
    archive_entry_sparse_add_entry(e, offset, static_cast<la_int64_t>(data.size()));
    archive_write_header(a_, e);
    std::string zeros(static_cast<size_t>(offset), '\0');
    archive_write_data(a_, zeros.data(), zeros.size());
    archive_write_data(a_, data.data(), data.size());
    archive_entry_free(e);
    return *this;
  }

  // The finished archive.
  std::string Bytes() {
    archive_write_close(a_);
    archive_write_free(a_);
    a_ = nullptr;
    return out_;
  }

 private:
  static la_ssize_t Append(struct archive*, void* out, const void* buf, size_t size) {
    static_cast<std::string*>(out)->append(static_cast<const char*>(buf), size);
    return static_cast<la_ssize_t>(size);
  }
  archive_entry* Start(const std::string& name, mode_t type, mode_t perm, int64_t uid, int64_t gid,
                       int64_t mtime) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, perm);
    archive_entry_set_uid(e, uid);
    archive_entry_set_gid(e, gid);
    archive_entry_set_mtime(e, mtime, 123456789);
    for (const auto& [key, value] : xattrs_) {
      archive_entry_xattr_add_entry(e, key.c_str(), value.data(), value.size());
    }
    xattrs_.clear();
    return e;
  }
  void Finish(archive_entry* e, const std::string& content) {
    EXPECT_EQ(archive_write_header(a_, e), ARCHIVE_OK) << archive_error_string(a_);
    if (!content.empty()) archive_write_data(a_, content.data(), content.size());
    archive_entry_free(e);
  }

  struct archive* a_ = nullptr;
  int64_t uid_ = 0;
  int64_t gid_ = 0;
  std::string out_;
  std::vector<std::pair<std::string, std::string>> xattrs_;
};

// Entry names of a tar (any compression), in order, with a type prefix: "f:", "d:", "l:", "h:"
// (hardlink), "c:", "b:", "p:", plus " xattr=NAME" for each xattr.
inline std::vector<std::string> ListTar(const std::string& bytes) {
  std::vector<std::string> names;
  struct archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  archive_read_open_memory(a, bytes.data(), bytes.size());
  archive_entry* e;
  int r;
  while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
    std::string kind = archive_entry_hardlink(e) != nullptr ? "h:" : "?:";
    switch (archive_entry_filetype(e)) {
      case AE_IFREG:
        if (kind != "h:") kind = "f:";
        break;
      case AE_IFDIR:
        kind = "d:";
        break;
      case AE_IFLNK:
        kind = "l:";
        break;
      case AE_IFCHR:
        kind = "c:";
        break;
      case AE_IFBLK:
        kind = "b:";
        break;
      case AE_IFIFO:
        kind = "p:";
        break;
      default:
        break;
    }
    const char* path = archive_entry_pathname(e);
    std::string line = kind + (path != nullptr ? path : "(null)");
    const char* name;
    const void* value;
    size_t size;
    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
      line += std::string(" xattr=") + name;
    }
    names.push_back(line);
  }
  archive_read_free(a);
  return names;
}

// Everything about one object that a layer round trip must keep.
struct Node {
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  nlink_t nlink = 0;
  dev_t rdev = 0;
  int64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t blocks = 0;
  std::string content;  // file content or symlink target
  std::map<std::string, std::string> xattrs;
  bool operator==(const Node&) const = default;
};
using Tree = std::map<std::string, Node>;

inline std::map<std::string, std::string> Xattrs(const std::string& path) {
  std::map<std::string, std::string> out;
  char names[4096];
  ssize_t n = llistxattr(path.c_str(), names, sizeof(names));
  for (ssize_t pos = 0; pos < n; pos += static_cast<ssize_t>(strlen(names + pos)) + 1) {
    char value[4096];
    ssize_t size = lgetxattr(path.c_str(), names + pos, value, sizeof(value));
    out[names + pos] = size >= 0 ? std::string(value, static_cast<size_t>(size)) : "?";
  }
  return out;
}

inline std::string FileContent(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every object below `root` (not the root itself). `with_blocks` also records allocated blocks.
inline Tree Snapshot(const std::string& root, bool with_blocks = false) {
  Tree tree;
  for (const auto& it : std::filesystem::recursive_directory_iterator(root)) {
    std::string path = it.path().string();
    struct stat st;
    EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
    Node node;
    node.mode = st.st_mode;
    node.uid = st.st_uid;
    node.gid = st.st_gid;
    node.nlink = S_ISDIR(st.st_mode) ? 0 : st.st_nlink;
    node.rdev = st.st_rdev;
    node.size = S_ISDIR(st.st_mode) ? 0 : st.st_size;
    node.mtime_ns = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    node.blocks = with_blocks ? st.st_blocks : 0;
    if (S_ISREG(st.st_mode)) node.content = FileContent(path);
    if (S_ISLNK(st.st_mode)) node.content = std::filesystem::read_symlink(path).string();
    node.xattrs = Xattrs(path);
    tree[path.substr(root.size() + 1)] = node;
  }
  return tree;
}

inline std::string Describe(const Tree& tree) {
  std::ostringstream out;
  for (const auto& [path, n] : tree) {
    out << path << " mode=" << std::oct << n.mode << std::dec << " " << n.uid << ":" << n.gid
        << " nlink=" << n.nlink << " rdev=" << major(n.rdev) << "," << minor(n.rdev)
        << " size=" << n.size << " mtime=" << n.mtime_ns << " blocks=" << n.blocks
        << " content=" << n.content.size() << "B";
    for (const auto& [k, v] : n.xattrs) out << " " << k << "=" << v;
    out << "\n";
  }
  return out.str();
}

// Runs a shell command, returning its stdout; fails the test on a non-zero exit.
inline std::string Shell(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  EXPECT_EQ(pclose(pipe), 0) << command;
  return out;
}

// Sets a path's mtime (not following symlinks) to sec + nsec.
inline void SetMtime(const std::string& path, time_t sec, long nsec) {
  struct timespec times[2] = {{sec, nsec}, {sec, nsec}};
  EXPECT_EQ(utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << path;
}

}  // namespace strata::drivers::archive::test_util
