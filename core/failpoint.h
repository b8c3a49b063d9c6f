// Failpoints: a test hook that kills the process at a named step, to prove crash recovery.
//
// When the environment variable STRATA_FAILPOINT equals a failpoint's name, reaching that
// failpoint sends SIGKILL to the process itself: no destructor, no guard, no atexit handler runs,
// exactly as if the machine had lost the process at that instant (the kernel's state and the
// store's committed transactions stay). Otherwise a failpoint does nothing; the variable is read
// once and cached, so an unarmed failpoint costs one comparison.
//
// Names are "<scope>.<step>", e.g. "thin.create_thin.after-message" (thinpool/pool_thin.cc lists
// the thin operations' failpoints). tests/vm/crash_test.cc kills a child process at each one.
// Production code never sets the variable; it exists for tests only.
//
// Thread-safety: Failpoint may be called from any thread. ReloadFailpointFromEnv must not run
// concurrently with Failpoint (call it in a freshly forked child, before starting threads).
#pragma once

#include <string_view>

namespace strata {

inline constexpr char kFailpointEnv[] = "STRATA_FAILPOINT";

// SIGKILLs the process when STRATA_FAILPOINT == name.
void Failpoint(std::string_view name);
// The same for the name "<scope>.<step>", without building the string when nothing is armed.
void Failpoint(std::string_view scope, std::string_view step);

// Re-reads STRATA_FAILPOINT. A child forked from a process that already cached the variable
// inherits the cache; it calls this after setenv() to arm a failpoint of its own.
void ReloadFailpointFromEnv();

}  // namespace strata
