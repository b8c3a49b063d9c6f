// The driver table: name, summary, probe, factory. Table order is the auto-detect priority;
// a probe answering "not supported" (EOPNOTSUPP with the reason) means: skip this driver.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "core/store.h"
#include "core/sys/mounts.h"
#include "drivers/driver.h"

namespace strata::drivers {

struct DriverEnv {
  std::string root;                     // strata root; a driver's home is <root>/<name>
  sys::Mounts* mounts = nullptr;        // the mount seam (LinuxMounts() or a fake)
  Store* store = nullptr;               // the metadata store (devicemapper keeps its map there)
};

struct DriverEntry {
  std::string_view name;
  std::string_view summary;
  // OK when this kernel and backing filesystem can run the driver; otherwise an error whose
  // message says why (errno EOPNOTSUPP for "not supported here").
  Status (*probe)(const DriverEnv& env);
  // Builds the driver. `options` is this driver's object from config "driver-opts" (may be
  // null/empty). Unknown keys, wrong types and impossible values: EINVAL naming
  // "driver-opts.<name>.<key>" and what was expected.
  Result<std::unique_ptr<Driver>> (*create)(const DriverEnv& env, const nlohmann::json& options);
  // Validates `options` without building the driver, so a typo in the options of a driver that
  // is not selected is still an error. Same errors as `create` gives for bad options.
  Status (*check_options)(const nlohmann::json& options);
};

// All drivers, in auto-detect priority order.
std::span<const DriverEntry> DriverTable();
// nullptr when unknown.
const DriverEntry* FindDriver(std::string_view name);
// " (did you mean \"overlay\"?)" or "" — for unknown-name errors.
std::string DidYouMean(std::string_view name);

struct Selection {
  std::unique_ptr<Driver> driver;
  std::string why;  // "configured", "auto: existing state in <root>/vfs", "auto: first supported"
  std::vector<std::pair<std::string, std::string>> skipped;  // driver name -> reason
};

// `configured` empty: auto-detect (a driver with existing state under root wins, else the first
// whose probe passes). Otherwise that driver or its probe's error. `all_options` is the config's
// whole "driver-opts" object; names in it that are not drivers are rejected.
Result<Selection> SelectDriver(const DriverEnv& env, const std::string& configured,
                               const nlohmann::json& all_options);

}  // namespace strata::drivers
