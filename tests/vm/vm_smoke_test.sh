#!/usr/bin/env bash
# VM tier smoke test: proves the VM gives device-mapper tests what they need. Checks that
# dm-thin-pool is loaded and /dev/mapper/control exists, then builds a thin pool on two sparse
# loop files, a thin device with ext4 and a file on it, a snapshot of it (origin suspended), and
# reads the file back through the snapshot; writes to the snapshot must not reach the origin.
# Tears everything down in order (thin devices, pool, loops) and fails if any step fails.
#
# Run directly: outside the VM it re-runs itself inside one through tools/dev/vm/run.
set -euo pipefail
if [ "${STRATA_VM:-}" != 1 ]; then
  top=$(cd "$(dirname "$0")/../.." && pwd)
  exec "$top/tools/dev/vm/run" --timeout 600 -- "$(realpath "$0")" "$@"
fi
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
started=$(date +%s.%N)
step() { echo "vm-smoke: $*"; }

# No udev in the VM: dmsetup must not wait for udev cookies, and makes the nodes itself.
dm() { dmsetup --noudevsync "$@"; }

prefix=strata-smoke-$$
pool=$prefix-pool
origin=$prefix-thin0
snap=$prefix-snap1
work=$(mktemp -d /tmp/strata-vm-smoke.XXXXXX)
meta_loop="" data_loop=""

cleanup() {
  local status=$?
  set +e
  umount "$work/snap" "$work/origin" 2>/dev/null
  for dev in "$snap" "$origin" "$pool"; do  # thin devices before their pool
    dm info "$dev" >/dev/null 2>&1 && dm remove "$dev"
  done
  [ -n "$data_loop" ] && losetup -d "$data_loop"
  [ -n "$meta_loop" ] && losetup -d "$meta_loop"
  umount "$work" 2>/dev/null
  rm -rf "$work"
  exit $status
}
trap cleanup EXIT

step "kernel $(uname -r)"
grep -q '^dm_thin_pool ' /proc/modules || { echo "dm_thin_pool is not loaded" >&2; exit 1; }
[ -c /dev/mapper/control ] || { echo "/dev/mapper/control is missing" >&2; exit 1; }
dm version

# Sparse backing files on a fresh tmpfs: the loop devices must not sit on the 9p/overlay root.
mount -t tmpfs -o size=1G tmpfs "$work"
truncate -s 64M "$work/meta"
truncate -s 2G "$work/data"
# The pool formats its metadata only if the first block (the superblock) is all zeroes.
dd if=/dev/zero of="$work/meta" bs=4096 count=1 conv=notrunc status=none
meta_loop=$(losetup --find --show "$work/meta")
data_loop=$(losetup --find --show "$work/data")
data_sectors=$(blockdev --getsz "$data_loop")
step "loops: meta $meta_loop, data $data_loop ($data_sectors sectors)"

# 128-sector (64 KiB) blocks, low-water mark 32768 blocks, one feature arg.
dm create "$pool" \
  --table "0 $data_sectors thin-pool $meta_loop $data_loop 128 32768 1 skip_block_zeroing"
dm mknodes
# Thin tables name the pool by major:minor: no node lookup involved.
pool_dev=$(dm info -c --noheadings -o major,minor "$pool")
dm message "$pool" 0 "create_thin 0"
thin_sectors=$((1024 * 1024 * 1024 / 512))
dm create "$origin" --table "0 $thin_sectors thin $pool_dev 0"
dm mknodes
[ -b "/dev/mapper/$origin" ] || { echo "/dev/mapper/$origin is not a block device" >&2; exit 1; }
step "pool $(dm status "$pool")"

mkfs.ext4 -q -F -E lazy_itable_init=1,lazy_journal_init=1 "/dev/mapper/$origin"
mkdir "$work/origin" "$work/snap"
mount "/dev/mapper/$origin" "$work/origin"
echo "written before the snapshot" >"$work/origin/file"
sync -f "$work/origin/file"

# create_snap needs the origin suspended so that its in-flight writes land before the snapshot.
dm suspend "$origin"
dm message "$pool" 0 "create_snap 1 0"
dm resume "$origin"
dm create "$snap" --table "0 $thin_sectors thin $pool_dev 1"
dm mknodes
mount "/dev/mapper/$snap" "$work/snap"
got=$(cat "$work/snap/file")
[ "$got" = "written before the snapshot" ] || { echo "snapshot read '$got'" >&2; exit 1; }
step "snapshot reads the origin's file"

echo "written to the snapshot" >"$work/snap/file"
echo "written after the snapshot" >"$work/origin/later"
sync
[ "$(cat "$work/origin/file")" = "written before the snapshot" ] ||
  { echo "a write to the snapshot reached the origin" >&2; exit 1; }
[ ! -e "$work/snap/later" ] || { echo "a write to the origin reached the snapshot" >&2; exit 1; }
step "snapshot and origin diverge"

umount "$work/snap" "$work/origin"
dm remove "$snap"
dm remove "$origin"
dm message "$pool" 0 "delete 1"
dm message "$pool" 0 "delete 0"
dm remove "$pool"
losetup -d "$data_loop" && data_loop=""
losetup -d "$meta_loop" && meta_loop=""
! dm info "$pool" >/dev/null 2>&1 || { echo "pool still present" >&2; exit 1; }
step "torn down; $(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $started }") s inside the VM"
echo "vm-smoke: PASS"
