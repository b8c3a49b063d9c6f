#!/usr/bin/env bash
# Image benchmark (issue 5), side by side with its peer in one hyperfine run per host driver:
#   strata image load of a 3-layer, ~50 MB OCI layout  vs  umoci unpack of the same layout
#   target <= 1.0x (strata median / umoci median), for vfs and overlay.
# The image is built by umoci itself, so its layers are gzip-compressed as umoci writes them:
#   layer 1  a busybox-static rootfs: /bin/busybox, one symlink per applet, /etc   (~2 MB)
#   layer 2  4,000 small files of 200 B - 12 KiB in 200 dirs, 70% text-like, the rest half
#            random (~17 MB)
#   layer 3  4 large files of 13, 8, 6 and 4 MiB, each half text-like, half random (31 MiB)
# About 50 MB unpacked, 34 MB of gzip blobs. Each timed run starts from a fresh strata root or a
# fresh bundle dir (hyperfine --prepare); both sides verify every blob's digest as they read it
# (umoci also writes the bundle's mtree manifest, part of what `umoci unpack` is). Before timing,
# one load of each side is checked: 3 layers, and the mounted image equals umoci's rootfs.
#   bench/images.sh [RESULTS_TSV]   appends "name<TAB>strata<TAB>peer<TAB>ratio<TAB>target" rows;
# hyperfine's JSON and the log go to $BENCH_OUT/images. Needs root, umoci (tools/dev/deps.txt) and
# STRATA_BUILD_DIR (tools/strata). BENCH_RUNS (9), BENCH_FS=tmpfs (default: a scratch tmpfs, as
# bench/layers.sh) or disk, IMAGES_DRIVERS ("vfs overlay").
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${STRATA_BUILD_DIR:-$top/build}
results=${1:-/dev/null}
strata=$build/tools/strata
[ -x "$strata" ] || { echo "images.sh: $strata not built (target strata)" >&2; exit 1; }
for tool in umoci hyperfine; do
  command -v $tool >/dev/null || { echo "images.sh: $tool missing (tools/dev/install-deps)" >&2; exit 1; }
done
runs=${BENCH_RUNS:-9}
drivers=${IMAGES_DRIVERS:-vfs overlay}
out=${BENCH_OUT:-/tmp}/images
mkdir -p "$out"
w=$(mktemp -d /tmp/strata-images-bench.XXXXXX)
if [ "${BENCH_FS:-tmpfs}" = tmpfs ]; then
  mount -t tmpfs -o size=2g,mode=0700 strata-images-bench "$w"
fi
cleanup() {
  set +e
  grep -o " $w/[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l
  mountpoint -q "$w" && umount -l "$w"
  rm -rf "$w"
}
trap 'status=$?; cleanup; exit $status' EXIT

# gen KIND DIR: the deterministic content of layer 2 ("small") or layer 3 ("large").
gen() {
  python3 - "$1" "$2" <<'PY'
import os, random, sys
kind, root = sys.argv[1], sys.argv[2]
rng = random.Random(5)
words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(rng.randint(2, 12)))
         for _ in range(4000)]
noise = rng.randbytes(1 << 20)
def text(n):
    out, size = [], 0
    while size < n:
        w = rng.choice(words)
        out.append(w)
        size += len(w) + 1
    return " ".join(out)[:n].encode()
def mixed(n):  # 64 KiB runs, alternately text-like and random
    out = bytearray()
    while len(out) < n:
        if rng.random() < 0.5:
            out += text(65536)
        else:
            off = rng.randrange(0, len(noise) - 65536)
            out += noise[off:off + 65536]
    return bytes(out[:n])
if kind == "small":
    for i in range(4000):
        d = os.path.join(root, f"pkg{i // 200:02d}", f"mod{i // 25:03d}")
        os.makedirs(d, exist_ok=True)
        size = rng.choice([200, 512, 1024, 2048, 4096, 6144, 8192, 12288])
        with open(os.path.join(d, f"f{i:05d}.txt"), "wb") as f:
            f.write(text(size) if rng.random() < 0.7 else mixed(size))
else:
    os.makedirs(root, exist_ok=True)
    for i, mib in enumerate([13, 8, 6, 4]):
        with open(os.path.join(root, f"blob{i}.bin"), "wb") as f:
            f.write(mixed(mib << 20))
PY
}

echo "images: building the 3-layer image with umoci $(umoci --version | awk '{print $3}')" \
  "on ${BENCH_FS:-tmpfs}"
img=$w/oci
umoci init --layout "$img"
umoci new --image "$img:latest"
umoci unpack --image "$img:latest" "$w/build"
r=$w/build/rootfs
mkdir -p "$r/bin" "$r/etc" "$r/root" "$r/tmp"
chmod 1777 "$r/tmp"
cp /bin/busybox "$r/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -s busybox "$r/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$r/etc/passwd"
echo 'root:x:0:' >"$r/etc/group"
umoci repack --refresh-bundle --image "$img:latest" "$w/build"
gen small "$r/usr/share/app"
umoci repack --refresh-bundle --image "$img:latest" "$w/build"
gen large "$r/opt/app"
umoci repack --refresh-bundle --image "$img:latest" "$w/build"
umoci gc --layout "$img"
rm -rf "$w/build"
unpacked=$(umoci unpack --image "$img:latest" "$w/ref" >/dev/null && du -sb "$w/ref/rootfs" | cut -f1)
blobs=$(du -sb "$img/blobs" | cut -f1)
echo "images: $(find "$w/ref/rootfs" | wc -l) entries, $((unpacked / 1000000)) MB unpacked," \
  "$((blobs / 1000000)) MB of blobs, 3 gzip layers"

# median_ratio JSON TARGET NAME: reads a 2-command hyperfine export (strata first).
median_ratio() {
  python3 - "$1" "$2" "$3" >>"$results" <<'PY'
import json, statistics, sys
path, target, name = sys.argv[1], sys.argv[2], sys.argv[3]
r = json.load(open(path))["results"]
ours, peer = (statistics.median(x["times"]) for x in r[:2])
print(f"{name}\t{ours*1000:.1f} ms\t{peer*1000:.1f} ms\t{ours/peer:.2f}x\t{target}")
print(f"images: {name}: strata {ours*1000:.1f} ms, umoci {peer*1000:.1f} ms, {ours/peer:.2f}x",
      file=sys.stderr)
PY
}

for driver in $drivers; do
  root=$w/r-$driver
  st() { "$strata" --root "$root" --driver "$driver" "$@"; }
  # The check run: the load reports 3 layers, and what it mounts is what umoci unpacked.
  rm -rf "$root"
  st image load "$img" --name bench | tee "$out/load-$driver.txt"
  grep -q "3 layers" "$out/load-$driver.txt" || { echo "images.sh: load did not report 3 layers" >&2; exit 1; }
  top_layer=$(st image inspect bench:latest | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["top_layer"])')
  mnt=$(st layer mount "$top_layer")
  diff -r --no-dereference "$w/ref/rootfs" "$mnt" >"$out/diff-$driver.txt" ||
    { echo "images.sh: $driver: the loaded image differs from umoci's rootfs ($out/diff-$driver.txt)" >&2; exit 1; }
  st layer umount "$top_layer" >/dev/null

  echo "images: load ($driver) vs umoci unpack, $runs runs each"
  hyperfine --style basic --runs "$runs" --warmup 1 --export-json "$out/load-$driver.json" \
    --prepare "rm -rf $root; sync" \
    "$strata --root $root --driver $driver image load -q $img" \
    --prepare "rm -rf $w/bundle; sync" \
    "umoci unpack --image $img:latest $w/bundle" >"$out/hyperfine-$driver.txt"
  median_ratio "$out/load-$driver.json" "<= 1.0x" "image load 3 layers 50MB ($driver) / umoci unpack"
  rm -rf "$root" "$w/bundle"
done
