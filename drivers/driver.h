// The graph driver interface: image (read-only) layers and container (read-write) layers.
//
// A Driver owns its on-disk layout under its home directory (<root>/<driver name>) and persists
// whatever it needs to rebuild a layer's chain (e.g. overlay's `lower` file). It does NOT count
// mount references: the LayerStore (drivers/layer_store.h) counts them in the metadata store,
// serialises operations on one id, and calls Mount on the first reference and Unmount on the last.
//
// Thread-safety: none; one strata process drives one Driver at a time per id (LayerStore locks).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "drivers/archive/archive.h"

namespace strata::drivers {

enum class LayerKind { kReadOnly, kReadWrite };

struct CreateOptions {
  // Read-write layers only: the layer's size limit. A driver that cannot enforce it returns
  // EOPNOTSUPP with the reason.
  std::optional<uint64_t> size_bytes;
};

// One key/value line of `strata info` / `driver ls` for this driver.
using StatusFields = std::vector<std::pair<std::string, std::string>>;

class Driver {
 public:
  virtual ~Driver() = default;

  virtual std::string Name() const = 0;
  // Home directory of this driver's layout.
  virtual std::string Home() const = 0;
  // Backing filesystem, d_type, native diff, mount API, ... for `strata info`.
  virtual StatusFields Describe() const = 0;
  // How ApplyDiff writes whiteouts in this driver's layers.
  virtual archive::WhiteoutFormat Whiteouts() const = 0;

  // Creates layer `id` on `parent` (empty: a base layer). EEXIST if `id` exists; ENOENT if the
  // parent does not. On error nothing of `id` is left behind.
  virtual Status Create(const std::string& id, const std::string& parent, LayerKind kind,
                        const CreateOptions& options) = 0;
  // Removes `id` and everything of it on disk; unmounts it first if still mounted. Idempotent:
  // a layer that does not exist is success.
  virtual Status Remove(const std::string& id) = 0;
  virtual bool Exists(const std::string& id) const = 0;

  // Mounts `id` (no reference counting here) and returns the path of its root filesystem.
  // A layer that is already someone's parent is mounted read-only.
  virtual Result<std::string> Mount(const std::string& id) = 0;
  // Unmounts `id` (lazily where the kernel allows) and removes its mount point. Idempotent.
  virtual Status Unmount(const std::string& id) = 0;
  // Where Mount puts `id`'s root, mounted or not.
  virtual std::string MountPath(const std::string& id) const = 0;
  // Whether `id` is mounted now, from /proc/self/mountinfo. Drivers whose layers need no mount
  // (vfs, an overlay base layer) return true when the directory exists.
  virtual Result<bool> IsMounted(const std::string& id) = 0;

  // Diff operations: `id` against its parent, as OCI layer tars with .wh. whiteouts.
  virtual Result<std::vector<archive::Change>> Changes(const std::string& id) = 0;
  virtual Result<archive::ExportStats> Diff(const std::string& id, int out_fd,
                                            archive::Compression compression) = 0;
  virtual Result<archive::ApplyStats> ApplyDiff(const std::string& id, int in_fd) = 0;
  virtual Result<uint64_t> DiffSize(const std::string& id) = 0;
};

}  // namespace strata::drivers
