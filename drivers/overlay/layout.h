// The overlay2 on-disk layout (FIELD-GUIDE §3.4) and the kernel/backing-filesystem facts the
// driver needs at init.
//
//   <home>/l/<26-char link id> -> ../<id>/diff   short names keep mount data small
//   <home>/<id>/diff/        the layer's files (its upperdir)
//   <home>/<id>/link         its link id
//   <home>/<id>/lower        "l/AAA:l/BBB" parents' link ids, nearest first (absent: base layer)
//   <home>/<id>/work/        overlay workdir (layers with a parent)
//   <home>/<id>/merged/      mount point (created by Mount, removed by Unmount)
//   <home>/<id>/committed    empty marker: the layer is someone's parent, mount it read-only
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "drivers/overlay/mount_plan.h"

namespace strata::drivers::overlay {

inline constexpr size_t kLinkIdLength = 26;

// A link id from 16 random bytes: RFC 4648 base32 (A-Z, 2-7), first 26 characters (as overlay2).
std::string LinkIdFromBytes(const std::array<uint8_t, 16>& bytes);
// A fresh random link id (getrandom).
std::string NewLinkId();
// True for 26 characters of [A-Z2-7].
bool IsLinkId(std::string_view id);

// "l/AAA:l/BBB" <-> {"AAA", "BBB"}. Parsing rejects anything that is not a list of "l/<link id>"
// with EINVAL (a corrupt lower file must not become a mount option).
std::string FormatLowerFile(const std::vector<std::string>& links);
Result<std::vector<std::string>> ParseLowerFile(std::string_view text);

struct KernelVersion {
  int major = 0;
  int minor = 0;
  bool AtLeast(int maj, int min) const { return major > maj || (major == maj && minor >= min); }
};
// "6.18.44-fc-v769" -> {6, 18}. EINVAL when it does not start with "<n>.<n>".
Result<KernelVersion> ParseKernelRelease(std::string_view release);

// Where the overlay module exposes its parameters; a parameter file's existence means the
// kernel knows the mount option of the same name.
inline constexpr const char* kOverlayParamDir = "/sys/module/overlay/parameters";

// Kernel facts for the planner from uname(2), the module parameter files under `param_dir`, and
// the page size. Extra mount options are left empty (the driver fills them from config).
Result<OverlayFeatures> DetectFeatures(const std::string& param_dir);

// The statfs(2) magic of the filesystem holding `path`, and a name for it ("extfs", "xfs", ...,
// or "0x<hex>" when unknown).
Result<int64_t> FsMagic(const std::string& path);
std::string FsName(int64_t magic);
inline constexpr int64_t kOverlayFsMagic = 0x794c7630;

// Whether readdir(3) on `dir`'s filesystem reports file types: creates a file in a temp
// directory under `dir`, reads it back, removes both. False when d_type is DT_UNKNOWN (xfs with
// ftype=0): overlay then misreports whiteouts and deleted files reappear.
Result<bool> SupportsDType(const std::string& dir);

// True when "overlay" is listed in `proc_filesystems` (the text of /proc/filesystems).
bool ListsOverlay(std::string_view proc_filesystems);

}  // namespace strata::drivers::overlay
