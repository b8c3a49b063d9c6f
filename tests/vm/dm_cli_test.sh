#!/usr/bin/env bash
# The devicemapper driver from the CLI, in the VM: with no config, auto-detect picks it, the
# first layer command builds the embedded loop-file pool and says so, and layers import, stack,
# mount (each its own /dev/mapper/<pool>-thin-<id>), diff, export, re-import, get a per-container size,
# and go away leaving no dm device of theirs. Usage: dm_cli_test.sh STRATA_BINARY
# Run directly: outside the VM it re-runs itself inside one through tools/dev/vm/run.
set -euo pipefail
if [ "${STRATA_VM:-}" != 1 ]; then
  top=$(cd "$(dirname "$0")/../.." && pwd)
  exec "$top/tools/dev/vm/run" --timeout 500 -- "$(realpath "$0")" "$(realpath "$1")"
fi
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
strata_bin=$1
work=$(mktemp -d /tmp/strata-dm-cli.XXXXXX)
root=$work/root
pool=strata-cli-$$
fail() { echo "dm-cli: FAIL: $*" >&2; exit 1; }
step() { echo "dm-cli: $*"; }
cat >"$work/config.json" <<JSON
{"root": "$root",
 "driver-opts": {"devicemapper": {"pool-name": "$pool", "data-size": "4G", "base-size": "256M",
                                  "mount-options": ["noatime"]}}}
JSON
st() { "$strata_bin" --config "$work/config.json" "$@"; }

cleanup() {
  local status=$?
  set +e
  for m in $(awk -v r="$root" '$5 ~ "^" r {print $5}' /proc/self/mountinfo | sort -r); do
    umount -l "$m"
  done
  for d in $(dmsetup ls 2>/dev/null | awk '{print $1}' | grep "^$pool-thin-"); do
    dmsetup --noudevsync remove "$d"
  done
  dmsetup --noudevsync remove "$pool" 2>/dev/null
  rm -rf "$work"
  exit $status
}
trap cleanup EXIT

info=$(st info --json)
echo "$info" | grep -q '"name": *"devicemapper"' || fail "auto-detect did not pick devicemapper: $info"
step "auto-detect picks devicemapper"

mkdir -p "$work/base/etc" "$work/top/etc"
echo base >"$work/base/etc/motd"
echo old >"$work/base/etc/old.conf"
echo new >"$work/top/etc/new.conf"
: >"$work/top/etc/.wh.old.conf"
tar -C "$work/base" -czf "$work/base.tgz" .
tar -C "$work/top" -cf "$work/top.tar" .

base=$(st layer import "$work/base.tgz" 2>"$work/first.err") || { cat "$work/first.err"; fail import; }
grep -q "creating the embedded loop-file pool" "$work/first.err" ||
  fail "the first use did not say it builds a loop-file pool: $(cat "$work/first.err")"
[ -f "$root/devicemapper/data" ] || fail "no loop file under the root"
step "first import built the pool and said so"

top=$(st layer import --parent "$base" "$work/top.tar")
st layer create --rw --parent "$top" --size 512M ctr
mnt=$(st layer mount ctr)
[ "$(cat "$mnt/etc/motd")" = base ] || fail "base file not visible"
[ "$(cat "$mnt/etc/new.conf")" = new ] || fail "top file not visible"
[ ! -e "$mnt/etc/old.conf" ] || fail "whiteout did not hide old.conf"
[ ! -e "$mnt/lost+found" ] || fail "lost+found leaks into the layer"
src=$(findmnt -n -o SOURCE "$mnt")
case "$src" in "/dev/mapper/$pool-thin-"*) ;; *) fail "layer not on a thin device: '$src'" ;; esac
findmnt -n -o OPTIONS "$mnt" | grep -q noatime || fail "mount-options not applied"
size_kb=$(df -k --output=size "$mnt" | tail -1)
[ "$size_kb" -gt 400000 ] || fail "--size 512M gave a ${size_kb} KiB filesystem"
step "container layer on $src, $size_kb KiB"

echo changed >"$mnt/etc/motd"
echo x >"$mnt/added"
rm "$mnt/etc/new.conf"
changes=$(st layer changes ctr)
for want in "C /etc/motd" "A /added" "D /etc/new.conf"; do
  echo "$changes" | grep -qF "$want" || fail "changes lack '$want': $changes"
done
if st layer rm ctr 2>"$work/busy.err"; then fail "removed a mounted layer"; fi
grep -q mounted "$work/busy.err" || fail "busy error does not say mounted: $(cat "$work/busy.err")"

digest=$(st layer export ctr -o "$work/ctr.tar")
[ "$digest" = "sha256:$(sha256sum "$work/ctr.tar" | cut -c1-64)" ] || fail "export digest mismatch"
copy=$(st layer import --parent "$top" "$work/ctr.tar")
copy_mnt=$(st layer mount "$copy")
diff -r --no-dereference "$mnt" "$copy_mnt" || fail "re-imported export differs"
step "changes, export and re-import agree"

st dm ls | grep -q "$pool-thin-" || fail "dm ls does not show the thin devices"
st pool status | grep -q "$pool" || fail "pool status does not name the pool"

st layer umount ctr
st layer umount "$copy"
st layer rm ctr "$copy" "$top" "$base"
st layer rm ctr  # idempotent
[ -z "$(st layer ls -q)" ] || fail "layers left: $(st layer ls -q)"
left=$(dmsetup ls | awk '{print $1}' | grep "^$pool-thin-" || true)
[ -z "$left" ] || fail "thin devices left active: $left"
step "removed; only the pool and its base device remain"
echo "dm-cli: PASS"
