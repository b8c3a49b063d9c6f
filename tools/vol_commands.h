// Shared by the `strata vol` command files: opening the volume manager from the context, and
// the JSON and text forms of a volume.
#pragma once
#include <map>
#include <memory>
#include <vector>
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

// --label KEY=VALUE items (KEY alone: an empty value). EINVAL for an empty key.
Result<std::map<std::string, std::string>> ParseLabels(const std::vector<std::string>& items);

nlohmann::json VolumeJson(const volumes::VolumeInfo& info);

void SetupVolMaintenance(CLI::App& vol, Context& ctx, Action& action);

}  // namespace strata::cli
