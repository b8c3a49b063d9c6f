// What every `strata` command shares: the global flags, the effective config, and the objects
// opened from it (store, driver, layer store), each opened lazily on first use.
#pragma once

#include <memory>
#include <string>

#include "core/config.h"
#include "core/result.h"
#include "containers/container_store.h"
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
  // The image store on the layer store (with the container store's guard against removing an
  // image a container uses).
  Result<images::ImageStore*> GetImages();
  // The container records.
  Result<containers::ContainerStore*> GetContainers();

  // Closes every object opened from the config (the store's SQLite connection included), so a
  // fork that follows carries no connection into the child (SQLite forbids using one across a
  // fork). Pointers handed out before are invalid afterwards; the Get* functions reopen.
  void Close();

  drivers::DriverEnv DriverEnvFor(const Config& config, Store* store = nullptr) const;

 private:
  std::unique_ptr<Config> config_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<drivers::Selection> selection_;
  std::unique_ptr<drivers::LayerStore> layers_;
  std::unique_ptr<images::ImageStore> images_;
  std::unique_ptr<containers::ContainerStore> containers_;
};

// OK when this kernel has device-mapper; otherwise "device-mapper not available: <why>".
Status RequireDeviceMapper();

// Prints "strata: error: <message>" once, on stderr, and returns the exit code for it.
int ReportError(const Error& error);

}  // namespace strata::cli
