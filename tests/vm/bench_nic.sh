#!/bin/sh
# udma's NIC drivers against the kernel's, in QEMU guests (not part of make
# check: each guest runs a few minutes of traffic). Builds the static CLI and
# the guest image, boots the pc/UIO guest (and with --vfio the q35/VFIO one
# too) with UDMA_VM_TEST=nic_bench, which runs tests/vm/test_nic_bench there:
# on each NIC pair (e1000e, virtio-net) `udma nic gen A --rx B` through
# udma's drivers, the receiver polling (side udma-poll) and sleeping on its
# interrupt (udma-irq: like the kernel's, which sleeps in poll()), and
# through the kernel's drivers and AF_PACKET (side kernel), in turn,
# 60- and 1514-byte frames, 3 runs each. Prints JSON lines on stdout and nothing
# else (progress on stderr; no file is left behind):
#   per guest, NIC, side and size, the medians of the runs: {"run", "nic",
#     "side", "size", "runs", "ok" (runs that finished), "tx_pps", "rx_pps"
#     (frames received intact per second), "gbps_wire" (sent, with FCS,
#     preamble and gap), "lost", "bad", "p50_us", "p99_us", "rx_wait"
#     (poll or irq), "socket_drops" (the kernel's receiving socket, its
#     buffer full; null for udma)}, or
#     "error" (the first run's) when no run finished;
#   per guest, NIC, size and udma side with the kernel's: {"run", "nic",
#     "size", "udma_side", "udma_rx_pps", "kernel_rx_pps", "ratio_rx_pps",
#     "ratio_tx_pps"} (udma / kernel).
# Under TCG the absolute numbers mean little; the ratios compare the two
# drivers' cost on the same emulated NIC, in the same guest.
# usage: tests/vm/bench_nic.sh [--vfio] [BUILD_DIR]
# env: UDMA_VM_KERNEL=/boot/vmlinuz-VERSION, UDMA_VM_TIMEOUT (default 600 s
# per guest), UDMA_BENCH_TIME (seconds per run, default 5), UDMA_BENCH_CLI (a
# static udma to use instead of building BUILD_DIR/vm/udma)
set -eu
runs=uio
if [ "${1:-}" = --vfio ]; then
	runs="uio vfio"
	shift
fi
build=${1:-build}
cd "$(dirname "$0")/../.."

say() { echo "bench_nic: $*" >&2; }
die() {
	say "$*"
	exit 1
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM # dash runs no EXIT trap on a signal

tools/install-deps.sh vm >/dev/null || die "cannot install the vm packages (tools/install-deps.sh vm)"
. tests/support/vm.sh
vm_kernel || die "no readable /boot/vmlinuz-* with its /lib/modules (linux-image-amd64)"
cli=${UDMA_BENCH_CLI:-}
if [ -z "$cli" ]; then
	make -s B="$build" "$build/vm/udma" >&2 || die "cannot build $build/vm/udma, the static CLI"
	cli=$build/vm/udma
fi
mkdir -p "$work/img"
cp "$cli" "$work/img/udma"
img=$work/initramfs.cpio.gz
tests/vm/initramfs.sh "$img" "$kver" "$work/img/udma" tests/vm/test_nic_bench >/dev/null ||
	die "cannot build the guest image"

for run in $runs; do
	log=$work/console-$run.log
	say "booting the $run guest (kernel $kernel): a few minutes under TCG"
	if ! UDMA_VM_TEST=nic_bench UDMA_VM_TIMEOUT=${UDMA_VM_TIMEOUT:-600} \
		UDMA_VM_APPEND="${UDMA_BENCH_TIME:+UDMA_BENCH_TIME=$UDMA_BENCH_TIME}" \
		tests/vm/boot.sh "$run" "$kernel" "$img" "$log" >"$work/boot-$run.out"; then
		grep '^# udma-vm: FAIL' "$work/boot-$run.out" >&2 || true
		grep 'nic-bench' "$log" | tail -n 20 >&2 || true
		die "the $run guest failed"
	fi
	sed -n 's/^.*BENCH \([a-z0-9-]* [a-z-]* [0-9]* [0-9]* {.*}\)\r*$/\1/p' "$log" >"$work/bench-$run.txt"
	[ -s "$work/bench-$run.txt" ] || die "no BENCH lines from the $run guest"
	python3 - "$run" "$work/bench-$run.txt" <<'PY'
import json, statistics, sys

run, path = sys.argv[1], sys.argv[2]
cases = {}
for line in open(path):
    nic, side, size, _, doc = line.split(" ", 4)
    cases.setdefault((nic, side, int(size)), []).append(json.loads(doc))

def med(docs, get):
    return statistics.median(get(d) for d in docs)

out = {}
for (nic, side, size), docs in cases.items():
    good = [d for d in docs if d.get("ok") and "rx" in d]
    row = {"run": run, "nic": nic, "side": side, "size": size, "runs": len(docs), "ok": len(good)}
    if good:
        row.update({
            "tx_pps": round(med(good, lambda d: d["pps"])),
            "rx_pps": round(med(good, lambda d: d["rx"]["pps"])),
            "gbps_wire": round(med(good, lambda d: d["gbps_wire"]), 4),
            "lost": med(good, lambda d: d["rx"]["lost"]),
            "bad": max(d["rx"]["bad"] for d in good),
            "p50_us": med(good, lambda d: d["rx"]["p50_us"]),
            "p99_us": med(good, lambda d: d["rx"]["p99_us"]),
            "rx_wait": good[0].get("rx_wait"),
            # the kernel's receiving socket, its buffer full (udma: null)
            "socket_drops": (med(good, lambda d: d["rx"]["socket_drops"])
                             if good[0]["rx"].get("socket_drops") is not None else None),
        })
    else:
        row["error"] = docs[0].get("error", "no result")
    out[(nic, side, size)] = row
    print(json.dumps(row))
for (nic, side, size), u in out.items():
    k = out.get((nic, "kernel", size))
    if not side.startswith("udma") or not k or not u["ok"] or not k["ok"]:
        continue
    print(json.dumps({"run": run, "nic": nic, "size": size, "udma_side": side, "udma_rx_pps": u["rx_pps"],
                      "kernel_rx_pps": k["rx_pps"],
                      "ratio_rx_pps": round(u["rx_pps"] / k["rx_pps"], 3) if k["rx_pps"] else None,
                      "ratio_tx_pps": round(u["tx_pps"] / k["tx_pps"], 3) if k["tx_pps"] else None}))
PY
done
