// strata-aufs: a userspace aufs (FUSE union filesystem) for hosts without the aufs module.
//
//   strata-aufs [-f] [-d] [-o br=DIR1=rw:DIR2=ro+wh:...[,ro][,allow_other][,dirperm1][,xino=PATH]]
//               [-o br_file=PATH] MOUNTPOINT
//
// Daemonizes once the mount is live (exit 0); -f stays in the foreground, -d also traces
// requests. Bad input exits 1 with one line on stderr naming the option or branch. The mount
// shows in /proc/self/mountinfo as type fuse.strata-aufs with source strata-aufs:<top branch>;
// a crashed helper leaves it answering ENOTCONN until `fusermount3 -uz` / umount2(MNT_DETACH).
#include <fuse.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "aufs/fuse_fs.h"
#include "aufs/union_fs.h"
#include "aufs/union_model.h"
#include "core/read_file.h"
#include "core/unique_fd.h"

namespace strata::aufs {
namespace {

int Fail(const Error& e) {
  std::fprintf(stderr, "strata-aufs: %s\n", e.message().c_str());
  return 1;
}

// libfuse option values are split on ',' and unescape '\'.
std::string EscapeOptionValue(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == ',' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

Status CheckMountpoint(const std::string& mountpoint) {
  struct stat st;
  std::string where = "mountpoint \"" + mountpoint + "\"";
  if (stat(mountpoint.c_str(), &st) < 0) return Error::FromErrno(where);
  if (!S_ISDIR(st.st_mode)) return Error(ENOTDIR, where + ": not a directory");
  return Ok();
}

int Run(const Options& opts, UnionFs* u, const std::string& top) {
  std::string mount_opts = "fsname=strata-aufs:" + EscapeOptionValue(top) +
                           ",subtype=strata-aufs,default_permissions";
  if (opts.allow_other) mount_opts += ",allow_other";
  if (u->read_only()) mount_opts += ",ro";
  std::vector<std::string> argv = {"strata-aufs", "-o", mount_opts};
  if (opts.debug) argv.push_back("-d");
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(cargv.size()), cargv.data());
  // Ownership: fuse_new copies what it keeps of args; `u` outlives the loop (main owns it).
  fuse* f = fuse_new(&args, &Operations(), sizeof(fuse_operations), u);
  fuse_opt_free_args(&args);
  if (f == nullptr) return Fail(Error(EINVAL, "fuse_new failed (options: " + mount_opts + ")"));
  auto destroy = MakeGuard([f] { fuse_destroy(f); });
  // As root libfuse mounts with mount(2); as a user mount(2) fails with EPERM and libfuse runs
  // setuid fusermount3 (which opens /dev/fuse with the user's rights: it must be 0666).
  if (fuse_mount(f, opts.mountpoint.c_str()) != 0) {
    return Fail(Error(EIO, "mount on \"" + opts.mountpoint + "\" failed (see the message above)"));
  }
  auto unmount = MakeGuard([f] { fuse_unmount(f); });
  fuse_session* se = fuse_get_session(f);
  if (fuse_set_signal_handlers(se) != 0) return Fail(Error(EIO, "signal handlers"));
  // The mount is live before the parent returns: the kernel queues requests until the loop
  // below answers them, so the caller can use the mountpoint as soon as we exit 0.
  if (fuse_daemonize(opts.foreground ? 1 : 0) != 0) return Fail(Error(EIO, "daemonize"));
  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(cfg, 1);
  fuse_loop_cfg_set_max_threads(cfg, 16);
  int r = fuse_loop_mt(f, cfg);
  fuse_loop_cfg_destroy(cfg);
  fuse_remove_signal_handlers(se);
  return r == 0 ? 0 : 1;
}

}  // namespace
}  // namespace strata::aufs

int main(int argc, char** argv) {
  using namespace strata::aufs;
  // Modes arrive already masked by the kernel (no FUSE_CAP_DONT_MASK): apply them exactly.
  umask(0);
  std::vector<std::string> args(argv + 1, argv + argc);
  auto opts = ParseCommandLine(args, strata::ReadFile);
  if (!opts.ok()) return Fail(opts.error());
  if (auto st = CheckMountpoint(opts->mountpoint); !st.ok()) return Fail(st.error());
  // Absolute: the daemon runs from "/" and may have to unmount by path.
  char resolved[PATH_MAX];
  if (realpath(opts->mountpoint.c_str(), resolved) == nullptr) {
    return Fail(strata::Error::FromErrno("mountpoint \"" + opts->mountpoint + "\""));
  }
  opts->mountpoint = resolved;
  auto u = UnionFs::Open(*opts);
  if (!u.ok()) return Fail(u.error());
  return Run(*opts, u->get(), (*u)->branch_path(0));
}
