// strata-oci's per-container state: <root>/<id>/state.json and <root>/<id>/exec.fifo.
//
// state.json is written once by `create` (or `run`), atomically (temp file + rename), and never
// rewritten: the status is derived when asked (FIELD-GUIDE §5.12):
//   created  the init is alive (same pid and start time) and exec.fifo exists (it waits at the
//            start gate)
//   running  the init is alive and exec.fifo is gone (`start` unlinks it)
//   stopped  otherwise (exited, a zombie, or the pid now names another process)
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/write_file.h"
#include "runtime/oci_spec.h"

namespace strata::oci {

inline constexpr const char* kStateFile = "state.json";
inline constexpr const char* kExecFifo = "exec.fifo";

struct ContainerState {
  std::string id;
  std::string oci_version;
  pid_t pid = 0;
  uint64_t start_time = 0;  // /proc/<pid>/stat field 22, in clock ticks since boot
  std::string bundle;
  std::string rootfs;
  std::string created;  // RFC 3339, UTC
  std::vector<std::string> cgroup_paths;
  std::map<std::string, std::string> annotations;
  std::vector<runtime::OciHook> poststart;  // run by `start`
  std::vector<runtime::OciHook> poststop;   // run by `delete`
};

enum class ContainerStatus { kCreating, kCreated, kRunning, kStopped };
const char* StatusName(ContainerStatus s);

// The state dir of `id` under `root`.
std::string StateDir(const std::string& root, const std::string& id);
// Removes the state dir and the files strata-oci puts there. ENOENT counts as removed.
Status RemoveStateDir(const std::string& dir);

Status SaveState(const std::string& dir, const ContainerState& state);
// ENOENT "container \"ID\" does not exist" when there is no state.json; EINVAL for a corrupt one.
Result<ContainerState> LoadState(const std::string& root, const std::string& id);

// Whether the state's init process is alive: same pid, same start time, not a zombie.
bool InitAlive(const ContainerState& state);
ContainerStatus StatusOf(const std::string& root, const ContainerState& state);

// The runtime-spec state JSON (`state` prints it, hooks read it on stdin).
std::string StateJson(const ContainerState& state, ContainerStatus status);

// Now, RFC 3339 UTC with nanoseconds: "2024-05-01T12:00:00.123456789Z".
std::string NowRfc3339();

}  // namespace strata::oci
