#include "core/failpoint.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace strata {
namespace {

std::string ReadArmed() {
  const char* value = std::getenv(kFailpointEnv);
  return value ? value : "";
}

// The armed name, "" when none. Initialised once (thread-safe static init).
std::string& Armed() {
  static std::string armed = ReadArmed();
  return armed;
}

[[noreturn]] void Die() {
  ::kill(::getpid(), SIGKILL);
  ::_exit(137);  // unreachable: SIGKILL cannot be caught
}

}  // namespace

void Failpoint(std::string_view name) {
  const std::string& armed = Armed();
  if (!armed.empty() && armed == name) Die();
}

void Failpoint(std::string_view scope, std::string_view step) {
  std::string_view armed = Armed();
  if (armed.empty() || armed.size() != scope.size() + 1 + step.size()) return;
  if (armed.starts_with(scope) && armed[scope.size()] == '.' && armed.ends_with(step)) Die();
}

void ReloadFailpointFromEnv() { Armed() = ReadArmed(); }

}  // namespace strata
