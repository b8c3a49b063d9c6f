#include "tests/support/run_command.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

namespace strata::testing {
namespace {

void DrainPipes(int out_fd, int err_fd, int in_fd, const std::string& input, CommandResult& r) {
  size_t written = 0;
  if (input.empty()) {
    ::close(in_fd);
    in_fd = -1;
  }
  char buf[65536];
  while (out_fd >= 0 || err_fd >= 0) {
    pollfd fds[3] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}, {in_fd, POLLOUT, 0}};
    if (::poll(fds, 3, -1) < 0) break;
    for (int i = 0; i < 2; ++i) {
      int& fd = i == 0 ? out_fd : err_fd;
      if (fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) {
        ::close(fd);
        fd = -1;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      }
    }
    if (in_fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t n = ::write(in_fd, input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (n <= 0 || written == input.size()) {
        ::close(in_fd);
        in_fd = -1;
      }
    }
  }
  if (in_fd >= 0) ::close(in_fd);
}

}  // namespace

CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& input) {
  CommandResult r;
  int out[2], err[2], in[2];
  if (::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC) || ::pipe2(in, O_CLOEXEC)) return r;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  ::close(in[0]);
  ::signal(SIGPIPE, SIG_IGN);
  DrainPipes(out[0], err[0], in[1], input, r);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

CommandResult RunStrata(const std::string& root, const std::vector<std::string>& args,
                        const std::string& input) {
  std::vector<std::string> argv = {STRATA_BINARY, "--root", root};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, input);
}

CommandResult RunAsNobodyWithFuse(const std::string& scratch, const std::string& script,
                                  std::string* skip_reason) {
  skip_reason->clear();
  struct stat fm;
  if (::stat("/usr/bin/fusermount3", &fm) != 0 || !(fm.st_mode & S_ISUID) || fm.st_uid != 0) {
    *skip_reason = "fusermount3 unusable: not setuid root";
    return {};
  }
  constexpr int kSetupFailed = 77;
  const std::string dev = scratch + "/fuse-dev";
  if (::mkdir(dev.c_str(), 0755) != 0 && errno != EEXIST) {
    *skip_reason = "mkdir " + dev + ": " + std::strerror(errno);
    return {};
  }
  const std::string setup =
      "mount -t tmpfs -o size=64k,mode=0755,nosuid,noexec strata-fuse-dev " + dev +
      " && mknod -m 0666 " + dev + "/fuse c 10 229 && mount --bind " + dev +
      "/fuse /dev/fuse || exit " + std::to_string(kSetupFailed) +
      "\nexec setpriv --reuid=65534 --regid=65534 --clear-groups sh -c \"$1\"";
  CommandResult r = RunCommand({"unshare", "--mount", "--propagation", "private", "sh", "-c", setup,
                                "strata-nobody-fuse", script});
  if (r.exit_code == kSetupFailed || (r.exit_code != 0 && r.err.rfind("unshare:", 0) == 0)) {
    *skip_reason = "no private mount namespace with a 0666 /dev/fuse here: " + r.err;
  }
  return r;
}

}  // namespace strata::testing
