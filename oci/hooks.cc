#include "oci/hooks.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "core/unique_fd.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

namespace strata::oci {
namespace {

// Writes all of `data` (the hook may not read it: EPIPE is not an error).
void FeedStdin(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

}  // namespace

Status RunHook(const runtime::OciHook& hook, const std::string& state_json) {
  const std::string what = "hook " + hook.path;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) return Error::FromErrno(what + ": pipe");
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  std::vector<std::string> args =
      hook.args.empty() ? std::vector<std::string>{hook.path} : hook.args;
  std::vector<char*> argv, envp;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = hook.env;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, read_end.Get(), 0);
  posix_spawn_file_actions_adddup2(&actions, 2, 1);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, hook.path.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return Error::FromErrno(rc, what);
  read_end.Reset();
  // SIGPIPE would kill the runtime if the hook exits without reading: ignore it while feeding.
  struct sigaction ignore {
  }, old{};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ignore, &old);
  FeedStdin(write_end.Get(), state_json);
  ::sigaction(SIGPIPE, &old, nullptr);
  write_end.Reset();
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (pidfd && hook.timeout_s) {
    struct pollfd p = {pidfd.Get(), POLLIN, 0};
    int n;
    do {
      n = ::poll(&p, 1, *hook.timeout_s * 1000);
    } while (n < 0 && errno == EINTR);
    if (n == 0) {
      (void)::kill(pid, SIGKILL);  // still our unreaped child: the pid cannot be reused
      (void)::waitpid(pid, nullptr, 0);
      return Error(ETIMEDOUT, what + ": timed out after " + std::to_string(*hook.timeout_s) + " s");
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Error::FromErrno(what + ": wait");
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Ok();
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return Error(EIO, what + ": exit status " + std::to_string(code));
}

Status RunHooks(const std::vector<runtime::OciHook>& hooks, const std::string& state_json,
                const std::string& stage) {
  for (const runtime::OciHook& hook : hooks) STRATA_TRY_CTX(RunHook(hook, state_json), stage);
  return Ok();
}

}  // namespace strata::oci
