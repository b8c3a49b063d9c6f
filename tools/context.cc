#include "tools/context.h"

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>

#include "core/log.h"
#include "core/sys/device_mapper.h"
#include "core/sys/mounts.h"

namespace strata::cli {

Result<const Config*> Context::GetConfig() {
  if (config_) return config_.get();
  STRATA_ASSIGN_OR_RETURN(Config config, LoadConfig(flags));
  STRATA_TRY(InitLogging(config.log_level.value, config.log_file.value));
  config_ = std::make_unique<Config>(std::move(config));
  return config_.get();
}

static Status MakeRoot(const std::string& root) {
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec) return Error(ec.value(), "create root " + root + ": " + ec.message());
  if (::chmod(root.c_str(), 0700) != 0) return Error::FromErrno("chmod 0700 " + root);
  return Ok();
}

Result<Store*> Context::GetStore() {
  if (store_) return store_.get();
  STRATA_ASSIGN_OR_RETURN(const Config* config, GetConfig());
  STRATA_TRY(MakeRoot(config->root.value));
  STRATA_ASSIGN_OR_RETURN(store_, Store::Open(config->root.value + "/strata.db"));
  return store_.get();
}

void Context::Close() {
  containers_.reset();
  images_.reset();
  layers_.reset();
  selection_.reset();
  store_.reset();
}

drivers::DriverEnv Context::DriverEnvFor(const Config& config, Store* store) const {
  return drivers::DriverEnv{config.root.value, &sys::LinuxMounts(), store};
}

Result<drivers::Selection*> Context::GetDriver() {
  if (selection_) return selection_.get();
  STRATA_ASSIGN_OR_RETURN(const Config* config, GetConfig());
  STRATA_ASSIGN_OR_RETURN(Store * store, GetStore());
  STRATA_ASSIGN_OR_RETURN(
      drivers::Selection selection,
      drivers::SelectDriver(DriverEnvFor(*config, store), config->driver.value,
                            config->driver_opts.value));
  selection_ = std::make_unique<drivers::Selection>(std::move(selection));
  return selection_.get();
}

Result<drivers::LayerStore*> Context::GetLayers() {
  if (layers_) return layers_.get();
  STRATA_ASSIGN_OR_RETURN(Store * store, GetStore());
  STRATA_ASSIGN_OR_RETURN(drivers::Selection * selection, GetDriver());
  STRATA_ASSIGN_OR_RETURN(layers_, drivers::LayerStore::Open(*store, *selection->driver));
  layers_->set_remove_guard("images", images::ImageStore::LayerGuard(*store));
  layers_->set_remove_guard("containers", containers::ContainerStore::LayerGuard(*store));
  return layers_.get();
}

Result<images::ImageStore*> Context::GetImages() {
  if (images_) return images_.get();
  STRATA_ASSIGN_OR_RETURN(Store * store, GetStore());
  STRATA_ASSIGN_OR_RETURN(drivers::LayerStore * layers, GetLayers());
  STRATA_ASSIGN_OR_RETURN(images_, images::ImageStore::Open(*store, *layers));
  images_->set_remove_guard(containers::ContainerStore::ImageGuard(*store));
  return images_.get();
}

Result<containers::ContainerStore*> Context::GetContainers() {
  if (containers_) return containers_.get();
  STRATA_ASSIGN_OR_RETURN(Store * store, GetStore());
  containers_ = std::make_unique<containers::ContainerStore>(*store);
  return containers_.get();
}

Status RequireDeviceMapper() {
  Status probe = sys::ProbeDeviceMapper();
  if (probe.ok()) return probe;
  std::string reason = probe.error().message();
  constexpr std::string_view kPrefix = "device-mapper: ";
  if (reason.rfind(kPrefix, 0) == 0) reason.erase(0, kPrefix.size());
  return Error(probe.error().code(), "device-mapper not available: " + reason);
}

int ReportError(const Error& error) {
  std::fprintf(stderr, "strata: error: %s\n", error.message().c_str());
  return kExitError;
}

}  // namespace strata::cli
