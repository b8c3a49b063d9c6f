// vfs: every layer is a full copy of its parent's tree in a plain directory. Works on any
// filesystem (inside other overlays, without mounts); O(image size) per layer. Meant as the
// always-available fallback and for debugging.
//
// Layout under <root>/vfs:
//   dir/<id>/          the layer's complete root filesystem (Mount returns it; no mount)
//   parents/<id>       the parent id (absent for a base layer), written atomically
//   dir/.tmp-<id>-XXX  a Create in progress; renamed to dir/<id> when the copy is complete
//   dir/.removing-<id> a Remove in progress
// Diffs are naive: Changes compares the layer's tree with its parent's (archive::TreeChanges).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/result.h"
#include "drivers/driver.h"
#include "drivers/registry.h"

namespace strata::drivers::vfs {

// Registry probe: vfs runs anywhere; always OK.
Status ProbeVfs(const DriverEnv& env);

// driver-opts.vfs: null or an empty object (vfs has no options). EINVAL
// "driver-opts.vfs.<key>: unknown option" otherwise.
Status CheckVfsOptions(const nlohmann::json& options);

// Registry factory. `options` (driver-opts.vfs) must be null or an empty object: vfs has no
// options, so any key is EINVAL "driver-opts.vfs.<key>: unknown option". Creates the home and
// deletes leftovers of interrupted creates/removes.
Result<std::unique_ptr<Driver>> NewVfsDriver(const DriverEnv& env, const nlohmann::json& options);

}  // namespace strata::drivers::vfs
