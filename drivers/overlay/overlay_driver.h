// overlay: overlay2-style layers (FIELD-GUIDE §3.4, layout in layout.h). A layer with parents is
// mounted as an overlay of its own diff/ over its parents' diff/ dirs; a base layer's diff/ is
// used as is. Diffs are native: diff/ is the layer tar's content in overlay whiteout form, kept
// valid by mounting with redirect_dir=off and metacopy=off.
//
// Mounting (mount_plan.h): the new mount API with one "lowerdir+" per layer when the kernel has
// it (>= 6.8), else classic mount(2) with absolute, then relative, l/ link paths. A chain needing
// more than 500 lower layers (the kernel's OVL_MAX_STACK) fails at Mount with E2BIG naming the
// limit; Create does not refuse it, so such a layer can still be exported.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/result.h"
#include "drivers/driver.h"
#include "drivers/overlay/mount_plan.h"
#include "drivers/registry.h"

namespace strata::drivers::overlay {

// Registry probe. EOPNOTSUPP with the reason when: "overlay" is not in /proc/filesystems, the
// kernel is older than 4.8 (copy-up marked dirs opaque: native diff impossible), or <root> is on
// overlayfs itself (an upper dir on overlayfs fails to mount).
Status ProbeOverlay(const DriverEnv& env);

// Registry factory. Checks d_type on the backing filesystem (EOPNOTSUPP with Docker's message
// when missing), detects kernel features, creates <root>/overlay and l/, and deletes leftovers of
// interrupted creates/removes. `options` is driver-opts.overlay (see ParseOverlayOptions).
Result<std::unique_ptr<Driver>> NewOverlayDriver(const DriverEnv& env,
                                                 const nlohmann::json& options);

// driver-opts.overlay: null or an object with
//   "mount-options": ["opt", "key=value", ...]   extra overlay mount options for every mount
// Returns the extra options. EINVAL naming driver-opts.overlay.<key> for unknown keys, wrong
// types, options containing ',' and options strata sets itself (lowerdir, upperdir, workdir,
// index, redirect_dir, metacopy, ...).
Result<std::vector<std::string>> ParseOverlayOptions(const nlohmann::json& options);
// ParseOverlayOptions for the registry's options check.
Status CheckOverlayOptions(const nlohmann::json& options);

// The driver over an existing home with explicit features (tests use this to force a method).
// `mounts` must outlive the driver.
std::unique_ptr<Driver> MakeOverlayDriver(std::string home, sys::Mounts& mounts,
                                          OverlayFeatures features, std::string backing_fs);

}  // namespace strata::drivers::overlay
