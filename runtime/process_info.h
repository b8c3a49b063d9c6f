// Naming signals and identifying processes without pid-reuse races: shared by `strata run`'s
// container commands (ps, stop, kill, rm) and the OCI runtime (strata-oci).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string_view>

#include "core/result.h"
#include "core/unique_fd.h"

namespace strata::runtime {

// "TERM", "SIGTERM", "sigterm" or "15". EINVAL naming the text otherwise.
Result<int> ParseSignal(std::string_view text);

// /proc/<pid>/stat: the start time (field 22, clock ticks since boot) and the state letter.
struct ProcStat {
  uint64_t start_time = 0;
  char state = '?';  // 'Z' zombie, 'X' dead, ...
};
// ESRCH when there is no such process; EINVAL for an unreadable format.
Result<ProcStat> ReadProcStat(pid_t pid);

// The start time of process `pid` in clock ticks since boot (/proc/<pid>/stat field 22). ESRCH
// when there is no such process or it is a zombie.
Result<uint64_t> ProcessStartTime(pid_t pid);

// True when `pid` is alive (not a zombie) and started at `start`: the same process, not a reuse.
bool ProcessMatches(pid_t pid, uint64_t start);

// A pidfd for (pid, start), checked after opening so a pid reused in between is not taken.
// Invalid when the process is gone.
UniqueFd OpenPidfd(pid_t pid, uint64_t start);

}  // namespace strata::runtime
