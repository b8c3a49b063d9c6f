#!/usr/bin/env bash
# Volume benchmarks (issue 4): strata's thin volumes against lvm2, all inside ONE VM boot so they
# share conditions. Outside the VM it re-runs itself in one.
#   1. $VOL_CREATES (20) creates of a 1 GiB ext4 volume on each side, interleaved create by create
#      (after one warm-up create per side, recorded apart as "first_create": strata formats its
#      base then, lvm's is an ordinary create):
#        strata      strata_vol_bench create (volumes::Manager::Create, what a runtime embeds)
#        strata-cli  strata --config C vol create vN --size 1G --fs ext4 --backend thin
#        lvm         lvcreate -V1G --thin -n vN vg/pool, then mkfs.ext4 -q /dev/vg/vN
#                    (Debian's mke2fs.conf defaults)
#      Target: lvm / strata >= 20x (create medians), for the API and the CLI. The thin backend
#      keeps the first volume of each size as a base of that size, so creates 1..N are
#      snapshots; then the API side makes $VOL_NEW_SIZES (5) volumes of sizes not seen before
#      (1G + i x 64M: snapshot, grow, keep as a base), as "create_new_size".
#   2. `vol ls --json` over $VOL_COUNT (1000) volumes: the strata side's root is filled up with
#      512 MiB thin volumes (snapshots of the base, no grow), then `strata vol ls --json` is timed
#      $VOL_LS_RUNS (10) times as one process each (after one warm-up), `strata --version` as
#      the process start-up alone, and Manager::List in-process (strata_vol_bench list). Target:
#      under 50 ms. Process start-up under TCG is ~300 ms, so bench/vol_host_ls.sh measures the
#      same on the host.
#   Then every volume is removed (each Remove timed, strata_vol_bench rm) and the pools torn down.
# Each side builds its pool on one scratch tmpfs with the same loop files as the dm benchmarks
# (bench/dm_lib.sh): sparse data $VOL_DATA_SIZE (4G) and metadata $DM_METADATA_SIZE (64M),
# 64 KiB blocks, zeroing on, discard passdown, error_if_no_space.
# Writes to $STRATA_VM_RESULTS (which comes back to the host): samples.txt ("<side> <op> <ms>"
# lines), vol.md (the tables), vol.tsv (rows for bench/run: name, ours, peer, ratio, target).
# Environment: STRATA_BUILD_DIR (build tree with bench/strata_vol_bench and tools/strata),
# VOL_CREATES, VOL_NEW_SIZES, VOL_COUNT, VOL_LS_RUNS, VOL_DATA_SIZE, VOL_VM_TIMEOUT (2400 s).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
if [ "${STRATA_VM:-}" != 1 ]; then
  exec "$top/tools/dev/vm/run" --timeout "${VOL_VM_TIMEOUT:-2400}" -- "$(realpath "$0")" "$@"
fi
export DM_DATA_SIZE=${VOL_DATA_SIZE:-4G}
. "$top/bench/dm_lib.sh"
build=${STRATA_BUILD_DIR:-$top/build}
bench_bin=$build/bench/strata_vol_bench
[ -x "$bench_bin" ] || { echo "vol.sh: $bench_bin not built (target strata_vol_bench)" >&2; exit 1; }
strata_bin=$build/tools/strata
[ -x "$strata_bin" ] || { echo "vol.sh: $strata_bin not built (target strata)" >&2; exit 1; }
out=${STRATA_VM_RESULTS:-/tmp}
creates=${VOL_CREATES:-20} volumes=${VOL_COUNT:-1000} ls_runs=${VOL_LS_RUNS:-10}
new_sizes=${VOL_NEW_SIZES:-5}
samples=$out/samples.txt
rm -f "$samples"
work=$(mktemp -d /tmp/strata-vol-bench.XXXXXX)
mount -t tmpfs -o size=1800M,mode=0700 strata-vol-bench "$work"
vg=volbench$$
conf='activation{udev_sync=0 udev_rules=0 monitoring=0} devices{obtain_device_list_from_udev=0}'
export LVM_SUPPRESS_FD_WARNINGS=1
# As bench/dm_lvm_cycle.sh: no udev or dmeventd in the VM, otherwise Debian's lvm.conf.
lvm() { command "$1" -q --config "$conf" "${@:2}"; }
data_loop="" meta_loop="" bench_pid=""

cleanup() {
  set +e
  [ -n "$bench_pid" ] && kill "$bench_pid" 2>/dev/null
  for side in api cli; do
    [ -f "$work/$side.json" ] && "$bench_bin" rm --teardown --config "$work/$side.json" >/dev/null
  done
  lvm vgremove -f "$vg" >/dev/null 2>&1
  lvm pvremove -f "$data_loop" "$meta_loop" >/dev/null 2>&1
  [ -n "$data_loop" ] && losetup -d "$data_loop"
  [ -n "$meta_loop" ] && losetup -d "$meta_loop"
  umount -l "$work" 2>/dev/null
  rmdir "$work" 2>/dev/null
}
trap 'status=$?; cleanup; exit $status' EXIT

echo "vol.sh: kernel $(uname -r), $(nproc) CPUs; $creates creates per side, $volumes volumes" \
  "for ls; data $DM_DATA_SIZE, metadata $DM_METADATA_SIZE"

# write_config SIDE: the strata config of SIDE (its own root and pool), as a user would write it.
write_config() {
  cat >"$work/$1.json" <<JSON
{"root": "$work/$1", "log-level": "error",
 "driver-opts": {"devicemapper": {"pool-name": "strata-vol-$1", "data-size": "$DM_DATA_SIZE",
   "metadata-size": "$DM_METADATA_SIZE", "block-size": "64K",
   "low-water-mark": $DM_LOW_WATER_MARK}},
 "volumes": {"backend": "thin", "fs": "ext4"}}
JSON
}
write_config api
write_config cli
st() { "$strata_bin" --config "$work/cli.json" "$@" >/dev/null; }

# The lvm2 pool over the same two loop files (as bench/dm_lvm_cycle.sh).
make_loop_files "$work/lvm"
lvm pvcreate "$data_loop" "$meta_loop"
lvm vgcreate -s 4M "$vg" "$data_loop" "$meta_loop"
lvm lvcreate -n pool -l 100%PVS "$vg" "$data_loop"
lvm lvcreate -n pool_meta -l 100%PVS "$vg" "$meta_loop"
lvm lvconvert -y --type thin-pool --poolmetadata "$vg/pool_meta" --chunksize 64k --zero y \
  --discards passdown --poolmetadataspare n "$vg/pool"
lvm lvchange --errorwhenfull y "$vg/pool"

# The API side runs as one process for all its creates, in lock-step through two FIFOs.
mkfifo "$work/go" "$work/done"
"$bench_bin" create --config "$work/api.json" --count "$creates" --size 1G --fs ext4 \
  --backend thin --prefix v --new-sizes "$new_sizes" --samples "$samples" \
  --gate "$work/go" "$work/done" &
bench_pid=$!
exec {go_fd}>"$work/go" {done_fd}<"$work/done"  # each open waits for the other end
trap '' PIPE  # a dead API side shows as a failed write below, not a dead driver
api_step() {
  if ! echo >&"$go_fd" 2>/dev/null || ! read -r -u "$done_fd"; then
    echo "vol.sh: strata_vol_bench create failed during $1" >&2
    exit 1
  fi
}
lvm_create() {  # NAME OP_PREFIX
  timed "${2}lvcreate" lvm lvcreate -V1G --thin -n "$1" "$vg/pool"
  timed "${2}mkfs" mkfs.ext4 -q "/dev/$vg/$1"
}

# Create i of every side in turn; i = 0 is each side's warm-up ("first_create").
sample_open "$samples" strata-cli
for ((i = 0; i <= creates; i++)); do
  op=create first=""
  [ $i -eq 0 ] && op=first_create first=first_
  api_step "create $i"
  sample_side=strata-cli
  timed $op st vol create "v$i" --size 1G --fs ext4 --backend thin
  sample_side=lvm
  start=${EPOCHREALTIME/./}
  lvm_create "v$i" "$first"
  record $op "$start"
done
[ "$new_sizes" -gt 0 ] && api_step "$new_sizes creates of new sizes"
wait "$bench_pid"
bench_pid=""
echo "lvm: pool table: $(dmsetup table "$vg-pool-tpool")"
echo "vol.sh: scratch tmpfs after the creates: $(df -h --output=used "$work" | tail -1) used"

echo "== ls: filling the strata root up to $volumes volumes"
"$bench_bin" populate --config "$work/api.json" --count "$volumes" --size 512M --prefix p \
  --samples "$samples"
n=$("$strata_bin" --config "$work/api.json" vol ls --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" -eq "$volumes" ] || { echo "vol.sh: vol ls --json listed $n volumes, not $volumes" >&2; exit 1; }
sample_side=strata-cli
for ((i = 0; i < ls_runs; i++)); do
  timed ls "$strata_bin" --config "$work/api.json" vol ls --json >/dev/null
  timed start "$strata_bin" --version >/dev/null
done
"$bench_bin" list --config "$work/api.json" --repeat "$ls_runs" --expect "$volumes" \
  --samples "$samples" >/dev/null
"$bench_bin" rm --teardown --config "$work/api.json" --samples "$samples" >/dev/null
"$bench_bin" rm --teardown --config "$work/cli.json" >/dev/null
rm -f "$work/api.json" "$work/cli.json"  # torn down: nothing for cleanup to do
echo
summarise "$samples"

echo
/usr/bin/python3 - "$samples" "$out/vol.md" "$out/vol.tsv" "$creates" "$volumes" <<'PY'
import math, sys
samples, md_path, tsv_path, creates, volumes = sys.argv[1:6]
data = {}
for line in open(samples):
    side, op, ms = line.split()
    data.setdefault(side, {}).setdefault(op, []).append(float(ms))

def stat(side, op, q="median"):
    v = sorted(data.get(side, {}).get(op, []))
    if not v:
        return None
    n = len(v)
    if q == "median":
        return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    if q == "p90":
        return v[math.ceil(0.9 * n) - 1]
    return sum(v)

def fmt(x, digits=1):
    return "n/a" if x is None else f"{x:.{digits}f}"

names = {"strata": "strata (volumes::Manager API)", "strata-cli": "strata CLI (vol create)",
         "lvm": "lvm2 lvcreate -V1G --thin + mkfs.ext4"}
sides = [s for s in names if "create" in data.get(s, {})]
lines = [f"### vol create: 1 GiB ext4 thin volume ({creates} creates per side, ms)", "",
         "| side | median | p90 | total (s) | first create |", "|---|---:|---:|---:|---:|"]
for s in sides:
    tot = stat(s, "create", "total")
    lines.append(f"| {names[s]} | {fmt(stat(s, 'create'))} | {fmt(stat(s, 'create', 'p90'))} | "
                 f"{fmt(tot and tot / 1000, 2)} | {fmt(stat(s, 'first_create'))} |")
if stat("strata", "create_new_size") is not None:
    v = data["strata"]["create_new_size"]
    lines.append(f"| strata API, a size not made before ({len(v)} creates: snapshot + grow + "
                 f"keep as a base) | {fmt(stat('strata', 'create_new_size'))} | "
                 f"{fmt(stat('strata', 'create_new_size', 'p90'))} | {fmt(sum(v) / 1000, 2)} | |")
lines += ["", "| ratio (create medians) | measured | target | |", "|---|---:|---:|---|"]
tsv = []
theirs = stat("lvm", "create")
for us in ("strata", "strata-cli"):
    ours = stat(us, "create")
    if ours is None or theirs is None:
        continue
    ratio = theirs / ours
    verdict = "met" if ratio >= 20 else f"not met ({ratio / 20 * 100:.0f}% of target)"
    lines.append(f"| {names['lvm']} / {names[us]} | {ratio:.2f}x | >= 20x | {verdict} |")
    tsv.append(f"vol create 1G: lvm2/{us} (higher is better)\t{ours:.1f} ms\t"
               f"{theirs:.1f} ms\t{ratio:.2f}x\t>= 20x")
lines += ["", "lvm2 steps (medians, ms): lvcreate " + fmt(stat("lvm", "lvcreate"), 2) +
          ", mkfs.ext4 " + fmt(stat("lvm", "mkfs"), 2) + "."]
ops = [op for op in ("create", "create_new_size", "populate_create", "first_create")
       if op in data.get("strata", {})]
if ops:
    def calls(op, group):
        keys = sorted(k for k in data["strata"] if k.startswith(f"{op}.{group}."))
        return ", ".join(f"{k[len(op) + len(group) + 2:]} {stat('strata', k):.2f}" for k in keys)
    lines += ["", "strata API creates split by seam (medians, ms; the rest is the SQLite store, "
              "mkfs (first create only), the EXT4_IOC_RESIZE_FS grow and the logic; "
              "populate_create is a 512M volume, a snapshot of the base):", "",
              "| op | wall | dm ioctls | mount calls | rest | ioctls by call | mounts by call |",
              "|---|---:|---:|---:|---:|---|---|"]
    for op in ops:
        wall, ioctl, mnt = (stat("strata", op + x) for x in ("", ".ioctl", ".mount"))
        lines.append(f"| {op} | {fmt(wall, 2)} | {fmt(ioctl, 2)} | {fmt(mnt, 2)} | "
                     f"{fmt(wall - (ioctl or 0) - (mnt or 0), 2)} | {calls(op, 'ioctl') or '-'} | "
                     f"{calls(op, 'mount') or '-'} |")
lines += ["", f"### vol ls --json with {volumes} volumes (ms)", "",
          "| what | median | p90 | target |", "|---|---:|---:|---|"]
rows = [("strata-cli", "ls", "`strata vol ls --json` (one process)", "CLI"),
        ("strata-cli", "start", "`strata --version` (process start-up alone)", ""),
        ("strata", "list", "Manager::List (in-process, manager open)", "API List"),
        ("strata", "open+list", "open store + Manager + List (in-process)", "")]
for side, op, what, short in rows:
    if stat(side, op) is not None:
        lines.append(f"| {what} | {fmt(stat(side, op), 2)} | {fmt(stat(side, op, 'p90'), 2)} | "
                     f"{'< 50 ms' if short else ''} |")
        if short:
            tsv.append(f"vol ls --json, {volumes} vols: {short}, VM (lower is better)\t"
                       f"{stat(side, op):.1f} ms\t-\t-\t< 50 ms")
lines += ["", "Filling and emptying the root (ms per volume): create at 512M "
          f"{fmt(stat('strata', 'populate_create'), 2)} median, "
          f"{fmt(stat('strata', 'populate_create', 'p90'), 2)} p90; rm "
          f"{fmt(stat('strata', 'rm'), 2)} median, {fmt(stat('strata', 'rm', 'p90'), 2)} p90."]
text = "\n".join(lines) + "\n"
print(text)
open(md_path, "w").write(text)
open(tsv_path, "w").write("".join(t + "\n" for t in tsv))
PY
