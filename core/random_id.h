// Random identifiers for layers and containers.
#pragma once

#include <string>

#include "core/result.h"

namespace strata {

// 32 bytes from the kernel's CSPRNG as 64 lowercase hex digits. Errors: the open/read errno.
Result<std::string> RandomHexId();

}  // namespace strata
