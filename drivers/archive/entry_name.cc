#include "drivers/archive/entry_name.h"

#include <array>
#include <cerrno>

namespace strata::drivers::archive {
namespace {

constexpr std::array<std::string_view, 3> kAufsMetaNames = {".wh..wh.plnk", ".wh..wh.aufs",
                                                            ".wh..wh.orph"};

bool IsAufsMeta(std::string_view component) {
  for (std::string_view meta : kAufsMetaNames) {
    if (component == meta) return true;
  }
  return false;
}

constexpr std::string_view kEscapes = "path escapes the layer root";

Error Escapes(std::string_view raw_name) {
  return Error(EPERM, EntryContext(raw_name) + ": " + std::string(kEscapes));
}

}  // namespace

std::string EntryContext(std::string_view raw_name) {
  std::string context = "entry \"";
  context += raw_name;
  context += '"';
  return context;
}

Result<std::string> CleanEntryName(std::string_view name) {
  return CleanRelativePath(name).Wrap(EntryContext(name));
}

Result<std::string> CleanRelativePath(std::string_view name) {
  if (!name.empty() && name.front() == '/') return Error(EPERM, std::string(kEscapes));
  std::string clean;
  clean.reserve(name.size());
  size_t pos = 0;
  while (pos <= name.size()) {
    size_t slash = name.find('/', pos);
    if (slash == std::string_view::npos) slash = name.size();
    std::string_view component = name.substr(pos, slash - pos);
    pos = slash + 1;
    if (component.empty() || component == ".") continue;
    if (component == "..") return Error(EPERM, std::string(kEscapes));
    if (!clean.empty()) clean += '/';
    clean += component;
  }
  return clean;
}

SplitName SplitEntryName(std::string_view clean) {
  size_t slash = clean.rfind('/');
  if (slash == std::string_view::npos) return {std::string_view(), clean};
  return {clean.substr(0, slash), clean.substr(slash + 1)};
}

Result<WhiteoutName> ParseWhiteout(std::string_view clean, std::string_view raw_name) {
  WhiteoutName out;
  // Meta directories hold aufs bookkeeping (pseudo-links, orphans); nothing under them is content.
  for (size_t pos = 0; pos <= clean.size();) {
    size_t slash = clean.find('/', pos);
    if (slash == std::string_view::npos) slash = clean.size();
    if (IsAufsMeta(clean.substr(pos, slash - pos))) {
      out.kind = WhiteoutName::Kind::kAufsMeta;
      return out;
    }
    pos = slash + 1;
  }
  SplitName split = SplitEntryName(clean);
  if (!split.base.starts_with(kWhiteoutPrefix)) return out;
  out.dir = std::string(split.dir);
  if (split.base == kOpaqueMarker) {
    out.kind = WhiteoutName::Kind::kOpaque;
    return out;
  }
  std::string_view target = split.base.substr(kWhiteoutPrefix.size());
  if (target == "..") return Escapes(raw_name);
  if (target.empty() || target == ".") {
    return Error(EPERM, EntryContext(raw_name) + ": whiteout names no file");
  }
  out.kind = WhiteoutName::Kind::kWhiteout;
  out.target = JoinEntryName(split.dir, target);
  return out;
}

bool IsAtOrUnder(std::string_view path, std::string_view prefix) {
  if (prefix.empty()) return true;
  if (!path.starts_with(prefix)) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

std::string JoinEntryName(std::string_view dir, std::string_view base) {
  std::string joined(dir);
  if (!joined.empty()) joined += '/';
  joined += base;
  return joined;
}

}  // namespace strata::drivers::archive
