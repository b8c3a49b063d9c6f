// OCI runtime-spec 1.x config.json -> ContainerSpec, for `strata-oci` (FIELD-GUIDE §5.2-5.12).
// Pure: takes the JSON text and the bundle path, does no I/O.
//
// Mapped: ociVersion (1.0.x-1.2.x), root, process (args, env, cwd, user, capabilities, rlimits,
// noNewPrivileges, oomScoreAdj), hostname, mounts (any type; bind/rbind; ro, nosuid, nodev,
// noexec, atime and propagation options; the rest is filesystem data), linux.namespaces (a
// `path` becomes a join, done by the caller with setns), uid/gid mappings, resources (memory,
// cpu quota/period, pids, blockIO weight), masked and read-only paths, rootfsPropagation,
// cgroupsPath (kept for the caller), annotations, hooks.
// Accepted but not applied, each reported in OciConfig::warnings: seccomp, apparmor, SELinux
// labels, sysctl, extra device nodes, unsupported resources, inheritable and ambient
// capabilities, domainname, umask. Refused (EOPNOTSUPP): terminal is left to the caller,
// joining a mount namespace by path, a time namespace, idmapped mounts.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "runtime/spec.h"

namespace strata::runtime {

struct OciHook {
  std::string path;  // absolute, on the host
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::optional<int> timeout_s;
};

struct OciHooks {
  std::vector<OciHook> prestart, create_runtime, create_container, start_container, poststart,
      poststop;
};

// An existing namespace to join (linux.namespaces[].path), in config order.
struct NamespaceJoin {
  std::string type;  // "network", "ipc", "uts", "pid", "user", "cgroup"
  std::string path;
};

struct OciConfig {
  std::string oci_version;
  ContainerSpec spec;  // id set from the caller; namespaces joined by path are false in it
  std::vector<NamespaceJoin> joins;
  OciHooks hooks;
  std::map<std::string, std::string> annotations;
  std::string cgroups_path;           // linux.cgroupsPath as given
  bool terminal = false;              // process.terminal
  std::optional<int> oom_score_adj;   // process.oomScoreAdj
  std::vector<std::string> warnings;  // "linux.seccomp: ignored (...)": fields not applied
};

// Parses `json_text` (a bundle's config.json) for container `id` in `bundle` (an absolute path:
// a relative root.path or bind source is taken relative to it).
// Errors: EINVAL naming the field ("process.args: want a non-empty array of strings",
// "ociVersion \"2.0.0\": unsupported, want 1.0.x to 1.2.x", "config.json: not JSON: ...");
// EOPNOTSUPP naming the field for what strata cannot do.
Result<OciConfig> ParseOciConfig(std::string_view json_text, const std::string& bundle,
                                 const std::string& id);

// "RLIMIT_NOFILE" -> RLIMIT_NOFILE's number; -1 when unknown.
int RlimitNumber(std::string_view name);

}  // namespace strata::runtime
