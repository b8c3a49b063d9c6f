// Running an external program (mkfs, resize2fs, thin_ls): posix_spawn with stdout and stderr
// captured, no shell. For tools strata drives but does not reimplement.
//
// Errors name the program: ENOENT "mkfs.ext4: not found (install e2fsprogs?)" when it is not
// on PATH; a non-zero exit becomes EIO (or the caller checks exit_code) with the last lines of
// its stderr, so the user sees the tool's own reason.
#pragma once

#include <string>
#include <vector>

#include "core/result.h"

namespace strata {

struct ExecResult {
  int exit_code = 0;  // 128 + signal when killed by a signal
  std::string out;
  std::string err;
};

struct ExecOptions {
  // Extra "KEY=VALUE" entries added to (overriding) the current environment.
  std::vector<std::string> env;
  // Appended to the ENOENT message, e.g. "install e2fsprogs".
  std::string install_hint;
};

// Runs argv[0] (searched on PATH) with stdin from /dev/null, waits, and returns what it printed.
// Fails only when it could not run; check exit_code.
Result<ExecResult> RunProgram(const std::vector<std::string>& argv, const ExecOptions& options = {});

// RunProgram, and EIO "<argv0 and args>: exit status N: <stderr tail>" unless it exited 0.
Result<ExecResult> RunProgramOk(const std::vector<std::string>& argv,
                                const ExecOptions& options = {});

}  // namespace strata
