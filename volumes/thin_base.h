// The pre-formatted bases of thin volumes, and formatting a thin device (internal to the thin
// backend, thin_backend.cc).
//
// Formatting costs far more than snapshotting: a thin volume is a snapshot of a base formatted
// once per (filesystem, mkfs options), grown to the requested size by an online resize. A base is
// a thin device of the pool named "volbase:<fs>:<hash of the mkfs options>" (ThinBaseName); while
// it is being made it is named "volbase.unformatted:<fs>:<hash>", so what a crash leaves midway is
// recognised, deleted and made again (the devicemapper driver's "base.unformatted" pattern).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/sys/mounts.h"
#include "thinpool/pool.h"
#include "volumes/volume.h"

namespace strata::volumes {

// The size bases are formatted at: 512 MiB for both filesystems.
// - ext4: below 512 MiB mke2fs uses its "small" type (1 KiB blocks, an inode per 4 KiB), which a
//   grown volume would keep for good; from 512 MiB it uses the defaults (4 KiB blocks, an inode
//   per 16 KiB), so a grown base has the geometry mkfs gives a volume of its final size (up to
//   4 TiB, where mke2fs's "big" type has fewer inodes). The reserved GDT blocks cover growth to
//   1024x (512 GiB) in place; the kernel converts larger grows to meta_bg online.
// - xfs: mkfs.xfs refuses less than 300 MiB; at 512 MiB it makes 4 allocation groups of 128 MiB
//   and the 64 MiB log it gives any filesystem up to 128 GiB. Growing keeps the AG size, so a
//   grown volume has size/128M AGs: the base is used up to kThinXfsBaseMaxBytes (256 AGs).
// Volumes smaller than the base (but at least MinFilesystemBytes) are formatted at their size.
inline constexpr uint64_t kThinBaseBytes = uint64_t{512} << 20;
inline constexpr uint64_t kThinXfsBaseMaxBytes = uint64_t{32} << 30;

// Whether a new volume of `size_bytes` is made from a base (the fast path) rather than formatted.
bool UsesThinBase(Filesystem fs, uint64_t size_bytes);

// "volbase:<fs>:<first 12 hex digits of the SHA-256 of the options, each NUL-terminated>".
std::string ThinBaseName(Filesystem fs, const std::vector<std::string>& mkfs_options);

// Activates thin device `thin_id`, makes the filesystem (MakeFilesystem), removes lost+found
// through a private mount at `stage_dir`, unmounts and deactivates. On failure the device is
// left inactive and unmounted (best effort); the caller deletes it.
Status FormatThin(thinpool::ThinPool& pool, sys::Mounts& mounts, uint32_t thin_id, Filesystem fs,
                  const std::vector<std::string>& mkfs_options, const std::string& stage_dir);

struct ThinBase {
  uint32_t thin_id = 0;
  uint64_t size_bytes = 0;
};

// The base for (fs, mkfs_options), made when missing: under the cross-process lock
// <root>/locks/pools/<pool>.volbase.lock (waiting up to 120 s), a leftover unformatted base is
// deleted (its stage <root>/volumes/mnt/.volbase-<pool> unmounted first), a new thin device of
// kThinBaseBytes formatted (FormatThin) and renamed to ThinBaseName. Nothing is left behind on
// failure. Errors: the pool's, mkfs's (EIO with its message), EBUSY when the lock stays held.
Result<ThinBase> EnsureThinBase(thinpool::ThinPool& pool, sys::Mounts& mounts,
                                const std::string& root, Filesystem fs,
                                const std::vector<std::string>& mkfs_options);

// Sized bases. Growing a snapshot of the base to a size costs a mount and an online resize; most
// volumes are made at a few sizes (the configured default above all). So after the first volume
// of a size is grown, a snapshot of it, still empty and unmounted, is kept as the base for that
// size, "<ThinBaseName>@<bytes>": the next volume of that size is one snapshot, with the same
// filesystem a grow would give it. At most kMaxSizedBases per (fs, options); making another
// deletes the oldest (lowest thin id).
inline constexpr size_t kMaxSizedBases = 4;
std::string SizedThinBaseName(Filesystem fs, const std::vector<std::string>& mkfs_options,
                              uint64_t size_bytes);

// The sized base for exactly `size_bytes`, or nullopt.
Result<std::optional<ThinBase>> FindSizedThinBase(thinpool::ThinPool& pool, Filesystem fs,
                                                  const std::vector<std::string>& mkfs_options,
                                                  uint64_t size_bytes);

// Keeps a snapshot of `fresh_id` (a just-grown, empty, inactive volume of `size_bytes`) as the
// sized base, unless another process made one meanwhile; trims to kMaxSizedBases. Under the
// bases' lock. The caller treats a failure as a missed cache fill, not a failed create.
Status KeepSizedThinBase(thinpool::ThinPool& pool, const std::string& root, uint32_t fresh_id,
                         Filesystem fs, const std::vector<std::string>& mkfs_options,
                         uint64_t size_bytes);

}  // namespace strata::volumes
