#!/usr/bin/env bash
# Layer benchmarks (issue 2), each side by side with its peer in one hyperfine run:
#   apply a 20,000-file layer tar      vs  GNU tar -x of the same file     target <= 1.0x
#   export that layer as a tar         vs  GNU tar -c of the same tree     target <= 1.0x
#   overlay mount+umount, 50 layers    vs  bare mount(2)/umount2(2)        target <= 1.5x
# Appends "name<TAB>strata<TAB>peer<TAB>ratio<TAB>target" rows to $1.
set -euo pipefail
results=$1
top=$(cd "$(dirname "$0")/.." && pwd)
build=${STRATA_BUILD_DIR:-$top/build}
strata="$build/tools/strata"
w="$BENCH_OUT/layers"
runs=${BENCH_RUNS:-9}
rm -rf "$w"; mkdir -p "$w"
# BENCH_FS=tmpfs (default) runs on a scratch tmpfs, so the figures measure the tools, not the
# shared virtual disk's writeback (which swings ±15% between runs); BENCH_FS=disk runs on $w.
if [ "${BENCH_FS:-tmpfs}" = tmpfs ]; then
  mount -t tmpfs -o size=8g,mode=0700 strata-bench "$w"
  trap 'umount -l "$w" 2>/dev/null || true' EXIT
fi

# median_ratio JSON TARGET NAME: reads a 2-command hyperfine export (strata first).
median_ratio() {
  python3 - "$1" "$2" "$3" >> "$results" <<'PY'
import json, statistics, sys
path, target, name = sys.argv[1], sys.argv[2], sys.argv[3]
r = json.load(open(path))["results"]
ours, peer = (statistics.median(x["times"]) for x in r[:2])
print(f"{name}\t{ours*1000:.1f} ms\t{peer*1000:.1f} ms\t{ours/peer:.2f}x\t{target}")
PY
}

echo "layers: generating a 20,000-file tree on ${BENCH_FS:-tmpfs}"
python3 "$top/bench/make_tree.py" "$w/tree" 20000
tar -C "$w/tree" -cf "$w/layer.tar" .
ls -l "$w/layer.tar"

for driver in overlay vfs; do
  echo "layers: apply ($driver) vs tar -x"
  hyperfine --style basic --runs "$runs" --warmup 1 --export-json "$w/apply-$driver.json" \
    --prepare "rm -rf $w/r-$driver; sync" \
    "$strata --root $w/r-$driver --driver $driver layer import --id bench $w/layer.tar" \
    --prepare "rm -rf $w/dst; mkdir $w/dst; sync" \
    "tar -xf $w/layer.tar -C $w/dst" >/dev/null
  median_ratio "$w/apply-$driver.json" "<= 1.0x" "apply 20k-file layer tar ($driver) / tar -x"

  echo "layers: export ($driver) vs tar -c"
  hyperfine --style basic --runs "$runs" --warmup 1 --export-json "$w/export-$driver.json" \
    "$strata --root $w/r-$driver --driver $driver layer export bench -o $w/out.tar" \
    "tar -cf $w/out-tar.tar -C $w/dst ." >/dev/null
  median_ratio "$w/export-$driver.json" "<= 1.0x" "export 20k-file layer ($driver) / tar -c"
  "$strata" --root "$w/r-$driver" --driver "$driver" layer rm bench
done

echo "layers: overlay mount+umount of a 50-layer chain vs bare syscalls"
"$build/bench/strata_mount_bench" "$w/mount" 50 200 >> "$results"
