# Shared by the device-mapper benchmark scripts (bench/dm*.sh); sourced, not run.
# The pool every side builds, so all three are like for like:
#   two sparse files on the same scratch tmpfs, data $DM_DATA_SIZE and metadata
#   $DM_METADATA_SIZE (first 4 KiB zeroed), each on a loop device (buffered I/O, as strata's
#   LOOP_CONFIGURE); 64 KiB data blocks (128 sectors); block zeroing on; discards passed down;
#   error_if_no_space (strata's defaults, and what the LVM side asks lvconvert/lvchange for);
#   an origin thin device of $DM_ORIGIN_SIZE with ext4 made by mkfs_origin.
# Timing: bash's $EPOCHREALTIME (no fork per sample); samples are "<side> <op> <ms>" lines.

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
DM_DATA_SIZE=${DM_DATA_SIZE:-2G}
DM_METADATA_SIZE=${DM_METADATA_SIZE:-64M}
DM_ORIGIN_SIZE=${DM_ORIGIN_SIZE:-256M}
DM_LOW_WATER_MARK=${DM_LOW_WATER_MARK:-1024}  # data blocks
DM_BLOCK_SECTORS=128

# No udev in the VM: dmsetup must not wait for udev cookies (libdevmapper then makes the
# /dev/mapper nodes itself).
dm() { dmsetup --noudevsync "$@"; }

# mkfs_origin DEV: the one mkfs of the run, the same options on every side. No lazy init, so
# no mount of a snapshot starts ext4's background inode-table zeroing.
mkfs_origin() {
  mkfs.ext4 -q -F -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 "$1"
}

# make_loop_files DIR: DIR/data and DIR/metadata on loop devices; sets data_loop, meta_loop.
make_loop_files() {
  mkdir -p "$1"
  truncate -s "$DM_DATA_SIZE" "$1/data"
  truncate -s "$DM_METADATA_SIZE" "$1/metadata"
  # The pool formats its metadata only if the superblock is all zeroes.
  dd if=/dev/zero of="$1/metadata" bs=4096 count=1 conv=notrunc status=none
  data_loop=$(losetup --find --show "$1/data")
  meta_loop=$(losetup --find --show "$1/metadata")
}

# sample_open FILE SIDE: later `timed` calls append to FILE as SIDE.
sample_open() {
  exec {sample_fd}>>"$1"
  sample_side=$2
}

# timed OP CMD...: runs CMD, records its wall time as OP; fails (set -e) when CMD fails.
timed() {
  local op=$1 start end us
  shift
  start=${EPOCHREALTIME/./}
  "$@"
  end=${EPOCHREALTIME/./}
  us=$((end - start))
  printf '%s %s %d.%03d\n' "$sample_side" "$op" $((us / 1000)) $((us % 1000)) >&"$sample_fd"
}

# record OP START_US: records the time since START_US (from ${EPOCHREALTIME/./}) as OP.
record() {
  local us=$((${EPOCHREALTIME/./} - $2))
  printf '%s %s %d.%03d\n' "$sample_side" "$1" $((us / 1000)) $((us % 1000)) >&"$sample_fd"
}

# summarise FILE [SIDE]: n, median (mean of the middle two for even n), p90 (nearest rank) and
# total per side and op, in first-seen order; the same statistics as strata_dm_bench.
summarise() {
  /usr/bin/python3 - "$@" <<'PY'
import math, sys
path, only = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
ops = {}
for line in open(path):
    side, op, ms = line.split()
    if only is None or side == only:
        ops.setdefault((side, op), []).append(float(ms))
print(f"{'side':10} {'op':36} {'n':>6} {'median_ms':>10} {'p90_ms':>10} {'total_ms':>10}")
for (side, op), v in ops.items():
    v.sort()
    n = len(v)
    median = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    p90 = v[math.ceil(0.9 * n) - 1]
    print(f"{side:10} {op:36} {n:6} {median:10.3f} {p90:10.3f} {sum(v):10.1f}")
PY
}

# Lock-step with bench/dm.sh (as strata_dm_bench --gate): with DM_GATE_GO and DM_GATE_DONE set
# (two FIFOs), every phase (setup, each cycle, the many-devices run, teardown) waits for a line
# on GO and reports its end with one on DONE; without them these are no-ops.
gate_open() {
  [ -n "${DM_GATE_GO:-}" ] || return 0
  exec {gate_go}<"$DM_GATE_GO" {gate_done}>"$DM_GATE_DONE"  # each open waits for the driver
}
gate_wait() {
  [ -n "${gate_go:-}" ] || return 0
  read -r -u "$gate_go" || { echo "$0: gate: the driver went away" >&2; exit 1; }
}
gate_done() {
  [ -n "${gate_go:-}" ] || return 0
  echo >&"$gate_done"
}
