#!/usr/bin/env bash
# The lvm2 peer of strata_dm_bench (issue 3), run inside the VM by bench/dm.sh:
#   dm_lvm_cycle.sh WORKDIR SAMPLES     (WORKDIR on a scratch tmpfs; needs root)
# The same two files and loop devices as the other sides (bench/dm_lib.sh) become PVs of a VG;
# the pool's data LV fills the data PV and its metadata LV the metadata PV (no pmspare), joined
# by lvconvert into a thin pool with 64 KiB chunks, zeroing on, discards passdown and
# error-when-full (the strata pool's features). Its origin thin LV gets the same ext4 and is
# deactivated, as on the other sides, so LVM never suspends it. The pool stays active
# throughout (LVM keeps it up while the VG is active). Then $DM_CYCLES times (after one untimed
# warm-up), each step one command:
#   lvcreate -s -kn -n snapN vg/origin   (thin snapshot: create_snap + set_transaction_id, and
#                                         it activates the LV: -kn clears the activation skip)
#   [lvchange -ay vg/snapN]              (only if lvcreate left it inactive; it does not)
#   mount -t ext4 /dev/vg/snapN <mnt>;  umount <mnt>
#   lvremove -f vg/snapN                 (deactivate + delete + set_transaction_id)
# No udev in the VM, so every command runs with activation/udev_sync=0 and udev_rules=0 (LVM
# makes its nodes and /dev/<vg> links itself) and devices/obtain_device_list_from_udev=0;
# activation/monitoring=0 because no dmeventd runs here. Everything else is Debian's default
# lvm.conf. DM_ORIGIN_ACTIVE=1 leaves the origin active (LVM then suspends it around
# create_snap). Samples go to SAMPLES as "lvm <op> <ms>".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/dm_lib.sh"
work=$1 samples=$2
cycles=${DM_CYCLES:-100}
vg=dmbench$$
mnt=$work/mnt
data_loop="" meta_loop=""
conf='activation{udev_sync=0 udev_rules=0 monitoring=0} devices{obtain_device_list_from_udev=0}'
export LVM_SUPPRESS_FD_WARNINGS=1
lvm() { command "$1" -q --config "$conf" "${@:2}"; }

cleanup() {
  set +e
  mountpoint -q "$mnt" && umount "$mnt"
  lvm vgremove -f "$vg" >/dev/null 2>&1
  lvm pvremove -f "$data_loop" "$meta_loop" >/dev/null 2>&1
  [ -n "$data_loop" ] && losetup -d "$data_loop"
  [ -n "$meta_loop" ] && losetup -d "$meta_loop"
  rm -rf "$work"
}
trap 'status=$?; cleanup; exit $status' EXIT

gate_open
gate_wait  # setup
make_loop_files "$work"
lvm pvcreate "$data_loop" "$meta_loop"
lvm vgcreate -s 4M "$vg" "$data_loop" "$meta_loop"
lvm lvcreate -n pool -l 100%PVS "$vg" "$data_loop"
lvm lvcreate -n pool_meta -l 100%PVS "$vg" "$meta_loop"
lvm lvconvert -y --type thin-pool --poolmetadata "$vg/pool_meta" --chunksize 64k --zero y \
  --discards passdown --poolmetadataspare n "$vg/pool"
lvm lvchange --errorwhenfull y "$vg/pool"
lvm lvcreate -n origin -V "$DM_ORIGIN_SIZE" --thinpool "$vg/pool"
echo "lvm: pool table: $(dmsetup table "$vg-pool-tpool")" >&2
mkfs_origin "/dev/$vg/origin"
[ "${DM_ORIGIN_ACTIVE:-0}" = 1 ] || lvm lvchange -an "$vg/origin"
mkdir -p "$mnt"
gate_done

snapshot() {  # NAME
  lvm lvcreate -s -kn -n "$1" "$vg/origin"
  [ -b "/dev/$vg/$1" ] || lvm lvchange -ay "$vg/$1"
}

sample_open /dev/null lvm  # the warm-up cycle is not recorded
for ((i = -1; i < cycles; i++)); do
  gate_wait
  [ $i -eq 0 ] && sample_open "$samples" lvm
  name=snap$((i + 1))
  start=${EPOCHREALTIME/./}
  timed snapshot+activate snapshot "$name"
  timed mount mount -t ext4 "/dev/$vg/$name" "$mnt"
  timed umount umount "$mnt"
  timed deactivate+delete lvm lvremove -f "$vg/$name"
  record cycle "$start"
  gate_done
done

gate_wait  # teardown
lvm lvremove -f "$vg/origin"
echo "lvm: final pool status: $(dmsetup status "$vg-pool-tpool")" >&2
summarise "$samples" lvm
trap - EXIT
cleanup
gate_done
