// What every `strata` command shares: the global flags, the effective config, and the objects
// opened from it (store, driver, layer store), each opened lazily on first use.
#pragma once

#include <memory>
#include <string>

#include "core/config.h"
#include "core/result.h"
#include "core/store.h"
#include "drivers/layer_store.h"
#include "drivers/registry.h"

namespace strata::cli {

// Exit codes: 0 success, 1 an operation failed, 2 bad usage.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;

class Context {
 public:
  ConfigFlags flags;
  bool json = false;  // --json on the current command

  // Loads the config once (flags over file over defaults) and sets up logging.
  Result<const Config*> GetConfig();
  // Creates the root (0700) if needed and opens the metadata store in it.
  Result<Store*> GetStore();
  // Selects and builds the driver (config, or auto-detect), once.
  Result<drivers::Selection*> GetDriver();
  // The layer store on the selected driver.
  Result<drivers::LayerStore*> GetLayers();

  drivers::DriverEnv DriverEnvFor(const Config& config, Store* store = nullptr) const;

 private:
  std::unique_ptr<Config> config_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<drivers::Selection> selection_;
  std::unique_ptr<drivers::LayerStore> layers_;
};

// OK when this kernel has device-mapper; otherwise "device-mapper not available: <why>".
Status RequireDeviceMapper();

// Prints "strata: error: <message>" once, on stderr, and returns the exit code for it.
int ReportError(const Error& error);

}  // namespace strata::cli
