#!/usr/bin/env bash
# VM tier smoke test of the device-mapper benchmarks (bench/dm.sh): every side (strata_dm_bench,
# the dmsetup scripts, the lvm2 script) runs 5 snapshot cycles, strata 20 and dmsetup 5 thin
# devices, in lock-step as in the real run. Fails when any side fails, when a side recorded the
# wrong number of samples or no table came out, or when a dm device, loop device or VG is left
# behind. Never fails on timing.
#   tests/vm/dm_bench_smoke.sh [BUILD_DIR]     (outside the VM it re-runs itself inside one)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
export STRATA_BUILD_DIR=${1:-${STRATA_BUILD_DIR:-$top/build}}
if [ "${STRATA_VM:-}" != 1 ]; then
  exec "$top/tools/dev/vm/run" --timeout 500 -- "$(realpath "$0")" "$STRATA_BUILD_DIR"
fi
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
out=$(mktemp -d /tmp/strata-dm-smoke.XXXXXX)
trap 'rm -rf "$out"' EXIT
fail() { echo "dm-bench-smoke: FAIL: $*" >&2; exit 1; }

STRATA_VM_RESULTS=$out DM_CYCLES=5 DM_DEVICES=20 DM_DMSETUP_DEVICES=5 "$top/bench/dm.sh" ||
  fail "bench/dm.sh exited with $?"

# count SIDE OP: the samples SIDE recorded for OP.
count() { awk -v s="$1" -v o="$2" '$1 == s && $2 == o' "$out/samples.txt" | wc -l; }
for side in strata strata-cli dmsetup dmsetup-min lvm; do
  [ "$(count "$side" cycle)" -eq 5 ] || fail "$side recorded $(count "$side" cycle) cycles, not 5"
done
[ "$(count strata create_thin)" -eq 20 ] || fail "strata created $(count strata create_thin)"
[ "$(count strata delete_thin)" -eq 20 ] || fail "strata deleted $(count strata delete_thin)"
[ "$(count strata list)" -eq 1 ] || fail "strata listed $(count strata list) times"
[ "$(count dmsetup create_thin)" -eq 5 ] || fail "dmsetup created $(count dmsetup create_thin)"
for us in "strata (ThinPool API)" "strata CLI (layer create/mount/umount/rm)"; do
  for peer in "dmsetup script, same messages" "dmsetup script, minimal" \
    "lvm2 lvcreate -s / lvremove"; do
    grep -qF "| $peer / $us |" "$out/dm.md" || fail "no '$peer / $us' row in the table"
  done
done
[ "$(wc -l <"$out/dm.tsv")" -eq 6 ] || fail "dm.tsv has $(wc -l <"$out/dm.tsv") rows, not 6"

left=$(dmsetup ls 2>/dev/null | grep -v '^No devices found' || true)
[ -z "$left" ] || fail "dm devices left behind: $left"
loops=$(losetup -a)
[ -z "$loops" ] || fail "loop devices left behind: $loops"
vgs=$(vgs --noheadings -o vg_name --config 'devices{obtain_device_list_from_udev=0}' 2>/dev/null ||
  true)
[ -z "${vgs// /}" ] || fail "volume groups left behind: $vgs"
echo "dm-bench-smoke: PASS"
