#include "core/exec.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "core/strings.h"
#include "core/unique_fd.h"

extern char** environ;

namespace strata {
namespace {

// The current environment without the keys `extra` sets, then `extra` ("KEY=VALUE" each).
std::vector<std::string> MergedEnv(const std::vector<std::string>& extra) {
  auto key_of = [](std::string_view entry) { return entry.substr(0, entry.find('=') + 1); };
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    bool overridden = false;
    for (const std::string& x : extra) overridden = overridden || key_of(x) == key_of(*e);
    if (!overridden) out.emplace_back(*e);
  }
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Reads both pipes until both reach EOF.
Status Drain(int out_fd, int err_fd, std::string& out, std::string& err) {
  struct pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  std::string* sinks[2] = {&out, &err};
  int open_count = 2;
  char buf[65536];
  while (open_count > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return Error::FromErrno("poll");
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fds[i].fd = -1;
        --open_count;
        continue;
      }
      sinks[i]->append(buf, static_cast<size_t>(n));
    }
  }
  return Ok();
}

// The last three non-empty lines of a tool's output, joined with "; ", for an error message.
std::string Tail(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (line.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(line);
    start = end + 1;
  }
  if (lines.size() > 3) lines.erase(lines.begin(), lines.end() - 3);
  return Join(lines, "; ");
}

}  // namespace

Result<ExecResult> RunProgram(const std::vector<std::string>& argv, const ExecOptions& options) {
  if (argv.empty()) return Error(EINVAL, "run program: empty command line");
  const std::string& name = argv[0];
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return Error::FromErrno("run " + name + ": pipe");
  UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return Error::FromErrno("run " + name + ": pipe");
  UniqueFd err_r(err_pipe[0]), err_w(err_pipe[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  auto free_actions = MakeGuard([&] { posix_spawn_file_actions_destroy(&actions); });
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.Get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err_w.Get(), 2);

  std::vector<std::string> args = argv;
  std::vector<char*> c_args = CStrings(args);
  std::vector<std::string> env = MergedEnv(options.env);
  std::vector<char*> c_env = CStrings(env);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, name.c_str(), &actions, nullptr, c_args.data(), c_env.data());
  if (rc != 0) {
    std::string hint = options.install_hint.empty() ? "" : " (" + options.install_hint + ")";
    if (rc == ENOENT) return Error(ENOENT, name + ": not found on PATH" + hint);
    return Error::FromErrno(rc, "run " + name);
  }
  out_w.Reset();
  err_w.Reset();
  ExecResult result;
  Status drained = Drain(out_r.Get(), err_r.Get(), result.out, result.err);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) return Error::FromErrno("run " + name + ": waitpid");
  }
  STRATA_TRY_CTX(drained, "run " + name);
  result.exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  return result;
}

Result<ExecResult> RunProgramOk(const std::vector<std::string>& argv, const ExecOptions& options) {
  STRATA_ASSIGN_OR_RETURN(ExecResult result, RunProgram(argv, options));
  if (result.exit_code == 0) return result;
  std::string tail = Tail(result.err.empty() ? result.out : result.err);
  return Error(EIO, Join(argv, " ") + ": exit status " + std::to_string(result.exit_code) +
                        (tail.empty() ? "" : ": " + tail));
}

}  // namespace strata
