// devicemapper: every layer is a thin device in a device-mapper thin pool (thinpool/pool.h),
// a snapshot of its parent's; base layers are snapshots of one base device formatted once.
// Snapshots share unchanged blocks, so a layer costs only what it changes, and each container
// layer is a block device of its own (what microVM runtimes want).
//
// Layout:
//   <root>/devicemapper/data, metadata   the embedded loop-file pool (when no devices are
//                                        configured), built on first use
//   <root>/devicemapper/mnt/<id>/        layer <id>'s root: a bind of the rootfs/ directory of
//                                        its filesystem (so lost+found stays out of the image)
//   <root>/devicemapper/tmp/<pid>-<n>/   private mounts of whole filesystems: the stage of a
//                                        mount, and views for diff and apply
// Store: thin_devices rows (thinpool) named "base" and "layer:<id>"; dm_layers(id, pool,
// thin_id, parent, kind) maps a layer to its thin device.
//
// Crash safety: the pool journals every thin operation. A layer's thin device is created (named
// "layer:<id>") before its dm_layers row, and the row goes before the device on remove, so a
// crash leaves at most a named thin device, which Remove(id) finds by name (the LayerStore calls
// it for every half-made layer). The base device is named "base.unformatted" until mkfs and
// rootfs/ are done; a leftover one is deleted and made again.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>

#include "core/result.h"
#include "drivers/driver.h"
#include "drivers/registry.h"

namespace strata::drivers::devicemapper {

// Registry probe: device-mapper in this kernel (sys::ProbeDeviceMapper), else EOPNOTSUPP with
// the reason, so auto-detect skips it.
Status ProbeDevicemapper(const DriverEnv& env);

// driver-opts.devicemapper: see thinpool/pool_config.h.
Status CheckDevicemapperOptions(const nlohmann::json& options);

// Registry factory. Needs env.store. Opens nothing yet: the pool is opened (or, for the
// embedded loop-file default, created, with a warning saying so) on first use.
Result<std::unique_ptr<Driver>> NewDevicemapperDriver(const DriverEnv& env,
                                                      const nlohmann::json& options);

}  // namespace strata::drivers::devicemapper
