#!/usr/bin/env bash
# The dmsetup peer of strata_dm_bench (issue 3), run inside the VM by bench/dm.sh:
#   dm_dmsetup_cycle.sh WORKDIR SAMPLES     (WORKDIR on a scratch tmpfs; needs root)
# Builds the same pool as strata (bench/dm_lib.sh: same files, loops, block size, features,
# low-water mark, origin size and mkfs) with `dmsetup --noudevsync`, then:
#   cycle  $DM_CYCLES times (after one untimed warm-up), each step one command:
#            dmsetup message <pool> 0 "create_snap <id> <origin>"
#            [dmsetup message <pool> 0 "set_transaction_id <n> <n+1>"]     (DM_TXID=1)
#            dmsetup create <snap> --table "0 <len> thin <pool maj:min> <id>"
#            mount -t ext4 /dev/mapper/<snap> <mnt>;  umount <mnt>
#            dmsetup remove <snap>
#            dmsetup message <pool> 0 "delete <id>"
#            [dmsetup message <pool> 0 "set_transaction_id <n> <n+1>"]     (DM_TXID=1)
#   many   $DM_DEVICES times "create_thin <id>" [+ set_transaction_id], then as many "delete".
# What strata does for the same steps (see the ioctl list strata_dm_bench prints): Snapshot =
# create_snap + set_transaction_id (its journal's commit point), plus an Info, a pool status and
# table read, and store transactions; Activate = create + load + resume (what `dmsetup create
# --table` does in one process); Deactivate = remove; Delete = delete + set_transaction_id. So
# DM_TXID=1 sends the kernel exactly the messages strata sends; DM_TXID=0 is the minimal script.
# The origin is inactive while it is snapshotted, as on the strata side, so neither suspends it;
# DM_ORIGIN_ACTIVE=1 keeps it active and suspends/resumes it around create_snap (as strata does
# for an active origin: strata_dm_bench --origin-active). Samples go to SAMPLES as
# "$DM_SIDE <op> <ms>" (DM_SIDE defaults to dmsetup).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/dm_lib.sh"
work=$1 samples=$2
cycles=${DM_CYCLES:-100} devices=${DM_DEVICES:-0} txid_on=${DM_TXID:-1}
side=${DM_SIDE:-dmsetup}
pool=dmbench-pool-$$
prefix=dmbench-$$
mnt=$work/mnt
data_loop="" meta_loop=""

cleanup() {
  set +e
  mountpoint -q "$mnt" && umount "$mnt"
  for dev in $(dmsetup ls 2>/dev/null | awk -v p="$prefix-" 'index($1, p) == 1 { print $1 }'); do
    dm remove "$dev"
  done
  dm info "$pool" >/dev/null 2>&1 && dm remove "$pool"
  [ -n "$data_loop" ] && losetup -d "$data_loop"
  [ -n "$meta_loop" ] && losetup -d "$meta_loop"
  rm -rf "$work"
}
trap 'status=$?; cleanup; exit $status' EXIT

gate_open
gate_wait  # setup
make_loop_files "$work"
data_sectors=$(( $(blockdev --getsz "$data_loop") / DM_BLOCK_SECTORS * DM_BLOCK_SECTORS ))
dm create "$pool" --table "0 $data_sectors thin-pool $meta_loop $data_loop $DM_BLOCK_SECTORS \
$DM_LOW_WATER_MARK 1 error_if_no_space"
echo "dmsetup: pool table: $(dm table "$pool")" >&2
pool_dev=$(dm info -c --noheadings -o major,minor "$pool")
origin_sectors=$(( $(numfmt --from=iec "$DM_ORIGIN_SIZE") / 512 ))
txid=0
# txid_step: the set_transaction_id strata sends after each create_snap/create_thin/delete.
txid_step() {
  [ "$txid_on" = 1 ] || return 0
  dm message "$pool" 0 "set_transaction_id $txid $((txid + 1))"
  txid=$((txid + 1))
}
# thin_create NAME ID: a thin device's table, as strata's Activate builds it. libdevmapper
# makes the node itself when udev is not running; mknodes only if it did not.
thin_create() {
  dm create "$1" --table "0 $origin_sectors thin $pool_dev $2"
  [ -b "/dev/mapper/$1" ] || dm mknodes "$1"
}

origin_id=0
dm message "$pool" 0 "create_thin $origin_id"
txid_step
thin_create "$prefix-origin" "$origin_id"
mkfs_origin "/dev/mapper/$prefix-origin"
[ "${DM_ORIGIN_ACTIVE:-0}" = 1 ] || dm remove "$prefix-origin"
mkdir -p "$mnt"
gate_done

snapshot() {  # ID
  if [ "${DM_ORIGIN_ACTIVE:-0}" = 1 ]; then
    # create_snap needs an active origin suspended: the kernel does not check.
    dm suspend "$prefix-origin"
    dm message "$pool" 0 "create_snap $1 $origin_id"
    dm resume "$prefix-origin"
  else
    dm message "$pool" 0 "create_snap $1 $origin_id"
  fi
  txid_step
}
delete() {  # ID
  dm message "$pool" 0 "delete $1"
  txid_step
}

sample_open /dev/null "$side"  # the warm-up cycle is not recorded
next_id=1
for ((i = -1; i < cycles; i++)); do
  gate_wait
  [ $i -eq 0 ] && sample_open "$samples" "$side"
  id=$next_id; next_id=$((next_id + 1))
  name=$prefix-snap-$id
  start=${EPOCHREALTIME/./}
  timed snapshot snapshot "$id"
  timed activate thin_create "$name" "$id"
  timed mount mount -t ext4 "/dev/mapper/$name" "$mnt"
  timed umount umount "$mnt"
  timed deactivate dm remove "$name"
  timed delete delete "$id"
  record cycle "$start"
  gate_done
done

if [ "$devices" -gt 0 ]; then
  gate_wait
  first=$next_id
  for ((id = first; id < first + devices; id++)); do
    start=${EPOCHREALTIME/./}
    dm message "$pool" 0 "create_thin $id"
    txid_step
    record create_thin "$start"
  done
  for ((id = first; id < first + devices; id++)); do
    timed delete_thin delete "$id"
  done
  gate_done
fi

gate_wait  # teardown
if [ "${DM_ORIGIN_ACTIVE:-0}" = 1 ]; then dm remove "$prefix-origin"; fi
delete "$origin_id"
echo "dmsetup: final pool status: $(dm status "$pool")" >&2
summarise "$samples" "$side"
trap - EXIT
cleanup
gate_done
