// Reading a small file whole (state files, /proc and cgroup files).
#pragma once

#include <string>

#include "core/result.h"

namespace strata {

// The file's bytes. ENOENT when missing; other open/read errors name the path.
Result<std::string> ReadFile(const std::string& path);

}  // namespace strata
