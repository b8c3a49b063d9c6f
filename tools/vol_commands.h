// Shared by the `strata vol` command files: opening the volume manager from the context, and
// the JSON and text forms of a volume.
#pragma once
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "tools/commands.h"
#include "tools/context.h"
#include "volumes/manager.h"

namespace strata::cli {

// The manager on the context's store, config defaults (the "volumes" object) and pool
// (driver-opts.devicemapper). EINVAL for bad "volumes" options.
Result<std::unique_ptr<volumes::Manager>> OpenVolumes(Context& ctx);

nlohmann::json VolumeJson(const volumes::VolumeInfo& info);

void SetupVolMaintenance(CLI::App& vol, Context& ctx, Action& action);

}  // namespace strata::cli
