// The overlay mount planner (pure) and its apply step (a dumb call over the Mounts seam).
//
// Planning decides, from a layer, its chain of lower link ids and what the kernel supports:
//   - no mount at all (a base layer: its diff/ is its root filesystem);
//   - the new mount API, one fsconfig "lowerdir+" per layer (Linux >= 6.8): no page limit;
//   - classic mount(2) with absolute <home>/l/<link> paths when the data fits one page;
//   - classic mount(2) with paths relative to <home>, after chdir(<home>), when only that fits;
//   - else an error naming the limit.
// A chain needing more lower layers than overlayfs stacks (OVL_MAX_STACK = 500) is refused with
// E2BIG naming the limit. We never truncate a chain and do not flatten it: the layer stays
// exportable (Diff reads diff/ without mounting); only mounting it is impossible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/sys/mounts.h"

namespace strata::drivers::overlay {

// The kernel's overlay stacking limit (fs/overlayfs: OVL_MAX_STACK), counted in lower layers.
// The upper layer does not count.
inline constexpr size_t kMaxLowerLayers = 500;

// What this kernel (and config) allow. Filled once at Init by DetectFeatures (layout.h).
struct OverlayFeatures {
  bool new_mount_api = false;     // fsopen + fsconfig "lowerdir+" work (Linux >= 6.8)
  bool index_off = false;         // /sys/module/overlay/parameters/index exists: pass index=off
  bool redirect_dir_off = false;  // the kernel knows redirect_dir: pass redirect_dir=off
  bool metacopy_off = false;      // the kernel knows metacopy: pass metacopy=off
  size_t page_size_bytes = 4096;  // mount(2) copies one page of data, NUL included
  size_t max_lower_layers = kMaxLowerLayers;
  std::vector<std::string> extra_options;  // driver-opts.overlay.mount-options, validated
};

enum class MountAccess { kReadWrite, kReadOnly };

struct OverlayLayerInfo {
  std::string home;  // absolute overlay home, no trailing '/'
  std::string id;    // the layer's directory name under home (its id; "_l" for id "l")
  // Link ids (the 26-char names under <home>/l) of the parents, nearest first. Empty: a base
  // layer, which is never mounted.
  std::vector<std::string> lower_links;
};

struct OverlayMountPlan {
  enum class Method { kNone, kNewApi, kClassicAbsolute, kClassicRelative };
  Method method = Method::kNone;
  MountAccess access = MountAccess::kReadWrite;
  std::string root_path;             // what Mount returns: merged/ (or diff/ for kNone)
  std::string target;                // the mount point (absolute); empty for kNone
  std::vector<sys::FsParam> params;  // kNewApi: fsconfig calls in order
  std::string data;                  // classic: the mount(2) data string
  std::string chdir_to;              // kClassicRelative: the directory paths are relative to
  size_t lower_count = 0;            // lower layers in the mount
};

// Plans the mount of `layer`. kReadOnly (a committed layer, someone's parent) mounts
// lowerdir=<own diff>:<lowers> with no upper; kReadWrite mounts upperdir=<id>/diff and
// workdir=<id>/work over the lowers. The classic data string must be at most page_size - 1 bytes
// (mount(2) copies one page and NUL-terminates it at the last byte: a 4096-byte string would be
// silently cut). Errors: E2BIG naming the limit (too many layers, or data too long for a kernel
// without the new mount API).
Result<OverlayMountPlan> PlanOverlayMount(const OverlayLayerInfo& layer, MountAccess access,
                                          const OverlayFeatures& features);

// Carries out `plan` over the seam. Does not create or remove the mount point (the driver does).
// kClassicRelative changes the process's working directory for the duration of mount(2) and
// restores it after, so this is not safe with other threads using relative paths (the CLI is
// single-threaded). Errors: those of the seam (ENOSYS from MountNewApi: no new mount API).
Status ApplyOverlayMount(sys::Mounts& mounts, const OverlayMountPlan& plan);

// The seam's flag values (core/sys/mounts.h), used by the apply step and the driver.
using sys::kMntDetach;
using sys::kMountAttrRdonly;
using sys::kMsRdonly;

}  // namespace strata::drivers::overlay
