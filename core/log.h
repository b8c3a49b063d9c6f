// Logging setup for the strata process (spdlog). Library code logs only debug/info progress and
// never errors (it returns them); the CLI prints each error once.
#pragma once

#include <spdlog/common.h>

#include <string>
#include <string_view>

#include "core/result.h"

namespace strata {

// The default level when none is configured: warnings and errors only.
inline constexpr spdlog::level::level_enum kDefaultLogLevel = spdlog::level::warn;

// Maps "trace" | "debug" | "info" | "warn" | "error" | "off" to a level; "" means
// kDefaultLogLevel. Errors: EINVAL listing the valid names.
Result<spdlog::level::level_enum> ParseLogLevel(std::string_view level);

// Replaces spdlog's default logger with one writing to stderr and, when `log_file` is not empty,
// also appending to that file (created 0644 if missing). `level` as ParseLogLevel. Safe to call
// again (the new logger replaces the old one); not safe concurrently with itself.
// Errors: EINVAL for a bad level; the errno of opening `log_file` (ENOENT, EACCES, EISDIR, ...).
Status InitLogging(std::string_view level, const std::string& log_file);

}  // namespace strata
