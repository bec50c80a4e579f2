#!/bin/sh
# Install the Debian packages the build and tests need (or, with "bench",
# "dpdk", "lint", "vm", "vm-arm64" or "cross", what those need), only those
# missing.
set -eu
# clang: tests/public_headers.sh compiles the public headers with it too;
# libxml2-utils: tests/cli_bench.sh checks `udma bench --plot` with xmllint
PKGS="gcc g++ clang make pkg-config libnuma-dev libhugetlbfs-dev libhugetlbfs-bin libcmocka-dev numactl python3 util-linux binutils libxml2-utils"
case "${1:-}" in
bench) PKGS="libdpdk-dev" ;;          # the peer the benches compare with
dpdk) PKGS="libdpdk-dev dpdk-dev" ;;  # make check: contrib/dpdk and dpdk-testpmd (tests/dpdk.sh)
lint) PKGS="clang-format cppcheck" ;; # make format, make lint
# tests/vm_edu.sh: a QEMU guest with the edu DMA device, booted from Debian's
# kernel and a busybox initramfs built from its modules
vm) PKGS="qemu-system-x86 linux-image-amd64 busybox-static cpio kmod xz-utils zstd gzip dpkg-dev" ;;
# tests/vm_edu_arm64.sh: an arm64 QEMU guest; its kernel and busybox-static
# come from arm64 packages unpacked into build/ (apt-get download, dpkg -x),
# for which apt must know the arm64 architecture (the :arm64 packages make
# sure of it); test_edu is cross-built statically against them.
vm-arm64) PKGS="qemu-system-arm gcc-aarch64-linux-gnu libc6-dev-arm64-cross libnuma-dev:arm64 libhugetlbfs-dev:arm64 cpio kmod gzip dpkg-dev" ;;
# make CROSS=aarch64-linux-gnu- / arm-linux-gnueabihf- and tests/cross.sh: the
# cross compilers, the target's libraries (Debian multiarch), qemu-user
cross)
	PKGS="gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf qemu-user-static binfmt-support"
	for a in arm64 armhf; do
		PKGS="$PKGS libnuma-dev:$a libcmocka-dev:$a libhugetlbfs-dev:$a"
	done
	;;
esac
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "udma: missing packages:$missing; install them with: sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "udma: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# The :arm64 and :armhf packages come from foreign architectures dpkg must know.
for a in $(printf '%s\n' $missing | sed -n 's/.*:\([a-z0-9]*\)$/\1/p' | sort -u); do
	dpkg --print-foreign-architectures | grep -qx "$a" || dpkg --add-architecture "$a"
done
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
