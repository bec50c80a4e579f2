#!/bin/sh
# QEMU's edu PCI device, a real (emulated) DMA engine, driven by udma inside a
# QEMU guest: over UIO on i440fx (IOVA = PA), then over VFIO on q35 with an
# emulated Intel IOMMU. Builds BUILD_DIR/vm/test_edu and the guest's
# initramfs, boots Debian's kernel once per run (tests/vm/boot.sh). TAP.
# usage: tests/vm_edu.sh [BUILD_DIR]   (BUILD_DIR relative to the tree's top)
# env: UDMA_VM_KERNEL=/boot/vmlinuz-VERSION to choose the kernel
set -eu
build=${1:-build}
cd "$(dirname "$0")/.."
. tests/support/vm.sh
d1="edu over UIO in a QEMU guest (IOVA = PA)"
d2="edu over VFIO in a QEMU guest (IOVA through an emulated Intel IOMMU)"
case $build in
*san-*) # the guest binary is static: sanitizers cannot instrument it
	echo "ok 1 - $d1 # skip the guest runs in the plain build"
	echo "ok 2 - $d2 # skip the guest runs in the plain build"
	exit 0
	;;
esac
t0=$(date +%s)
both_fail() {
	echo "not ok 1 - $d1: $1"
	echo "not ok 2 - $d2: $1"
	exit 1
}
step tools/install-deps.sh vm || both_fail "cannot install the vm packages (tools/install-deps.sh vm)"
vm_kernel || both_fail "no readable /boot/vmlinuz-* with its /lib/modules (linux-image-amd64)"
step make -s "$build/vm/test_edu" ||
	both_fail "cannot build $build/vm/test_edu (no make rule yet, or it failed: see above)"
img=$build/vm/initramfs.cpio.gz
step tests/vm/initramfs.sh "$img" "$kver" "$build/vm/test_edu" || both_fail "cannot build $img"
echo "# kernel $kernel, initramfs $img, $(($(date +%s) - t0)) s so far"

failed=0
for run in uio vfio; do
	case $run in
	uio) n=1 d=$d1 ;;
	vfio) n=2 d=$d2 ;;
	esac
	if tests/vm/boot.sh "$run" "$kernel" "$img" "$build/vm/console-$run.log"; then
		echo "ok $n - $d"
	else
		echo "not ok $n - $d (console: $build/vm/console-$run.log)"
		failed=1
	fi
done
echo "# both guests: $(($(date +%s) - t0)) s in all"
exit "$failed"
