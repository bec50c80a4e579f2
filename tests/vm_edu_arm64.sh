#!/bin/sh
# tests/vm_edu.sh's edu tests (tests/vm/test_edu.c) in an arm64 QEMU guest,
# under TCG: over UIO on Arm's virt board (IOVA = PA), then over VFIO behind
# its emulated SMMUv3. test_edu is cross-built statically
# (BUILD_DIR/aarch64/vm/test_edu); Debian's arm64 kernel and busybox-static
# come from their packages, unpacked under BUILD_DIR/vm/arm64 (never
# installed). TAP.
# usage: tests/vm_edu_arm64.sh [BUILD_DIR]   (BUILD_DIR relative to the tree's top)
# env: UDMA_VM_TIMEOUT seconds per guest (default 200)
set -eu
build=${1:-build}
cd "$(dirname "$0")/.."
. tests/support/vm.sh
d1="edu over UIO in an arm64 guest"
d2="edu over VFIO in an arm64 guest"
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
arm=$build/vm/arm64
bin=$build/aarch64/vm/test_edu
step tools/install-deps.sh vm-arm64 || both_fail "cannot install the arm64 guest's packages (tools/install-deps.sh vm-arm64)"

# linux-image-arm64 names the newest arm64 kernel package of the release.
mkdir -p "$arm"
pkg=$(tests/vm/kernel_pkg.sh arm64 linux-image-arm64 "$arm" 2>"$arm/kernel.err") ||
	both_fail "no arm64 kernel: $(cat "$arm/kernel.err")"
kernel=${pkg% *} mods=${pkg#* }
kver=${mods##*/}
# busybox-static:arm64 the same way: fetched once, unpacked, not installed
busybox=$arm/busybox/root/bin/busybox
# shellcheck disable=SC2317 # run through step
fetch_busybox() {
	rm -rf "$arm/busybox" && mkdir -p "$arm/busybox"
	(cd "$arm/busybox" && apt-get -q download busybox-static:arm64) &&
		dpkg -x "$arm"/busybox/busybox-static_*.deb "$arm/busybox/root" &&
		rm -f "$arm"/busybox/*.deb
}
if [ ! -x "$busybox" ]; then
	step fetch_busybox || both_fail "cannot fetch busybox-static:arm64 (apt-get download, dpkg -x)"
fi

# The cross build of the library and test_edu, into $build/aarch64
step make -s CROSS=aarch64-linux-gnu- "B=$build/aarch64" "$bin" || both_fail "cannot cross-build $bin (see above)"
# A dynamic one (no static cmocka) would find no libraries in the guest
if LC_ALL=C readelf -l "$bin" | grep -q 'program interpreter'; then
	both_fail "$bin is not static (no static cmocka for aarch64: see the make output above)"
fi
img=$arm/initramfs.cpio.gz
step tests/vm/initramfs.sh -m "$mods" -b "$busybox" "$img" "$kver" "$bin" || both_fail "cannot build $img"
echo "# kernel $kernel, initramfs $img, $(($(date +%s) - t0)) s so far"

failed=0
for run in uio vfio; do
	case $run in
	uio) n=1 d=$d1 ;;
	vfio) n=2 d=$d2 ;;
	esac
	log=$build/vm/console-arm64-$run.log
	# slower to boot under TCG than x86 (about 20 s of a 50 s run on a busy
	# machine): more room than boot.sh's 140 s, spent only by a hang
	if UDMA_VM_ARCH=aarch64 UDMA_VM_TIMEOUT=${UDMA_VM_TIMEOUT:-200} tests/vm/boot.sh "$run" "$kernel" "$img" "$log"; then
		echo "ok $n - $d"
	else
		echo "not ok $n - $d (console: $log)"
		failed=1
	fi
done
echo "# both arm64 guests: $(($(date +%s) - t0)) s in all"
exit "$failed"
