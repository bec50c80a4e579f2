#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks `udma nic` where no NIC is needed: --help, bad arguments (exit 2,
# one line saying what to give), devices that are no NIC or do not exist
# (exit 1, one line, the JSON error document), and the kernel side
# (kernel:IFNAME, AF_PACKET) end to end on a veth pair in a private network
# namespace (root): frames generated, received and checked, counted, JSON
# sane, SIGTERM stops a run cleanly with a report. The udma drivers' side
# runs in the QEMU guests (tests/vm). No timing is judged: only counts.
# Usage: tests/cli_nic.sh [BUILD_DIR] (tests/run.sh passes the build directory)
# Helpers run through check(), which shellcheck cannot follow:
# shellcheck disable=SC2317
set -u

build=${1:-build}
udma=$(cd "$(dirname "$build/udma")" && pwd)/udma
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cli_nic.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM # else sh goes on after the signal
n=0
failed=0

. "$(dirname "$0")/support/tap.sh"

first_line_has() { head -n 1 "$tmp/err" | grep -q -- "$1"; }

# expect RC PATTERN ARGS...: `udma nic ARGS` exits RC, and stderr's first
# line matches PATTERN.
expect() {
	want=$1 pat=$2
	shift 2
	"$udma" nic "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	check "udma nic $*: exits $want" test "$rc" -eq "$want"
	check "... saying: $pat" first_line_has "$pat"
}

"$udma" nic --help >"$tmp/out" 2>"$tmp/err"
check "--help exits 0" test $? -eq 0
check "... with the usage of every subcommand" sh -c \
	"grep -q '^usage: udma nic info DEV' '$tmp/out' && grep -q 'udma nic gen DEV' '$tmp/out' && grep -q 'udma nic recv DEV' '$tmp/out' && grep -q 'udma nic fwd DEV1 DEV2' '$tmp/out'"
"$udma" nic gen --help --json >"$tmp/json" 2>"$tmp/err"
check "gen --help --json: ok, the usage" python3 -c "
import json, sys; d = json.load(open(sys.argv[1])); assert d['ok'] is True and 'udma nic gen' in d['usage'], d" "$tmp/json"
"$udma" --help >"$tmp/out" 2>"$tmp/err"
check "udma --help lists nic" grep -q '^  nic ' "$tmp/out"

expect 2 "no subcommand" 
expect 2 "unknown subcommand 'frob'" frob
expect 2 "gen: no device" gen
expect 2 "gen: unknown option '--frob'" gen sim:x --frob
expect 2 "recv: unknown option '--rx'" recv sim:x --rx sim:y
expect 2 "fwd: unknown option '--irq'" fwd sim:x sim:y --irq
expect 2 "info: unknown option '--count'" info sim:x --count 5
expect 2 "no value for --size" gen sim:x --size
expect 2 "--size 59: give frame bytes without FCS, 60..1514" gen sim:x --size 59
expect 2 "--size 1515: give frame bytes" gen sim:x --size 1515
expect 2 "--size 200-100: give frame bytes" gen sim:x --size 200-100
expect 2 "--size 60-: give frame bytes" gen sim:x --size 60-
expect 2 "--dst 52:54:00:00:07: give a MAC address" gen sim:x --dst 52:54:00:00:07
expect 2 "--dst 52:54:00:00:07:0g: give a MAC address" gen sim:x --dst 52:54:00:00:07:0g
expect 2 "--dst 52:54:00:00:07:-1: give a MAC address" gen sim:x --dst 52:54:00:00:07:-1
expect 2 "--dst 52:54:00:00:07:+1: give a MAC address" gen sim:x --dst 52:54:00:00:07:+1
expect 2 "--dst 52:54:00:00:07: 1: give a MAC address" gen sim:x --dst "52:54:00:00:07: 1"
expect 2 "--dst 52:54:00:00:7:001: give a MAC address" gen sim:x --dst 52:54:00:00:7:001
expect 2 "--size 600000000000000000000000000000000060: give frame bytes" gen sim:x --size 600000000000000000000000000000000060
expect 2 "--seconds 0x10: give a duration" gen sim:x --seconds 0x10
expect 2 "--seconds 1e1: give a duration" gen sim:x --seconds 1e1
expect 2 "gen: --irq is for the receiving device: give --rx DEV2" gen sim:x --irq
expect 2 "--count 0: give a number of frames" gen sim:x --count 0
expect 2 "--seconds -1: give a duration" recv sim:x --seconds -1
expect 2 "--seconds 1x: give a duration" gen sim:x --seconds 1x
expect 2 "--rate 0: give frames per second" gen sim:x --rate 0
expect 2 "--batch 0: give 1..256" gen sim:x --batch 0
expect 2 "--batch 257: give 1..256" fwd sim:x sim:y --batch 257
expect 2 "fwd: one device more" fwd sim:x
expect 2 "info takes 1 device: 'sim:y' is extra" info sim:x sim:y
expect 2 "gen: sim:x twice: give two devices" gen sim:x --rx sim:x
expect 2 "device 'frob': give uio:ADDR or vfio:ADDR (a NIC's PCI address), or kernel:IFNAME" gen frob
expect 2 "device 'eth0': give uio:ADDR or vfio:ADDR (a NIC's PCI address)\$" info eth0
expect 2 "info: 'kernel:eth0': info takes udma devices only" info kernel:eth0
expect 2 "fwd: 'kernel:eth0': fwd takes udma devices only" fwd sim:x kernel:eth0

# A device udma opens that is no NIC: nic_attach says why. One line, exit 1.
expect 1 "^udma nic: sim:x: nic_attach: cannot read its PCI IDs: .*sim:x is not a PCI function" info sim:x
check "... one line" test "$(wc -l <"$tmp/err")" -eq 1
"$udma" nic gen sim:x --count 10 --json >"$tmp/json" 2>"$tmp/err"
check "gen on it with --json: exit 1, ok false, the reason, ENODEV" sh -c "[ $? -eq 1 ] && python3 -c \"
import json, sys; d = json.load(open(sys.argv[1]))
assert d['ok'] is False and 'PCI IDs' in d['error'] and d['errno'] == 19, d\" '$tmp/json'"
# No such PCI function: the context may fail first when not root (PA mode needs
# CAP_SYS_ADMIN); either way one line, exit 1.
expect 1 "." recv uio:0000:ff:1f.7 --count 1
check "... one line" test "$(wc -l <"$tmp/err")" -eq 1
expect 1 "no PCI device 0000:ff:1f.7" info vfio:0000:ff:1f.7
expect 1 "kernel:udma-none0: no network interface udma-none0" recv kernel:udma-none0

# The kernel side on a veth pair, in a network namespace of its own (and a
# mount namespace, for a sysfs that shows it): nothing outside it changes.
if [ "$(id -u)" != 0 ] || ! unshare -n -m true 2>/dev/null; then
	ok "the kernel side on a veth pair # skip: needs root and unshare -n -m"
	echo "1..$n"
	exit $failed
fi
# recv runs in the background: killed if a later step fails, never left behind.
cat >"$tmp/ns.sh" <<EOF
set -e
rpid=
trap '[ -z "\$rpid" ] || kill \$rpid 2>/dev/null' EXIT
mount -t sysfs sysfs /sys
ip link add name udma-va type veth peer name udma-vb
ip link set udma-va up
ip link set udma-vb up
"$udma" nic gen kernel:udma-va --rx kernel:udma-vb --count 3000 --rate 5000 --size 60-1514 --json >"$tmp/gen.json" 2>"$tmp/gen.err" || echo "gen rc \$?" >>"$tmp/gen.err"
"$udma" nic gen kernel:udma-va --count 10 --rate 10 --json >"$tmp/rate.json" 2>"$tmp/rate.err"
"$udma" nic recv kernel:udma-vb --count 1000 --seconds 60 --json >"$tmp/recv.json" 2>"$tmp/recv.err" &
rpid=\$!
sleep 0.5
"$udma" nic gen kernel:udma-va --count 300 --rate 5000 >"$tmp/gen2.out" 2>"$tmp/gen2.err"
"$udma" nic gen kernel:udma-va --count 300 --rate 5000 >"$tmp/gen3.out" 2>"$tmp/gen3.err"
sleep 1
kill -TERM \$rpid
wait \$rpid || echo "recv rc \$?" >>"$tmp/recv.err"
rpid=
ip link set udma-vb down
"$udma" nic gen kernel:udma-vb --count 1 >/dev/null 2>"$tmp/down.err" && exit 1
ip link set udma-vb up
"$udma" nic gen kernel:udma-va --seconds 60 --json >"$tmp/term.json" 2>"$tmp/term.err" &
pid=\$!
sleep 1
kill -TERM \$pid
wait \$pid || echo "gen rc \$?" >>"$tmp/term.err"
EOF
unshare -n -m sh "$tmp/ns.sh" >"$tmp/err" 2>&1
ns_rc=$?
if grep -q "veth" "$tmp/err" && ! [ -s "$tmp/gen.json" ]; then
	ok "the kernel side on a veth pair # skip: no veth here"
	echo "1..$n"
	exit $failed
fi
check "kernel:IF: the namespace ran every step" test "$ns_rc" -eq 0
cp "$tmp/gen.err" "$tmp/err"
# veth loses nothing at 5000 frames/s (the receiver's socket buffer holds far
# more): every frame must arrive once, intact.
check "gen kernel:A --rx kernel:B --count 3000 --rate 5000, 60-1514 bytes: every frame received once, intact; the Gbit/s add up" python3 -c "
import json, sys; d = json.load(open(sys.argv[1])); r = d['rx']
for k in ('side', 'dev', 'driver', 'src', 'dst', 'size_min', 'size_max', 'sent', 'bytes', 'seconds', 'pps', 'gbps', 'gbps_wire', 'retries', 'tx_errors', 'run_id', 'leaked'):
    assert k in d, 'no key ' + k
assert d['ok'] is True and d['side'] == 'kernel' and d['driver'] == 'veth' and d['leaked'] == 0, d
assert d['sent'] == 3000 and d['size_min'] == 60 and d['size_max'] == 1514, d
assert d['dst'] == 'ff:ff:ff:ff:ff:ff' and d['gbps_wire'] > d['gbps'] > 0, d
# the wire adds 24 bytes a frame: 24 * 8 * sent / seconds bits/s (rounded as printed)
extra = 24 * 8 * d['sent'] / d['seconds'] / 1e9
assert abs((d['gbps_wire'] - d['gbps']) - extra) <= 2e-4 + extra * 1e-3, (d, extra)
assert r['ok'] == 3000 and r['lost'] == 0 and r['dup'] == 0 and r['bad'] == 0, r
assert r['late'] == 0 and r['other_run'] == 0 and r['frames'] >= 3000, r
assert 0 < r['p50_us'] <= r['p99_us'] <= r['max_us'], r" "$tmp/gen.json"
cp "$tmp/recv.err" "$tmp/err"
check "recv kernel:B while two gen processes send 300 each, then SIGTERM: the first run's 300 intact, the second's apart (not late), none bad" python3 -c "
import json, sys; d = json.load(open(sys.argv[1])); r = d['rx']
assert d['ok'] is True and d['stopped_by'] == 'SIGTERM' and r['dev'] == 'kernel:udma-vb', d
assert r['ok'] == 300 and r['other_run'] == 300 and r['lost'] == 0, r
assert r['late'] == 0 and r['dup'] == 0 and r['bad'] == 0, r" "$tmp/recv.json"
cp "$tmp/rate.err" "$tmp/err"
check "gen --count 10 --rate 10: 10 frames/s at most (the window lasts until the last was due), no latency without a receiver" python3 -c "
import json, sys; d = json.load(open(sys.argv[1]))
assert d['ok'] is True and d['sent'] == 10 and d['seconds'] >= 1.0 and d['pps'] <= 10, d" "$tmp/rate.json"
cp "$tmp/down.err" "$tmp/err"
check "gen on an interface that is down: one line saying to bring it up" \
	grep -q "kernel:udma-vb: udma-vb is down: bring it up (ip link set udma-vb up)" "$tmp/down.err"
cp "$tmp/term.err" "$tmp/err"
check "gen --seconds 60 stopped by SIGTERM: exit 0, its report, stopped_by SIGTERM" python3 -c "
import json, sys; d = json.load(open(sys.argv[1]))
assert d['ok'] is True and d['stopped_by'] == 'SIGTERM' and d['sent'] > 0 and d['seconds'] < 60, d" "$tmp/term.json"

echo "1..$n"
exit $failed
