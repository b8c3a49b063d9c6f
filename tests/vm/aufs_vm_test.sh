#!/bin/sh
# strata-aufs and the aufs driver (the FUSE tests, the driver's own and the conformance suite) on
# the VM's Debian kernel, whose FUSE differs from the host's (an older protocol minor, no
# passthrough). The tests work under /var/tmp, which in the VM is an overlay on a tmpfs; on that
# kernel neither has user.* xattrs (tmpfs got them in 6.6), which copy-up and the conformance
# suite check, so an ext4 image on a loop device goes over /var/tmp (as runtime_v2_test.sh puts
# a tmpfs there; /tmp is left alone: the build tree may live in it).
# Usage: aufs_vm_test.sh PATH/TO/strata_host_tests
set -eu
tests=$1
scratch=$(mktemp -d /run/aufs-vm.XXXXXX)
mount -t tmpfs -o size=2g tmpfs "$scratch"
truncate -s 1536M "$scratch/var-tmp.img"
mkfs.ext4 -q -F "$scratch/var-tmp.img"
mount -o loop "$scratch/var-tmp.img" /var/tmp
chmod 1777 /var/tmp
exec "$tests" --gtest_color=no '--gtest_filter=AufsFuse*:AufsDriver*:Drivers/DriverConformanceTest.*/aufs'
