#include "drivers/registry.h"

#include <cerrno>

#include "core/strings.h"
#include "drivers/aufs/aufs_driver.h"
#include "drivers/devicemapper/dm_driver.h"
#include "drivers/overlay/overlay_driver.h"
#include "drivers/fs_tree.h"
#include "drivers/vfs/vfs_driver.h"

namespace strata::drivers {
namespace {

// Auto-detect priority, best first: devicemapper (a block device per layer, where the kernel has
// device-mapper), overlay, then aufs (kernel aufs or the strata-aufs FUSE helper); vfs (full
// copies, works anywhere) is last.
constexpr DriverEntry kDrivers[] = {
    {"devicemapper", "thin-pool snapshots, a block device per layer (device-mapper)",
     &devicemapper::ProbeDevicemapper, &devicemapper::NewDevicemapperDriver,
     &devicemapper::CheckDevicemapperOptions},
    {"overlay", "overlayfs layers (overlay2 layout), native diff", &overlay::ProbeOverlay,
     &overlay::NewOverlayDriver, &overlay::CheckOverlayOptions},
    {"aufs", "aufs union layers (Docker aufs layout), kernel aufs or strata-aufs over FUSE",
     &aufs::ProbeAufs, &aufs::NewAufsDriver, &aufs::CheckAufsOptions},
    {"vfs", "full copy per layer; works anywhere, slow and large", &vfs::ProbeVfs,
     &vfs::NewVfsDriver, &vfs::CheckVfsOptions},
};

std::vector<std::string_view> DriverNames() {
  std::vector<std::string_view> names;
  for (const DriverEntry& entry : kDrivers) names.push_back(entry.name);
  return names;
}

// The errnos that mean "this driver cannot run here": skip it during auto-detection.
bool IsNotSupported(const Error& error) {
  return error.code() == EOPNOTSUPP || error.code() == ENOTTY || error.code() == ENOSYS;
}

// The driver's own object from driver-opts (null when absent).
nlohmann::json OptionsFor(const nlohmann::json& all_options, std::string_view name) {
  if (!all_options.is_object()) return nullptr;
  auto it = all_options.find(std::string(name));
  return it == all_options.end() ? nlohmann::json(nullptr) : *it;
}

Status CheckOptionNames(const nlohmann::json& all_options) {
  if (all_options.is_null()) return Ok();
  if (!all_options.is_object()) return Error(EINVAL, "driver-opts: expected an object");
  for (const auto& [key, value] : all_options.items()) {
    const DriverEntry* entry = FindDriver(key);
    if (entry == nullptr) {
      return Error(EINVAL, "driver-opts.\"" + key + "\": unknown driver" + DidYouMean(key));
    }
    STRATA_TRY(entry->check_options(value));
  }
  return Ok();
}

// Probes and builds one driver.
Result<std::unique_ptr<Driver>> Start(const DriverEntry& entry, const DriverEnv& env,
                                      const nlohmann::json& all_options) {
  STRATA_TRY(entry.probe(env));
  return entry.create(env, OptionsFor(all_options, entry.name));
}

// A driver with layers under <root>/<name> must keep being used, or its images would silently
// disappear (there is no migration between drivers).
Result<const DriverEntry*> DriverWithState(const DriverEnv& env) {
  const DriverEntry* found = nullptr;
  std::vector<std::string> with_state;
  for (const DriverEntry& entry : kDrivers) {
    if (!fs::IsNonEmptyDir(env.root + "/" + std::string(entry.name))) continue;
    if (found == nullptr) found = &entry;
    with_state.emplace_back(entry.name);
  }
  if (with_state.size() > 1) {
    return Error(EINVAL, env.root + " holds state of several drivers (" + Join(with_state, ", ") +
                             "): choose one with \"driver\" in the config file or --driver");
  }
  return found;
}

Result<Selection> AutoSelect(const DriverEnv& env, const nlohmann::json& all_options) {
  STRATA_ASSIGN_OR_RETURN(const DriverEntry* with_state, DriverWithState(env));
  Selection selection;
  if (with_state != nullptr) {
    const std::string home = env.root + "/" + std::string(with_state->name);
    STRATA_ASSIGN_OR_RETURN_CTX(
        selection.driver, Start(*with_state, env, all_options),
        "driver " + std::string(with_state->name) + " (existing state in " + home + ")");
    selection.why = "auto: existing state in " + home;
    return selection;
  }
  for (const DriverEntry& entry : kDrivers) {
    auto driver = Start(entry, env, all_options);
    if (driver.ok()) {
      selection.driver = std::move(driver).value();
      selection.why = "auto: first supported";
      return selection;
    }
    if (!IsNotSupported(driver.error())) {
      return std::move(driver).error().Wrap("driver " + std::string(entry.name));
    }
    selection.skipped.emplace_back(std::string(entry.name), driver.error().message());
  }
  std::string reasons;
  for (const auto& [name, why] : selection.skipped) reasons += "; " + name + ": " + why;
  return Error(EOPNOTSUPP, "no storage driver is supported here" + reasons);
}

}  // namespace

std::span<const DriverEntry> DriverTable() { return kDrivers; }

const DriverEntry* FindDriver(std::string_view name) {
  for (const DriverEntry& entry : kDrivers) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

std::string DidYouMean(std::string_view name) { return strata::DidYouMean(name, DriverNames()); }

Result<Selection> SelectDriver(const DriverEnv& env, const std::string& configured,
                               const nlohmann::json& all_options) {
  STRATA_TRY(CheckOptionNames(all_options));
  if (configured.empty()) return AutoSelect(env, all_options);
  const DriverEntry* entry = FindDriver(configured);
  if (entry == nullptr) {
    return Error(EINVAL,
                 "storage driver \"" + configured + "\": unknown driver" + DidYouMean(configured));
  }
  Selection selection;
  STRATA_ASSIGN_OR_RETURN_CTX(selection.driver, Start(*entry, env, all_options),
                              "driver " + configured);
  selection.why = "configured";
  return selection;
}

}  // namespace strata::drivers
