#!/usr/bin/env bash
# Device-mapper benchmarks (issue 3): strata against dmsetup scripting and lvm2, all inside ONE
# VM boot so they share conditions. Outside the VM it re-runs itself in one.
#   1. snapshot + activate + mount + umount + deactivate + delete, $DM_CYCLES (100) times:
#      strata_dm_bench (ThinPool API), bench/dm_dmsetup_cycle.sh twice (DM_TXID=1: the same
#      pool messages as strata, with set_transaction_id; DM_TXID=0: the minimal script), and
#      bench/dm_lvm_cycle.sh (lvcreate -s / lvremove).   Targets: dmsetup/strata >= 3x,
#      lvm/strata >= 10x (cycle medians).
#   2. $DM_DEVICES (1000) thin devices in one pool: create all, list, delete all (strata), and
#      $DM_DMSETUP_DEVICES (200) with dmsetup create_thin/delete messages.
# Each side builds an identical pool (bench/dm_lib.sh) on one scratch tmpfs. The sides run as
# separate processes in lock-step: one phase of one side at a time, cycles interleaved.
# Prints each side's summary, then markdown tables. Writes to $STRATA_VM_RESULTS (which comes
# back to the host): samples-<side>.txt and all of them in samples.txt, dm.md (the tables),
# dm.tsv (rows for bench/run).
# Environment: STRATA_BUILD_DIR (build tree with bench/strata_dm_bench), DM_CYCLES, DM_DEVICES,
# DM_ORIGIN_ACTIVE=1 (snapshot an active origin: every side suspends/resumes it), DM_SIDES
# (default "strata strata-cli dmsetup dmsetup-min lvm"; strata-cli is bench/dm_strata_cli_cycle.sh:
# the same cycle as `strata layer create/mount/umount/rm` on the devicemapper driver).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
if [ "${STRATA_VM:-}" != 1 ]; then
  exec "$top/tools/dev/vm/run" --timeout "${DM_VM_TIMEOUT:-2400}" -- "$(realpath "$0")" "$@"
fi
. "$top/bench/dm_lib.sh"
build=${STRATA_BUILD_DIR:-$top/build}
bench_bin=$build/bench/strata_dm_bench
[ -x "$bench_bin" ] || { echo "dm.sh: $bench_bin not built (target strata_dm_bench)" >&2; exit 1; }
strata_bin=$build/tools/strata
[ -x "$strata_bin" ] || { echo "dm.sh: $strata_bin not built (target strata)" >&2; exit 1; }
out=${STRATA_VM_RESULTS:-/tmp}
cycles=${DM_CYCLES:-100} devices=${DM_DEVICES:-1000}
# dmsetup pays two process starts per device (about 1 s per device under TCG on a busy host):
# its many-devices run uses fewer devices; the figures compared are per-operation medians.
dmsetup_devices=${DM_DMSETUP_DEVICES:-$((devices < 200 ? devices : 200))}
sides=${DM_SIDES:-strata strata-cli dmsetup dmsetup-min lvm}
rm -f "$out"/samples-*.txt  # one file per side: "<side> <op> <ms>" lines
work=$(mktemp -d /tmp/strata-dm-bench.XXXXXX)
mount -t tmpfs -o size=1800M,mode=0700 strata-dm-bench "$work"
trap 'umount -l "$work" 2>/dev/null; rmdir "$work" 2>/dev/null || true' EXIT

echo "dm.sh: kernel $(uname -r), $(nproc) CPUs; $cycles cycles, $devices devices;" \
  "origin ${DM_ORIGIN_ACTIVE:+active}${DM_ORIGIN_ACTIVE:-inactive}; sides: $sides"
active_flag=()
[ "${DM_ORIGIN_ACTIVE:-0}" = 1 ] && active_flag=(--origin-active)

# start_side SIDE: runs SIDE in the background, in lock-step through two FIFOs (dm_lib.sh).
start_side() {
  local go=$work/$1.go done=$work/$1.done
  mkfifo "$go" "$done"
  case $1 in
    strata)
      "$bench_bin" --cycles "$cycles" --devices "$devices" --data-size "$DM_DATA_SIZE" \
        --metadata-size "$DM_METADATA_SIZE" --origin-size "$DM_ORIGIN_SIZE" \
        --low-water-mark "$DM_LOW_WATER_MARK" --samples "$out/samples-$1.txt" \
        "${active_flag[@]}" --gate "$go" "$done" "$work/strata" & ;;
    dmsetup)
      DM_GATE_GO=$go DM_GATE_DONE=$done DM_CYCLES=$cycles DM_DEVICES=$dmsetup_devices DM_TXID=1 \
        DM_SIDE=dmsetup "$top/bench/dm_dmsetup_cycle.sh" "$work/$1" "$out/samples-$1.txt" & ;;
    dmsetup-min)
      DM_GATE_GO=$go DM_GATE_DONE=$done DM_CYCLES=$cycles DM_DEVICES=0 DM_TXID=0 \
        DM_SIDE=$1 "$top/bench/dm_dmsetup_cycle.sh" "$work/$1" "$out/samples-$1.txt" & ;;
    strata-cli)
      DM_GATE_GO=$go DM_GATE_DONE=$done DM_CYCLES=$cycles \
        "$top/bench/dm_strata_cli_cycle.sh" "$work/$1" "$out/samples-$1.txt" "$strata_bin" & ;;
    lvm)
      DM_GATE_GO=$go DM_GATE_DONE=$done DM_CYCLES=$cycles \
        "$top/bench/dm_lvm_cycle.sh" "$work/lvm" "$out/samples-$1.txt" & ;;
    *) echo "dm.sh: unknown side $1" >&2; exit 2 ;;
  esac
  pids+=($!)
  local g d
  exec {g}>"$go" {d}<"$done"  # each open waits for the side to open its end
  go_fd[$1]=$g done_fd[$1]=$d
}
# phase SIDE WHAT: lets SIDE run its next phase and waits for its end.
phase() {
  if ! echo >&"${go_fd[$1]}" 2>/dev/null || ! read -r -u "${done_fd[$1]}"; then
    echo "dm.sh: $1 failed during $2" >&2
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait || true
    exit 1
  fi
}

trap '' PIPE  # a side that died shows as a failed write in phase, not a dead driver
declare -A go_fd done_fd
pids=()
for side in $sides; do start_side "$side"; done
for side in $sides; do
  echo "== $side: setup"
  phase "$side" setup
done
# The sides take turns cycle by cycle (the first cycle of each is an unrecorded warm-up), so a
# change in the host's load hits all of them alike.
for ((i = -1; i < cycles; i++)); do
  for side in $sides; do phase "$side" "cycle $i"; done
done
for side in $sides; do
  case $side in
    strata) [ "$devices" -gt 0 ] && phase "$side" "$devices devices" ;;
    dmsetup) [ "$dmsetup_devices" -gt 0 ] && phase "$side" "$dmsetup_devices devices" ;;
  esac
done
for side in $sides; do
  echo
  echo "== $side: teardown and summary"
  phase "$side" teardown
done
wait

echo
cat "$out"/samples-*.txt >"$out/samples.txt"
/usr/bin/python3 - "$out/samples.txt" "$out/dm.md" "$out/dm.tsv" "$cycles" <<'PY'
import math, sys
samples, md_path, tsv_path, cycles = sys.argv[1:5]
data = {}
for line in open(samples):
    side, op, ms = line.split()
    data.setdefault(side, {}).setdefault(op, []).append(float(ms))

def stat(side, op, q):
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

sides = [s for s in ("strata", "strata-cli", "dmsetup", "dmsetup-min", "lvm") if s in data]
names = {"strata": "strata (ThinPool API)", "strata-cli": "strata CLI (layer create/mount/umount/rm)",
         "dmsetup": "dmsetup script, same messages",
         "dmsetup-min": "dmsetup script, minimal", "lvm": "lvm2 lvcreate -s / lvremove"}
lines = [f"### Snapshot cycle ({cycles} cycles, ms)", "",
         "| side | cycle median | cycle p90 | total (s) |", "|---|---:|---:|---:|"]
for s in sides:
    tot = stat(s, "cycle", "total")
    lines.append(f"| {names[s]} | {fmt(stat(s, 'cycle', 'median'))} | "
                 f"{fmt(stat(s, 'cycle', 'p90'))} | {fmt(tot and tot / 1000, 2)} |")
lines += ["", "| ratio (cycle medians) | measured | target | |", "|---|---:|---:|---|"]
tsv = []
for us in ("strata", "strata-cli"):
    ours = stat(us, "cycle", "median")
    for peer, target in (("dmsetup", 3), ("dmsetup-min", 3), ("lvm", 10)):
        theirs = stat(peer, "cycle", "median")
        if ours is None or theirs is None:
            continue
        ratio = theirs / ours
        verdict = "met" if ratio >= target else f"not met ({ratio / target * 100:.0f}% of target)"
        lines.append(f"| {names[peer]} / {names[us]} | {ratio:.2f}x | >= {target}x | {verdict} |")
        tsv.append(f"dm cycle: {peer}/{us} (higher is better)\t{ours:.1f} ms\t"
                   f"{theirs:.1f} ms\t{ratio:.2f}x\t>= {target}x")
steps = ["snapshot", "activate", "mount", "umount", "deactivate", "delete",
         "snapshot+activate", "deactivate+delete", "activate+mount", "umount+deactivate"]
lines += ["", "Step medians (ms; lvm's lvcreate -s activates, its lvremove deactivates):", "",
          "| step | " + " | ".join(sides) + " |", "|---|" + "---:|" * len(sides)]
for op in steps:
    if any(stat(s, op, "median") is not None for s in sides):
        lines.append(f"| {op} | " + " | ".join(fmt(stat(s, op, 'median'), 2) for s in sides) + " |")
if "strata" in data:
    lines += ["", "strata's steps split into dm ioctl time by call (medians, ms; the rest of a "
              "step is the store and the logic):", "", "| step | wall | all ioctls | by call |",
              "|---|---:|---:|---|"]
    for op in steps[:6] + ["create_thin", "delete_thin"]:
        if op not in data["strata"]:
            continue
        calls = sorted(k for k in data["strata"] if k.startswith(op + ".ioctl."))
        by_call = ", ".join(f"{k[len(op) + 7:]} {stat('strata', k, 'median'):.2f}" for k in calls)
        lines.append(f"| {op} | {fmt(stat('strata', op, 'median'), 2)} | "
                     f"{fmt(stat('strata', op + '.ioctl', 'median'), 2)} | {by_call or '-'} |")
many = [s for s in ("strata", "dmsetup") if "create_thin" in data.get(s, {})]
if many:
    counts = ", ".join(f"{s} {len(data[s]['create_thin'])}" for s in many)
    lines += ["", f"### Many thin devices in one pool ({counts}; ms per operation)", "",
              "| op | " + " | ".join(f"{s} median | {s} p90" for s in many) + " |",
              "|---|" + "---:|---:|" * len(many)]
    for op in ("create_thin", "list", "delete_thin"):
        cells = []
        for s in many:
            cells += [fmt(stat(s, op, "median"), 2), fmt(stat(s, op, "p90"), 2)]
        lines.append(f"| {op} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("(dmsetup has no list: the pool stores no names or sizes; the script sends "
                 "create_thin + set_transaction_id and delete + set_transaction_id, as strata.)")
text = "\n".join(lines) + "\n"
print(text)
open(md_path, "w").write(text)
open(tsv_path, "w").write("".join(t + "\n" for t in tsv))
PY
