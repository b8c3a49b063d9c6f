#include "tools/output.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iostream>

namespace strata::cli {

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  std::fputs(out.c_str(), stdout);
}

void PrintJson(const nlohmann::json& value) { std::cout << value.dump(2) << "\n"; }

std::string FormatTime(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string ShortId(const std::string& id) {
  // Only generated ids (64 hex digits) are shortened; a name the user chose is shown whole.
  bool generated = id.size() == 64 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
  return generated ? id.substr(0, 12) : id;
}

}  // namespace strata::cli
