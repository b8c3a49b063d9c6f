#include "drivers/overlay/layout.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>

#include "core/unique_fd.h"
#include "drivers/fs_tree.h"

namespace strata::drivers::overlay {

std::string LinkIdFromBytes(const std::array<uint8_t, 16>& bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (uint8_t byte : bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += kAlphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += kAlphabet[(buffer << (5 - bits)) & 31];  // 128 bits -> 26 characters
  out.resize(kLinkIdLength);
  return out;
}

std::string NewLinkId() {
  std::array<uint8_t, 16> bytes{};
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = ::getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;  // cannot happen after boot; the hex fallback below still varies
    got += static_cast<size_t>(n);
  }
  if (got < bytes.size()) {
    const std::string hex = fs::RandomHex(32);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(hex[2 * i]);
  }
  return LinkIdFromBytes(bytes);
}

bool IsLinkId(std::string_view id) {
  if (id.size() != kLinkIdLength) return false;
  for (char c : id) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7'))) return false;
  }
  return true;
}

std::string FormatLowerFile(const std::vector<std::string>& links) {
  std::string out;
  for (size_t i = 0; i < links.size(); ++i) {
    if (i) out += ':';
    out += "l/" + links[i];
  }
  return out;
}

Result<std::vector<std::string>> ParseLowerFile(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  std::vector<std::string> links;
  if (text.empty()) return links;
  size_t start = 0;
  for (;;) {
    const size_t end = std::min(text.find(':', start), text.size());
    std::string_view item = text.substr(start, end - start);
    if (!item.starts_with("l/") || !IsLinkId(item.substr(2))) {
      return Error(EINVAL, "lower file: bad entry \"" + std::string(item) + "\"");
    }
    links.emplace_back(item.substr(2));
    if (end == text.size()) return links;
    start = end + 1;
  }
}

Result<KernelVersion> ParseKernelRelease(std::string_view release) {
  KernelVersion v;
  const char* end = release.data() + release.size();
  auto [p1, e1] = std::from_chars(release.data(), end, v.major);
  if (e1 != std::errc() || p1 == end || *p1 != '.') {
    return Error(EINVAL, "kernel release \"" + std::string(release) + "\": not <major>.<minor>");
  }
  auto [p2, e2] = std::from_chars(p1 + 1, end, v.minor);
  if (e2 != std::errc()) {
    return Error(EINVAL, "kernel release \"" + std::string(release) + "\": not <major>.<minor>");
  }
  (void)p2;
  return v;
}

Result<OverlayFeatures> DetectFeatures(const std::string& param_dir) {
  struct utsname uts {};
  if (::uname(&uts) != 0) return Error::FromErrno("uname");
  STRATA_ASSIGN_OR_RETURN(KernelVersion kernel, ParseKernelRelease(uts.release));
  auto has_param = [&](const char* name) {
    return ::access((param_dir + "/" + name).c_str(), F_OK) == 0;
  };
  OverlayFeatures f;
  // "lowerdir+" arrived in 6.8; fsopen itself may still be blocked (seccomp): the driver falls
  // back to classic mount(2) on ENOSYS.
  f.new_mount_api = kernel.AtLeast(6, 8);
  f.index_off = has_param("index");
  f.redirect_dir_off = has_param("redirect_dir");
  f.metacopy_off = has_param("metacopy");
  const long page = ::sysconf(_SC_PAGESIZE);
  f.page_size_bytes = page > 0 ? static_cast<size_t>(page) : 4096;
  return f;
}

Result<int64_t> FsMagic(const std::string& path) {
  struct statfs st {};
  if (::statfs(path.c_str(), &st) != 0) return Error::FromErrno("statfs " + path);
  return static_cast<int64_t>(st.f_type);
}

std::string FsName(int64_t magic) {
  switch (magic) {
    case 0xEF53:
      return "extfs";
    case 0x58465342:
      return "xfs";
    case 0x9123683E:
      return "btrfs";
    case 0x01021994:
      return "tmpfs";
    case kOverlayFsMagic:
      return "overlayfs";
    case 0x2FC12FC1:
      return "zfs";
    case 0xF2F52010:
      return "f2fs";
    case 0x6969:
      return "nfs";
    case 0x61756673:
      return "aufs";
    case 0xF15F:
      return "ecryptfs";
    case 0x65735546:
      return "fuse";
    case 0x73717368:
      return "squashfs";
    default:
      break;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(magic));
  return buf;
}

Result<bool> SupportsDType(const std::string& dir) {
  const std::string probe = dir + "/" + fs::TempName("dtype-probe");
  if (::mkdir(probe.c_str(), 0700) != 0) return Error::FromErrno("mkdir " + probe);
  auto cleanup = MakeGuard([&] { (void)fs::RemoveTree(probe); });  // best effort: probe dir
  UniqueFd file(::open((probe + "/f").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!file) return Error::FromErrno("create " + probe + "/f");
  CPtr<DIR, ::closedir> d(::opendir(probe.c_str()));
  if (!d) return Error::FromErrno("opendir " + probe);
  while (dirent* entry = ::readdir(d.get())) {
    if (std::string_view(entry->d_name) == "f") return entry->d_type != DT_UNKNOWN;
  }
  return Error(EIO, "readdir " + probe + ": the file just created is missing");
}

bool ListsOverlay(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, end - pos);
    const size_t tab = line.find_last_of("\t ");
    if ((tab == std::string_view::npos ? line : line.substr(tab + 1)) == "overlay") return true;
    pos = end + 1;
  }
  return false;
}

}  // namespace strata::drivers::overlay
