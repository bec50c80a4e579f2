#!/bin/sh
# udma's NVMe driver (drivers/nvme) on QEMU's NVMe controller, inside a QEMU
# guest: over UIO on i440fx (IOVA = PA), then over VFIO on q35 with an
# emulated Intel IOMMU. Builds BUILD_DIR/vm/test_nvme, the static CLI
# BUILD_DIR/vm/udma and the guest's initramfs, boots Debian's kernel once per
# run (tests/vm/boot.sh, UDMA_VM_TEST=nvme). TAP: each cmocka test of a guest
# becomes a line "nvme over UIO: NAME" (read back from the guest's console,
# kept as BUILD_DIR/vm/console-nvme-RUN.log), then one line per guest says
# whether it ran to completion; a test a dead guest never reached is absent.
# usage: tests/vm_nvme.sh [BUILD_DIR]   (BUILD_DIR relative to the tree's top)
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
label() { echo "nvme over $(echo "$1" | tr "[:lower:]" "[:upper:]")"; }
named() { echo "$(label "$1"): $2"; }
guests_skip_if_sanitized
t0=$(date +%s)
guests_setup
for b in test_nvme udma; do
	step make -s "$build/vm/$b" || guests_fail "cannot build $build/vm/$b (see above)"
done
set -- "$build/vm/test_nvme" "$build/vm/udma"
[ -f tests/vm/test_nvme_bench ] && set -- "$@" tests/vm/test_nvme_bench
img=$build/vm/initramfs-nvme.cpio.gz
step tests/vm/initramfs.sh "$img" "$kver" "$@" || guests_fail "cannot build $img"
echo "# kernel $kernel, initramfs $img, $(($(date +%s) - t0)) s so far"

cmocka_guests nvme "$img"
echo "# both guests: $(($(date +%s) - t0)) s in all"
exit "$failed"
