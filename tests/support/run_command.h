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

// Runs `script` with sh as uid/gid 65534 (nobody) in a private mount namespace (unshare(1): a
// child process) where /dev/fuse is a fresh 0666 node for the same device (10:229) on a small
// tmpfs mounted at `scratch`/fuse-dev, so the user can mount FUSE through the setuid fusermount3
// whatever the host's /dev/fuse mode (distributions ship 0666; some hosts 0600). The host's
// /dev/fuse and mount table are never touched; FUSE mounts live in that namespace. When this
// machine cannot do that (no setuid-root fusermount3, no private mount namespace, no
// CAP_MKNOD), *skip_reason says why and the result means nothing.
CommandResult RunAsNobodyWithFuse(const std::string& scratch, const std::string& script,
                                  std::string* skip_reason);

}  // namespace strata::testing
