#include "runtime/spec.h"

#include <sys/resource.h>

namespace strata::runtime {

std::vector<std::string> DefaultMaskedPaths() {
  return {"/proc/acpi",           "/proc/asound",      "/proc/kcore",
          "/proc/keys",           "/proc/latency_stats", "/proc/timer_list",
          "/proc/timer_stats",    "/proc/sched_debug", "/proc/scsi",
          "/sys/firmware"};
}

std::vector<std::string> DefaultReadonlyPaths() {
  return {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
}

std::vector<std::string> DefaultCapabilities() {
  return {"CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
          "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
          "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
          "CAP_KILL",    "CAP_AUDIT_WRITE"};
}

std::vector<Rlimit> DefaultRlimits() { return {{RLIMIT_NOFILE, 1024, 1024}}; }

ContainerSpec DefaultSpec(std::string id, std::string rootfs, std::vector<std::string> args) {
  ContainerSpec spec;
  spec.id = std::move(id);
  spec.rootfs = std::move(rootfs);
  spec.args = std::move(args);
  spec.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  spec.hostname = spec.id.substr(0, 12);
  spec.masked_paths = DefaultMaskedPaths();
  spec.readonly_paths = DefaultReadonlyPaths();
  spec.capabilities = DefaultCapabilities();
  spec.rlimits = DefaultRlimits();
  return spec;
}

}  // namespace strata::runtime
