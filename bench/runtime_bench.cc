// Times whole processes, interleaved, for bench/runtime.sh (issue 6):
//   strata_runtime_bench --group G --runs N --warmup W --samples FILE [--expect RC] NAME=COMMAND...
// runs every COMMAND once per round, W warm-up rounds then N measured ones, round-robin (the order
// rotates each round, so no command always runs first or right after the same other one). COMMAND
// is split on spaces and exec'd directly (its first word an absolute path); "{id}" in it becomes
// "NAME-ROUND", a fresh container id per run. A run is timed from just before fork(2) to the return
// of wait4(2) (CLOCK_MONOTONIC); wait4's ru_maxrss is its peak RSS, the largest of the process's
// and its waited-for descendants' (the container's own process included, for every runtime alike),
// and ru_utime + ru_stime its CPU time (the same processes). This is C++ and not Python because
// ru_maxrss starts from the forked child's RSS before its exec: a Python parent puts a ~15 MiB
// floor under every figure; this program's floor is below what `busybox true` measures (runtime.sh
// reports it). Every run must exit RC (0); the first that does not stops the benchmark. The runs'
// stdout and stderr go to FILE.log; each measured run appends a line to FILE, which
// bench/runtime_bench.py reports:
//   G<TAB>NAME<TAB>WALL_MS<TAB>MAXRSS_KIB<TAB>USER_MS<TAB>SYS_MS
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

struct Command {
  std::string name;
  std::vector<std::string> argv;
};

struct Sample {
  int exit_code;  // the process's, or 128 + its signal
  double wall_ms;
  long maxrss_kib;
  double user_ms, sys_ms;  // CPU time, also of the waited-for descendants
};

double NowMs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

std::vector<std::string> Split(const std::string& text) {
  std::vector<std::string> words;
  size_t at = 0;
  while ((at = text.find_first_not_of(' ', at)) != std::string::npos) {
    size_t end = text.find(' ', at);
    if (end == std::string::npos) end = text.size();
    words.push_back(text.substr(at, end - at));
    at = end;
  }
  return words;
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

// The argv is built before the fork, so the child only dup2s and execs.
Sample RunOnce(const std::vector<std::string>& args, int devnull, int log) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  double start = NowMs();
  pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("runtime_bench: fork");
    std::exit(1);
  }
  if (pid == 0) {
    ::dup2(devnull, 0);
    ::dup2(log, 1);
    ::dup2(log, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  rusage usage{};
  while (::wait4(pid, &status, 0, &usage) < 0) {
    if (errno != EINTR) {
      std::perror("runtime_bench: wait4");
      std::exit(1);
    }
  }
  double end = NowMs();
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  auto ms = [](const timeval& tv) { return tv.tv_sec * 1e3 + tv.tv_usec / 1e3; };
  return {code, end - start, usage.ru_maxrss, ms(usage.ru_utime), ms(usage.ru_stime)};
}

int Usage() {
  std::fputs("usage: strata_runtime_bench --group G --runs N --warmup W --samples FILE"
             " [--expect RC] NAME=COMMAND...\n", stderr);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string group, samples_path;
  int runs = 50, warmup = 5, expect = 0;
  std::vector<Command> commands;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    bool has_value = i + 1 < argc;
    if (arg == "--group" && has_value) {
      group = argv[++i];
    } else if (arg == "--runs" && has_value) {
      runs = std::atoi(argv[++i]);
    } else if (arg == "--warmup" && has_value) {
      warmup = std::atoi(argv[++i]);
    } else if (arg == "--samples" && has_value) {
      samples_path = argv[++i];
    } else if (arg == "--expect" && has_value) {
      expect = std::atoi(argv[++i]);
    } else if (size_t eq = arg.find('='); eq != std::string::npos && eq > 0 && arg[0] != '-') {
      Command c{arg.substr(0, eq), Split(arg.substr(eq + 1))};
      if (c.argv.empty() || c.argv[0][0] != '/' || ::access(c.argv[0].c_str(), X_OK) != 0) {
        std::fprintf(stderr, "runtime_bench: %s: not an executable absolute path\n", arg.c_str());
        return 2;
      }
      commands.push_back(std::move(c));
    } else {
      return Usage();
    }
  }
  if (group.empty() || samples_path.empty() || commands.empty() || runs < 1) return Usage();
  // Both stay open across every fork; O_CLOEXEC keeps them out of the runtimes once dup2'd.
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  std::string log_path = samples_path + ".log";
  int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  std::FILE* samples = std::fopen(samples_path.c_str(), "a");
  if (devnull < 0 || log < 0 || samples == nullptr) {
    std::perror("runtime_bench: open");
    return 1;
  }
  const size_t n = commands.size();
  for (int round = 0; round < warmup + runs; ++round) {
    for (size_t k = 0; k < n; ++k) {
      const Command& c = commands[(round + k) % n];
      std::string id = c.name + "-" + std::to_string(round);
      std::vector<std::string> args;
      std::string command;
      for (const std::string& a : c.argv) {
        args.push_back(Replace(a, "{id}", id));
        command += (command.empty() ? "" : " ") + args.back();
      }
      std::string line = "--- " + group + " " + id + ": " + command + "\n";
      (void)!::write(log, line.data(), line.size());  // best effort: the log is for failures
      Sample s = RunOnce(args, devnull, log);
      if (s.exit_code != expect) {
        std::fprintf(stderr, "runtime_bench: %s: %s exited %d, not %d (output in %s): %s\n",
                     group.c_str(), id.c_str(), s.exit_code, expect, log_path.c_str(),
                     command.c_str());
        return 1;
      }
      if (round >= warmup) {
        std::fprintf(samples, "%s\t%s\t%.3f\t%ld\t%.3f\t%.3f\n", group.c_str(), c.name.c_str(),
                     s.wall_ms, s.maxrss_kib, s.user_ms, s.sys_ms);
      }
    }
  }
  return std::fclose(samples) == 0 ? 0 : 1;
}
