// The volume backends: where a volume's bytes live. The manager (manager.h) owns names, the
// catalog, locks, attachments and crash recovery; a backend only makes, finds and removes
// storage, and makes it available as a directory to bind-mount from.
//
// Layout under the strata root:
//   <root>/volumes/mnt/<name>/        the stage: the volume's filesystem mounted privately
//                                     (thin, loop) while anything is attached; attachments are
//                                     bind mounts of it
//   <root>/volumes/loop/<name>.img    loop: the sparse image file
//   <root>/volumes/local/<name>/      local: the directory (unless --path gave another)
//   thin: thin devices in the devicemapper pool (driver-opts.devicemapper), named "vol:<name>"
//         in the pool's records; bases "volbase:<fs>:<options hash>" (one pre-formatted base per
//         filesystem and mkfs options, snapshotted and grown for each new volume)
//
// Contracts every backend keeps:
// - Create/Snapshot leave nothing behind when they fail (guards), and what a crash leaves is
//   found from the record's name alone by Destroy (the record's ref may still be "").
// - Destroy is idempotent: storage already gone is Ok. It deactivates first.
// - Grow is idempotent: "make the device and the filesystem at least this size"; a redo after a
//   crash at any point finishes the job. Online when the volume is active.
// - Activate is idempotent and returns the directory attachments bind from; Deactivate undoes
//   it (Ok when not active). Neither touches attachments: the manager unmounts those first.
// - Calls for one volume are serialised by the manager (a lock per volume name); different
//   volumes may be worked on by several processes at once.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "core/store.h"
#include "core/sys/device_mapper.h"
#include "core/sys/loop.h"
#include "core/sys/mounts.h"
#include "thinpool/pool_config.h"
#include "volumes/volume.h"

namespace strata::sys {
class Quota;
}

namespace strata::volumes {

// What backends need from the outside. All pointers must outlive the backend.
struct BackendEnv {
  std::string root;  // the strata root
  Store* store = nullptr;
  sys::Mounts* mounts = nullptr;
  sys::Loop* loop = nullptr;
  sys::DeviceMapper* dm = nullptr;  // thin only
  sys::Quota* quota = nullptr;      // local only
  thinpool::PoolConfig pool_config;  // thin: the pool (driver-opts.devicemapper)
};

// <root>/volumes/mnt/<name>
std::string StageDir(const std::string& root, const std::string& name);

// What `vol inspect` shows of the storage.
struct BackendDetails {
  std::string device;       // block device while active ("/dev/mapper/...", "/dev/loop3"), or ""
  std::string location;     // thin: "pool <pool> thin id <id>"; loop: the image; local: the dir
  std::optional<uint64_t> used_bytes;  // when cheap to know (loop: allocated blocks of the image)
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual BackendKind kind() const = 0;

  // Ok when this backend works on this machine; otherwise EOPNOTSUPP with the reason
  // ("device-mapper not available: ...").
  virtual Status Probe() = 0;

  // Checks a create request before anything is made: size vs the filesystem's minimum
  // (EINVAL "size 1M is below the ext4 minimum of 16M"), --size without quota support on local
  // (EOPNOTSUPP), a --path that is not a usable directory. Changes nothing.
  virtual Status CheckCreate(const VolumeRecord& volume) = 0;

  // Makes the storage of `volume` (name, size, fs, options, path), formatted and empty (no
  // lost+found). Returns the ref to record.
  virtual Result<std::string> Create(const VolumeRecord& volume) = 0;

  // Makes `volume` a point-in-time copy of `origin` (same backend; volume.size_bytes >= the
  // origin's, grown when larger). The origin may be active and attached: the copy is taken with
  // its filesystem quiesced (thin: dm suspend; loop: FIFREEZE). Returns the new ref.
  virtual Result<std::string> Snapshot(const VolumeRecord& origin, const VolumeRecord& volume) = 0;

  // Grows `volume` to new_size_bytes (>= its size; idempotent, see above). local: sets the quota.
  virtual Status Grow(const VolumeRecord& volume, uint64_t new_size_bytes) = 0;

  // Removes the storage (finding it by name when volume.ref is ""). Idempotent.
  virtual Status Destroy(const VolumeRecord& volume) = 0;

  // Makes the volume's filesystem available; returns the directory to bind from (the stage, or
  // the local directory). Idempotent.
  virtual Result<std::string> Activate(const VolumeRecord& volume) = 0;
  // Undoes Activate. Ok when not active. EBUSY when the stage is still in use.
  virtual Status Deactivate(const VolumeRecord& volume) = 0;

  virtual Result<BackendDetails> Details(const VolumeRecord& volume) = 0;
};

// Factories (one per backend file). They open nothing yet: the thin pool is opened (or, for the
// embedded default, created) on first use.
std::unique_ptr<Backend> NewThinBackend(const BackendEnv& env);
std::unique_ptr<Backend> NewLoopBackend(const BackendEnv& env);
std::unique_ptr<Backend> NewLocalBackend(const BackendEnv& env);

}  // namespace strata::volumes
