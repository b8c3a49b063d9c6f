// Capability names ("CAP_CHOWN") to bit numbers, as plain data.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace strata::runtime {

// The bit number of "CAP_CHOWN"-style `name` (the "CAP_" prefix is optional, case-insensitive),
// or -1 when unknown.
int CapabilityNumber(std::string_view name);

// The mask of `names`: bit n set for capability n. EINVAL naming the first unknown name.
Result<uint64_t> CapabilityMask(const std::vector<std::string>& names);

}  // namespace strata::runtime
