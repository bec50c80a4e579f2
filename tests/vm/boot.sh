#!/bin/sh
# Boot one QEMU guest with the edu DMA device (0000:00:04.0), an NVMe
# controller (0000:00:05.0) and four NICs: two e1000e (06.0, 07.0) on one
# hub, two virtio-net (08.0, 09.0) on another (legacy-only in the uio guest,
# modern-only behind the IOMMU in the vfio guest); run /test_NAME in it and judge
# the run by the marker its /init prints: pass only on
# "UDMA-VM-RESULT run=RUN rc=0". No marker, a timeout, a kernel panic or oops,
# or rc != 0 fails, with the reason and the last console lines.
# Everything printed starts with "# " (the console as "# RUN| ..."), so TAP
# callers stay TAP; exits 0 on pass, 1 on fail.
# usage: tests/vm/boot.sh uio|vfio KERNEL INITRAMFS [CONSOLE_LOG_TO_KEEP]
# env: UDMA_VM_ARCH x86_64 (default: i440fx for uio, q35 with VT-d for vfio)
#      or aarch64 (virt for uio, virt with an SMMUv3 for vfio; same devices),
#      UDMA_VM_TEST the guest program, /test_NAME (default edu),
#      UDMA_VM_TIMEOUT seconds for the whole guest (default 140),
#      UDMA_VM_NVME_CACHE QEMU's cache= for the NVMe image (default writeback),
#      UDMA_VM_APPEND more kernel command line (e.g. "udma.bind=1 loglevel=7")
set -eu
run=$1 kernel=$2 initrd=$3 keep=${4:-}
limit=${UDMA_VM_TIMEOUT:-140}
test=${UDMA_VM_TEST:-edu}
arch=${UDMA_VM_ARCH:-x86_64}
console=ttyS0
case $arch/$run in
# i440fx, no IOMMU: the device sees physical addresses (IOVA = PA)
x86_64/uio) machine="-machine pc" append="" virtio="disable-modern=on" ;;
# VFIO needs an IOMMU (Debian's kernel has no no-IOMMU mode): the emulated
# VT-d, with 48 address bits (not 7.2's default 39) as IOVA = VA needs them
x86_64/vfio)
	machine="-machine q35,kernel-irqchip=split -device intel-iommu,intremap=on,aw-bits=48" append="intel_iommu=on"
	virtio="disable-legacy=on,iommu_platform=on"
	;;
# Arm's virt board; -cpu max for the newest architecture TCG models; a
# GICv3, whose ITS isolates MSIs (VFIO refuses a device's interrupts
# without that, and GICv2's v2m has none). The SMMUv3 (built into Debian's
# arm64 kernel) translates for the PCI root bus; it probes after the bus is
# enumerated, so a function's IOMMU group appears once a driver binds it.
aarch64/uio) machine="-machine virt,gic-version=3 -cpu max" append="" virtio="disable-modern=on" console=ttyAMA0 ;;
aarch64/vfio)
	machine="-machine virt,gic-version=3,iommu=smmuv3 -cpu max" append="" console=ttyAMA0
	virtio="disable-legacy=on,iommu_platform=on"
	;;
*) echo "usage: [UDMA_VM_ARCH=x86_64|aarch64] $0 uio|vfio KERNEL INITRAMFS [CONSOLE_LOG]" >&2 && exit 2 ;;
esac

say() { echo "# udma-vm: $*"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM # dash runs no EXIT trap on a signal
now() { date +%s.%N; }
# Every boot starts from a zeroed, sparse image, removed with the temp dir.
img=$work/nvme.img
truncate -s 64M "$img"
t0=$(now)
# TCG always: KVM is there on these machines but hangs the guest. edu's
# default 28-bit dma_mask would make QEMU clamp addresses silently; addr=04.0
# makes it 0000:00:04.0 on every machine (the NVMe tests' "not NVMe"
# function), as addr=05.0 does for nvme. Each pair of NICs shares a hub
# (hubid) and nothing else: frames one sends reach the other, and no
# outside network. The guest's limit for the test is
# 40 s under ours: room to boot (about 8 s under TCG) and still report.
qrc=0
# shellcheck disable=SC2086 # $machine is several words
timeout -k 5 "$limit" "qemu-system-$arch" -accel tcg $machine -smp 2 -m 512M \
	-nodefaults -no-user-config -display none -no-reboot -net none \
	-device edu,addr=04.0,dma_mask=0xffffffffffffffff \
	-drive "file=$img,if=none,id=nvm,format=raw,cache=${UDMA_VM_NVME_CACHE:-writeback},aio=threads" \
	-device nvme,addr=05.0,serial=udma0001,drive=nvm \
	-netdev hubport,id=e0,hubid=0 -device e1000e,netdev=e0,addr=06.0,mac=52:54:00:00:06:00 \
	-netdev hubport,id=e1,hubid=0 -device e1000e,netdev=e1,addr=07.0,mac=52:54:00:00:07:00 \
	-netdev hubport,id=v0,hubid=1 -device "virtio-net-pci,netdev=v0,addr=08.0,mac=52:54:00:00:08:00,$virtio" \
	-netdev hubport,id=v1,hubid=1 -device "virtio-net-pci,netdev=v1,addr=09.0,mac=52:54:00:00:09:00,$virtio" \
	-serial "file:$work/console" -kernel "$kernel" -initrd "$initrd" \
	-append "console=$console quiet panic=-1 oops=panic $append udma.run=$run udma.test=$test udma.timeout=$((limit - 40)) ${UDMA_VM_APPEND:-}" \
	</dev/null >"$work/qemu" 2>&1 || qrc=$?
secs=$(echo "$(now) $t0" | awk '{ printf "%.1f", $1 - $2 }')

tr -d '\r' <"$work/console" >"$work/log" 2>/dev/null || : >"$work/log"
sed "s/^/# $run| /" "$work/log"
sed 's/^/# qemu: /' "$work/qemu"
[ -n "$keep" ] && cp "$work/log" "$keep"

marker=$(grep -a -o "UDMA-VM-RESULT run=$run rc=[0-9]*" "$work/log" | tail -n 1) || true
# the kernel's own lines ("[    2.5] Kernel panic ..."), not a test's words
panic=$(grep -a -m 1 -E '^\[ *[0-9.]+\] (Kernel panic|Oops: |BUG: )' "$work/log") || true
warn=$(grep -a -c -E '^\[ *[0-9.]+\] WARNING: ' "$work/log") || true
[ "$warn" = 0 ] || say "note: the guest kernel warned $warn times (WARNING: lines above)"
if [ -n "$panic" ]; then
	why="the guest kernel failed: $panic"
elif [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	why="timeout: the guest ran for ${limit} s${marker:+ after printing $marker}"
elif [ -z "$marker" ]; then
	why="the guest stopped without printing UDMA-VM-RESULT (qemu exit $qrc)"
elif [ "${marker##*rc=}" != 0 ]; then
	why="/test_$test $run exited ${marker##*rc=}"
elif [ "$qrc" != 0 ]; then
	why="qemu exited $qrc"
else
	say "PASS run=$run in $secs s ($marker)"
	exit 0
fi
say "FAIL run=$run after $secs s: $why"
say "last console lines:"
tail -n 15 "$work/log" | sed "s/^/# $run| /"
exit 1
