#!/bin/sh
# udma's NVMe driver against the kernel's, in QEMU guests (not part of make
# check: each guest runs about two minutes of workloads). Builds the static
# CLI and the guest image, boots the pc/UIO guest (and with --vfio the
# q35/VFIO one too) with UDMA_VM_TEST=nvme_bench, which runs
# tests/vm/test_nvme_bench there, collects its BENCH lines and prints a table:
# per workload udma's and the kernel's IOPS, MB/s, p50 and p99 latency (us),
# and the ratios udma/kernel. The raw JSON lines stay in
# BUILD_DIR/vm/bench-nvme-RUN.jsonl, the consoles in BUILD_DIR/vm/console-bench-RUN.log.
# Under TCG the absolute numbers mean nothing (see bench/README.md); the
# ratios compare the two drivers' host-side cost on this machine.
# usage: tests/vm/bench_nvme.sh [--vfio] [BUILD_DIR]
# env: UDMA_VM_KERNEL=/boot/vmlinuz-VERSION, UDMA_VM_TIMEOUT (default 360 s per guest)
set -eu
runs=uio
if [ "${1:-}" = --vfio ]; then
	runs="uio vfio"
	shift
fi
build=${1:-build}
cd "$(dirname "$0")/../.."

say() { echo "bench_nvme: $*"; }
die() {
	say "$*" >&2
	exit 1
}

tools/install-deps.sh vm >/dev/null || die "cannot install the vm packages (tools/install-deps.sh vm)"
. tests/support/vm.sh
vm_kernel || die "no readable /boot/vmlinuz-* with its /lib/modules (linux-image-amd64)"
make -s "$build/vm/udma" || die "cannot build $build/vm/udma, the static CLI"
img=$build/vm/initramfs-bench.cpio.gz
tests/vm/initramfs.sh "$img" "$kver" "$build/vm/udma" tests/vm/test_nvme_bench >/dev/null ||
	die "cannot build $img"

for run in $runs; do
	log=$build/vm/console-bench-$run.log
	say "booting the $run guest (kernel $kernel): about 2 minutes under TCG"
	if ! UDMA_VM_TEST=nvme_bench UDMA_VM_TIMEOUT=${UDMA_VM_TIMEOUT:-360} \
		tests/vm/boot.sh "$run" "$kernel" "$img" "$log" >"$build/vm/boot-bench-$run.out"; then
		grep '^# udma-vm: FAIL' "$build/vm/boot-bench-$run.out" >&2 || true
		die "the $run guest failed: console in $log"
	fi
	sed -n 's/^.*BENCH \({.*}\)\r*$/\1/p' "$log" >"$build/vm/bench-nvme-$run.jsonl"
	[ -s "$build/vm/bench-nvme-$run.jsonl" ] || die "no BENCH lines in $log"
done

for run in $runs; do
	python3 - "$run" "$build/vm/bench-nvme-$run.jsonl" <<'PY'
import json, sys

run, path = sys.argv[1], sys.argv[2]
rows = [json.loads(line) for line in open(path)]

def label(d):
    size = "%dK" % (d["bs"] // 1024)
    return "%s %s QD%d" % (size, d["rw"], d["qd"])

kernel = {label(d): d for d in rows if d["side"] == "kernel"}
print("\n%s guest (%s): us = microseconds, ratio = udma / kernel"
      % (run, "pc, IOVA = PA" if run == "uio" else "q35 + emulated VT-d, IOVA = VA"))
head = ("workload", "udma IOPS", "MB/s", "p50", "p99", "kernel IOPS", "MB/s", "p50", "p99",
        "IOPS x", "p50 x")
fmt = "%-26s %10s %8s %8s %8s %11s %8s %8s %8s %7s %7s"
print(fmt % head)
for d in rows:
    if d["side"] != "udma":
        continue
    k = kernel.get(label(d))
    name = "%s (%s)" % (label(d), d["wait"])
    kv = (("%.0f" % k["iops"], "%.1f" % k["mb_per_s"], "%.1f" % k["p50_us"], "%.1f" % k["p99_us"],
           "%.2f" % (d["iops"] / k["iops"]) if k["iops"] else "-",
           "%.2f" % (d["p50_us"] / k["p50_us"]) if k["p50_us"] else "-")
          if k else ("-",) * 6)
    print(fmt % ((name, "%.0f" % d["iops"], "%.1f" % d["mb_per_s"], "%.1f" % d["p50_us"],
                  "%.1f" % d["p99_us"]) + kv))
PY
done
