// Runs a command for tests: captures stdout, stderr and the exit code.
#pragma once

#include <string>
#include <vector>

namespace strata::testing {

struct CommandResult {
  int exit_code = -1;  // 128+signal when killed by a signal
  std::string out;
  std::string err;
};

// Runs argv[0] (searched in PATH) with `input` on stdin. Never throws.
CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& input = "");

// Runs the built `strata` binary with `--root root` and then `args`.
CommandResult RunStrata(const std::string& root, const std::vector<std::string>& args,
                        const std::string& input = "");

}  // namespace strata::testing
