#!/usr/bin/env bash
# Union filesystem benchmark (the strata-aufs issue): the same layers through strata-aufs,
# fuse-overlayfs (Debian's) and the kernel's overlay, each operation cold:
#   tree   read a 20,000-file tree (bench/make_tree.py, spread over 3 lower layers so most
#          directories merge): `tar -cf - . | cat >/dev/null` (readdir, lstat, open, read each file)
#   read   sequential read of a 1 GiB file in the bottom lower layer: `cat FILE >/dev/null`
#   write  a new 1 GiB file through the union into the empty upper: `dd bs=1M conv=fsync`
# Targets: strata-aufs <= fuse-overlayfs on all three; <= 3x kernel overlay on the 1 GiB read.
# Cold: each timed operation gets a fresh mount (the upper emptied before it) and
# `echo 3 >/proc/sys/vm/drop_caches` just before it; mount and unmount are not timed. Runs are
# round-robin (strata-aufs, fuse-overlayfs, kernel overlay, rotating) so drift hits all alike.
#   bench/aufs.sh [RESULTS_TSV]   appends "name<TAB>strata<TAB>peer<TAB>ratio<TAB>target" rows;
# samples (one line per run: op, side, seconds) and conditions go to $BENCH_OUT/aufs.
# Needs root, fuse-overlayfs, fusermount3 and STRATA_BUILD_DIR (tools/strata-aufs).
# AUFS_RUNS (5) rounds; BENCH_FS=disk (default: ext4 under $BENCH_OUT, where dropping caches
# means reading the disk) or tmpfs (a scratch tmpfs: the layers stay in memory, so "cold" then
# only empties the union's own page cache: FUSE's, or overlay's view of tmpfs).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${STRATA_BUILD_DIR:-$top/build}
results=${1:-/dev/null}
aufs=$build/tools/strata-aufs
[ -x "$aufs" ] || { echo "aufs.sh: $aufs not built (target strata-aufs)" >&2; exit 1; }
for tool in fuse-overlayfs fusermount3; do
  command -v $tool >/dev/null || { echo "aufs.sh: $tool missing" >&2; exit 1; }
done
runs=${AUFS_RUNS:-5} fs=${BENCH_FS:-disk}
out=${BENCH_OUT:-/tmp}/aufs
mkdir -p "$out"
w=$out/data
samples=$out/samples.tsv
: >"$samples"
sides=(strata-aufs fuse-overlayfs kernel-overlay)
cleanup() {
  set +e
  for s in "${sides[@]}"; do unmount_side "$s"; done
  mountpoint -q "$w" && umount -l "$w"
  rm -rf "$w"
}
unmount_side() {
  local m=$w/mnt-$1
  mountpoint -q "$m" || return 0
  if [ "$1" = kernel-overlay ]; then umount "$m"; else fusermount3 -u "$m"; fi
}
rm -rf "$w"; mkdir -p "$w"
# shellcheck disable=SC2154  # status is the trap's own
trap 'status=$?; cleanup; exit $status' EXIT
[ "$fs" = tmpfs ] && mount -t tmpfs -o size=3g,mode=0700 strata-aufs-bench "$w"

{
  echo "aufs: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, kernel $(uname -r)," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg); layers on $fs ($(findmnt -no FSTYPE -T "$w"))"
  echo "aufs: strata-aufs $aufs; $(fuse-overlayfs --version 2>&1 | grep -m1 'fuse-overlayfs')"
} | tee "$out/conditions.txt"

# The layers: l1 (bottom) .. l3 (top). File dNNN/sMMMM/fK goes to layer MMMM % 3 + 1, so each
# dNNN directory exists in all three; the 1 GiB file is in l1. Shared by all three sides.
echo "aufs: generating the layers (20,000 files over 3 layers, 1 GiB file)"
python3 "$top/bench/make_tree.py" "$w/gen" 20000
python3 - "$w" <<'PY'
import os, sys
w = sys.argv[1]
for dirpath, dirs, files in os.walk(w + "/gen"):
    rel = os.path.relpath(dirpath, w + "/gen")
    for f in files:
        sub = rel.split(os.sep)[-1]
        layer = int(sub[1:]) % 3 + 1 if sub.startswith("s") else 1
        dst = os.path.join(w, f"l{layer}", "tree", rel)
        os.makedirs(dst, exist_ok=True)
        os.rename(os.path.join(dirpath, f), os.path.join(dst, f))
PY
rm -rf "$w/gen"
head -c 1G /dev/urandom >"$w/l1/big"
mkdir -p "$w/l2" "$w/l3"
sync

mount_side() {
  local s=$1 m=$w/mnt-$1 u=$w/up-$1 wd=$w/work-$1
  rm -rf "$u" "$wd"; mkdir -p "$m" "$u" "$wd"
  case $s in
    strata-aufs) "$aufs" -o "br=$u=rw:$w/l3=ro+wh:$w/l2=ro+wh:$w/l1=ro+wh" "$m" ;;
    fuse-overlayfs) fuse-overlayfs -o "lowerdir=$w/l3:$w/l2:$w/l1,upperdir=$u,workdir=$wd" "$m" ;;
    kernel-overlay)
      mount -t overlay overlay -o "lowerdir=$w/l3:$w/l2:$w/l1,upperdir=$u,workdir=$wd" "$m" ;;
  esac
}
op_cmd() {
  case $1 in
    tree) echo "tar -C $2/tree -cf - . | cat >/dev/null" ;;
    read) echo "cat $2/big >/dev/null" ;;
    write) echo "dd if=/dev/zero of=$2/new bs=1M count=1024 conv=fsync status=none" ;;
  esac
}

# Checks, once per side: the merged tree has all 20,000 files with the right content, the big
# file reads back whole, and a write lands in that side's upper.
want_tree=$(cd "$w" && for l in l1 l2 l3; do (cd $l/tree && find . -type f); done | sort | wc -l)
want_sum=$(cat "$w"/l{1,2,3}/tree/d000/s000[0-2]/* | md5sum)
for s in "${sides[@]}"; do
  mount_side "$s"
  m=$w/mnt-$s
  n=$(find "$m/tree" -type f | wc -l)
  sum=$(cat "$m"/tree/d000/s000[0-2]/* | md5sum)
  size=$(stat -c %s "$m/big")
  eval "$(op_cmd write "$m")"
  up=$(stat -c %s "$w/up-$s/new")
  unmount_side "$s"
  rm -rf "$w/up-$s" "$w/work-$s"
  if [ "$n" != 20000 ] || [ "$want_tree" != 20000 ] || [ "$sum" != "$want_sum" ] ||
     [ "$size" != 1073741824 ] || [ "$up" != 1073741824 ]; then
    echo "aufs.sh: $s: check failed: $n files, sum $sum (want $want_sum), big $size, upper $up" >&2
    exit 1
  fi
done
echo "aufs: checks passed: each side shows 20,000 merged files, the 1 GiB file, writes to its upper"

echo "aufs: $runs rounds of tree, read, write per side, each on a fresh mount after drop_caches"
for ((i = 0; i < runs; i++)); do
  for op in tree read write; do
    for ((k = 0; k < ${#sides[@]}; k++)); do
      s=${sides[(i + k) % ${#sides[@]}]}
      mount_side "$s"
      cmd=$(op_cmd "$op" "$w/mnt-$s")
      sync; echo 3 >/proc/sys/vm/drop_caches
      t0=$EPOCHREALTIME
      eval "$cmd"
      t1=$EPOCHREALTIME
      unmount_side "$s"
      rm -rf "$w/up-$s" "$w/work-$s"  # at most one 1 GiB upper at a time (tmpfs)
      printf '%s\t%s\t%s\n' "$op" "$s" "$(awk "BEGIN { print $t1 - $t0 }")" | tee -a "$samples"
    done
  done
done

python3 - "$samples" "$results" <<'PY' | tee "$out/aufs.md"
import statistics, sys
samples, results = sys.argv[1], sys.argv[2]
t = {}
for line in open(samples):
    op, side, sec = line.split("\t")
    t.setdefault((op, side), []).append(float(sec))
ops = [("tree", "tree read (20k files, cold)"), ("read", "1 GiB seq read (cold)"),
       ("write", "1 GiB write + fsync")]
sides = ["strata-aufs", "fuse-overlayfs", "kernel-overlay"]
target = {("tree", "fuse-overlayfs"): "<= 1.0x", ("read", "fuse-overlayfs"): "<= 1.0x",
          ("write", "fuse-overlayfs"): "<= 1.0x", ("read", "kernel-overlay"): "<= 3.0x"}
med = {k: statistics.median(v) for k, v in t.items()}
print("| operation | " + " | ".join(f"{s} median s (min-max)" for s in sides) +
      " | / fuse-overlayfs | / kernel overlay |")
print("|---|" + "---:|" * (len(sides) + 2))
rows = []
for op, label in ops:
    cells = [f"{med[op, s]:.2f} ({min(t[op, s]):.2f}-{max(t[op, s]):.2f})" for s in sides]
    ratios = [med[op, "strata-aufs"] / med[op, p] for p in sides[1:]]
    print(f"| {label} | " + " | ".join(cells) + " | " +
          " | ".join(f"{r:.2f}x" for r in ratios) + " |")
    for peer, r in zip(sides[1:], ratios):
        rows.append(f"aufs {label} / {peer}\t{med[op, 'strata-aufs'] * 1000:.0f} ms\t"
                    f"{med[op, peer] * 1000:.0f} ms\t{r:.2f}x\t{target.get((op, peer), '-')}")
with open(results, "a") as f:
    f.write("".join(r + "\n" for r in rows))
PY
