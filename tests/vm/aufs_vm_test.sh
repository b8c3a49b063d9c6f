#!/bin/sh
# strata-aufs and the aufs driver (the FUSE tests, the driver's own and the conformance suite) on
# the VM's Debian kernel, whose FUSE differs from the host's (an older protocol minor, no
# passthrough). The VM's /tmp is a tmpfs and its /var/tmp an overlay on one, which on that
# kernel have no user.* xattrs (6.6 added them), while the tests copy user xattrs up: an ext4
# image on a loop device goes over /tmp, and a directory of it over /var/tmp (the conformance
# suite's drivers live there).
# Usage: aufs_vm_test.sh PATH/TO/strata_host_tests
set -eu
tests=$1
scratch=$(mktemp -d /run/aufs-vm.XXXXXX)
mount -t tmpfs -o size=2g tmpfs "$scratch"
truncate -s 1536M "$scratch/tmp.img"
mkfs.ext4 -q -F "$scratch/tmp.img"
mount -o loop "$scratch/tmp.img" /tmp
chmod 1777 /tmp
mkdir -m 1777 /tmp/.var-tmp
mount --bind /tmp/.var-tmp /var/tmp
exec "$tests" --gtest_color=no '--gtest_filter=AufsFuse*:AufsDriver*:Drivers/DriverConformanceTest.*/aufs'
