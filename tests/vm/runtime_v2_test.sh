#!/bin/sh
# The runtime's cgroup, spawn, `strata run` and strata-oci tests on pure cgroup v2, inside the
# VM. Its init mounts no cgroup2 (the device-mapper tests need none), so this mounts it; and
# /var/tmp there is overlayfs, which cannot hold overlay upper dirs, so a tmpfs goes over it for
# the run tests.
# Usage: runtime_v2_test.sh PATH/TO/strata_host_tests
set -eu
tests=$1
mkdir -p /sys/fs/cgroup
mountpoint -q /sys/fs/cgroup || mount -t cgroup2 none /sys/fs/cgroup
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
exec "$tests" --gtest_color=no '--gtest_filter=CgroupHost*:RunCli*:RuntimeSpawn*:OciCli*'
