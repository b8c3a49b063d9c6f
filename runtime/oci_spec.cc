#include "runtime/oci_spec.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "runtime/capabilities.h"
#include "runtime/rootfs.h"

namespace strata::runtime {
namespace {

using nlohmann::json;

Error Bad(const std::string& field, const std::string& want) {
  return Error(EINVAL, field + ": " + want);
}

const json* Member(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<std::string> String(const json& obj, const char* key, const std::string& field,
                           bool required = false) {
  const json* v = Member(obj, key);
  if (v == nullptr) {
    if (required) return Bad(field, "missing (want a string)");
    return std::string();
  }
  if (!v->is_string()) return Bad(field, "want a string");
  return v->get<std::string>();
}

Result<bool> Bool(const json& obj, const char* key, const std::string& field) {
  const json* v = Member(obj, key);
  if (v == nullptr) return false;
  if (!v->is_boolean()) return Bad(field, "want true or false");
  return v->get<bool>();
}

Result<std::optional<int64_t>> Int(const json& obj, const char* key, const std::string& field) {
  const json* v = Member(obj, key);
  if (v == nullptr) return std::optional<int64_t>();
  if (v->is_number_integer()) return std::optional<int64_t>(v->get<int64_t>());
  if (v->is_number_unsigned() && v->get<uint64_t>() <= uint64_t{INT64_MAX}) {
    return std::optional<int64_t>(static_cast<int64_t>(v->get<uint64_t>()));
  }
  return Bad(field, "want an integer");
}

Result<uint32_t> Id(const json& obj, const char* key, const std::string& field) {
  const json* v = Member(obj, key);
  if (v == nullptr) return uint32_t{0};
  if (!v->is_number_unsigned() || v->get<uint64_t>() > UINT32_MAX) {
    return Bad(field, "want an integer 0..4294967295");
  }
  return static_cast<uint32_t>(v->get<uint64_t>());
}

Result<std::vector<std::string>> Strings(const json& obj, const char* key,
                                         const std::string& field) {
  std::vector<std::string> out;
  const json* v = Member(obj, key);
  if (v == nullptr) return out;
  if (!v->is_array()) return Bad(field, "want an array of strings");
  for (const json& item : *v) {
    if (!item.is_string()) return Bad(field, "want an array of strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::string InBundle(const std::string& bundle, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  std::string p = path;
  while (p.rfind("./", 0) == 0) p.erase(0, 2);
  return bundle + (bundle.empty() || bundle.back() == '/' ? "" : "/") + p;
}

Status CheckVersion(const std::string& version) {
  for (const char* ok : {"1.0", "1.1", "1.2"}) {
    std::string_view v = version;
    if (v.rfind(ok, 0) == 0 && (v.size() == 3 || v[3] == '.' || v[3] == '-')) return Ok();
  }
  return Bad("ociVersion \"" + version + "\"", "unsupported, want 1.0.x to 1.2.x");
}

// ---- process ----

Result<std::vector<std::string>> CapabilitySet(const json& caps, const char* key) {
  const std::string field = std::string("process.capabilities.") + key;
  STRATA_ASSIGN_OR_RETURN(std::vector<std::string> names, Strings(caps, key, field));
  for (const std::string& name : names) {
    if (CapabilityNumber(name) < 0) return Bad(field, "unknown capability \"" + name + "\"");
  }
  return names;
}

std::set<int> CapNumbers(const std::vector<std::string>& names) {
  std::set<int> out;
  for (const std::string& n : names) out.insert(CapabilityNumber(n));
  return out;
}

// One mask serves the bounding, effective and permitted sets (runtime/spawn.h): the bounding set
// when given, else permitted, else effective. Different sets are reported.
Status ParseCapabilities(const json& process, OciConfig& out) {
  const json* caps = Member(process, "capabilities");
  out.spec.capabilities.clear();
  if (caps == nullptr) return Ok();
  if (!caps->is_object()) return Bad("process.capabilities", "want an object");
  STRATA_ASSIGN_OR_RETURN(auto bounding, CapabilitySet(*caps, "bounding"));
  STRATA_ASSIGN_OR_RETURN(auto effective, CapabilitySet(*caps, "effective"));
  STRATA_ASSIGN_OR_RETURN(auto permitted, CapabilitySet(*caps, "permitted"));
  STRATA_ASSIGN_OR_RETURN(auto inheritable, CapabilitySet(*caps, "inheritable"));
  STRATA_ASSIGN_OR_RETURN(auto ambient, CapabilitySet(*caps, "ambient"));
  out.spec.capabilities = Member(*caps, "bounding")    ? bounding
                          : Member(*caps, "permitted") ? permitted
                                                       : effective;
  const std::set<int> mask = CapNumbers(out.spec.capabilities);
  if (CapNumbers(effective) != mask || CapNumbers(permitted) != mask) {
    out.warnings.push_back(
        "process.capabilities: effective and permitted differ from bounding; "
        "all three get the bounding set");
  }
  // For uid 0 the ambient set changes nothing (exec gives root the bounding set anyway).
  if (!inheritable.empty() || (!ambient.empty() && out.spec.uid != 0)) {
    out.warnings.push_back("process.capabilities: inheritable and ambient sets ignored");
  }
  return Ok();
}

Status ParseRlimits(const json& process, OciConfig& out) {
  const json* limits = Member(process, "rlimits");
  if (limits == nullptr) return Ok();
  if (!limits->is_array()) return Bad("process.rlimits", "want an array");
  for (const json& l : *limits) {
    STRATA_ASSIGN_OR_RETURN(std::string type, String(l, "type", "process.rlimits[].type", true));
    const std::string field = "process.rlimits " + type;
    int number = RlimitNumber(type);
    if (number < 0) return Bad(field, "unknown rlimit type");
    const json* soft = Member(l, "soft");
    const json* hard = Member(l, "hard");
    if (soft == nullptr || hard == nullptr || !soft->is_number_unsigned() ||
        !hard->is_number_unsigned()) {
      return Bad(field, "want unsigned integers soft and hard");
    }
    out.spec.rlimits.push_back({number, soft->get<uint64_t>(), hard->get<uint64_t>()});
  }
  return Ok();
}

Status ParseUser(const json& process, OciConfig& out) {
  const json* user = Member(process, "user");
  if (user == nullptr) return Ok();
  if (!user->is_object()) return Bad("process.user", "want an object");
  STRATA_ASSIGN_OR_RETURN(out.spec.uid, Id(*user, "uid", "process.user.uid"));
  STRATA_ASSIGN_OR_RETURN(out.spec.gid, Id(*user, "gid", "process.user.gid"));
  if (const json* gids = Member(*user, "additionalGids"); gids != nullptr) {
    if (!gids->is_array()) return Bad("process.user.additionalGids", "want an array of gids");
    for (const json& g : *gids) {
      if (!g.is_number_unsigned() || g.get<uint64_t>() > UINT32_MAX) {
        return Bad("process.user.additionalGids", "want an array of gids");
      }
      out.spec.additional_gids.push_back(static_cast<uint32_t>(g.get<uint64_t>()));
    }
  }
  if (Member(*user, "umask") != nullptr) {
    out.warnings.push_back("process.user.umask: ignored (the payload starts with umask 022)");
  }
  return Ok();
}

Status ParseProcess(const json& config, OciConfig& out) {
  const json* process = Member(config, "process");
  if (process == nullptr || !process->is_object())
    return Bad("process", "missing (want an object)");
  const json* args = Member(*process, "args");
  if (args == nullptr || !args->is_array() || args->empty()) {
    return Bad("process.args", "want a non-empty array of strings");
  }
  STRATA_ASSIGN_OR_RETURN(out.spec.args, Strings(*process, "args", "process.args"));
  if (out.spec.args[0].empty()) return Bad("process.args[0]", "empty");
  STRATA_ASSIGN_OR_RETURN(out.spec.env, Strings(*process, "env", "process.env"));
  STRATA_ASSIGN_OR_RETURN(out.spec.cwd, String(*process, "cwd", "process.cwd", true));
  if (out.spec.cwd.empty() || out.spec.cwd[0] != '/') {
    return Bad("process.cwd \"" + out.spec.cwd + "\"", "want an absolute path");
  }
  STRATA_ASSIGN_OR_RETURN(out.terminal, Bool(*process, "terminal", "process.terminal"));
  STRATA_ASSIGN_OR_RETURN(out.spec.no_new_privileges,
                          Bool(*process, "noNewPrivileges", "process.noNewPrivileges"));
  STRATA_ASSIGN_OR_RETURN(auto oom, Int(*process, "oomScoreAdj", "process.oomScoreAdj"));
  if (oom) {
    if (*oom < -1000 || *oom > 1000) return Bad("process.oomScoreAdj", "want -1000..1000");
    out.oom_score_adj = static_cast<int>(*oom);
  }
  STRATA_TRY(ParseUser(*process, out));
  STRATA_TRY(ParseCapabilities(*process, out));
  STRATA_TRY(ParseRlimits(*process, out));
  for (const char* key : {"apparmorProfile", "selinuxLabel", "ioPriority", "scheduler"}) {
    if (Member(*process, key) != nullptr) {
      out.warnings.push_back(std::string("process.") + key + ": ignored (not supported)");
    }
  }
  return Ok();
}

// ---- mounts ----

struct MountOption {
  const char* name;
  unsigned long set;
  unsigned long clear;
};

constexpr MountOption kFlagOptions[] = {
    {"ro", kMsRdonly, 0},
    {"rw", 0, kMsRdonly},
    {"nosuid", kMsNosuid, 0},
    {"suid", 0, kMsNosuid},
    {"nodev", kMsNodev, 0},
    {"dev", 0, kMsNodev},
    {"noexec", kMsNoexec, 0},
    {"exec", 0, kMsNoexec},
    {"sync", kMsSynchronous, 0},
    {"async", 0, kMsSynchronous},
    {"dirsync", kMsDirsync, 0},
    {"mand", kMsMandlock, 0},
    {"nomand", 0, kMsMandlock},
    {"noatime", kMsNoatime, 0},
    {"atime", 0, kMsNoatime},
    {"nodiratime", kMsNodiratime, 0},
    {"diratime", 0, kMsNodiratime},
    {"relatime", kMsRelatime, 0},
    {"norelatime", 0, kMsRelatime},
    {"strictatime", kMsStrictatime, 0},
    {"nostrictatime", 0, kMsStrictatime},
};

constexpr MountOption kPropagationOptions[] = {
    {"private", kMsPrivate, 0},       {"rprivate", kMsPrivate | kMsRec, 0},
    {"slave", kMsSlave, 0},           {"rslave", kMsSlave | kMsRec, 0},
    {"shared", kMsShared, 0},         {"rshared", kMsShared | kMsRec, 0},
    {"unbindable", kMsUnbindable, 0}, {"runbindable", kMsUnbindable | kMsRec, 0},
};

// Recursive vfs attributes (mount_setattr): applied like their plain forms.
constexpr MountOption kRecursiveAttrOptions[] = {
    {"rro", kMsRdonly, 0},     {"rnosuid", kMsNosuid, 0}, {"rnodev", kMsNodev, 0},
    {"rnoexec", kMsNoexec, 0}, {"rrw", 0, kMsRdonly},
};

const MountOption* FindOption(const std::string& name, const MountOption* begin,
                              const MountOption* end) {
  auto it = std::find_if(begin, end, [&](const MountOption& o) { return name == o.name; });
  return it == end ? nullptr : it;
}

Result<Mount> ParseMount(const json& m, size_t index, const std::string& bundle, OciConfig& out) {
  const std::string at = "mounts[" + std::to_string(index) + "]";
  if (!m.is_object()) return Bad(at, "want an object");
  Mount mount;
  STRATA_ASSIGN_OR_RETURN(mount.destination, String(m, "destination", at + ".destination", true));
  const std::string field = at + " (" + mount.destination + ")";
  if (mount.destination.empty() || mount.destination[0] != '/') {
    return Bad(field + ".destination", "want an absolute path");
  }
  STRATA_ASSIGN_OR_RETURN(std::string type, String(m, "type", field + ".type"));
  STRATA_ASSIGN_OR_RETURN(std::string source, String(m, "source", field + ".source"));
  STRATA_ASSIGN_OR_RETURN(std::vector<std::string> options,
                          Strings(m, "options", field + ".options"));
  if (Member(m, "uidMappings") != nullptr || Member(m, "gidMappings") != nullptr) {
    return Error(EOPNOTSUPP, field + ": idmapped mounts are not supported");
  }
  bool bind = type == "bind", rbind = false;
  unsigned long flags = 0;
  std::string data;
  for (const std::string& o : options) {
    if (o == "bind" || o == "rbind") {
      bind = true;
      rbind = rbind || o == "rbind";
    } else if (const MountOption* f =
                   FindOption(o, std::begin(kFlagOptions), std::end(kFlagOptions))) {
      flags = (flags & ~f->clear) | f->set;
    } else if (const MountOption* r = FindOption(o, std::begin(kRecursiveAttrOptions),
                                                 std::end(kRecursiveAttrOptions))) {
      flags = (flags & ~r->clear) | r->set;
    } else if (const MountOption* p =
                   FindOption(o, std::begin(kPropagationOptions), std::end(kPropagationOptions))) {
      mount.propagation = p->set;
    } else if (o == "idmap" || o == "ridmap") {
      return Error(EOPNOTSUPP, field + ": option \"" + o + "\" (idmapped mounts) is not supported");
    } else if (o == "tmpcopyup" || o == "copy-symlink" || o == "remount") {
      out.warnings.push_back(field + ": option \"" + o + "\" ignored");
    } else {
      data += (data.empty() ? "" : ",") + o;  // filesystem data: mode=755, size=65536k, ...
    }
  }
  if (bind) {
    if (source.empty()) return Bad(field + ".source", "missing for a bind mount");
    mount.kind = Mount::Kind::kBind;
    mount.source = InBundle(bundle, source);
    mount.recursive = rbind;
    mount.read_only = (flags & kMsRdonly) != 0;
    mount.flags = flags & (kMsNosuid | kMsNodev | kMsNoexec);
    return mount;
  }
  if (type.empty()) return Bad(field + ".type", "missing (want a filesystem type or bind)");
  mount.kind = Mount::Kind::kFilesystem;
  mount.fstype = type;
  mount.source = source.empty() ? type : source;
  mount.flags = flags;
  mount.options = data;
  return mount;
}

Status ParseMounts(const json& config, const std::string& bundle, OciConfig& out) {
  const json* mounts = Member(config, "mounts");
  if (mounts == nullptr) return Ok();
  if (!mounts->is_array()) return Bad("mounts", "want an array");
  for (size_t i = 0; i < mounts->size(); ++i) {
    STRATA_ASSIGN_OR_RETURN(Mount m, ParseMount((*mounts)[i], i, bundle, out));
    out.spec.mounts.push_back(std::move(m));
  }
  return Ok();
}

// ---- linux ----

Status ParseNamespaces(const json& lnx, OciConfig& out) {
  Namespaces& ns = out.spec.namespaces;
  ns.pid = ns.mount = ns.uts = ns.ipc = ns.net = ns.cgroup = ns.user = false;
  const json* list = Member(lnx, "namespaces");
  if (list != nullptr && !list->is_array()) return Bad("linux.namespaces", "want an array");
  std::set<std::string> seen;
  if (list != nullptr) {
    for (const json& n : *list) {
      STRATA_ASSIGN_OR_RETURN(std::string type, String(n, "type", "linux.namespaces[].type", true));
      STRATA_ASSIGN_OR_RETURN(std::string path,
                              String(n, "path", "linux.namespaces " + type + ".path"));
      const std::string field = "linux.namespaces " + type;
      if (!seen.insert(type).second) return Bad(field, "listed twice");
      bool* flag = type == "pid"       ? &ns.pid
                   : type == "mount"   ? &ns.mount
                   : type == "uts"     ? &ns.uts
                   : type == "ipc"     ? &ns.ipc
                   : type == "network" ? &ns.net
                   : type == "cgroup"  ? &ns.cgroup
                   : type == "user"    ? &ns.user
                                       : nullptr;
      if (type == "time") return Error(EOPNOTSUPP, field + ": not supported");
      if (flag == nullptr) return Bad(field, "unknown namespace type");
      if (path.empty()) {
        *flag = true;
        continue;
      }
      if (type == "mount") {
        return Error(EOPNOTSUPP, field + ": joining an existing mount namespace is not supported");
      }
      out.joins.push_back({type, path});
    }
  }
  if (!ns.mount) {
    return Error(EOPNOTSUPP,
                 "linux.namespaces: no new mount namespace: strata always sets up the "
                 "container's root in one");
  }
  return Ok();
}

Result<std::vector<IdMap>> ParseIdMaps(const json& lnx, const char* key) {
  std::vector<IdMap> out;
  const std::string field = std::string("linux.") + key;
  const json* list = Member(lnx, key);
  if (list == nullptr) return out;
  if (!list->is_array()) return Bad(field, "want an array");
  for (const json& m : *list) {
    IdMap map;
    STRATA_ASSIGN_OR_RETURN(map.container_id, Id(m, "containerID", field + "[].containerID"));
    STRATA_ASSIGN_OR_RETURN(map.host_id, Id(m, "hostID", field + "[].hostID"));
    STRATA_ASSIGN_OR_RETURN(map.size, Id(m, "size", field + "[].size"));
    if (map.size == 0) return Bad(field + "[].size", "want a size > 0");
    out.push_back(map);
  }
  return out;
}

void WarnIfPresent(const json& obj, const char* key, const std::string& prefix,
                   const std::string& why, OciConfig& out) {
  const json* v = Member(obj, key);
  if (v == nullptr || (v->is_array() && v->empty()) || (v->is_object() && v->empty())) return;
  out.warnings.push_back(prefix + key + ": ignored (" + why + ")");
}

Status ParseResources(const json& lnx, OciConfig& out) {
  const json* res = Member(lnx, "resources");
  if (res == nullptr) return Ok();
  if (!res->is_object()) return Bad("linux.resources", "want an object");
  Resources& r = out.spec.resources;
  if (const json* memory = Member(*res, "memory"); memory != nullptr) {
    STRATA_ASSIGN_OR_RETURN(auto limit, Int(*memory, "limit", "linux.resources.memory.limit"));
    if (limit && *limit > 0) r.memory_bytes = *limit;  // -1: unlimited
    for (const char* k : {"reservation", "swap", "kernel", "kernelTCP", "swappiness"}) {
      WarnIfPresent(*memory, k, "linux.resources.memory.", "not supported", out);
    }
  }
  if (const json* cpu = Member(*res, "cpu"); cpu != nullptr) {
    STRATA_ASSIGN_OR_RETURN(auto quota, Int(*cpu, "quota", "linux.resources.cpu.quota"));
    STRATA_ASSIGN_OR_RETURN(auto period, Int(*cpu, "period", "linux.resources.cpu.period"));
    if (quota && *quota > 0) r.cpu_quota_us = *quota;  // -1: unlimited
    if (period && *period > 0) r.cpu_period_us = *period;
    for (const char* k : {"shares", "realtimeRuntime", "realtimePeriod", "cpus", "mems", "idle"}) {
      WarnIfPresent(*cpu, k, "linux.resources.cpu.", "not supported", out);
    }
  }
  if (const json* pids = Member(*res, "pids"); pids != nullptr) {
    STRATA_ASSIGN_OR_RETURN(auto limit, Int(*pids, "limit", "linux.resources.pids.limit"));
    if (limit && *limit > 0) r.pids_max = *limit;  // 0, -1: unlimited
  }
  if (const json* blkio = Member(*res, "blockIO"); blkio != nullptr) {
    STRATA_ASSIGN_OR_RETURN(auto weight, Int(*blkio, "weight", "linux.resources.blockIO.weight"));
    if (weight) {
      if (*weight < 10 || *weight > 1000)
        return Bad("linux.resources.blockIO.weight", "want 10..1000");
      // blkio 10..1000 -> io.weight 1..10000 (crun's linear conversion).
      r.io_weight = static_cast<uint16_t>(1 + (*weight - 10) * 9999 / 990);
    }
  }
  for (const char* k : {"hugepageLimits", "network", "rdma", "unified"}) {
    WarnIfPresent(*res, k, "linux.resources.", "not supported", out);
  }
  return Ok();
}

Result<unsigned long> ParsePropagation(const std::string& value) {
  if (value.empty()) return 0ul;
  const MountOption* p =
      FindOption(value, std::begin(kPropagationOptions), std::end(kPropagationOptions));
  if (p == nullptr) {
    return Bad("linux.rootfsPropagation \"" + value + "\"",
               "want private, rprivate, slave, rslave, shared, rshared, unbindable or runbindable");
  }
  if (p->set & kMsPrivate) return 0ul;  // the default
  return p->set | kMsRec;               // applied to the whole tree
}

Status ParseLinux(const json& config, OciConfig& out) {
  static const json kEmpty = json::object();
  const json* lnx_ptr = Member(config, "linux");
  if (lnx_ptr != nullptr && !lnx_ptr->is_object()) return Bad("linux", "want an object");
  const json& lnx = lnx_ptr ? *lnx_ptr : kEmpty;
  STRATA_TRY(ParseNamespaces(lnx, out));
  STRATA_ASSIGN_OR_RETURN(out.spec.namespaces.uid_map, ParseIdMaps(lnx, "uidMappings"));
  STRATA_ASSIGN_OR_RETURN(out.spec.namespaces.gid_map, ParseIdMaps(lnx, "gidMappings"));
  if (!out.spec.namespaces.user &&
      (!out.spec.namespaces.uid_map.empty() || !out.spec.namespaces.gid_map.empty())) {
    return Bad("linux.uidMappings", "given without a new user namespace");
  }
  STRATA_TRY(ParseResources(lnx, out));
  STRATA_ASSIGN_OR_RETURN(out.cgroups_path, String(lnx, "cgroupsPath", "linux.cgroupsPath"));
  STRATA_ASSIGN_OR_RETURN(std::string propagation,
                          String(lnx, "rootfsPropagation", "linux.rootfsPropagation"));
  STRATA_ASSIGN_OR_RETURN(out.spec.rootfs_propagation, ParsePropagation(propagation));
  STRATA_ASSIGN_OR_RETURN(out.spec.masked_paths, Strings(lnx, "maskedPaths", "linux.maskedPaths"));
  STRATA_ASSIGN_OR_RETURN(out.spec.readonly_paths,
                          Strings(lnx, "readonlyPaths", "linux.readonlyPaths"));
  WarnIfPresent(lnx, "seccomp", "linux.", "no seccomp support: the container runs unfiltered", out);
  WarnIfPresent(lnx, "sysctl", "linux.", "not supported", out);
  WarnIfPresent(lnx, "devices", "linux.", "only the default device nodes are created", out);
  WarnIfPresent(lnx, "mountLabel", "linux.", "no SELinux support", out);
  WarnIfPresent(lnx, "intelRdt", "linux.", "not supported", out);
  WarnIfPresent(lnx, "personality", "linux.", "not supported", out);
  WarnIfPresent(lnx, "timeOffsets", "linux.", "not supported", out);
  return Ok();
}

// ---- hooks, annotations ----

Status ParseHookList(const json& hooks, const char* key, std::vector<OciHook>& out) {
  const std::string field = std::string("hooks.") + key;
  const json* list = Member(hooks, key);
  if (list == nullptr) return Ok();
  if (!list->is_array()) return Bad(field, "want an array");
  for (const json& h : *list) {
    OciHook hook;
    STRATA_ASSIGN_OR_RETURN(hook.path, String(h, "path", field + "[].path", true));
    if (hook.path.empty() || hook.path[0] != '/') {
      return Bad(field + " \"" + hook.path + "\"", "want an absolute path");
    }
    STRATA_ASSIGN_OR_RETURN(hook.args, Strings(h, "args", field + "[].args"));
    STRATA_ASSIGN_OR_RETURN(hook.env, Strings(h, "env", field + "[].env"));
    STRATA_ASSIGN_OR_RETURN(auto timeout, Int(h, "timeout", field + "[].timeout"));
    if (timeout) {
      if (*timeout <= 0 || *timeout > 86400) return Bad(field + "[].timeout", "want 1..86400");
      hook.timeout_s = static_cast<int>(*timeout);
    }
    out.push_back(std::move(hook));
  }
  return Ok();
}

Status ParseHooks(const json& config, OciConfig& out) {
  const json* hooks = Member(config, "hooks");
  if (hooks == nullptr) return Ok();
  if (!hooks->is_object()) return Bad("hooks", "want an object");
  STRATA_TRY(ParseHookList(*hooks, "prestart", out.hooks.prestart));
  STRATA_TRY(ParseHookList(*hooks, "createRuntime", out.hooks.create_runtime));
  STRATA_TRY(ParseHookList(*hooks, "createContainer", out.hooks.create_container));
  STRATA_TRY(ParseHookList(*hooks, "startContainer", out.hooks.start_container));
  STRATA_TRY(ParseHookList(*hooks, "poststart", out.hooks.poststart));
  STRATA_TRY(ParseHookList(*hooks, "poststop", out.hooks.poststop));
  return Ok();
}

Status ParseAnnotations(const json& config, OciConfig& out) {
  const json* a = Member(config, "annotations");
  if (a == nullptr) return Ok();
  if (!a->is_object()) return Bad("annotations", "want an object of strings");
  for (const auto& [key, value] : a->items()) {
    if (!value.is_string()) return Bad("annotations \"" + key + "\"", "want a string");
    out.annotations[key] = value.get<std::string>();
  }
  return Ok();
}

}  // namespace

int RlimitNumber(std::string_view name) {
  static constexpr std::pair<const char*, int> kNames[] = {
      {"RLIMIT_CPU", RLIMIT_CPU},           {"RLIMIT_FSIZE", RLIMIT_FSIZE},
      {"RLIMIT_DATA", RLIMIT_DATA},         {"RLIMIT_STACK", RLIMIT_STACK},
      {"RLIMIT_CORE", RLIMIT_CORE},         {"RLIMIT_RSS", RLIMIT_RSS},
      {"RLIMIT_NPROC", RLIMIT_NPROC},       {"RLIMIT_NOFILE", RLIMIT_NOFILE},
      {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},   {"RLIMIT_AS", RLIMIT_AS},
      {"RLIMIT_LOCKS", RLIMIT_LOCKS},       {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
      {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
      {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},     {"RLIMIT_RTTIME", RLIMIT_RTTIME},
  };
  for (const auto& [n, number] : kNames) {
    if (name == n) return number;
  }
  return -1;
}

Result<OciConfig> ParseOciConfig(std::string_view json_text, const std::string& bundle,
                                 const std::string& id) {
  json config = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded()) return Error(EINVAL, "config.json: not valid JSON");
  if (!config.is_object()) return Error(EINVAL, "config.json: want a JSON object");
  OciConfig out;
  out.spec.id = id;
  STRATA_ASSIGN_OR_RETURN(out.oci_version, String(config, "ociVersion", "ociVersion", true));
  STRATA_TRY(CheckVersion(out.oci_version));
  const json* root = Member(config, "root");
  if (root == nullptr || !root->is_object()) return Bad("root", "missing (want an object)");
  STRATA_ASSIGN_OR_RETURN(std::string root_path, String(*root, "path", "root.path", true));
  if (root_path.empty()) return Bad("root.path", "empty");
  out.spec.rootfs = InBundle(bundle, root_path);
  STRATA_ASSIGN_OR_RETURN(out.spec.readonly_rootfs, Bool(*root, "readonly", "root.readonly"));
  STRATA_TRY(ParseProcess(config, out));
  STRATA_ASSIGN_OR_RETURN(out.spec.hostname, String(config, "hostname", "hostname"));
  WarnIfPresent(config, "domainname", "", "not supported", out);
  STRATA_TRY(ParseMounts(config, bundle, out));
  STRATA_TRY(ParseLinux(config, out));
  STRATA_TRY(ParseHooks(config, out));
  STRATA_TRY(ParseAnnotations(config, out));
  return out;
}

}  // namespace strata::runtime
