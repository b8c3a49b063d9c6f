#include "core/sys/mountinfo.h"

#include <charconv>
#include <string>

namespace strata::sys {
namespace {

bool IsOctal(char c) { return c >= '0' && c <= '7'; }

// Splits on single spaces; the kernel never emits empty fields (it escapes spaces).
std::vector<std::string_view> SplitFields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t pos = 0;
  while (pos < line.size()) {
    size_t end = line.find(' ', pos);
    if (end == std::string_view::npos) end = line.size();
    if (end > pos) fields.push_back(line.substr(pos, end - pos));
    pos = end + 1;
  }
  return fields;
}

bool ParseInt(std::string_view s, int& out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

Error LineError(size_t line_no, std::string_view what) {
  return Error(EINVAL, "mountinfo line " + std::to_string(line_no) + ": " + std::string(what));
}

Result<MountEntry> ParseLine(std::string_view line, size_t line_no) {
  std::vector<std::string_view> f = SplitFields(line);
  // Six fixed fields before the optional ones, the separator, then three after it.
  if (f.size() < 10) return LineError(line_no, "too few fields");
  size_t sep = 6;
  while (sep < f.size() && f[sep] != "-") ++sep;
  if (sep == f.size()) return LineError(line_no, "no \" - \" separator");
  if (f.size() - sep < 4) return LineError(line_no, "too few fields after \" - \"");
  MountEntry e;
  if (!ParseInt(f[0], e.mount_id)) return LineError(line_no, "bad mount id");
  if (!ParseInt(f[1], e.parent_id)) return LineError(line_no, "bad parent id");
  e.root = UnescapeMountField(f[3]);
  e.mount_point = UnescapeMountField(f[4]);
  e.fs_type = UnescapeMountField(f[sep + 1]);
  e.source = UnescapeMountField(f[sep + 2]);
  e.super_options = UnescapeMountField(f[sep + 3]);
  return e;
}

}  // namespace

std::string UnescapeMountField(std::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && IsOctal(field[i + 1]) &&
        IsOctal(field[i + 2]) && IsOctal(field[i + 3])) {
      out.push_back(static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                                      (field[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

Result<std::vector<MountEntry>> ParseMountInfo(std::string_view text) {
  std::vector<MountEntry> entries;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.empty()) continue;
    STRATA_ASSIGN_OR_RETURN(MountEntry e, ParseLine(line, line_no));
    entries.push_back(std::move(e));
  }
  return entries;
}

}  // namespace strata::sys
