#!/usr/bin/env bash
# The strata CLI side of the device-mapper benchmark (bench/dm.sh), run inside the VM:
#   dm_strata_cli_cycle.sh WORKDIR SAMPLES STRATA_BINARY
# The same cycle as the other sides, through the devicemapper graph driver, one `strata`
# process per step as a user or script would run it:
#   strata layer create --rw --parent img cN   (create_snap + set_transaction_id, journaled)
#   strata layer mount cN                      (activate, mount ext4, bind its rootfs/)
#   strata layer umount cN                     (umount, deactivate)
#   strata layer rm cN                         (delete + set_transaction_id, journaled)
# Setup: a loop-file pool of the same sizes, block size and low-water mark as the other sides
# (bench/dm_lib.sh), built by the first `layer create` (the image layer `img`, a snapshot of the
# base device of $DM_ORIGIN_SIZE, ext4), inactive as the other sides' origins. Every process
# opens the SQLite store (synchronous=FULL) on the scratch tmpfs. Samples: "strata-cli <op> <ms>".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/dm_lib.sh"
work=$1 samples=$2 strata_bin=$3
cycles=${DM_CYCLES:-100}
pool=strata-cli-bench-$$
mkdir -p "$work"
cat >"$work/config.json" <<JSON
{"root": "$work/root", "driver": "devicemapper", "log-level": "error",
 "driver-opts": {"devicemapper": {"pool-name": "$pool", "data-size": "$DM_DATA_SIZE",
   "metadata-size": "$DM_METADATA_SIZE", "base-size": "$DM_ORIGIN_SIZE",
   "low-water-mark": $DM_LOW_WATER_MARK}}}
JSON
st() { "$strata_bin" --config "$work/config.json" "$@" >/dev/null; }

cleanup() {
  set +e
  for m in $(awk -v r="$work/root" '$5 ~ "^" r {print $5}' /proc/self/mountinfo | sort -r); do
    umount -l "$m"
  done
  for d in $(dmsetup info -c --noheadings -o name,uuid 2>/dev/null |
    awk -F: -v p="STRATA-thin-$pool-" 'index($2, p) == 1 {print $1}'); do
    dm remove "$d"
  done
  dm remove "$pool" 2>/dev/null
  rm -rf "$work"
}
trap 'status=$?; cleanup; exit $status' EXIT

gate_open
gate_wait  # setup
st layer create img
gate_done

sample_open /dev/null strata-cli  # the warm-up cycle is not recorded
for ((i = -1; i < cycles; i++)); do
  gate_wait
  [ $i -eq 0 ] && sample_open "$samples" strata-cli
  name=c$((i + 1))
  start=${EPOCHREALTIME/./}
  timed snapshot st layer create --rw --parent img "$name"
  timed activate+mount st layer mount "$name"
  timed umount+deactivate st layer umount "$name"
  timed delete st layer rm "$name"
  record cycle "$start"
  gate_done
done

gate_wait  # teardown
st layer rm img
summarise "$samples" strata-cli
trap - EXIT
cleanup
gate_done
