#!/bin/sh
# SPDX-License-Identifier: MIT
# The guest tests' console parser (verdicts in tests/support/vm.sh) on canned
# console logs, no guest booted: each cmocka test becomes one verdict, a
# kernel message printed in the middle of a cmocka line does not lose that
# test, the test's own quotes of the kernel log stay untouched, and a guest
# that died during a test names it.
# usage: tests/vm_console.sh [BUILD_DIR]
# Helpers run through check(), which shellcheck cannot follow:
# shellcheck disable=SC2317
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/support/tap.sh
. tests/support/vm.sh
n=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# same VERDICT...: verdicts of $tmp/console are exactly these lines.
same() {
	verdicts "$tmp/console" >"$tmp/got"
	printf '%s\n' "$@" | tr '|' '\t' | diff - "$tmp/got" >"$tmp/err"
}

cat >"$tmp/console" <<'LOG'
udma-vm: running: /test_nvme vfio
[==========] tests: Running 4 test(s).
[ RUN      ] registers
[       OK ] registers
[ RUN      ] iommu_blocks_prp
[   13.030492] DMAR: DRHD: handling fault status reg 2
# kernel: <3>[   13.031064] DMAR: [DMA Write NO_PASID] Request device [00:05.0] fault
[       OK ] iommu_blo[   20.323405] DMAR: DRHD: handling fault status reg 2
[   20.323546] DMAR: [DMA Read NO_PASID] Request device [00:05.0] fault addr 0x5d5000
cks_prp
[ RU[   21.000001] DMAR: DRHD: handling fault status reg 2
N      ] uio_exclusive
# skip: UIO only
[  SKIPPED ] uio_exclusive
[ RUN      ] never_ready
[  FAILED  ] never_ready[   22.5] DMAR: DRHD: handling fault status reg 2

[==========] tests: 4 test(s) run.
[  FAILED  ] 1 test(s), listed below:
[  FAILED  ] never_ready
LOG
check "one verdict per test; cmocka lines a kernel message cut are put back together" \
	same "OK|registers|" "OK|iommu_blocks_prp|" "SKIPPED|uio_exclusive|UIO only" \
	"FAILED|never_ready|"

cat >"$tmp/console" <<'LOG'
[ RUN      ] registers
[       OK ] registers
[ RUN      ] threads_64_inflight
[   30.1] Kernel panic - not syncing: Fatal exception
LOG
check "a guest that died during a test names it" same "OK|registers|" "RUNNING|threads_64_inflight"

: >"$tmp/console"
verdicts "$tmp/console" >"$tmp/got"
check "an empty console: no verdicts" test ! -s "$tmp/got"

echo "1..$n"
exit "$failed"
