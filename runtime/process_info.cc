#include "runtime/process_info.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <sstream>
#include <string>

#include "core/read_file.h"

namespace strata::runtime {
namespace {

struct SignalName {
  const char* name;
  int number;
};
constexpr SignalName kSignals[] = {
    {"HUP", SIGHUP},     {"INT", SIGINT},       {"QUIT", SIGQUIT},   {"ILL", SIGILL},
    {"TRAP", SIGTRAP},   {"ABRT", SIGABRT},     {"IOT", SIGIOT},     {"BUS", SIGBUS},
    {"FPE", SIGFPE},     {"KILL", SIGKILL},     {"USR1", SIGUSR1},   {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},   {"PIPE", SIGPIPE},     {"ALRM", SIGALRM},   {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD},   {"CONT", SIGCONT},   {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU},   {"URG", SIGURG},
    {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ},     {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
    {"WINCH", SIGWINCH}, {"IO", SIGIO},         {"PWR", SIGPWR},     {"SYS", SIGSYS},
};

}  // namespace

Result<int> ParseSignal(std::string_view text) {
  std::string s(text);
  if (!s.empty() && std::isdigit(static_cast<unsigned char>(s[0]))) {
    char* end = nullptr;
    long n = std::strtol(s.c_str(), &end, 10);
    if (*end == '\0' && n > 0 && n <= SIGRTMAX) return static_cast<int>(n);
  }
  std::string upper;
  for (char c : s) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper.rfind("SIG", 0) == 0) upper.erase(0, 3);
  for (const SignalName& sig : kSignals) {
    if (upper == sig.name) return sig.number;
  }
  return Error(EINVAL, "signal \"" + s + "\": want a name (TERM, SIGKILL) or a number");
}

Result<ProcStat> ReadProcStat(pid_t pid) {
  const std::string what = "process " + std::to_string(pid);
  if (pid <= 0) return Error(ESRCH, what + ": not found");
  Result<std::string> text = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!text.ok()) return Error(ESRCH, what + ": not found");
  // "pid (comm) S ppid ...": comm may hold spaces and parentheses; split after the last ')'.
  size_t close = text->rfind(')');
  if (close == std::string::npos || close + 2 >= text->size()) {
    return Error(EINVAL, "/proc/" + std::to_string(pid) + "/stat: unexpected format");
  }
  ProcStat st;
  st.state = (*text)[close + 2];
  std::istringstream fields(text->substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {  // field 3 is the state
    if (i == 22) {
      st.start_time = std::strtoull(field.c_str(), nullptr, 10);
      return st;
    }
  }
  return Error(EINVAL, "/proc/" + std::to_string(pid) + "/stat: no start time");
}

Result<uint64_t> ProcessStartTime(pid_t pid) {
  STRATA_ASSIGN_OR_RETURN(ProcStat st, ReadProcStat(pid));
  if (st.state == 'Z' || st.state == 'X') {
    return Error(ESRCH, "process " + std::to_string(pid) + " has exited");
  }
  return st.start_time;
}

bool ProcessMatches(pid_t pid, uint64_t start) {
  Result<uint64_t> now = ProcessStartTime(pid);
  return now.ok() && *now == start;
}

UniqueFd OpenPidfd(pid_t pid, uint64_t start) {
  if (pid <= 0) return UniqueFd();
  UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!fd.valid() || !ProcessMatches(pid, start)) return UniqueFd();
  return fd;
}

}  // namespace strata::runtime
