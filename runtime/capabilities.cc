#include "runtime/capabilities.h"

#include <array>
#include <cctype>

namespace strata::runtime {
namespace {

// Index = capability number (<linux/capability.h>), up to CAP_LAST_CAP of Linux 6.x.
constexpr std::array<std::string_view, 41> kNames = {
    "CHOWN",          "DAC_OVERRIDE",  "DAC_READ_SEARCH", "FOWNER",      "FSETID",
    "KILL",           "SETGID",        "SETUID",          "SETPCAP",     "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN",     "NET_RAW",     "IPC_LOCK",
    "IPC_OWNER",      "SYS_MODULE",    "SYS_RAWIO",       "SYS_CHROOT",  "SYS_PTRACE",
    "SYS_PACCT",      "SYS_ADMIN",     "SYS_BOOT",        "SYS_NICE",    "SYS_RESOURCE",
    "SYS_TIME",       "SYS_TTY_CONFIG", "MKNOD",          "LEASE",       "AUDIT_WRITE",
    "AUDIT_CONTROL",  "SETFCAP",       "MAC_OVERRIDE",    "MAC_ADMIN",   "SYSLOG",
    "WAKE_ALARM",     "BLOCK_SUSPEND", "AUDIT_READ",      "PERFMON",     "BPF",
    "CHECKPOINT_RESTORE"};

bool EqualsUpper(std::string_view upper, std::string_view any) {
  if (upper.size() != any.size()) return false;
  for (size_t i = 0; i < upper.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(any[i])) != upper[i]) return false;
  }
  return true;
}

}  // namespace

int CapabilityNumber(std::string_view name) {
  if (name.size() > 4 && EqualsUpper("CAP_", name.substr(0, 4))) name.remove_prefix(4);
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (EqualsUpper(kNames[i], name)) return static_cast<int>(i);
  }
  return -1;
}

Result<uint64_t> CapabilityMask(const std::vector<std::string>& names) {
  uint64_t mask = 0;
  for (const std::string& name : names) {
    int n = CapabilityNumber(name);
    if (n < 0) return Error(EINVAL, "unknown capability \"" + name + "\"");
    mask |= uint64_t{1} << n;
  }
  return mask;
}

}  // namespace strata::runtime
