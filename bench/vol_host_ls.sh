#!/usr/bin/env bash
# `strata vol ls --json` over $VOL_COUNT (1000) volumes on the host, no VM (issue 4's ls target,
# < 50 ms, on real hardware: in the VM a strata process spends ~300 ms starting under TCG).
# The volumes are local-backend volumes (plain directories, no quota) made through the API
# (strata_vol_bench populate); what `vol ls` reads is the same for every backend: the catalog
# rows and the attachment rows, with no backend call. Then, in one hyperfine run:
#   strata --config C vol ls --json       (one process: start-up + store + List + JSON)
#   strata --version                      (the process start-up alone)
# and Manager::List in-process (strata_vol_bench list). Then every volume is removed.
# The root is on a scratch tmpfs (BENCH_FS=disk: under $BENCH_OUT instead).
#   bench/vol_host_ls.sh [RESULTS_TSV]    appends rows (name, ours, peer, ratio, target) to it;
# writes vol-host.md and the samples to $BENCH_OUT/vol-host. Needs root (the mount) and
# STRATA_BUILD_DIR (tools/strata and bench/strata_vol_bench). VOL_COUNT, BENCH_RUNS (30).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${STRATA_BUILD_DIR:-$top/build}
results=${1:-/dev/null}
strata=$build/tools/strata bench_bin=$build/bench/strata_vol_bench
for bin in "$strata" "$bench_bin"; do
  [ -x "$bin" ] || { echo "vol_host_ls.sh: $bin not built" >&2; exit 1; }
done
count=${VOL_COUNT:-1000} runs=${BENCH_RUNS:-30}
out=${BENCH_OUT:-/tmp}/vol-host
mkdir -p "$out"
w=$(mktemp -d /tmp/strata-vol-host-ls.XXXXXX)
if [ "${BENCH_FS:-tmpfs}" = tmpfs ]; then
  mount -t tmpfs -o size=1g,mode=0700 strata-vol-host-ls "$w"
fi
config=$w/config.json
cleanup() {
  set +e
  [ -f "$config" ] && "$bench_bin" rm --config "$config" >/dev/null
  mountpoint -q "$w" && umount -l "$w"
  rm -rf "$w"
}
trap 'status=$?; cleanup; exit $status' EXIT
cat >"$config" <<JSON
{"root": "$w/root", "log-level": "error", "volumes": {"backend": "local"}}
JSON
rm -f "$out/samples.txt"

echo "vol_host_ls: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, kernel $(uname -r);" \
  "$count local volumes on ${BENCH_FS:-tmpfs}"
"$bench_bin" populate --config "$config" --backend local --size 0 --count "$count" --prefix p \
  --side host --samples "$out/samples.txt" | head -2
n=$("$strata" --config "$config" vol ls --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" -eq "$count" ] || { echo "vol_host_ls: vol ls --json listed $n, not $count" >&2; exit 1; }
hyperfine -N --style basic --warmup 3 --runs "$runs" --export-json "$out/ls.json" \
  "$strata --config $config vol ls --json" "$strata --version"
"$bench_bin" list --config "$config" --repeat "$runs" --expect "$count" --side host \
  --samples "$out/samples.txt" | grep -v '\.\(ioctl\|mount\)'
"$bench_bin" rm --config "$config" --side host --samples "$out/samples.txt" | sed -n 2p
rm -f "$config"  # emptied: nothing for cleanup to do

python3 - "$out" "$count" "$results" <<'PY'
import json, math, statistics, sys
out, count, results = sys.argv[1], sys.argv[2], sys.argv[3]
r = json.load(open(f"{out}/ls.json"))["results"]
ls, start = (sorted(x["times"]) for x in r[:2])
ms = {}
for line in open(f"{out}/samples.txt"):
    side, op, v = line.split()
    ms.setdefault(op, []).append(float(v))
def med(v): return statistics.median(v)
def p90(v): v = sorted(v); return v[math.ceil(0.9 * len(v)) - 1]
rows = [("`strata vol ls --json` (one process)", [t * 1000 for t in ls], "CLI"),
        ("`strata --version` (process start-up alone)", [t * 1000 for t in start], ""),
        ("Manager::List (in-process, manager open)", ms["list"], "API List"),
        ("open store + Manager + List (in-process)", ms["open+list"], "")]
lines = [f"### vol ls --json with {count} volumes, on the host (ms)", "",
         "| what | median | p90 | target |", "|---|---:|---:|---|"]
tsv = []
for what, v, short in rows:
    lines.append(f"| {what} | {med(v):.2f} | {p90(v):.2f} | {'< 50 ms' if short else ''} |")
    if short:
        tsv.append(f"vol ls --json, {count} vols: {short}, host (lower is better)\t"
                   f"{med(v):.1f} ms\t-\t-\t< 50 ms")
lines += ["", f"Filling and emptying the root (local volumes, ms per volume): create "
          f"{med(ms['populate_create']):.2f} median; rm {med(ms['rm']):.2f} median."]
text = "\n".join(lines) + "\n"
print(text)
open(f"{out}/vol-host.md", "w").write(text)
with open(results, "a") as f:
    f.write("".join(t + "\n" for t in tsv))
PY
