// Random identifiers for layers and containers, and random suffixes for temp names.
#pragma once

#include <cstddef>
#include <string>

#include "core/result.h"

namespace strata {

// 32 bytes from the kernel's CSPRNG as 64 lowercase hex digits. Errors: the getrandom errno.
Result<std::string> RandomHexId();

// `n` random lowercase hex characters, for temp names: never fails (should getrandom(2) fail,
// which it cannot after boot, the pid and time stand in).
std::string RandomHex(size_t n);

}  // namespace strata
