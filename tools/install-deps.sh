#!/bin/sh
# Install the Debian packages the build and tests need (or, with "bench",
# "dpdk", "lint", "vm" or "vm-arm64", what those need), only those missing.
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
# so the arm64 architecture must be known to apt; test_edu is cross-built
# statically against the arm64 libraries.
vm-arm64)
	PKGS="qemu-system-arm gcc-aarch64-linux-gnu libc6-dev-arm64-cross libnuma-dev:arm64 libhugetlbfs-dev:arm64 cpio kmod gzip dpkg-dev"
	foreign=arm64
	;;
esac
update=""
if [ -n "${foreign:-}" ] && ! dpkg --print-foreign-architectures | grep -qx "$foreign"; then
	if [ "$(id -u)" != 0 ]; then
		echo "udma: apt does not know the $foreign architecture; add it with: sudo dpkg --add-architecture $foreign && sudo apt-get update" >&2
		exit 1
	fi
	dpkg --add-architecture "$foreign"
	update=1
fi
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && [ -z "$update" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "udma: missing packages:$missing; install them with: sudo apt-get install -y$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
[ -z "$missing" ] && exit 0 # only the new architecture's lists were missing
echo "udma: installing$missing"
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
