#include "tests/conformance/conformance_support.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "core/sys/mounts.h"

namespace strata::testing {
namespace {

namespace fs = std::filesystem;


std::string Octal(unsigned value) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%04o", value);
  return buf;
}

std::string Xattrs(const std::string& path) {
  ssize_t size = ::llistxattr(path.c_str(), nullptr, 0);
  if (size <= 0) return "";
  std::string names(static_cast<size_t>(size), '\0');
  size = ::llistxattr(path.c_str(), names.data(), names.size());
  if (size < 0) return " xattrs=?";
  std::set<std::string> sorted;
  for (size_t pos = 0; pos < static_cast<size_t>(size);) {
    std::string name(names.c_str() + pos);
    pos += name.size() + 1;
    if (name.rfind("trusted.overlay.", 0) == 0) continue;
    char value[4096];
    ssize_t n = ::lgetxattr(path.c_str(), name.c_str(), value, sizeof(value));
    sorted.insert(name + "=" + (n < 0 ? "?" : std::string(value, static_cast<size_t>(n))));
  }
  std::string out;
  for (const std::string& x : sorted) out += " xattr:" + x;
  return out;
}

std::string Describe(const std::string& path, const struct stat& st) {
  std::ostringstream out;
  const unsigned type = st.st_mode & S_IFMT;
  if (type == S_IFDIR) {
    out << "dir";
  } else if (type == S_IFREG) {
    std::string content = ReadFileOr(path, "<unreadable>");
    out << "file size=" << st.st_size << " content="
        << (content.size() <= 200 ? content : std::to_string(std::hash<std::string>{}(content)));
  } else if (type == S_IFLNK) {
    std::error_code ec;
    out << "symlink->" << fs::read_symlink(path, ec).string();
  } else if (type == S_IFCHR || type == S_IFBLK) {
    out << (type == S_IFCHR ? "chr " : "blk ") << major(st.st_rdev) << ":" << minor(st.st_rdev);
  } else if (type == S_IFIFO) {
    out << "fifo";
  } else {
    out << "other";
  }
  if (type != S_IFLNK) out << " mode=" << Octal(st.st_mode & 07777);
  out << " uid=" << st.st_uid << " gid=" << st.st_gid;
  if (type != S_IFDIR && type != S_IFLNK) out << " mtime=" << st.st_mtim.tv_sec;
  if (type != S_IFDIR) out << " nlink=" << st.st_nlink;
  out << Xattrs(path);
  return out.str();
}

}  // namespace

// --- TarBuilder -------------------------------------------------------------------------------

TarBuilder& TarBuilder::Dir(const std::string& path, int mode, int uid, int gid) {
  entries_.push_back({Entry::Type::kDir, path, "", mode, uid, gid, 0, 0, {}});
  return *this;
}
TarBuilder& TarBuilder::File(const std::string& path, const std::string& content, int mode, int uid,
                             int gid, std::vector<std::pair<std::string, std::string>> xattrs) {
  entries_.push_back({Entry::Type::kFile, path, content, mode, uid, gid, 0, 0, std::move(xattrs)});
  return *this;
}
TarBuilder& TarBuilder::Symlink(const std::string& path, const std::string& target) {
  entries_.push_back({Entry::Type::kSymlink, path, target, 0777, 0, 0, 0, 0, {}});
  return *this;
}
TarBuilder& TarBuilder::Hardlink(const std::string& path, const std::string& target) {
  entries_.push_back({Entry::Type::kHardlink, path, target, 0644, 0, 0, 0, 0, {}});
  return *this;
}
TarBuilder& TarBuilder::CharDevice(const std::string& path, int major_nr, int minor_nr, int mode) {
  entries_.push_back({Entry::Type::kChar, path, "", mode, 0, 0, major_nr, minor_nr, {}});
  return *this;
}
TarBuilder& TarBuilder::BlockDevice(const std::string& path, int major_nr, int minor_nr, int mode) {
  entries_.push_back({Entry::Type::kBlock, path, "", mode, 0, 0, major_nr, minor_nr, {}});
  return *this;
}
TarBuilder& TarBuilder::Fifo(const std::string& path, int mode) {
  entries_.push_back({Entry::Type::kFifo, path, "", mode, 0, 0, 0, 0, {}});
  return *this;
}
TarBuilder& TarBuilder::Whiteout(const std::string& path) {
  fs::path p(path);
  std::string dir = p.parent_path().string();
  return File((dir.empty() ? "" : dir + "/") + ".wh." + p.filename().string(), "", 0600);
}
TarBuilder& TarBuilder::Opaque(const std::string& dir) {
  return File(dir + "/.wh..wh..opq", "", 0600);
}

Status TarBuilder::WriteEntry(struct archive* a, const Entry& e) {
  static constexpr unsigned kTypes[] = {AE_IFDIR, AE_IFREG, AE_IFLNK, AE_IFREG,
                                        AE_IFCHR, AE_IFBLK, AE_IFIFO};
  CPtr<struct archive_entry, archive_entry_free> entry(archive_entry_new());
  archive_entry_set_pathname(entry.get(), e.path.c_str());
  archive_entry_set_filetype(entry.get(), kTypes[static_cast<int>(e.type)]);
  archive_entry_set_perm(entry.get(), static_cast<mode_t>(e.mode));
  archive_entry_set_uid(entry.get(), e.uid);
  archive_entry_set_gid(entry.get(), e.gid);
  archive_entry_set_mtime(entry.get(), kMtime, 0);
  if (e.type == Entry::Type::kSymlink) archive_entry_set_symlink(entry.get(), e.content.c_str());
  if (e.type == Entry::Type::kHardlink) archive_entry_set_hardlink(entry.get(), e.content.c_str());
  if (e.type == Entry::Type::kChar || e.type == Entry::Type::kBlock) {
    archive_entry_set_rdevmajor(entry.get(), static_cast<dev_t>(e.major));
    archive_entry_set_rdevminor(entry.get(), static_cast<dev_t>(e.minor));
  }
  for (const auto& [name, value] : e.xattrs) {
    archive_entry_xattr_add_entry(entry.get(), name.c_str(), value.data(), value.size());
  }
  const bool has_data = e.type == Entry::Type::kFile;
  archive_entry_set_size(entry.get(), has_data ? static_cast<la_int64_t>(e.content.size()) : 0);
  if (archive_write_header(a, entry.get()) != ARCHIVE_OK) {
    return Error(EIO, "archive header " + e.path + ": " + archive_error_string(a));
  }
  if (has_data && !e.content.empty() &&
      archive_write_data(a, e.content.data(), e.content.size()) < 0) {
    return Error(EIO, "archive data " + e.path + ": " + archive_error_string(a));
  }
  return Ok();
}

Result<UniqueFd> TarBuilder::Finish() const {
  char tmpl[] = "/tmp/strata-tar-XXXXXX";
  UniqueFd fd(::mkostemp(tmpl, O_CLOEXEC));
  if (!fd) return Error::FromErrno("mkostemp");
  (void)::unlink(tmpl);  // the fd keeps it alive
  CPtr<struct archive, archive_write_free> a(archive_write_new());
  if (archive_write_set_format_pax(a.get()) != ARCHIVE_OK ||
      archive_write_open_fd(a.get(), fd.Get()) != ARCHIVE_OK) {
    return Error(EIO, std::string("archive open: ") + archive_error_string(a.get()));
  }
  for (const Entry& e : entries_) STRATA_TRY(WriteEntry(a.get(), e));
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    return Error(EIO, std::string("archive close: ") + archive_error_string(a.get()));
  }
  if (::lseek(fd.Get(), 0, SEEK_SET) != 0) return Error::FromErrno("lseek tar");
  return fd;
}

// --- Trees ------------------------------------------------------------------------------------

Result<std::map<std::string, std::string>> SnapshotTree(const std::string& root) {
  std::map<std::string, std::string> out;
  std::map<std::pair<dev_t, ino_t>, std::string> first_link;  // hardlink group leader
  std::vector<std::string> paths = {""};
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    paths.push_back(fs::relative(it->path(), root).string());
  }
  if (ec) return Error(ec.value(), "walk " + root + ": " + ec.message());
  std::sort(paths.begin(), paths.end());
  for (const std::string& rel : paths) {
    const std::string full = rel.empty() ? root : root + "/" + rel;
    struct stat st {};
    if (::lstat(full.c_str(), &st) != 0) return Error::FromErrno("lstat " + full);
    std::string description = Describe(full, st);
    if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
      auto [it, inserted] = first_link.emplace(std::make_pair(st.st_dev, st.st_ino), rel);
      description += " hardlink-group=" + it->second;
    }
    out[rel] = std::move(description);
  }
  return out;
}

std::string DiffSnapshots(const std::map<std::string, std::string>& want,
                          const std::map<std::string, std::string>& got) {
  std::string out;
  for (const auto& [path, description] : want) {
    auto it = got.find(path);
    if (it == got.end()) {
      out += "  missing /" + path + " (" + description + ")\n";
    } else if (it->second != description) {
      out += "  /" + path + ":\n    want " + description + "\n    got  " + it->second + "\n";
    }
  }
  for (const auto& [path, description] : got) {
    if (!want.count(path)) out += "  extra /" + path + " (" + description + ")\n";
  }
  return out;
}

bool PathExists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::string ReadFileOr(const std::string& path, const std::string& fallback) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fallback;
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

bool IsMountPoint(const std::string& path) {
  auto table = sys::LinuxMounts().MountInfo();
  if (!table.ok()) return false;
  return std::any_of(table->begin(), table->end(),
                     [&](const sys::MountEntry& e) { return e.mount_point == path; });
}

void DetachMountsUnder(const std::string& dir) {
  auto table = sys::LinuxMounts().MountInfo();
  if (!table.ok()) return;
  std::vector<std::string> targets;
  for (const sys::MountEntry& e : *table) {
    if (e.mount_point == dir || e.mount_point.rfind(dir + "/", 0) == 0) {
      targets.push_back(e.mount_point);
    }
  }
  // Later entries are mounted on top of (or below) earlier ones: unmount in reverse order.
  for (auto it = targets.rbegin(); it != targets.rend(); ++it) {
    (void)sys::LinuxMounts().Unmount(*it, sys::kMntDetach);  // best effort: test cleanup
  }
}

std::vector<std::string> FindNamed(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> found;
  std::error_code ec;
  for (auto it =
           fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::end(it); it.increment(ec)) {
    if (it->path().filename().string().rfind(prefix, 0) == 0) found.push_back(it->path());
  }
  return found;
}

}  // namespace strata::testing
