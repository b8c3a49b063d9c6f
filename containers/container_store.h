// ContainerStore: the records of the containers `strata run` made (schema step 6), looked up by
// name, id or unique id prefix, and the identity of their processes.
//
// A container's id is its read-write layer's id. Its record is inserted before the layer is
// made and deleted after the layer is removed, so a crash in between leaves a record that
// `strata rm` finishes, never a layer nobody owns.
//
// Processes are identified by (pid, start time in clock ticks since boot, /proc/<pid>/stat field
// 22), so a reused pid is never taken for the container or its monitor.
//
// Thread-safety: as the Store it is built on (one thread at a time).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/store.h"
#include "drivers/layer_store.h"
#include "images/image_store.h"

namespace strata::containers {

// created: made, not started yet (or its start failed and was interrupted); running: its process
// was started (it may have died since: see ProcessMatches); exited: its monitor recorded the end;
// removing: `strata rm` is taking it apart (a crash here is finished by the next rm).
enum class State { kCreated, kRunning, kExited, kRemoving };
std::string_view StateName(State state);  // "created", "running", "exited", "removing"

// A volume attached on the host for the container's life.
struct VolumeUse {
  std::string volume;
  std::string target;
};

struct ContainerRecord {
  std::string id;    // 64 hex digits; also the read-write layer's id
  std::string name;  // unique; may be empty
  std::string image;      // image id (sha256:...)
  std::string image_ref;  // as the user gave it
  std::vector<std::string> command;  // argv of the container's process
  State state = State::kCreated;
  bool detached = false;     // -d: a monitor process waits for it, its output goes to its log
  bool auto_remove = false;  // --rm
  pid_t pid = 0;             // the container's first process, as the host sees it
  uint64_t pid_start = 0;
  pid_t monitor_pid = 0;  // the strata process waiting for it (the foreground `run`, or -d's)
  uint64_t monitor_start = 0;
  std::optional<int> exit_code;  // once exited, when known (a monitor that died cannot tell)
  std::vector<VolumeUse> volumes;
  std::vector<std::string> cgroup_dirs;
  int64_t created = 0, started = 0, finished = 0;  // unix seconds; 0 = not yet

  std::string ShortId() const { return id.substr(0, 12); }
  std::string DisplayName() const { return name.empty() ? ShortId() : name; }
};

// Names: [a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}, as docker's. EINVAL naming the rule otherwise.
Status ValidateName(std::string_view name);

class ContainerStore {
 public:
  explicit ContainerStore(Store& store) : store_(store) {}

  // EEXIST naming the container that has the name already.
  Status Insert(const ContainerRecord& record);
  // Rewrites every field but id and created.
  Status Update(const ContainerRecord& record);
  // Idempotent.
  Status Delete(const std::string& id);

  // By exact name, full id, or unique id prefix (at least 1 digit). ENOENT naming the ref (with a
  // did-you-mean over names); EINVAL for an ambiguous prefix, naming the candidates.
  Result<ContainerRecord> Get(std::string_view ref);
  // Newest first.
  Result<std::vector<ContainerRecord>> List();

  // A LayerStore guard: a container's layer goes with `strata rm`, not `layer rm` (allowed once
  // the record says removing).
  static drivers::LayerStore::RemoveGuard LayerGuard(Store& store);
  // An ImageStore guard: an image that containers use stays until they are removed.
  static images::ImageStore::RemoveGuard ImageGuard(Store& store);

 private:
  Store& store_;
};

}  // namespace strata::containers
