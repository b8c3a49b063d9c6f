// The parts of a container's life that outlast the process that started it: finding and
// signalling its processes by pidfd, releasing what it held once it ended, and removing it.
// Used by the monitor (the foreground `run`, or -d's background strata) and, when the monitor
// died, by `stop` and `rm`, which then finish its work.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

#include "containers/container_store.h"
#include "core/result.h"
#include "drivers/layer_store.h"
#include "volumes/manager.h"

namespace strata::containers {

// <root>/containers/<id>: the container's volume mount points (volumes/<n>) and, for -d, its log.
std::string ContainerDir(const std::string& root, const std::string& id);
std::string LogPath(const std::string& root, const std::string& id);

// True while the container's first process is alive (and is that process: pid and start time).
bool IsRunning(const ContainerRecord& record);
// True while the strata process that waits for the container is alive.
bool MonitorAlive(const ContainerRecord& record);

// Sends `sig` to the container's first process through a pidfd. ESRCH "container X is not
// running" when it is not.
Status SignalContainer(const ContainerRecord& record, int sig);

// Waits until process (pid, start) is gone or `timeout` passes; true when gone.
bool WaitGone(pid_t pid, uint64_t start, std::chrono::milliseconds timeout);

// Releases what the container held while it ran, once its processes are gone (its pid
// namespace's init has exited, so the kernel killed the rest): removes its cgroup dirs, detaches
// its volumes (`volumes` may be null when it has none), unmounts its layer. Idempotent; returns
// the first error and goes on past it.
Status ReleaseRuntime(const ContainerRecord& record, drivers::LayerStore& layers,
                      volumes::Manager* volumes);

// Removes a container that is not running: marks it removing, releases what is left
// (ReleaseRuntime), removes its layer, its directory (mount points by rmdir only, never
// recursively: a mount left there stays untouched and fails the removal) and its record. A crash
// leaves a 'removing' record that the next call finishes.
Status RemoveContainer(ContainerStore& containers, ContainerRecord record, const std::string& root,
                       drivers::LayerStore& layers, volumes::Manager* volumes);

}  // namespace strata::containers
