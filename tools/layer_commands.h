// Shared pieces of the `strata layer` command group (tools/cmd_layer*.cc).
#pragma once

#include <nlohmann/json.hpp>

#include "drivers/layer_store.h"
#include "tools/commands.h"

namespace strata::cli {

// import, export, changes (tools/cmd_layer_diff.cc).
void SetupLayerDiffCommands(CLI::App& layer, Context& ctx, Action& action);

nlohmann::json LayerJson(const drivers::LayerRecord& layer);
const char* KindName(drivers::LayerKind kind);

// Resolves an id or unique prefix to a full id (empty stays empty: "no parent").
Result<std::string> ResolveLayerId(drivers::LayerStore& layers, const std::string& id_or_prefix);

}  // namespace strata::cli
