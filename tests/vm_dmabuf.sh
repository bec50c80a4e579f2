#!/bin/sh
# DMA-BUF heap regions and regions as dma-bufs (udma/region.h) in a QEMU
# guest whose kernel has them: bookworm-backports' 6.12 (its system heap
# /dev/dma_heap/system and /dev/udmabuf are built in; Debian 12's 6.1 has
# neither). The kernel package is fetched and unpacked under
# BUILD_DIR/vm/amd64-backports (tests/vm/kernel_pkg.sh), never installed.
# Builds BUILD_DIR/vm/test_dmabuf and its initramfs, then boots the uio guest
# (edu DMA with IOVA = PA) and the vfio guest (IOVA = VA through an emulated
# Intel IOMMU) (tests/vm/boot.sh, UDMA_VM_TEST=dmabuf). TAP: each cmocka test
# of a guest becomes "dma-buf over UIO in a 6.12 guest: NAME" (or VFIO), read
# back from its console (BUILD_DIR/vm/console-dmabuf-RUN.log), then one line
# per guest says whether it ran to completion.
# usage: tests/vm_dmabuf.sh [BUILD_DIR]   (BUILD_DIR relative to the tree's top)
set -eu
build=${1:-build}
cd "$(dirname "$0")/.."
. tests/support/tap.sh
. tests/support/vm.sh
n=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM # dash runs no EXIT trap on a signal
label() { echo "dma-buf over $(echo "$1" | tr "[:lower:]" "[:upper:]") in a 6.12 guest"; }
named() { echo "$(label "$1"): $2"; }
guests_skip_if_sanitized
t0=$(date +%s)
step tools/install-deps.sh vm || guests_fail "cannot install the vm packages (tools/install-deps.sh vm)"
step tests/vm/kernel_pkg.sh amd64 linux-image-amd64 "$build/vm/amd64-backports" bookworm-backports >"$tmp/kernel" ||
	guests_fail "cannot fetch bookworm-backports' linux-image-amd64 (tests/vm/kernel_pkg.sh, see above)"
cat "$tmp/kernel"
# kernel_pkg.sh's last line, "KERNEL MODULES_DIR" (step made it a comment)
kernel=$(tail -n 1 "$tmp/kernel" | cut -d' ' -f2)
mods=$(tail -n 1 "$tmp/kernel" | cut -d' ' -f3)
kver=${kernel##*/vmlinuz-}
step make -s "$build/vm/test_dmabuf" || guests_fail "cannot build $build/vm/test_dmabuf (see above)"
img=$build/vm/initramfs-dmabuf.cpio.gz
step tests/vm/initramfs.sh -m "$mods" "$img" "$kver" "$build/vm/test_dmabuf" || guests_fail "cannot build $img"
echo "# kernel $kernel, initramfs $img, $(($(date +%s) - t0)) s so far"

cmocka_guests dmabuf "$img"
echo "# both guests: $(($(date +%s) - t0)) s in all"
exit "$failed"
