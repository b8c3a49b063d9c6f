#!/usr/bin/env bash
# Tests tools/dev/vm/run from the host, so that a broken harness cannot pass VM tests silently:
# the command's exit status, output (complete, in order), arguments, cwd and environment reach
# the VM and come back; files written to /run/strata-vm come back, other writes stay in the VM;
# `run false` fails; a timeout exits 124; a VM that cannot start the command exits 125 with the
# kernel console.
# Boots four VMs (~30 s on an idle 2-core machine).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
run=$top/tools/dev/vm/run
tmp=$(mktemp -d "${TMPDIR:-/tmp}/strata-vm-harness.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failures=0
check() {  # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then
    echo "ok: $1"
  else
    echo "FAIL: $1: expected [$2], got [$3]"
    failures=$((failures + 1))
  fi
}

# 1. Status, output, arguments, cwd, environment and the results share, in one boot.
mkdir "$tmp/cwd with space"
cat >"$tmp/inside.sh" <<'EOF'
printf '[%s]' "$@"; echo
pwd
echo "$HARNESS_VAR"
echo "to stderr" >&2
seq 1 20000 | sha256sum | cut -c1-16
seq 1 20000 | tail -n 1
echo artifact >/run/strata-vm/artifact
echo "changed in the VM" >>"$HARNESS_HOST_FILE"
tail -n 1 "$HARNESS_HOST_FILE"
exit 7
EOF
echo "host" >"$tmp/host-file"
status=0
(cd "$tmp/cwd with space" && HARNESS_VAR='v a l "q"' HARNESS_HOST_FILE=$tmp/host-file \
  STRATA_VM_RESULTS=$tmp/results \
  "$run" --timeout 300 -- bash "$tmp/inside.sh" 'a b' "it's" '$HOME' '') >"$tmp/out" || status=$?
check "exit status comes back" 7 "$status"
expected="[a b][it's][\$HOME][]
$tmp/cwd with space
v a l \"q\"
to stderr
$(seq 1 20000 | sha256sum | cut -c1-16)
20000
changed in the VM"
check "output, arguments, cwd and environment" "$expected" "$(cat "$tmp/out")"
check "results share" artifact "$(cat "$tmp/results/artifact" 2>/dev/null)"
check "output.log keeps the output" "$expected" "$(cat "$tmp/results/output.log" 2>/dev/null)"
check "writes in the VM stay in the VM" host "$(cat "$tmp/host-file")"

# Runs below that fail keep their results dir: keep them under $tmp.
export TMPDIR=$tmp

# 2. A failing command fails the run.
status=0
"$run" --timeout 300 -- false >/dev/null 2>&1 || status=$?
check "run false exits 1" 1 "$status"

# 3. Timeout (here, during boot).
status=0
"$run" --timeout 3 -- sleep 600 >/dev/null 2>"$tmp/timeout.err" || status=$?
check "timeout exits 124" 124 "$status"
grep -q 'timed out' "$tmp/timeout.err" ||
  check "timeout message" "timed out" "$(cat "$tmp/timeout.err")"

# 4. The VM never runs the command (no init): 125, with the kernel's panic on stderr.
status=0
STRATA_VM_APPEND="rdinit=/no-such-init" "$run" --timeout 300 -- true >/dev/null \
  2>"$tmp/boot.err" || status=$?
check "boot failure exits 125" 125 "$status"
grep -q 'Kernel panic' "$tmp/boot.err" ||
  check "boot failure shows the kernel console" "Kernel panic" "$(tail -n 3 "$tmp/boot.err")"

if [ $failures -ne 0 ]; then
  echo "vm harness: $failures check(s) failed"
  exit 1
fi
echo "vm harness: all checks passed"
