// OCI hooks (runtime-spec "POSIX-platform Hooks"): run on the host with the container's state
// JSON on stdin, in the runtime's namespaces. strata-oci runs prestart and createRuntime after
// the container's namespaces exist and before its root is set up (the spawn's after_clone),
// poststart after `start`, poststop in `delete`. createContainer and startContainer (which run
// inside the container's namespaces) are not supported.
#pragma once

#include <string>
#include <vector>

#include "core/result.h"
#include "runtime/oci_spec.h"

namespace strata::oci {

// Runs `hook` with `state_json` on stdin, its stdout and stderr going to this process's stderr,
// and waits (at most its timeout; SIGKILLed past it). Errors: the spawn's errno naming the path;
// EIO "hook PATH: exit status N"; ETIMEDOUT.
Status RunHook(const runtime::OciHook& hook, const std::string& state_json);

// Each hook in order; stops at the first error, wrapped with `stage` ("hooks.poststart").
Status RunHooks(const std::vector<runtime::OciHook>& hooks, const std::string& state_json,
                const std::string& stage);

}  // namespace strata::oci
