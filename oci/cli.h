// strata-oci's command line: runc's global flags and commands as containerd and podman call them
// (FIELD-GUIDE §5.12), a tiny flag parser (no CLI library: the binary stays small), the log.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/unique_fd.h"

namespace strata::oci {

inline constexpr const char* kVersion = "0.1.0";
inline constexpr const char* kSpecVersion = "1.2.0";
inline constexpr int kExitError = 1;  // runc's: any failure of the runtime itself

// The log: --log FILE (appended, "text" or "json" lines as runc writes them; containerd reads
// the last error from it), and stderr for errors and, without --log, warnings.
class Logger {
 public:
  Status Open(const std::string& path, const std::string& format);
  void Error(const std::string& message);
  void Warn(const std::string& message);

 private:
  void Write(const char* level, const std::string& message);
  UniqueFd fd_;
  bool json_ = false;
};

struct Globals {
  std::string root = "/run/strata";
  std::string log_path;
  std::string log_format = "text";
  bool systemd_cgroup = false;
  Logger* log = nullptr;
};

// A command's flags: "b,bundle" names (-b, --bundle; one or two dashes, `=value` or the next
// argument), whether it takes a value.
struct FlagSpec {
  const char* names;
  bool takes_value;
  const char* help;
};

struct Args {
  std::map<std::string, std::string> values;  // by the flag's last (long) name
  std::set<std::string> flags;                // boolean flags given
  std::vector<std::string> positional;
  bool help = false;

  std::string Value(const std::string& name, const std::string& fallback = "") const {
    auto it = values.find(name);
    return it == values.end() ? fallback : it->second;
  }
  bool Has(const std::string& name) const { return flags.count(name) > 0; }
};

// Parses `argv` (after the command word) against `specs`. Flags may come before or after
// positionals; "--" ends them. Errors: EINVAL "unknown flag --x" (with a did-you-mean), a
// missing value.
Result<Args> ParseArgs(const std::vector<std::string>& argv, const std::vector<FlagSpec>& specs);

// Commands; each returns the exit code or an error (printed once by main, exit 1).
Result<int> CmdCreate(const Globals& g, const Args& a);
Result<int> CmdRun(const Globals& g, const Args& a);
Result<int> CmdStart(const Globals& g, const Args& a);
Result<int> CmdState(const Globals& g, const Args& a);
Result<int> CmdKill(const Globals& g, const Args& a);
Result<int> CmdDelete(const Globals& g, const Args& a);
Result<int> CmdList(const Globals& g, const Args& a);
Result<int> CmdFeatures(const Globals& g, const Args& a);

// The one ID positional of a command ("start ID"); EINVAL when missing or invalid.
Result<std::string> OneId(const Args& a, const char* command, size_t max_positional = 1);

}  // namespace strata::oci
