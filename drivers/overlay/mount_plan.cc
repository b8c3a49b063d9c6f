#include "drivers/overlay/mount_plan.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "core/unique_fd.h"

namespace strata::drivers::overlay {
namespace {

// Options every mount gets, "key" or "key=value", before the layer paths.
std::vector<std::string> CommonOptions(const OverlayFeatures& features) {
  std::vector<std::string> out;
  // index=off: with index on, a lower layer mounted by two overlays (every shared image layer)
  // fails the second mount with ESTALE/EBUSY on older kernels (moby#37993, containerd#4311).
  if (features.index_off) out.push_back("index=off");
  // redirect_dir=off and metacopy=off keep diff/ a complete, self-describing layer, so Diff can
  // tar it as is (native diff): a directory rename copies the whole directory up (EXDEV to the
  // caller, which falls back to copy) instead of leaving a trusted.overlay.redirect pointer into
  // the lowers, and a chmod copies data up instead of leaving a data-less metacopy inode.
  if (features.redirect_dir_off) out.push_back("redirect_dir=off");
  if (features.metacopy_off) out.push_back("metacopy=off");
  for (const std::string& option : features.extra_options) out.push_back(option);
  return out;
}

// The lower layer paths, nearest first, each prefixed with `prefix` ("<home>/" or "").
std::vector<std::string> LowerPaths(const OverlayLayerInfo& layer, MountAccess access,
                                    const std::string& prefix) {
  std::vector<std::string> out;
  out.reserve(layer.lower_links.size() + 1);
  if (access == MountAccess::kReadOnly) out.push_back(prefix + layer.id + "/diff");
  for (const std::string& link : layer.lower_links) out.push_back(prefix + "l/" + link);
  return out;
}

std::string ClassicData(const OverlayLayerInfo& layer, MountAccess access,
                        const OverlayFeatures& features, const std::string& prefix) {
  std::string data;
  for (const std::string& option : CommonOptions(features)) data += option + ",";
  data += "lowerdir=";
  const std::vector<std::string> lowers = LowerPaths(layer, access, prefix);
  for (size_t i = 0; i < lowers.size(); ++i) {
    if (i) data += ':';
    data += lowers[i];
  }
  if (access == MountAccess::kReadWrite) {
    data += ",upperdir=" + prefix + layer.id + "/diff";
    data += ",workdir=" + prefix + layer.id + "/work";
  }
  return data;
}

std::vector<sys::FsParam> NewApiParams(const OverlayLayerInfo& layer, MountAccess access,
                                       const OverlayFeatures& features) {
  using Kind = sys::FsParam::Kind;
  std::vector<sys::FsParam> params;
  params.push_back({Kind::kString, "source", "overlay"});
  for (const std::string& option : CommonOptions(features)) {
    const size_t eq = option.find('=');
    if (eq == std::string::npos) {
      params.push_back({Kind::kFlag, option, ""});
    } else {
      params.push_back({Kind::kString, option.substr(0, eq), option.substr(eq + 1)});
    }
  }
  // One layer per call: no page limit, and paths need no ':' or ',' escaping.
  for (std::string& lower : LowerPaths(layer, access, layer.home + "/")) {
    params.push_back({Kind::kString, "lowerdir+", std::move(lower)});
  }
  if (access == MountAccess::kReadWrite) {
    params.push_back({Kind::kString, "upperdir", layer.home + "/" + layer.id + "/diff"});
    params.push_back({Kind::kString, "workdir", layer.home + "/" + layer.id + "/work"});
  }
  return params;
}

// mount(2) data is split by the kernel at ',' (options) and ':' (lowerdir): paths holding either
// cannot be expressed there.
Status CheckClassicSafe(const OverlayLayerInfo& layer) {
  for (const std::string* s : {&layer.home, &layer.id}) {
    if (s->find_first_of(",:") != std::string::npos) {
      return Error(EINVAL, "\"" + *s + "\" contains ',' or ':', which mount(2) data cannot carry");
    }
  }
  return Ok();
}

}  // namespace

Result<OverlayMountPlan> PlanOverlayMount(const OverlayLayerInfo& layer, MountAccess access,
                                          const OverlayFeatures& features) {
  const std::string what = "overlay mount of layer " + layer.id;
  OverlayMountPlan plan;
  plan.access = access;
  if (layer.lower_links.empty()) {  // a base layer: its diff/ is the whole root filesystem
    plan.root_path = layer.home + "/" + layer.id + "/diff";
    return plan;
  }
  plan.lower_count = layer.lower_links.size() + (access == MountAccess::kReadOnly ? 1 : 0);
  if (plan.lower_count > features.max_lower_layers) {
    return Error(E2BIG, what + ": needs " + std::to_string(plan.lower_count) +
                            " lower layers, but overlayfs stacks at most " +
                            std::to_string(features.max_lower_layers) + " (OVL_MAX_STACK)");
  }
  plan.target = layer.home + "/" + layer.id + "/merged";
  plan.root_path = plan.target;
  if (features.new_mount_api) {
    plan.method = OverlayMountPlan::Method::kNewApi;
    plan.params = NewApiParams(layer, access, features);
    return plan;
  }
  STRATA_TRY_CTX(CheckClassicSafe(layer), what);
  const size_t max_data = features.page_size_bytes - 1;  // the kernel NUL-terminates the page
  plan.data = ClassicData(layer, access, features, layer.home + "/");
  if (plan.data.size() <= max_data) {
    plan.method = OverlayMountPlan::Method::kClassicAbsolute;
    return plan;
  }
  plan.data = ClassicData(layer, access, features, "");
  if (plan.data.size() <= max_data) {
    plan.method = OverlayMountPlan::Method::kClassicRelative;
    plan.chdir_to = layer.home;
    return plan;
  }
  return Error(E2BIG, what + ": mount data is " + std::to_string(plan.data.size()) +
                          " bytes even with relative paths, but mount(2) takes at most " +
                          std::to_string(max_data) +
                          " (one page); the new mount API (fsconfig lowerdir+, Linux 6.8) has no "
                          "such limit but is not available");
}

namespace {

// Changes the working directory for its lifetime; restores the previous one on destruction.
class ScopedChdir {
 public:
  static Result<ScopedChdir> Enter(const std::string& dir) {
    UniqueFd saved(::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!saved) return Error::FromErrno("open current directory");
    if (::chdir(dir.c_str()) != 0) return Error::FromErrno("chdir " + dir);
    return ScopedChdir(std::move(saved));
  }
  ScopedChdir(ScopedChdir&&) = default;
  ~ScopedChdir() {
    if (saved_) (void)::fchdir(saved_.Get());  // best effort: nothing better to do in a dtor
  }

 private:
  explicit ScopedChdir(UniqueFd saved) : saved_(std::move(saved)) {}
  UniqueFd saved_;
};

}  // namespace

Status ApplyOverlayMount(sys::Mounts& mounts, const OverlayMountPlan& plan) {
  const bool read_only = plan.access == MountAccess::kReadOnly;
  switch (plan.method) {
    case OverlayMountPlan::Method::kNone:
      return Ok();
    case OverlayMountPlan::Method::kNewApi:
      return mounts.MountNewApi("overlay", plan.params, read_only ? kMountAttrRdonly : 0,
                                plan.target);
    case OverlayMountPlan::Method::kClassicAbsolute:
      return mounts.Mount("overlay", plan.target, "overlay", read_only ? kMsRdonly : 0, plan.data);
    case OverlayMountPlan::Method::kClassicRelative: {
      // mount(2) resolves the relative lowerdir/upperdir/workdir against the cwd.
      STRATA_ASSIGN_OR_RETURN(ScopedChdir in_home, ScopedChdir::Enter(plan.chdir_to));
      return mounts.Mount("overlay", plan.target, "overlay", read_only ? kMsRdonly : 0, plan.data);
    }
  }
  return Error(EINVAL, "unknown overlay mount method");
}

}  // namespace strata::drivers::overlay
