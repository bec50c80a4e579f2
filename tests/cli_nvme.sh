#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks `udma nvme` where no NVMe controller is needed: the kernel side
# (--kernel FILE: O_DIRECT Linux AIO on a file in the build directory) runs
# bench and verify, bench's JSON is sane, verify passes on what it wrote and
# catches a byte flipped behind its back (--check), and bad arguments or
# devices fail with one clear line and the right exit code (2 usage, 1
# runtime). The udma driver's side runs in the QEMU guest (tests/vm).
# No timing is judged: only counts and the order of the percentiles.
# Usage: tests/cli_nvme.sh [BUILD_DIR] (tests/run.sh passes the build directory)
# Helpers run through check(), which shellcheck cannot follow:
# shellcheck disable=SC2317
set -u

build=${1:-build}
udma=$build/udma
# In the build directory, not /tmp: tmpfs has no O_DIRECT.
tmp=$(mktemp -d "$build/cli_nvme.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM # else sh goes on after the signal
n=0
failed=0
img=$tmp/disk.img

. "$(dirname "$0")/support/tap.sh"

first_line_has() { head -n 1 "$tmp/err" | grep -q -- "$1"; }

# expect RC PATTERN ARGS...: `udma nvme ARGS` exits RC, and stderr's first
# line matches PATTERN.
expect() {
	want=$1 pat=$2
	shift 2
	"$udma" nvme "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	check "udma nvme $*: exits $want" test "$rc" -eq "$want"
	check "... saying: $pat" first_line_has "$pat"
}

# bench_ok FILE IOS: one JSON line, ok, every command done, percentiles in order.
bench_ok() {
	python3 - "$1" "$2" 2>"$tmp/err" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 1, "not one line: %r" % lines
d = json.loads(lines[0])
for k in ("ok", "side", "dev", "rw", "bs", "qd", "threads", "ios", "reads", "writes", "seconds",
          "iops", "mb_per_s", "avg_us", "p50_us", "p99_us", "p999_us", "max_us",
          "doorbells_per_io", "doorbell"):
    assert k in d, "no key " + k
assert d["ok"] is True and d["side"] == "kernel", d
assert d["ios"] == int(sys.argv[2]) == d["reads"] + d["writes"], d
assert d["iops"] > 0 and d["mb_per_s"] > 0, d
assert 0 < d["p50_us"] <= d["p99_us"] <= d["p999_us"] <= d["max_us"], d
assert 0 < d["doorbells_per_io"] <= 1, d
PY
}

if ! dd if=/dev/zero of="$img" bs=1M count=8 status=none 2>"$tmp/err"; then
	not_ok "make an 8 MiB file in $tmp"
	echo "1..$n"
	exit 1
fi

"$udma" nvme bench --kernel "$img" --ios 2000 --qd 8 --json >"$tmp/json" 2>"$tmp/err"
rc=$?
if [ $rc -ne 0 ] && grep -q "no direct I/O" "$tmp/err"; then
	ok "kernel bench # skip: $build is on a file system without O_DIRECT"
	echo "1..$n"
	exit 0
fi
check "bench --kernel FILE --ios 2000 --qd 8 --json exits 0" test $rc -eq 0
check "... one JSON line: 2000 commands, iops > 0, p50 <= p99 <= p99.9 <= max" bench_ok "$tmp/json" 2000

"$udma" nvme bench --kernel "$img" --ios 3000 --qd 4 --threads 3 --rw rw=50 --json \
	>"$tmp/json" 2>"$tmp/err"
check "bench: 3 threads of mixed reads and writes, 3000 commands in all" bench_ok "$tmp/json" 3000
check "... with reads and writes both" python3 -c "
import json, sys; d = json.load(open(sys.argv[1])); assert d['reads'] and d['writes'], d" "$tmp/json"

"$udma" nvme bench --kernel "$img" --ios 64 --qd 2 --bs 128K --rw read >"$tmp/out" 2>"$tmp/err"
check "bench: the text report of a sequential 128K run" \
	grep -Eq '^  latency us avg [0-9.]+  p50 [0-9.]+  p99 [0-9.]+  p99.9 [0-9.]+  max ' "$tmp/out"

"$udma" nvme verify --kernel "$img" --bytes 4M >"$tmp/out" 2>"$tmp/err"
check "verify --kernel FILE --bytes 4M: writes, reads back, OK" \
	sh -c "[ $? -eq 0 ] && grep -q 'wrote 4194304 bytes, read back and checked 4194304: OK' '$tmp/out'"
"$udma" nvme verify --kernel "$img" --bytes 4M --check >"$tmp/out" 2>"$tmp/err"
check "verify --check finds the pattern intact" test $? -eq 0
# One byte in the middle of block 300 (byte 1228805 = 300 * 4096 + 5).
printf '\377' | dd of="$img" bs=1 seek=1228805 conv=notrunc status=none
expect 1 "mismatch at byte 1228800 (block 300, offset 0)" \
	verify --kernel "$img" --bytes 4M --check
check "... one line, naming what was expected and what was read" \
	sh -c "[ \$(wc -l <'$tmp/err') -eq 1 ] && grep -q 'expected 0x[0-9a-f]\{16\}, read 0x' '$tmp/err'"
"$udma" nvme verify --kernel "$img" --bytes 4M --check --seed 7 >"$tmp/out" 2>"$tmp/err"
check "verify --check with another seed: a mismatch at byte 0, no pattern of that seed" \
	sh -c "[ $? -eq 1 ] && grep -q 'mismatch at byte 0 .*no pattern of --seed 7' '$tmp/err'"
"$udma" nvme verify --kernel "$img" --bytes 1M --json >"$tmp/json" 2>"$tmp/err"
check "verify --json rewrites and passes: written == checked == 1 MiB" python3 -c "
import json, sys; d = json.load(open(sys.argv[1]))
assert d['ok'] is True and d['written'] == d['checked'] == 1 << 20, d" "$tmp/json"

# SIGTERM (or ^C) mid-run: the commands in flight are reaped and the device
# released before exiting, not killed with its DMA going on. Sent once the
# worker thread exists (the handler is in place before it starts).
"$udma" nvme bench --kernel "$img" --time 30s --qd 8 >"$tmp/out" 2>"$tmp/err" &
pid=$!
tries=0
while [ "$(ls "/proc/$pid/task" 2>/dev/null | wc -l)" -lt 2 ] && [ $tries -lt 200 ]; do
	sleep 0.05
	tries=$((tries + 1))
done
kill -TERM "$pid"
wait "$pid"
rc=$?
check "bench stopped by SIGTERM: exits 1 (not killed: $rc)" test $rc -eq 1
check "... saying it drained and released the device" \
	grep -q "interrupted by SIGTERM after [0-9]* commands: those in flight completed" "$tmp/err"

expect 2 "unknown option '--frob'" bench --kernel "$img" --frob
expect 2 "unknown subcommand 'frob'" frob
expect 2 "no device" bench --ios 5
expect 2 "--qd 0: give the commands in flight" bench --kernel "$img" --qd 0
expect 2 "--qd 5000: a queue of .* holds at most 4096 commands" bench --kernel "$img" --qd 5000
expect 2 "--bs 1000: not a multiple of .* block size 4096" bench --kernel "$img" --bs 1000
expect 2 "--rw sideways: give randread, read" bench --kernel "$img" --rw sideways
expect 2 "--rw rw=101" bench --kernel "$img" --rw rw=101
expect 2 "--time and --ios: give one" bench --kernel "$img" --time 1s --ios 5
expect 2 "--time 10x: give a duration" bench --kernel "$img" --time 10x
expect 2 "device 'sim:x': give uio:ADDR or vfio:ADDR" bench sim:x
expect 2 "unknown option '--kernel'" identify --kernel "$img"
expect 1 "holds only 8388608 bytes.*truncate" verify --kernel "$img" --bytes 16M
expect 1 "cannot open $tmp/none with O_DIRECT: No such file" bench --kernel "$tmp/none"
# O_DIRECT refuses these with EINVAL: the message must name what they are.
expect 1 "$tmp is neither a block device nor a file" bench --kernel "$tmp" --ios 4
expect 1 "/dev/null is neither a block device nor a file" verify --kernel /dev/null
# A file it may not write (root: without the capability to ignore that):
# workloads that only read run, and one that writes says why it cannot.
cp "$img" "$tmp/ro.img" && chmod 444 "$tmp/ro.img"
reader=""
[ "$(id -u)" = 0 ] && reader="setpriv --bounding-set -dac_override,-dac_read_search"
# shellcheck disable=SC2086 # $reader and $args are several words
if [ -n "$reader" ] && ! $reader test -r "$tmp/ro.img" 2>/dev/null; then
	ok "a read-only file # skip: root cannot drop CAP_DAC_OVERRIDE here (setpriv)"
else
	for args in "bench --rw randread --ios 10" "bench --rw rw=100 --ios 10" \
		"verify --bytes 1M --check"; do
		$reader "$udma" nvme $args --kernel "$tmp/ro.img" >"$tmp/out" 2>"$tmp/err"
		check "a read-only file: $args runs" test $? -eq 0
	done
	$reader "$udma" nvme bench --rw rw=99 --ios 10 --kernel "$tmp/ro.img" >"$tmp/out" 2>"$tmp/err"
	check "... bench --rw rw=99 exits 1: cannot open it for writing, and what reads only" \
		sh -c "[ $? -eq 1 ] && grep -q 'for writing: Permission denied (this workload writes' '$tmp/err'"
fi

# No such PCI function: the context may fail first when not root (PA mode needs
# CAP_SYS_ADMIN); either way one line, exit 1.
expect 1 "." bench uio:0000:ff:1f.7 --ios 10
check "... one line" test "$(wc -l <"$tmp/err")" -eq 1
expect 1 "no PCI device 0000:ff:1f.7" identify vfio:0000:ff:1f.7
"$udma" nvme identify vfio:0000:ff:1f.7 --json >"$tmp/json" 2>"$tmp/err"
check "... and as JSON: ok false, the error, errno" python3 -c "
import json, sys; d = json.load(open(sys.argv[1]))
assert d['ok'] is False and 'no PCI device' in d['error'] and d['errno'] > 0, d" "$tmp/json"

echo "1..$n"
exit $failed
