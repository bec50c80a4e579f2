#!/bin/sh
# SPDX-License-Identifier: MIT
# The guest harness without a guest. The console parser (verdicts in
# tests/support/vm.sh) on canned console logs: each cmocka test becomes one
# verdict, a kernel message printed in the middle of a cmocka line does not
# lose that test, the test's own quotes of the kernel log stay untouched, and
# a guest that died during a test names it. And tests/vm/boot.sh, killed with
# its QEMU (a stand-in here) as tests/run.sh's timeout kills a hung test,
# leaves no temporary directory behind.
# usage: tests/vm_harness.sh [BUILD_DIR]
# Helpers run through check(), which shellcheck cannot follow:
# shellcheck disable=SC2317
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/support/tap.sh
. tests/support/vm.sh
n=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

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

# boot.sh under a QEMU that only waits, in a process group of its own, killed
# as a group with SIGTERM once QEMU runs (as timeout(1) kills a hung test).
mkdir "$tmp/bin" "$tmp/t"
cat >"$tmp/bin/qemu-system-x86_64" <<'QEMU'
#!/bin/sh
: >"$QEMU_STARTED"
exec sleep 60
QEMU
chmod +x "$tmp/bin/qemu-system-x86_64"
QEMU_STARTED=$tmp/started TMPDIR=$tmp/t PATH="$tmp/bin:$PATH" \
	setsid tests/vm/boot.sh uio /no/kernel /no/initrd >/dev/null 2>&1 &
tries=0
while [ ! -e "$tmp/started" ] && [ $tries -lt 200 ]; do
	sleep 0.05
	tries=$((tries + 1))
done
pgid=$(cut -d ' ' -f 5 "/proc/$!/stat" 2>/dev/null) # setsid made it a group leader
if [ -z "$pgid" ] || [ ! -e "$tmp/started" ]; then
	not_ok "boot.sh killed with its QEMU: did not start its QEMU"
else
	kill -TERM "-$pgid"
	wait $!
	check "boot.sh killed with its QEMU: no temporary directory left" \
		test -z "$(ls -A "$tmp/t")"
fi

echo "1..$n"
exit "$failed"
