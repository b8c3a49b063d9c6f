#include "containers/lifecycle.h"

#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <thread>

#include "core/unique_fd.h"
#include "runtime/process_info.h"

namespace strata::containers {
namespace {

// rmdir with retries: a cgroup stays busy for a moment after its last process died.
Status RemoveDirRetrying(const std::string& dir) {
  for (int attempt = 0;; ++attempt) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return Ok();
    if (errno != EBUSY || attempt >= 100) return Error::FromErrno("remove cgroup " + dir);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

std::string ContainerDir(const std::string& root, const std::string& id) {
  return root + "/containers/" + id;
}

std::string LogPath(const std::string& root, const std::string& id) {
  return ContainerDir(root, id) + "/log";
}

bool IsRunning(const ContainerRecord& record) {
  return record.state == State::kRunning && runtime::ProcessMatches(record.pid, record.pid_start);
}

bool MonitorAlive(const ContainerRecord& record) {
  return runtime::ProcessMatches(record.monitor_pid, record.monitor_start);
}

Status SignalContainer(const ContainerRecord& record, int sig) {
  const std::string what = "container " + record.DisplayName();
  if (record.state != State::kRunning) return Error(ESRCH, what + " is not running");
  UniqueFd pidfd = runtime::OpenPidfd(record.pid, record.pid_start);
  if (!pidfd.valid()) return Error(ESRCH, what + " is not running");
  if (::syscall(SYS_pidfd_send_signal, pidfd.Get(), sig, nullptr, 0) != 0) {
    if (errno == ESRCH) return Error(ESRCH, what + " is not running");
    return Error::FromErrno("signal " + std::to_string(sig) + " to " + what);
  }
  return Ok();
}

bool WaitGone(pid_t pid, uint64_t start, std::chrono::milliseconds timeout) {
  UniqueFd pidfd = runtime::OpenPidfd(pid, start);
  if (!pidfd.valid()) return true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) return !runtime::ProcessMatches(pid, start);
    pollfd fd{pidfd.Get(), POLLIN, 0};
    int n = ::poll(&fd, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    // POLLIN: the process exited (it may stay a zombie until its parent reaps it: that counts).
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return !runtime::ProcessMatches(pid, start);
  }
}

Status ReleaseRuntime(const ContainerRecord& record, drivers::LayerStore& layers,
                      volumes::Manager* volumes) {
  Status first = Ok();
  auto keep = [&](Status s) {
    if (!s.ok() && first.ok()) first = std::move(s);
  };
  for (const std::string& dir : record.cgroup_dirs) keep(RemoveDirRetrying(dir));
  for (auto it = record.volumes.rbegin(); it != record.volumes.rend(); ++it) {
    if (volumes == nullptr) {
      keep(Error(EINVAL, "detach volume " + it->volume + ": no volume manager"));
      continue;
    }
    auto detached = volumes->Detach(it->volume, it->target);
    if (!detached.ok()) keep(detached.error().Wrap("detach volume " + it->volume));
  }
  // One reference: the container's. Unmount of an unmounted layer is success.
  keep(layers.Unmount(record.id));
  return first;
}

Status RemoveContainer(ContainerStore& containers, ContainerRecord record, const std::string& root,
                       drivers::LayerStore& layers, volumes::Manager* volumes) {
  const std::string what = "container " + record.DisplayName();
  if (record.state != State::kRemoving) {
    record.state = State::kRemoving;
    STRATA_TRY_CTX(containers.Update(record), "remove " + what);
  }
  STRATA_TRY_CTX(ReleaseRuntime(record, layers, volumes), "remove " + what);
  STRATA_TRY_CTX(layers.Remove(record.id), "remove " + what);
  const std::string dir = ContainerDir(root, record.id);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir + "/volumes", ec)) {
    if (::rmdir(entry.path().c_str()) != 0 && errno != ENOENT) {
      return Error::FromErrno("remove " + what + ": mount point " + entry.path().string());
    }
  }
  if (::rmdir((dir + "/volumes").c_str()) != 0 && errno != ENOENT) {
    return Error::FromErrno("remove " + what + ": " + dir + "/volumes");
  }
  if (::unlink(LogPath(root, record.id).c_str()) != 0 && errno != ENOENT) {
    return Error::FromErrno("remove " + what + ": " + LogPath(root, record.id));
  }
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) {
    return Error::FromErrno("remove " + what + ": " + dir);
  }
  return containers.Delete(record.id);
}

}  // namespace strata::containers
