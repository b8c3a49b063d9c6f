// Overlay mount+unmount of a deep chain through strata's LayerStore (reference counting in the
// store, per-id lock, the driver's mount plan) against the bare mount(2)/umount2(2) syscalls with
// the same overlay options. Prints one TSV row for bench/run:
//   name  strata-per-cycle  bare-per-cycle  ratio  target
// Usage: strata_mount_bench DIR DEPTH ITERATIONS   (DIR must not exist; needs root)
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "core/store.h"
#include "core/sys/mounts.h"
#include "drivers/layer_store.h"
#include "drivers/overlay/layout.h"
#include "drivers/overlay/mount_plan.h"
#include "drivers/registry.h"

namespace {

using Clock = std::chrono::steady_clock;
using strata::drivers::LayerKind;

[[noreturn]] void Die(const std::string& what, const strata::Error& e) {
  std::fprintf(stderr, "mount_bench: %s: %s\n", what.c_str(), e.message().c_str());
  std::exit(1);
}

template <class R>
auto Must(R&& r, const std::string& what) {
  if (!r.ok()) Die(what, std::move(r).error());
  if constexpr (!std::is_same_v<std::decay_t<R>, strata::Status>) return std::move(r).value();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

double SecondsPerCycle(Clock::time_point start, int iterations) {
  return std::chrono::duration<double>(Clock::now() - start).count() / iterations;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s DIR DEPTH ITERATIONS\n", argv[0]);
    return 2;
  }
  const std::string root = argv[1];
  const int depth = std::atoi(argv[2]), iterations = std::atoi(argv[3]);
  ::mkdir(root.c_str(), 0700);
  strata::drivers::DriverEnv env{root, &strata::sys::LinuxMounts()};
  auto store = Must(strata::Store::Open(root + "/strata.db"), "open store");
  auto selection = Must(strata::drivers::SelectDriver(env, "overlay", nlohmann::json::object()),
                        "overlay driver");
  auto layers = Must(strata::drivers::LayerStore::Open(*store, *selection.driver), "layer store");
  std::string parent;
  for (int i = 0; i < depth; ++i) {
    parent = Must(layers->Create("l" + std::to_string(i), parent, LayerKind::kReadOnly, {}),
                  "create layer").id;
  }
  Must(layers->Create("ctr", parent, LayerKind::kReadWrite, {}), "create container layer");
  Must(layers->Mount("ctr"), "warm-up mount");
  Must(layers->Unmount("ctr"), "warm-up unmount");

  auto start = Clock::now();
  for (int i = 0; i < iterations; ++i) {
    Must(layers->Mount("ctr"), "mount");
    Must(layers->Unmount("ctr"), "unmount");
  }
  double ours = SecondsPerCycle(start, iterations);

  // The same overlay, mounted with bare mount(2) and removed with umount2(2).
  namespace ov = strata::drivers::overlay;
  ov::OverlayFeatures classic;
  classic.index_off = classic.redirect_dir_off = classic.metacopy_off = true;
  const std::string home = selection.driver->Home();
  auto links = Must(ov::ParseLowerFile(ReadFile(home + "/ctr/lower")), "read lower file");
  auto plan = Must(ov::PlanOverlayMount({home, "ctr", links},
                                        ov::MountAccess::kReadWrite, classic),
                   "plan");
  ::mkdir(plan.target.c_str(), 0755);
  auto& mounts = strata::sys::LinuxMounts();
  start = Clock::now();
  for (int i = 0; i < iterations; ++i) {
    Must(mounts.Mount("overlay", plan.target, "overlay", 0, plan.data), "bare mount");
    Must(mounts.Unmount(plan.target, ov::kMntDetach), "bare umount");
  }
  double bare = SecondsPerCycle(start, iterations);
  ::rmdir(plan.target.c_str());

  // Where the difference goes (stderr, for tuning): the driver alone, without the layer store.
  strata::drivers::Driver& driver = *selection.driver;
  start = Clock::now();
  for (int i = 0; i < iterations; ++i) {
    Must(driver.Mount("ctr"), "driver mount");
    Must(driver.Unmount("ctr"), "driver unmount");
  }
  std::fprintf(stderr, "driver alone: %.3f ms per cycle\n",
               SecondsPerCycle(start, iterations) * 1000);

  (void)layers->Remove("ctr");  // best effort: the bench dir is scratch
  for (int i = depth - 1; i >= 0; --i) (void)layers->Remove("l" + std::to_string(i));
  std::printf("overlay mount+umount, %d-layer chain / bare syscalls\t%.3f ms\t%.3f ms\t%.2fx\t<= 1.5x\n",
              depth, ours * 1000, bare * 1000, ours / bare);
  return 0;
}
