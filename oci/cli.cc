#include "oci/cli.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/strings.h"
#include "oci/state.h"

namespace strata::oci {
namespace {

std::vector<std::string> Names(const FlagSpec& spec) {
  std::vector<std::string> out;
  std::string all = spec.names;
  size_t start = 0;
  for (;;) {
    size_t comma = all.find(',', start);
    out.push_back(
        all.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

}  // namespace

Status Logger::Open(const std::string& path, const std::string& format) {
  fd_.Reset(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644));
  if (!fd_) return Error::FromErrno("--log " + path);
  json_ = format == "json";
  return Ok();
}

void Logger::Write(const char* level, const std::string& message) {
  if (!fd_) return;
  std::string line;
  if (json_) {
    nlohmann::json j = {{"level", level}, {"msg", message}, {"time", NowRfc3339()}};
    line = j.dump() + "\n";
  } else {
    line = "time=\"" + NowRfc3339() + "\" level=" + level +
           " msg=" + nlohmann::json(message).dump() + "\n";
  }
  (void)!::write(fd_.Get(), line.data(), line.size());  // best effort: nowhere else to report
}

void Logger::Error(const std::string& message) {
  std::fprintf(stderr, "strata-oci: error: %s\n", message.c_str());
  Write("error", message);
}

void Logger::Warn(const std::string& message) {
  if (!fd_) std::fprintf(stderr, "strata-oci: warning: %s\n", message.c_str());
  Write("warning", message);
}

Result<Args> ParseArgs(const std::vector<std::string>& argv, const std::vector<FlagSpec>& specs) {
  Args out;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (arg == "--") {
      out.positional.insert(out.positional.end(), argv.begin() + static_cast<long>(i) + 1,
                            argv.end());
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      out.positional.push_back(arg);
      continue;
    }
    std::string name = arg.substr(arg[1] == '-' ? 2 : 1);
    std::string value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    if (name == "h" || name == "help") {
      out.help = true;
      continue;
    }
    const FlagSpec* spec = nullptr;
    std::string key;
    std::vector<std::string> all_names;
    for (const FlagSpec& s : specs) {
      std::vector<std::string> names = Names(s);
      for (const std::string& n : names) {
        all_names.push_back(n);
        if (n == name) spec = &s, key = names.back();
      }
    }
    if (spec == nullptr) {
      std::vector<std::string_view> candidates(all_names.begin(), all_names.end());
      return Error(EINVAL, "unknown flag " + arg + DidYouMean(name, candidates));
    }
    if (spec->takes_value) {
      if (!has_value) {
        if (i + 1 >= argv.size()) return Error(EINVAL, "flag " + arg + ": missing its value");
        value = argv[++i];
      }
      out.values[key] = value;
    } else if (!has_value || value == "true") {
      out.flags.insert(key);
    } else if (value != "false") {
      return Error(EINVAL, "flag " + arg + ": want true or false");
    }
  }
  return out;
}

Result<std::string> OneId(const Args& a, const char* command, size_t max_positional) {
  if (a.positional.empty()) {
    return Error(EINVAL, std::string("missing the container ID: strata-oci ") + command + " ID");
  }
  if (a.positional.size() > max_positional) {
    return Error(EINVAL, "unexpected argument \"" + a.positional[max_positional] + "\"");
  }
  const std::string& id = a.positional[0];
  // The cgroup plan's rule (runtime/cgroup_plan.h), so the id is also a safe path component.
  bool ok = !id.empty() && id.size() <= 128 && std::isalnum(static_cast<unsigned char>(id[0]));
  for (char c : id) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-');
  }
  if (!ok) {
    return Error(EINVAL, "container ID \"" + id + "\": want [a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}");
  }
  return id;
}

}  // namespace strata::oci
