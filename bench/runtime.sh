#!/usr/bin/env bash
# Runtime benchmarks (issue 6), each side by side with its peers in one interleaved run
# (bench/runtime_bench.cc: round-robin; wall time from fork to wait4, wait4's peak RSS and CPU):
#   1. `X --root STATE run --bundle B ID` of one prepared bundle, a fresh ID per run, for
#      X = strata-oci, crun, runc (Debian's). Target: strata-oci's median <= crun's, and its
#      peak RSS <= crun's. The bundle: a busybox-static rootfs (/bin/busybox, one symlink per
#      applet, /etc/passwd) and `crun spec`'s config.json with args ["/bin/true"] and terminal
#      false, nothing else changed (pid, ipc, uts, mount and network namespaces, the standard
#      mounts, masked and read-only paths, 3 capabilities, no cgroupsPath).
#   2. `X --version`: the process start-up alone, for the same three binaries, and a static
#      `busybox true` as the floor of the harness (an exec and an exit; its RSS is busybox's).
#   3. `strata --root R --driver overlay run --rm IMAGE /bin/true` end to end (layer create and
#      mount, run, cleanup) from a 1-layer busybox image, and, when podman is installed, the
#      same image through `podman run --rm` (with crun, then runc) on podman's overlay
#      storage: reported, no target.
# Before timing, each runtime runs `/bin/sh -c 'exit 3'` (must exit 3) and `/bin/true` (must
# exit 0) from the bundle, so none is measured failing fast; every timed run must exit 0.
# cgroups: crun refuses a hybrid host (v1 controllers plus a cgroup2 at /sys/fs/cgroup/unified),
# so the whole benchmark re-runs itself in a private mount namespace where the unified mount is
# unmounted: all runtimes (strata's too) see the same pure cgroup v1.
#   bench/runtime.sh [RESULTS_TSV]   appends "name<TAB>strata<TAB>peer<TAB>ratio<TAB>target" rows;
# prints markdown tables; samples, the runs' output and runtime.md go to $BENCH_OUT/runtime.
# Needs root, crun and runc (tools/dev/deps.txt), busybox-static, umoci, and STRATA_BUILD_DIR
# (tools/strata, tools/strata-oci, bench/strata_runtime_bench; without strata-oci only crun and
# runc are measured).
# BENCH_RUNS (100), RUNTIME_IMAGE_RUNS (40), BENCH_WARMUP (5), BENCH_FS=tmpfs (a scratch tmpfs)
# or disk.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
if [ "${RUNTIME_BENCH_NS:-}" != 1 ]; then
  exec unshare --mount --propagation private env RUNTIME_BENCH_NS=1 "$(realpath "$0")" "$@"
fi
cgroups="pure cgroup v1" unified_before=""
if mountpoint -q /sys/fs/cgroup/unified; then
  umount /sys/fs/cgroup/unified
  cgroups="cgroup v1: the host is hybrid, its /sys/fs/cgroup/unified unmounted in a private mount namespace"
  # crun still makes /sys/fs/cgroup/unified/ID/cgroup.procs then: plain dirs and files on the
  # tmpfs under the mount point (hidden on the host). cleanup removes the ones made from here on.
  unified_before=$(ls -A /sys/fs/cgroup/unified; echo .)
elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  cgroups="pure cgroup v2"
fi
build=${STRATA_BUILD_DIR:-$top/build}
results=${1:-/dev/null}
strata=$build/tools/strata harness=$build/bench/strata_runtime_bench
for f in "$strata" "$harness"; do
  [ -x "$f" ] || { echo "runtime.sh: $f not built" >&2; exit 1; }
done
oci=""
for candidate in "$build/tools/strata-oci" "$build/oci/strata-oci"; do
  [ -x "$candidate" ] && { oci=$candidate; break; }
done
[ -n "$oci" ] || echo "runtime.sh: strata-oci not built (target strata-oci): crun and runc only" >&2
for tool in crun runc umoci; do
  command -v $tool >/dev/null || { echo "runtime.sh: $tool missing (tools/dev/install-deps)" >&2; exit 1; }
done
[ -x /bin/busybox ] || { echo "runtime.sh: /bin/busybox missing (busybox-static)" >&2; exit 1; }
runs=${BENCH_RUNS:-100} image_runs=${RUNTIME_IMAGE_RUNS:-40} warmup=${BENCH_WARMUP:-5}
out=${BENCH_OUT:-/tmp}/runtime
mkdir -p "$out"
samples=$out/samples.txt
rm -f "$samples" "$samples.log"
w=$(mktemp -d /tmp/strata-runtime-bench.XXXXXX)
if [ "${BENCH_FS:-tmpfs}" = tmpfs ]; then
  mount -t tmpfs -o size=512m,mode=0700 strata-runtime-bench "$w"
fi
# The runtimes, by the name the tables use.
names=()
declare -A bin
[ -n "$oci" ] && { names+=(strata-oci); bin[strata-oci]=$oci; }
names+=(crun runc)
bin[crun]=$(command -v crun) bin[runc]=$(command -v runc)
podman=() podman_cgroups=""
ls -d /sys/fs/cgroup/*/libpod_parent >/dev/null 2>&1 || podman_cgroups=ours
command -v podman >/dev/null && podman=("$(command -v podman)" --root "$w/podman" --runroot
  "$w/podman-run" --storage-driver overlay --cgroup-manager cgroupfs --events-backend none)
cleanup() {
  set +e
  for n in "${names[@]}"; do
    for dir in "$w/state-$n"/*; do
      [ -e "$dir" ] && "${bin[$n]}" --root "$w/state-$n" delete -f "${dir##*/}" >/dev/null 2>&1
    done
  done
  [ ${#podman[@]} -gt 0 ] && "${podman[@]}" rm -af >/dev/null 2>&1
  # podman (cgroupfs) leaves its conmon cgroups behind: remove them unless they were there before.
  [ -n "$podman_cgroups" ] && find /sys/fs/cgroup/*/libpod_parent -depth -type d -exec rmdir {} \; 2>/dev/null
  if [ -n "$unified_before" ] && ! mountpoint -q /sys/fs/cgroup/unified; then
    for entry in /sys/fs/cgroup/unified/*; do
      [ -e "$entry" ] && ! grep -qxF "${entry##*/}" <<<"$unified_before" && rm -rf -- "$entry"
    done
  fi
  grep -o " $w/[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l
  mountpoint -q "$w" && umount -l "$w"
  rm -rf "$w"
}
# shellcheck disable=SC2154  # status is the trap's own
trap 'status=$?; cleanup; exit $status' EXIT

{
  echo "runtime: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, kernel $(uname -r)," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg); ${BENCH_FS:-tmpfs}; $cgroups"
  for n in "${names[@]}"; do
    echo "runtime: $n: ${bin[$n]} ($("${bin[$n]}" --version 2>&1 | head -1))"
  done
  [ ${#podman[@]} -gt 0 ] && echo "runtime: $(podman --version)"
} | tee "$out/conditions.txt"

# The bundle, and a copy of it (hard links) whose process exits 3.
b=$w/bundle
mkdir -p "$b/rootfs/bin" "$b/rootfs/etc" "$b/rootfs/root" "$b/rootfs/tmp"
chmod 1777 "$b/rootfs/tmp"
cp /bin/busybox "$b/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -s busybox "$b/rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$b/rootfs/etc/passwd"
echo 'root:x:0:' >"$b/rootfs/etc/group"
(cd "$b" && crun spec)
cp -al "$b" "$w/check"
patch_args() {
  python3 - "$1" "$2" <<'PY'
import json, sys
path, args = sys.argv[1] + "/config.json", json.loads(sys.argv[2])
c = json.load(open(path))
c["process"]["args"], c["process"]["terminal"] = args, False
open(path + ".new", "w").write(json.dumps(c, indent=2))
PY
  mv "$1/config.json.new" "$1/config.json"  # a new file: the check bundle's was a hard link
}
patch_args "$b" '["/bin/true"]'
patch_args "$w/check" '["/bin/sh", "-c", "exit 3"]'

# The checks: `exit 3` exits 3, /bin/true exits 0, and nothing is left in the state dir.
for n in "${names[@]}"; do
  mkdir -p "$w/state-$n"
  rc=0
  "${bin[$n]}" --root "$w/state-$n" run --bundle "$w/check" check3 >"$out/check-$n.txt" 2>&1 || rc=$?
  [ "$rc" = 3 ] || { echo "runtime.sh: $n: exit 3 exited $rc ($out/check-$n.txt)" >&2; cat "$out/check-$n.txt" >&2; exit 1; }
  "${bin[$n]}" --root "$w/state-$n" run --bundle "$b" check0 >>"$out/check-$n.txt" 2>&1 ||
    { echo "runtime.sh: $n: /bin/true failed ($out/check-$n.txt)" >&2; cat "$out/check-$n.txt" >&2; exit 1; }
  [ -z "$(ls "$w/state-$n")" ] || { echo "runtime.sh: $n left $(ls "$w/state-$n") in its state dir" >&2; exit 1; }
done
echo "runtime: checks passed: each runtime ran exit 3 (3) and /bin/true (0) from the bundle"

cmds=()
for n in "${names[@]}"; do cmds+=("$n=${bin[$n]} --root $w/state-$n run --bundle $b {id}"); done
echo "runtime: run /bin/true from the bundle: ${names[*]}, $warmup warm-up + $runs rounds"
"$harness" --group "run /bin/true (prepared bundle)" --runs "$runs" \
  --warmup "$warmup" --samples "$samples" "${cmds[@]}"
for n in "${names[@]}"; do
  [ -z "$(ls "$w/state-$n")" ] || { echo "runtime.sh: $n left containers: $(ls "$w/state-$n")" >&2; exit 1; }
done
cmds=()
for n in "${names[@]}"; do cmds+=("$n=${bin[$n]} --version"); done
cmds+=("busybox-true=/bin/busybox true")
"$harness" --group "start-up: X --version" --runs "$runs" \
  --warmup "$warmup" --samples "$samples" "${cmds[@]}"

# 3. strata run IMAGE: a 1-layer image of the same rootfs, built by umoci, loaded into a fresh
# strata root (overlay) and, when podman is there, into a fresh podman store.
img=$w/oci
umoci init --layout "$img"
umoci new --image "$img:latest"
umoci unpack --image "$img:latest" "$w/ibuild" >/dev/null
rm -rf "$w/ibuild/rootfs" && cp -a "$b/rootfs" "$w/ibuild/rootfs"
umoci repack --image "$img:latest" "$w/ibuild"
umoci config --image "$img:latest" --config.cmd /bin/sh
umoci gc --layout "$img"
sroot=$w/strata-root
st=("$strata" --root "$sroot" --driver overlay)
"${st[@]}" image load -q "$img" --name bench >/dev/null
rc=0
"${st[@]}" run --rm bench /bin/sh -c 'exit 3' >"$out/check-strata-run.txt" 2>&1 || rc=$?
[ "$rc" = 3 ] || { echo "runtime.sh: strata run: exit 3 exited $rc ($out/check-strata-run.txt)" >&2; exit 1; }
cmds=("strata-run=${st[*]} run --rm bench /bin/true")
if [ ${#podman[@]} -gt 0 ]; then
  tar -C "$img" -cf "$w/oci.tar" .
  "${podman[@]}" load -q -i "$w/oci.tar" >"$out/podman-load.txt" 2>&1 ||
    { echo "runtime.sh: podman load failed ($out/podman-load.txt)" >&2; exit 1; }
  pimg=$("${podman[@]}" images -q | head -1)
  # --ulimit: podman's defaults raise RLIMIT_NOFILE and RLIMIT_NPROC, which fails where the
  # runtime lacks CAP_SYS_RESOURCE; these lower them instead (strata run sets none).
  prun=(run --rm --pull never --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
  for n in crun runc; do
    rc=0
    "${podman[@]}" "${prun[@]}" --runtime "${bin[$n]}" "$pimg" /bin/sh -c 'exit 3' \
      >"$out/check-podman-$n.txt" 2>&1 || rc=$?
    if [ "$rc" = 3 ]; then
      cmds+=("podman-$n=${podman[*]} ${prun[*]} --runtime ${bin[$n]} $pimg /bin/true")
    else
      echo "runtime.sh: podman --runtime $n: exit 3 exited $rc; not measured ($out/check-podman-$n.txt)" >&2
    fi
  done
fi
echo "runtime: strata run IMAGE /bin/true (overlay): ${#cmds[@]} commands, $warmup warm-up +" \
  "$image_runs rounds"
"$harness" --group "run IMAGE /bin/true (overlay, end to end)" \
  --runs "$image_runs" --warmup "$warmup" --samples "$samples" "${cmds[@]}"
left=$("${st[@]}" layer ls | tail -n +2 | wc -l)
[ "$left" = 1 ] || { echo "runtime.sh: strata run --rm left $((left - 1)) layers" >&2; exit 1; }

python3 "$top/bench/runtime_bench.py" --samples "$samples" --base crun --base podman-crun \
  --results "$results" \
  "run /bin/true (prepared bundle)|crun|time|run /bin/true (bundle): strata-oci / crun|<= 1.0x" \
  "run /bin/true (prepared bundle)|runc|time|run /bin/true (bundle): strata-oci / runc|-" \
  "run /bin/true (prepared bundle)|crun|rss|run /bin/true peak RSS: strata-oci / crun|<= 1.0x" \
  "start-up: X --version|crun|time|--version start-up: strata-oci / crun|-" \
  "run IMAGE /bin/true (overlay, end to end)|podman-crun|time|strata run --rm IMAGE / podman run (crun)|-" |
  tee "$out/runtime.md"
