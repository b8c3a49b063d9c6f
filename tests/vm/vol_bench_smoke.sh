#!/usr/bin/env bash
# VM tier smoke test of the volume benchmarks (bench/vol.sh): 2 creates per side (strata API,
# strata CLI, lvm2, after each side's warm-up), 1 API create of a new size, and `vol ls --json`
# over 20 volumes, as in the real run. Fails when a side fails, when a side recorded the wrong number of samples or no table
# came out, or when a dm device, loop device or VG is left behind. Never fails on timing.
#   tests/vm/vol_bench_smoke.sh [BUILD_DIR]     (outside the VM it re-runs itself inside one)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
export STRATA_BUILD_DIR=${1:-${STRATA_BUILD_DIR:-$top/build}}
if [ "${STRATA_VM:-}" != 1 ]; then
  exec "$top/tools/dev/vm/run" --timeout 500 -- "$(realpath "$0")" "$STRATA_BUILD_DIR"
fi
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
out=$(mktemp -d /tmp/strata-vol-smoke.XXXXXX)
trap 'rm -rf "$out"' EXIT
fail() { echo "vol-bench-smoke: FAIL: $*" >&2; exit 1; }

STRATA_VM_RESULTS=$out VOL_CREATES=2 VOL_NEW_SIZES=1 VOL_COUNT=20 VOL_LS_RUNS=2 \
  "$top/bench/vol.sh" || fail "bench/vol.sh exited with $?"

# count SIDE OP: the samples SIDE recorded for OP.
count() { awk -v s="$1" -v o="$2" '$1 == s && $2 == o' "$out/samples.txt" | wc -l; }
for side in strata strata-cli lvm; do
  [ "$(count "$side" first_create)" -eq 1 ] || fail "$side: $(count "$side" first_create) warm-ups"
  [ "$(count "$side" create)" -eq 2 ] || fail "$side recorded $(count "$side" create) creates, not 2"
done
[ "$(count lvm mkfs)" -eq 2 ] || fail "lvm recorded $(count lvm mkfs) mkfs runs, not 2"
[ "$(count strata create_new_size)" -eq 1 ] || fail "$(count strata create_new_size) new sizes"
# The strata root held 4 volumes from the creates; populate fills it up to 20.
[ "$(count strata populate_create)" -eq 16 ] || fail "populate made $(count strata populate_create)"
[ "$(count strata-cli ls)" -eq 2 ] || fail "strata-cli recorded $(count strata-cli ls) ls runs"
[ "$(count strata list)" -eq 2 ] || fail "strata recorded $(count strata list) List calls"
[ "$(count strata rm)" -eq 20 ] || fail "strata removed $(count strata rm) volumes, not 20"
for us in "strata (volumes::Manager API)" "strata CLI (vol create)"; do
  grep -qF "| lvm2 lvcreate -V1G --thin + mkfs.ext4 / $us |" "$out/vol.md" ||
    fail "no 'lvm2 / $us' row in the table"
done
grep -qF '| `strata vol ls --json` (one process) |' "$out/vol.md" || fail "no ls row in the table"
[ "$(wc -l <"$out/vol.tsv")" -eq 4 ] || fail "vol.tsv has $(wc -l <"$out/vol.tsv") rows, not 4"

left=$(dmsetup ls 2>/dev/null | grep -v '^No devices found' || true)
[ -z "$left" ] || fail "dm devices left behind: $left"
loops=$(losetup -a)
[ -z "$loops" ] || fail "loop devices left behind: $loops"
vgs=$(vgs --noheadings -o vg_name --config 'devices{obtain_device_list_from_udev=0}' 2>/dev/null ||
  true)
[ -z "${vgs// /}" ] || fail "volume groups left behind: $vgs"
echo "vol-bench-smoke: PASS"
