// `strata dm ls` and `strata dm table NAME`: strata's mapped devices and their mapping tables,
// so an operator never needs raw dmsetup to see what strata made. Read-only.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/strings.h"
#include "core/sys/device_mapper.h"
#include "core/units.h"
#include "tools/commands.h"
#include "tools/output.h"

namespace strata::cli {
namespace {

constexpr std::string_view kStrataUuidPrefix = "STRATA-";
constexpr uint64_t kSectorBytes = 512;

// dm devices by "MAJ:MIN", to name the target devices a table refers to.
using DmNames = std::map<std::string, std::string>;

std::string DevNumber(uint32_t major, uint32_t minor) {
  return std::to_string(major) + ":" + std::to_string(minor);
}

// Every dm device on the system, with its info; devices gone since the listing are skipped.
Result<std::vector<sys::DmDeviceInfo>> AllDevices(sys::DeviceMapper& dm) {
  STRATA_ASSIGN_OR_RETURN(std::vector<sys::DmListEntry> list, dm.List());
  std::vector<sys::DmDeviceInfo> out;
  for (const sys::DmListEntry& entry : list) {
    Result<sys::DmDeviceInfo> info = dm.Info(entry.name);
    if (!info.ok() && info.error().code() == ENXIO) continue;  // removed meanwhile
    if (!info.ok()) return std::move(info).error();
    out.push_back(std::move(*info));
  }
  return out;
}

std::string State(const sys::DmDeviceInfo& info) {
  std::vector<std::string> parts;
  parts.push_back(!info.live_table ? "no-table" : info.suspended ? "suspended" : "active");
  if (info.inactive_table) parts.push_back("reload-pending");
  if (info.read_only) parts.push_back("ro");
  if (info.deferred_remove) parts.push_back("deferred-remove");
  return Join(parts, ",");
}

// The arguments of a target line that name block devices (FIELD-GUIDE §1.2, §1.4).
std::vector<std::string> DeviceArgs(const sys::DmTarget& target) {
  std::istringstream in(target.params);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  std::vector<size_t> positions;
  if (target.type == "linear") positions = {0};
  if (target.type == "thin-pool") positions = {0, 1};
  if (target.type == "thin") positions = {0, 2};  // pool, optional external origin
  std::vector<std::string> out;
  for (size_t p : positions) {
    if (p < words.size()) out.push_back(words[p]);
  }
  return out;
}

// "strata-pool" for a dm device, "/dev/loop3" for another block device (from sysfs), or the
// argument itself when it names neither (a path in a table is shown as written).
std::string ResolveDevice(const std::string& arg, const DmNames& dm_names) {
  if (auto it = dm_names.find(arg); it != dm_names.end()) return it->second;
  std::ifstream uevent("/sys/dev/block/" + arg + "/uevent");
  for (std::string line; std::getline(uevent, line);) {
    if (line.rfind("DEVNAME=", 0) == 0) return "/dev/" + line.substr(8);
  }
  return arg;
}

nlohmann::json DeviceJson(const sys::DmDeviceInfo& info, const std::vector<std::string>& types) {
  return {{"name", info.name},
          {"uuid", info.uuid},
          {"major", info.major},
          {"minor", info.minor},
          {"open_count", info.open_count},
          {"targets", types},
          {"state", State(info)}};
}

std::vector<std::string> TargetTypes(sys::DeviceMapper& dm, const std::string& name) {
  std::vector<std::string> types;
  Result<std::vector<sys::DmTarget>> table = dm.Table(name);
  if (table.ok()) {
    for (const sys::DmTarget& t : *table) types.push_back(t.type);
  }
  return types;  // a device removed meanwhile shows no targets
}

int RunDmLs(Context& ctx) {
  if (Status s = RequireDeviceMapper(); !s.ok()) return ReportError(s.error());
  sys::DeviceMapper& dm = sys::LinuxDeviceMapper();
  auto devices = AllDevices(dm);
  if (!devices.ok()) return ReportError(devices.error().Wrap("dm ls"));
  nlohmann::json out = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "UUID", "MAJ:MIN", "OPEN", "TARGETS", "STATE"}};
  for (const sys::DmDeviceInfo& info : *devices) {
    if (info.uuid.rfind(kStrataUuidPrefix, 0) != 0) continue;  // not strata's
    std::vector<std::string> types = TargetTypes(dm, info.name);
    out.push_back(DeviceJson(info, types));
    rows.push_back({info.name, info.uuid, DevNumber(info.major, info.minor),
                    std::to_string(info.open_count), types.empty() ? "-" : Join(types, ","),
                    State(info)});
  }
  if (ctx.json) {
    PrintJson(out);
  } else {
    PrintTable(rows);
  }
  return kExitOk;
}

nlohmann::json TargetJson(const sys::DmTarget& t, const DmNames& dm_names) {
  nlohmann::json devices = nlohmann::json::array();
  for (const std::string& arg : DeviceArgs(t)) {
    devices.push_back({{"arg", arg}, {"device", ResolveDevice(arg, dm_names)}});
  }
  return {{"start_sectors", t.start_sectors},
          {"length_sectors", t.length_sectors},
          {"size", FormatSize(t.length_sectors * kSectorBytes)},
          {"type", t.type},
          {"params", t.params},
          {"devices", devices}};
}

void PrintTableText(const sys::DmDeviceInfo& info, const nlohmann::json& targets) {
  std::printf("%s  uuid %s  dev %s  %s\n", info.name.c_str(),
              info.uuid.empty() ? "-" : info.uuid.c_str(),
              DevNumber(info.major, info.minor).c_str(), State(info).c_str());
  std::vector<std::vector<std::string>> rows = {
      {"START", "LENGTH", "SIZE", "TYPE", "PARAMS", "DEVICES"}};
  for (const nlohmann::json& t : targets) {
    std::vector<std::string> devices;
    for (const nlohmann::json& d : t["devices"]) {
      devices.push_back(d["arg"].get<std::string>() + "=" + d["device"].get<std::string>());
    }
    rows.push_back({std::to_string(t["start_sectors"].get<uint64_t>()),
                    std::to_string(t["length_sectors"].get<uint64_t>()),
                    t["size"].get<std::string>(), t["type"].get<std::string>(),
                    t["params"].get<std::string>(), devices.empty() ? "-" : Join(devices, " ")});
  }
  PrintTable(rows);
}

int RunDmTable(Context& ctx, const std::string& name) {
  if (Status s = RequireDeviceMapper(); !s.ok()) return ReportError(s.error());
  sys::DeviceMapper& dm = sys::LinuxDeviceMapper();
  std::string what = "dm table " + name;
  auto info = dm.Info(name);
  if (!info.ok()) return ReportError(info.error().Wrap(what));
  auto table = dm.Table(name);
  if (!table.ok()) return ReportError(table.error().Wrap(what));
  auto devices = AllDevices(dm);
  if (!devices.ok()) return ReportError(devices.error().Wrap(what));
  DmNames dm_names;
  for (const sys::DmDeviceInfo& d : *devices) dm_names[DevNumber(d.major, d.minor)] = d.name;
  nlohmann::json targets = nlohmann::json::array();
  for (const sys::DmTarget& t : *table) targets.push_back(TargetJson(t, dm_names));
  if (ctx.json) {
    PrintJson({{"name", info->name},
               {"uuid", info->uuid},
               {"state", State(*info)},
               {"major", info->major},
               {"minor", info->minor},
               {"targets", targets}});
  } else {
    PrintTableText(*info, targets);
  }
  return kExitOk;
}

std::string GroupSummary(std::string_view name, std::string_view fallback) {
  for (const CommandGroup& group : kCommandGroups) {
    if (group.name == name) return std::string(group.summary);
  }
  return std::string(fallback);
}

}  // namespace

void SetupDm(CLI::App& app, Context& ctx, Action& action) {
  CLI::App* dm = app.add_subcommand(
      "dm", GroupSummary("dm", "Show strata's device-mapper devices and their mapping tables"));
  dm->require_subcommand(1);
  CLI::App* ls = dm->add_subcommand("ls", "List strata's mapped devices (uuid STRATA-...)");
  ls->add_flag("--json", ctx.json, "Print JSON");
  ls->callback([&ctx, &action] { action = [&ctx] { return RunDmLs(ctx); }; });
  CLI::App* table = dm->add_subcommand("table", "Show a mapped device's table and target devices");
  auto name = std::make_shared<std::string>();
  table->add_option("NAME", *name, "Device name")->required();
  table->add_flag("--json", ctx.json, "Print JSON");
  table->callback(
      [&ctx, &action, name] { action = [&ctx, name] { return RunDmTable(ctx, *name); }; });
}

}  // namespace strata::cli
