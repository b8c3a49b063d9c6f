// Named volumes: the records the catalog keeps and the options a volume is made with.
//
// A volume is a named filesystem with a size, on one of three backends (backend.h): a thin device
// in the thin pool, a sparse image file on a loop device, or a plain directory. Volumes are
// attached (bind-mounted) at paths; each attachment is recorded per (volume, target).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "thinpool/pool_config.h"

namespace strata::volumes {

enum class BackendKind { kThin, kLoop, kLocal };
std::string_view BackendName(BackendKind kind);  // "thin", "loop", "local"
// EINVAL "unknown backend "x" (known: thin, loop, local)" with a did-you-mean.
Result<BackendKind> ParseBackend(std::string_view name);

using Filesystem = thinpool::Filesystem;  // ext4 | xfs
// EINVAL "unknown filesystem "x" (known: ext4, xfs)".
Result<Filesystem> ParseFilesystem(std::string_view name);

// Names: [a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}. EINVAL naming the name and the rule.
Status CheckVolumeName(std::string_view name);

// Catalog state of a volume. Only kReady volumes are visible to ls/inspect/attach; the others
// are operations in flight (their process holds the volume's lock) or interrupted by a crash
// (the next command settles them: creating -> rolled back, removing -> finished, resizing ->
// finished).
enum class VolumeState { kCreating, kReady, kResizing, kRemoving };
std::string_view StateName(VolumeState state);
Result<VolumeState> ParseState(std::string_view name);

// What a volume is made of. Everything a backend needs to create, find and destroy it.
struct VolumeRecord {
  std::string name;
  BackendKind backend = BackendKind::kLoop;
  Filesystem fs = Filesystem::kExt4;         // unused by local
  uint64_t size_bytes = 0;                   // 0: no size (a local volume without quota)
  std::vector<std::string> mkfs_options;     // extra mkfs arguments (thin, loop)
  std::vector<std::string> mount_options;    // mount options of the volume's filesystem
  std::map<std::string, std::string> labels;
  // local: the directory given with --path ("" = <root>/volumes/local/<name>).
  std::string path;
  // The backend's handle, set once the storage exists: thin id (decimal), loop image path,
  // local directory. "" while creating: the backend then finds leftovers by name.
  std::string ref;
  std::string origin;  // the volume this one was made from (snapshot or --from), or ""
  bool snapshot = false;  // made by `vol snapshot`: attach read-only only
  VolumeState state = VolumeState::kCreating;
  uint64_t pending_size_bytes = 0;  // resizing: the target size
  int64_t created_unix = 0;
};

// One attachment: the volume bind-mounted at target (absolute, canonical).
struct Attachment {
  std::string volume;
  std::string target;
  bool read_only = false;
  int64_t created_unix = 0;
};

// Defaults for `vol create`, from the config file's "volumes" object:
//   {"backend": "thin"|"loop"|"local", "size": "10G", "fs": "ext4"|"xfs",
//    "mkfs-options": [...], "mount-options": [...]}
// backend absent: thin where device-mapper works, else loop (decided by the manager).
struct VolumeDefaults {
  std::optional<BackendKind> backend;
  uint64_t size_bytes = 10ull << 30;
  Filesystem fs = Filesystem::kExt4;
  std::vector<std::string> mkfs_options;
  std::vector<std::string> mount_options;
};
// EINVAL "volumes.<key>: ..." for unknown keys (did-you-mean), wrong types, bad values.
Result<VolumeDefaults> ParseVolumeDefaults(const nlohmann::json& options);

// The smallest filesystem mkfs makes and strata accepts: ext4 16 MiB, xfs 300 MiB (xfsprogs
// >= 5.19 refuses smaller).
uint64_t MinFilesystemBytes(Filesystem fs);

}  // namespace strata::volumes
