# The VM tier (label `vm`): tests that need device-mapper, which this host kernel lacks, run in a
# QEMU VM (TCG) through tools/dev/vm/run. Included from tests/CMakeLists.txt.
#
# - vm_prepare (fixture setup) downloads the kernel and builds the initramfs on a fresh machine,
#   so `ctest -L vm` works anywhere; it is a no-op (<1 s) when the cache is current.
# - Every VM test holds the strata_vm resource lock: one 2-vCPU TCG VM at a time on 2 cores.
# - Timeouts are generous because TCG is slow and CI machines are shared; each test's own
#   `run --timeout` is lower, so a hung VM is reported (exit 124, logs kept) before ctest kills it.
set(STRATA_VM_RUN ${PROJECT_SOURCE_DIR}/tools/dev/vm/run)

add_test(NAME vm_prepare COMMAND ${PROJECT_SOURCE_DIR}/tools/dev/vm/prepare)
set_tests_properties(vm_prepare PROPERTIES
  LABELS vm FIXTURES_SETUP strata_vm RESOURCE_LOCK strata_vm TIMEOUT 900)

# strata_add_vm_test(NAME COMMAND...): runs COMMAND inside the VM; its exit status is the result.
function(strata_add_vm_test name)
  add_test(NAME ${name} COMMAND ${STRATA_VM_RUN} --timeout 540 -- ${ARGN})
  set_tests_properties(${name} PROPERTIES
    LABELS vm FIXTURES_REQUIRED strata_vm RESOURCE_LOCK strata_vm TIMEOUT 600)
endfunction()

# strata_add_vm_gtest(NAME TARGET FILTER): one ctest test that runs the cases of the gtest binary
# matching FILTER in one VM (a boot costs ~5-10 s under TCG, so not one VM per test case). Use
# this for tests/vm/*.cc instead of gtest_discover_tests, which would run them on the host kernel.
function(strata_add_vm_gtest name target filter)
  strata_add_vm_test(${name} $<TARGET_FILE:${target}> --gtest_color=no --gtest_filter=${filter})
endfunction()

# The harness itself, from the host: exit codes, output, timeout and boot-failure paths.
add_test(NAME vm_harness COMMAND ${CMAKE_CURRENT_LIST_DIR}/vm_harness_test.sh)
set_tests_properties(vm_harness PROPERTIES
  LABELS vm FIXTURES_REQUIRED strata_vm RESOURCE_LOCK strata_vm TIMEOUT 900)

# Device-mapper works in the VM: thin pool, thin device, ext4, snapshot, teardown.
strata_add_vm_test(vm_dm_thin_smoke ${CMAKE_CURRENT_LIST_DIR}/vm_smoke_test.sh)

# The devicemapper driver end to end from the CLI: auto-detect, embedded pool, layers, --size.
strata_add_vm_test(vm_dm_cli ${CMAKE_CURRENT_LIST_DIR}/dm_cli_test.sh $<TARGET_FILE:strata>)

# The device-mapper benchmarks (bench/dm.sh) at smoke size: every side works and cleans up.
strata_add_vm_test(vm_dm_bench_smoke
  ${CMAKE_CURRENT_LIST_DIR}/dm_bench_smoke.sh ${PROJECT_BINARY_DIR})

# The volume benchmarks (bench/vol.sh) at smoke size: every side works and cleans up.
strata_add_vm_test(vm_vol_bench_smoke
  ${CMAKE_CURRENT_LIST_DIR}/vol_bench_smoke.sh ${PROJECT_BINARY_DIR})

# The loop and local backends' host tests once more in the VM, whose Debian kernel has what
# this host lacks: XFS project quotas (local --size) and CAP_SYS_RESOURCE (online ext4 grow).
strata_add_vm_test(vm_vol_host_backends
  $<TARGET_FILE:strata_host_tests> --gtest_color=no "--gtest_filter=VolLocal*:VolLoop*")

# The image interop tests (umoci and skopeo fixtures, from the host's root) once more in the VM,
# where the devicemapper driver is supported too.
strata_add_vm_test(vm_image_interop
  $<TARGET_FILE:strata_host_tests> --gtest_color=no "--gtest_filter=ImageInterop*")

# Many processes opening a fresh store at once: on this fast host the race that made SQLite
# refuse the switch to WAL (SQLITE_BUSY without the busy handler) does not show; under TCG it
# does, so the unit test runs here too.
strata_add_vm_test(vm_store_concurrent_open
  $<TARGET_FILE:strata_unit_tests> --gtest_color=no "--gtest_filter=StoreConcurrentOpenTest.*")

# The runtime (cgroups, spawn, `strata run`) on pure cgroup v2: the host is hybrid, the VM's
# kernel has the unified hierarchy only.
strata_add_vm_test(vm_runtime_cgroup_v2
  ${CMAKE_CURRENT_LIST_DIR}/runtime_v2_test.sh $<TARGET_FILE:strata_host_tests>)

# strata-aufs and the aufs driver on the VM's kernel (another FUSE than the host's).
strata_add_vm_test(vm_aufs ${CMAKE_CURRENT_LIST_DIR}/aufs_vm_test.sh $<TARGET_FILE:strata_host_tests>)
