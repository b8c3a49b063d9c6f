// Opening the configured thin pool on first use, shared by everything that keeps thin devices in
// it (the devicemapper layer driver, the thin volume backend): open it, and when there is none
// yet make it, once, even with several strata processes starting at the same time.
#pragma once

#include <memory>
#include <string_view>

#include "core/result.h"
#include "thinpool/pool.h"
#include "thinpool/pool_config.h"

namespace strata::thinpool {

// The name of the cross-process lock that serialises making pool `pool_name`:
// <root>/locks/pools/<pool_name>.init.lock (FileLock). It is taken before the pool's own lock
// (ThinPool::Lock), never while holding it.
std::string PoolInitLockName(std::string_view pool_name);

// ThinPool::Open; on ENOENT takes the pool's init lock (waiting up to kPoolLockTimeout), opens
// again (another process may have made the pool meanwhile) and else ThinPool::Create. Creating
// the embedded loop-file default logs a warning on spdlog::warn that names `who`
// ("devicemapper", "volumes") and says that loop files are for trying strata out; the other
// backings are made silently (the user configured them).
// Errors: Open's (other than ENOENT) and Create's, wrapped "<who>: open pool <name>" or
// "<who>: create pool <name>"; EBUSY when the init lock stays held past the timeout.
Result<std::unique_ptr<ThinPool>> OpenOrCreatePool(const PoolEnv& env, const PoolConfig& config,
                                                   std::string_view who);

}  // namespace strata::thinpool
