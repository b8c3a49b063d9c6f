#include "core/units.h"

#include <array>
#include <cctype>
#include <cerrno>

namespace strata {
namespace {

__extension__ typedef unsigned __int128 U128;  // exact intermediate for fraction * multiplier

constexpr std::string_view kExpectedUnits = "B, K, M, G, T, P with optional iB";
constexpr std::array<char, 6> kUnitLetters = {'B', 'K', 'M', 'G', 'T', 'P'};
constexpr std::string_view kTooLarge =
    "too large (the maximum is 18446744073709551615 bytes, about 16384P)";
constexpr int kMaxFractionDigits = 18;  // more cannot change the truncated byte count

struct Number {
  std::string_view int_digits;
  std::string_view frac_digits;
  std::string_view rest;  // the unit text, leading spaces removed
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

Error SizeError(int code, std::string_view text, std::string_view why) {
  return Error(code, "size \"" + std::string(text) + "\": " + std::string(why));
}

Number SplitNumber(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && IsDigit(s[i])) ++i;
  Number n{s.substr(0, i), {}, {}};
  if (i < s.size() && s[i] == '.') {
    size_t start = ++i;
    while (i < s.size() && IsDigit(s[i])) ++i;
    n.frac_digits = s.substr(start, i - start);
  }
  n.rest = Trim(s.substr(i));
  return n;
}

// Returns the power of 1024 for a unit spelling, or -1 when it is not one.
int UnitExponent(std::string_view unit) {
  if (unit.empty()) return 0;
  char letter = static_cast<char>(std::toupper(static_cast<unsigned char>(unit[0])));
  std::string tail;
  for (char c : unit.substr(1)) tail.push_back(static_cast<char>(std::tolower(c)));
  for (size_t i = 0; i < kUnitLetters.size(); ++i) {
    if (kUnitLetters[i] != letter) continue;
    if (tail.empty()) return static_cast<int>(i);
    if (i > 0 && (tail == "b" || tail == "ib")) return static_cast<int>(i);
    return -1;
  }
  return -1;
}

}  // namespace

Result<uint64_t> ParseSize(std::string_view text) {
  std::string_view s = Trim(text);
  if (s.empty()) return SizeError(EINVAL, text, "empty (expected a number like 10G or 4096)");
  if (s[0] == '-') return SizeError(EINVAL, text, "must not be negative");
  Number n = SplitNumber(s);
  if (n.int_digits.empty() && n.frac_digits.empty()) {
    return SizeError(EINVAL, text, "not a number (expected a number like 10G, 1.5G or 4096)");
  }
  int exponent = UnitExponent(n.rest);
  if (exponent < 0) {
    return SizeError(EINVAL, text,
                     "unknown unit \"" + std::string(n.rest) + "\" (expected " +
                         std::string(kExpectedUnits) + ")");
  }
  bool has_fraction = n.frac_digits.find_first_not_of('0') != std::string_view::npos;
  if (exponent == 0 && has_fraction) {
    return SizeError(EINVAL, text, "a fraction of a byte (use a unit, e.g. 1.5K)");
  }
  const U128 multiplier = U128{1} << (10 * exponent);
  const U128 limit = UINT64_MAX;
  U128 whole = 0;
  for (char c : n.int_digits) {
    whole = whole * 10 + static_cast<unsigned>(c - '0');
    if (whole > limit) return SizeError(ERANGE, text, kTooLarge);
  }
  U128 total = whole * multiplier;  // whole <= 2^64, multiplier <= 2^50: fits in 128 bits
  U128 frac = 0, scale = 1;
  for (char c : n.frac_digits.substr(0, kMaxFractionDigits)) {
    frac = frac * 10 + static_cast<unsigned>(c - '0');
    scale *= 10;
  }
  total += frac * multiplier / scale;  // frac < 10^18 < 2^60: product < 2^110
  if (total > limit) return SizeError(ERANGE, text, kTooLarge);
  return static_cast<uint64_t>(total);
}

std::string FormatSize(uint64_t bytes) {
  // Stops at P, the largest unit ParseSize reads, so the output always parses back.
  static constexpr std::array<char, 6> kLetters = kUnitLetters;
  size_t exponent = 0;
  while (exponent + 1 < kLetters.size() && bytes >> (10 * (exponent + 1)) != 0) ++exponent;
  if (exponent == 0) return std::to_string(bytes) + "B";
  const U128 unit = U128{1} << (10 * exponent);
  const U128 tenths = U128{bytes} * 10 / unit;  // truncated
  std::string out = std::to_string(static_cast<uint64_t>(tenths / 10));
  if (tenths % 10 != 0) out += "." + std::to_string(static_cast<unsigned>(tenths % 10));
  out.push_back(kLetters[exponent]);
  return out;
}

}  // namespace strata
