// `strata oci ...`: the OCI runtime mode. Execs the lean `strata-oci` binary (oci/main.cc) with
// every argument after "oci" unchanged, so `strata oci --root R create -b B ID` is
// `strata-oci --root R create -b B ID`. strata-oci is looked up next to this binary
// (/proc/self/exe), then on PATH; containerd and podman should call strata-oci directly (it
// loads none of strata's storage libraries).
#include <limits.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/read_file.h"
#include "tools/commands.h"

namespace strata::cli {
namespace {

// The arguments after the "oci" command word, from /proc/self/cmdline: CLI11 would reorder or
// take flags that strata-oci shares with strata (--root, --help).
Result<std::vector<std::string>> OciArgs() {
  STRATA_ASSIGN_OR_RETURN(std::string cmdline, ReadFile("/proc/self/cmdline"));
  std::vector<std::string> words;
  size_t start = 0;
  while (start < cmdline.size()) {
    size_t end = cmdline.find('\0', start);
    if (end == std::string::npos) end = cmdline.size();
    words.push_back(cmdline.substr(start, end - start));
    start = end + 1;
  }
  for (size_t i = 1; i < words.size(); ++i) {
    if (words[i] == "oci")
      return std::vector<std::string>(words.begin() + static_cast<long>(i) + 1, words.end());
  }
  return Error(EINVAL, "oci: cannot find the command word in /proc/self/cmdline");
}

std::string BesideSelf() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  std::string self(buf, static_cast<size_t>(n));
  size_t slash = self.rfind('/');
  return slash == std::string::npos ? "" : self.substr(0, slash + 1) + "strata-oci";
}

int ExecOci() {
  auto args = OciArgs();
  if (!args.ok()) return ReportError(args.error());
  std::string beside = BesideSelf();
  std::vector<std::string> argv = {"strata-oci"};
  argv.insert(argv.end(), args->begin(), args->end());
  std::vector<char*> raw;
  for (std::string& a : argv) raw.push_back(a.data());
  raw.push_back(nullptr);
  if (!beside.empty() && ::access(beside.c_str(), X_OK) == 0) {
    ::execv(beside.c_str(), raw.data());
  }
  ::execvp("strata-oci", raw.data());
  return ReportError(Error::FromErrno("oci: exec strata-oci (looked beside " +
                                      (beside.empty() ? "strata" : beside) + " and on PATH)"));
}

}  // namespace

void SetupOci(CLI::App& app, Context&, Action& action) {
  CLI::App* oci = app.add_subcommand("oci", std::string(SummaryOf("oci")));
  // Everything after "oci" belongs to strata-oci, --help included.
  oci->prefix_command();
  oci->allow_extras();
  oci->set_help_flag();
  oci->fallthrough(false);
  oci->footer(
      "  strata oci [--root DIR] create|start|state|kill|delete|run|list|features ... "
      "(see strata oci --help)");
  oci->callback([&action] { action = [] { return ExecOci(); }; });
}

}  // namespace strata::cli
