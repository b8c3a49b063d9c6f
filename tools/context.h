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
#include "images/image_store.h"

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
  // The layer store on the selected driver (with the image store's guard against removing a
  // layer an image uses).
  Result<drivers::LayerStore*> GetLayers();
  // The image store on the layer store.
  Result<images::ImageStore*> GetImages();

  drivers::DriverEnv DriverEnvFor(const Config& config, Store* store = nullptr) const;

 private:
  std::unique_ptr<Config> config_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<drivers::Selection> selection_;
  std::unique_ptr<drivers::LayerStore> layers_;
  std::unique_ptr<images::ImageStore> images_;
};

// OK when this kernel has device-mapper; otherwise "device-mapper not available: <why>".
Status RequireDeviceMapper();

// Prints "strata: error: <message>" once, on stderr, and returns the exit code for it.
int ReportError(const Error& error);

}  // namespace strata::cli
