#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks `udma demo`: a short run with the device in a thread and as a
# process (udma-simd) verifies everything, reports 0 IOMMU faults and 0
# leaked buffers, its --json has the documented keys; bad options and a
# missing udma-simd fail with a clear line and leave nothing in /tmp.
# Usage: tests/cli_demo.sh [BUILD_DIR] (tests/run.sh passes the build directory)
# Helpers run through check(), which shellcheck cannot follow:
# shellcheck disable=SC2317
set -u

build=${1:-build}
udma=$build/udma
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
n=0
failed=0
args="--packets 20000 --block 4M"

. "$(dirname "$0")/support/tap.sh"

# report_ok FILE: the text report says every check passed.
report_ok() {
	grep -Eq '^  IOMMU faults +0$' "$1" && grep -Eq '^  buffers leaked 0 ' "$1" &&
		grep -Eq '^  result +OK$' "$1" && grep -Eq '^  verified +20000 of 20000 ' "$1" &&
		grep -Eq '^  checksum .*: match$' "$1"
}

# json_ok FILE MODE: valid JSON, the expected keys, everything verified.
json_ok() {
	python3 - "$1" "$2" 2>"$tmp/err" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("ok", "reason", "device", "iova_mode", "iova_reason", "page_size", "irq", "nic", "block",
          "iommu_faults", "buffers_leaked", "pools"):
    assert k in d, "no key " + k
for k in ("packets", "received", "verified", "drops", "errors", "pps", "gbit_per_s"):
    assert k in d["nic"], "no key nic." + k
for k in ("write_mb_per_s", "read_mb_per_s", "checksum_written", "checksum_read", "checksum_match"):
    assert k in d["block"], "no key block." + k
assert d["ok"] is True and d["reason"] is None, d["reason"]
assert d["device"]["mode"] == sys.argv[2], d["device"]
assert d["iova_mode"] in ("PA", "VA"), d["iova_mode"]
assert d["page_size"] in (4096, 2 << 20, 1 << 30), d["page_size"]
assert d["nic"]["verified"] == d["nic"]["packets"] == 20000, d["nic"]
assert d["nic"]["drops"] == 0 and d["nic"]["errors"] == 0, d["nic"]
assert d["block"]["checksum_match"] is True and d["block"]["read"] == 4 << 20, d["block"]
assert d["iommu_faults"] == 0 and d["buffers_leaked"] == 0, d
assert all(p["avail"] == p["count"] > 0 for p in d["pools"]), d["pools"]
EOF
}

# The socket directory a run used (from its device line), gone afterwards.
no_leftover() {
	dir=$(sed -n 's|.*@\(/tmp/udma-simd\.[^/]*\)/sock.*|\1|p' "$1")
	[ -n "$dir" ] && [ ! -e "$dir" ]
}

run_mode() { # MODE [--thread]
	mode=$1
	shift
	# shellcheck disable=SC2086
	if "$udma" demo $args "$@" >"$tmp/out" 2>"$tmp/err"; then
		ok "demo $args${*:+ $*} exits 0 ($mode)"
	elif grep -q RLIMIT_MEMLOCK "$tmp/err"; then
		ok "demo $* # skip: RLIMIT_MEMLOCK too low even for the smallest pool"
		return
	else
		not_ok "demo $args${*:+ $*} exits 0 ($mode)"
	fi
	sed 's/^/# /' "$tmp/out"
	check "$mode: 20000 packets verified, checksum match, IOMMU faults 0, leaked 0" report_ok "$tmp/out"
	# shellcheck disable=SC2086
	"$udma" demo $args "$@" --json >"$tmp/json" 2>"$tmp/err"
	check "$mode: --json parses, with the expected keys and values" json_ok "$tmp/json" "$mode"
	# shellcheck disable=SC2086
	"$udma" demo $args "$@" --poll >"$tmp/out" 2>"$tmp/err"
	check "$mode: --poll verifies too" report_ok "$tmp/out"
}

run_mode thread --thread
# As root without a free 2 MiB page, PA mode would need contiguous 4 KiB
# runs: the demo takes VA and says why (with hugepages it stays in PA).
free2m=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0)
if [ "$(id -u)" = 0 ] && [ "$free2m" = 0 ]; then
	check "root, no free hugepages: VA, saying why" grep -q "IOVA mode      VA: PA needs hugepages" "$tmp/out"
else
	ok "root without free hugepages: VA, saying why # skip: not root, or 2 MiB pages are free"
fi
if [ -x "$build/udma-simd" ]; then
	run_mode process
	check "process: its socket directory is gone after the run" no_leftover "$tmp/out"
else
	ok "demo as a process # skip: $build/udma-simd is not built"
fi

"$udma" demo --packets 0 >"$tmp/out" 2>"$tmp/err"
rc=$?
check "--packets 0 exits 2" test $rc -eq 2
check "... saying what to give" grep -q "^udma demo: --packets 0: give a number" "$tmp/err"

"$udma" demo --block 3000 >"$tmp/out" 2>"$tmp/err"
rc=$?
check "--block 3000 exits 2" test $rc -eq 2
check "... saying it must be a multiple of 4K" grep -q "multiple of 4K" "$tmp/err"

"$udma" demo --frobnicate >"$tmp/out" 2>"$tmp/err"
rc=$?
check "an unknown option exits 2 with the usage" sh -c "[ $rc -eq 2 ] && grep -q '^usage:' '$tmp/err'"

simd_dirs() { find /tmp -maxdepth 1 -name 'udma-simd.*' | sort; }

before=$(simd_dirs)
# shellcheck disable=SC2086
UDMA_SIMD=/nonexistent "$udma" demo $args >"$tmp/out" 2>"$tmp/err"
rc=$?
after=$(simd_dirs)
check "UDMA_SIMD=/nonexistent exits 1" test $rc -eq 1
check "... with one line naming the program and the fix" \
	sh -c "[ \$(wc -l <'$tmp/err') -eq 1 ] && grep -q '/nonexistent (from UDMA_SIMD).*make' '$tmp/err'"
check "... and leaves no /tmp/udma-simd.* behind" test "$before" = "$after"

before=$(simd_dirs)
# shellcheck disable=SC2086
UDMA_SIMD=/bin/false "$udma" demo $args >"$tmp/out" 2>"$tmp/err"
rc=$?
after=$(simd_dirs)
check "a device program that exits at once: exit 1, saying so" \
	sh -c "[ $rc -eq 1 ] && grep -q 'process /bin/false did not start' '$tmp/err'"
check "... and leaves no /tmp/udma-simd.* behind" test "$before" = "$after"

# descendants PID: every process below PID (ours only: nothing is killed by name).
descendants() {
	for c in $(pgrep -P "$1"); do
		echo "$c"
		descendants "$c"
	done
}

# simd_of PID: the udma-simd started under PID.
simd_of() {
	for p in $(descendants "$1"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = udma-simd ] && echo "$p"
	done
}

# The device process killed mid-run: a clear line, exit 1, buffers back, no hang.
if [ -x "$build/udma-simd" ]; then
	timeout 60 "$udma" demo --packets 2000000000 >"$tmp/out" 2>"$tmp/err" &
	pid=$!
	child=""
	for _ in $(seq 100); do
		child=$(simd_of "$pid") && [ -n "$child" ] && break
		sleep 0.1
	done
	# Mid-run: once the device holds all the demo's memory (its udma
	# mappings stop growing), then a little more; not a fixed delay from its
	# start, which a slow build (sanitizers) can spend setting up.
	last=-1 same=0
	for _ in $(seq 200); do
		[ -n "$child" ] || break
		maps=$(grep -c 'udma:' "/proc/$child/maps" 2>/dev/null) || break
		if [ "$maps" -gt 0 ] && [ "$maps" = "$last" ]; then
			same=$((same + 1))
			[ $same -ge 3 ] && break
		else
			same=0
		fi
		last=$maps
		sleep 0.1
	done
	sleep 0.3
	[ -n "$child" ] && kill -9 "$child"
	wait $pid
	rc=$?
	check "device killed mid-run: exit 1 (no hang)" test $rc -eq 1
	check "... says the device went away" grep -q "the device went away during the" "$tmp/err"
	check "... every buffer back in its pool" grep -Eq '^  buffers leaked 0 ' "$tmp/out"
	check "... its socket directory removed" no_leftover "$tmp/out"
else
	ok "device killed mid-run # skip: $build/udma-simd is not built"
fi

echo "1..$n"
exit $failed
