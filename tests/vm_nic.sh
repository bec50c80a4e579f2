#!/bin/sh
# udma's NIC drivers (drivers/nic) on QEMU's NIC models, inside a QEMU guest:
# over UIO on i440fx (IOVA = PA; e1000e, and virtio-net legacy through port
# I/O), then over VFIO on q35 with an emulated Intel IOMMU (e1000e, and
# virtio-net modern with its DMA through the IOMMU). Builds
# BUILD_DIR/vm/test_nic, the static CLI BUILD_DIR/vm/udma (test_nic runs
# `udma nic` too) and the guest's initramfs, boots Debian's kernel once per
# run (tests/vm/boot.sh, UDMA_VM_TEST=nic). TAP: each cmocka test of a guest
# becomes a line named for its NIC and the run, "e1000e over UIO: NAME" for a
# test e1000e_NAME, "virtio-net legacy over UIO: NAME" or "virtio-net over
# VFIO: NAME" for virtio_NAME (read back from the guest's console, kept as
# BUILD_DIR/vm/console-nic-RUN.log), then one line per guest says whether it
# ran to completion; a test a dead guest never reached is absent.
# usage: tests/vm_nic.sh [BUILD_DIR]   (BUILD_DIR relative to the tree's top)
# env: UDMA_VM_KERNEL=/boot/vmlinuz-VERSION to choose the kernel
set -eu
build=${1:-build}
cd "$(dirname "$0")/.."
. tests/support/tap.sh
. tests/support/vm.sh
n=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM # dash runs no EXIT trap on a signal
label() { echo "NICs over $(echo "$1" | tr "[:lower:]" "[:upper:]")"; }
# The TAP name of cmocka test $2 in run $1.
named() {
	case $1:$2 in
	*:e1000e_*) echo "e1000e over $(echo "$1" | tr "[:lower:]" "[:upper:]"): ${2#e1000e_}" ;;
	uio:virtio_*) echo "virtio-net legacy over UIO: ${2#virtio_}" ;;
	vfio:virtio_*) echo "virtio-net over VFIO: ${2#virtio_}" ;;
	*) echo "$(label "$1"): $2" ;;
	esac
}
guests_skip_if_sanitized
t0=$(date +%s)
guests_setup
for b in test_nic udma; do
	step make -s "$build/vm/$b" || guests_fail "cannot build $build/vm/$b (see above)"
done
img=$build/vm/initramfs-nic.cpio.gz
step tests/vm/initramfs.sh "$img" "$kver" "$build/vm/test_nic" "$build/vm/udma" || guests_fail "cannot build $img"
echo "# kernel $kernel, initramfs $img, $(($(date +%s) - t0)) s so far"

cmocka_guests nic "$img"
echo "# both guests: $(($(date +%s) - t0)) s in all"
exit "$failed"
