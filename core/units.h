// Byte sizes as people type them ("10G", "1.5GiB", "512M") and as strata prints them.
// All multiples are binary: K = 1024, M = 1024^2, ... P = 1024^5, whatever the spelling
// ("10G", "10GB", "10gb" and "10GiB" are all 10 * 2^30 bytes), as in docker and LVM.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace strata {

// Parses "<number>[<unit>]": number is decimal digits with an optional fraction ("1.5"); unit is
// one of B K M G T P (any case), optionally followed by "B" or "iB" ("K", "KB", "KiB"); no unit
// means bytes. Surrounding whitespace and spaces between number and unit are allowed.
// A fractional result is truncated to whole bytes ("1.3K" = 1331); a fraction of plain bytes
// ("1.5", "1.5B") is rejected.
// Errors: EINVAL naming the input and what was expected (empty, negative, not a number, unknown
// unit, fractional bytes); ERANGE when the value does not fit in 64 bits.
Result<uint64_t> ParseSize(std::string_view text);

// Human form with the largest unit that keeps the number >= 1 and at most one decimal, truncated
// (never rounded up), P at most: 512 -> "512B", 1536 -> "1.5K", 10 * 2^30 -> "10G",
// 2^20 - 1 -> "1023.9K", 2^64 - 1 -> "16383.9P".
// ParseSize(FormatSize(n)) <= n, with equality whenever the value has at most one decimal.
std::string FormatSize(uint64_t bytes);

}  // namespace strata
