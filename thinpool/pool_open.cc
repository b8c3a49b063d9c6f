#include "thinpool/pool_open.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <string>

#include "core/file_lock.h"
#include "core/units.h"

namespace strata::thinpool {
namespace {

// Serialises making the pool between strata processes (pool_open.h).
Result<FileLock> AcquireInitLock(const PoolEnv& env, const std::string& name) {
  const std::string locks = env.root + "/locks";
  if (::mkdir(locks.c_str(), 0700) != 0 && errno != EEXIST) {
    return Error::FromErrno("create " + locks);
  }
  return FileLock::Acquire(locks + "/pools", PoolInitLockName(name), "pool " + name + " (init)",
                           FileLock::Wait::kBlock, kPoolLockTimeout);
}

void WarnEmbeddedPool(const PoolEnv& env, const PoolConfig& config, std::string_view who) {
  spdlog::warn(
      "{}: no thin pool yet; creating the embedded loop-file pool \"{}\" under {}/devicemapper "
      "(data {} sparse). Loop files are for trying strata out: for production set data-device "
      "and metadata-device, or thin-pool-device, in driver-opts.devicemapper",
      who, config.pool_name.value, env.root, FormatSize(config.data_size_bytes.value));
}

}  // namespace

std::string PoolInitLockName(std::string_view pool_name) {
  return std::string(pool_name) + ".init";
}

Result<std::unique_ptr<ThinPool>> OpenOrCreatePool(const PoolEnv& env, const PoolConfig& config,
                                                   std::string_view who) {
  const std::string& name = config.pool_name.value;
  auto opened = ThinPool::Open(env, config);
  if (opened.ok() || opened.error().code() != ENOENT) {
    return std::move(opened).Wrap(std::string(who) + ": open pool " + name);
  }
  STRATA_ASSIGN_OR_RETURN_CTX(FileLock lock, AcquireInitLock(env, name),
                              std::string(who) + ": create pool " + name);
  opened = ThinPool::Open(env, config);  // another process may have made it meanwhile
  if (opened.ok() || opened.error().code() != ENOENT) {
    return std::move(opened).Wrap(std::string(who) + ": open pool " + name);
  }
  if (config.backing == PoolBacking::kLoopFiles) WarnEmbeddedPool(env, config, who);
  return ThinPool::Create(env, config).Wrap(std::string(who) + ": create pool " + name);
}

}  // namespace strata::thinpool
